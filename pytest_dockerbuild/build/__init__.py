"""Building images: the result model, the backends, the content key, reuse, and the
:class:`Builder` that puts them together (the ``dockerbuild`` fixture)."""

from pytest_dockerbuild.build.builder import Builder
from pytest_dockerbuild.build.log import BuildLog
from pytest_dockerbuild.build.model import BuildRequest, BuildResult, StageResult, StepResult
from pytest_dockerbuild.build.options import BuildOptions, Secret

__all__ = ["BuildLog", "BuildOptions", "BuildRequest", "BuildResult", "Builder", "Secret", "StageResult", "StepResult"]
