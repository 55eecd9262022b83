"""pytest-dockerbuild: test Docker builds, their stages and the images they make.

What a test author uses is here; the rest is importable from the module that
owns it (``pytest_dockerbuild.engine.client.Engine``,
``pytest_dockerbuild.contracts.schema.load_contract``, ...).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings

import pytest

pytest.register_assert_rewrite("pytest_dockerbuild.assertions")

from pytest_dockerbuild.assertions import (  # noqa: E402
    BUILD_TOOLS,
    assert_cached,
    assert_no_build_tools,
    assert_path_absent,
    assert_path_exists,
    assert_rebuilt,
    assert_size_under,
)
from pytest_dockerbuild.build import Builder, BuildResult, Secret, StageResult, StepResult  # noqa: E402
from pytest_dockerbuild.compose import Stack, Stacks  # noqa: E402
from pytest_dockerbuild.dockerfile import Dockerfile, Stage  # noqa: E402
from pytest_dockerbuild.errors import (  # noqa: E402
    BaseImageMissing,
    BuildFailed,
    BuildOptionError,
    ComposeError,
    ContainerError,
    ContainerExited,
    ContainerNotReady,
    DockerbuildError,
    DockerbuildWarning,
    DockerfileEmpty,
    DockerfileError,
    DockerfileNotFound,
    DockerfileSyntaxError,
    EngineUnavailable,
    ImageError,
    PathNotFound,
    RegistryError,
    RunFailed,
    RunOptionError,
    UnknownStage,
)
from pytest_dockerbuild.image import FileEntry, Image, ImageConfig, parse_size  # noqa: E402
from pytest_dockerbuild.lint import Finding  # noqa: E402
from pytest_dockerbuild.runtime import (  # noqa: E402
    CompletedRun,
    Container,
    Healthy,
    HttpReady,
    LogReady,
    Network,
    Readiness,
    Runtime,
)

try:
    __version__ = importlib.metadata.version("pytest-dockerbuild")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover (a source tree that is not installed)
    __version__ = "0.0.0"

__all__ = [
    "BUILD_TOOLS",
    "BaseImageMissing",
    "BuildFailed",
    "BuildOptionError",
    "BuildResult",
    "Builder",
    "CompletedRun",
    "ComposeError",
    "Container",
    "ContainerError",
    "ContainerExited",
    "ContainerNotReady",
    "DockerbuildError",
    "DockerbuildWarning",
    "Dockerfile",
    "DockerfileEmpty",
    "DockerfileError",
    "DockerfileNotFound",
    "DockerfileSyntaxError",
    "EngineUnavailable",
    "FileEntry",
    "Finding",
    "Healthy",
    "HttpReady",
    "Image",
    "ImageConfig",
    "ImageError",
    "LogReady",
    "Network",
    "PathNotFound",
    "Readiness",
    "RegistryError",
    "RunFailed",
    "RunOptionError",
    "Runtime",
    "Secret",
    "Stack",
    "Stacks",
    "Stage",
    "StageResult",
    "StepResult",
    "UnknownStage",
    "__version__",
    "assert_cached",
    "assert_no_build_tools",
    "assert_path_absent",
    "assert_path_exists",
    "assert_rebuilt",
    "assert_size_under",
    "parse_size",
]

# Names of the 0.1 API that moved to the module that owns them: still importable from here,
# with a DeprecationWarning that says where they live now.
_MOVED = {
    "BuildRequest": "pytest_dockerbuild.build",
    "Contract": "pytest_dockerbuild.contracts.schema",
    "ContractError": "pytest_dockerbuild.errors",
    "Efficiency": "pytest_dockerbuild.image",
    "EfficiencyRules": "pytest_dockerbuild.image",
    "Engine": "pytest_dockerbuild.engine.client",
    "EngineInfo": "pytest_dockerbuild.engine.client",
    "FileTree": "pytest_dockerbuild.image",
    "ImageComparison": "pytest_dockerbuild.image",
    "Instruction": "pytest_dockerbuild.dockerfile",
    "Layer": "pytest_dockerbuild.image",
    "LayerContents": "pytest_dockerbuild.image",
    "RULES": "pytest_dockerbuild.lint",
    "Rule": "pytest_dockerbuild.lint",
    "SizeBaseline": "pytest_dockerbuild.image",
    "analyze": "pytest_dockerbuild.image",
    "check_dockerfile": "pytest_dockerbuild.lint",
    "load_contract": "pytest_dockerbuild.contracts.schema",
}


def __getattr__(name: str) -> object:
    if name not in _MOVED:
        raise AttributeError(f"module 'pytest_dockerbuild' has no attribute {name!r}")
    warnings.warn(f"pytest_dockerbuild.{name} moved: import it from {_MOVED[name]}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(_MOVED[name]), name)


# Public objects show as pytest_dockerbuild.X in reprs and tracebacks.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
