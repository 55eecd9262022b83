"""pytest-dockerbuild: test Docker builds, their stages and the images they make."""

from __future__ import annotations

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
from pytest_dockerbuild.build.builder import Builder, BuildRequest, BuildResult, StageResult, StepResult  # noqa: E402
from pytest_dockerbuild.contracts.schema import Contract, load_contract  # noqa: E402
from pytest_dockerbuild.dockerfile.model import Dockerfile, Instruction, Stage  # noqa: E402
from pytest_dockerbuild.engine.client import Engine, EngineInfo  # noqa: E402
from pytest_dockerbuild.errors import (  # noqa: E402
    BaseImageMissing,
    BuildFailed,
    ContainerError,
    ContainerExited,
    ContainerNotReady,
    ContractError,
    DockerbuildError,
    DockerfileEmpty,
    DockerfileError,
    DockerfileNotFound,
    DockerfileSyntaxError,
    EngineUnavailable,
    ImageError,
    PathNotFound,
    UnknownStage,
)
from pytest_dockerbuild.image.efficiency import Efficiency, EfficiencyRules, SizeBaseline, analyze  # noqa: E402
from pytest_dockerbuild.image.image import (  # noqa: E402
    FileEntry,
    FileTree,
    Image,
    ImageComparison,
    ImageConfig,
    Layer,
    LayerContents,
    parse_size,
)
from pytest_dockerbuild.lint.checks import RULES, Finding, Rule, check_dockerfile  # noqa: E402
from pytest_dockerbuild.runtime.containers import Container, Healthy, HttpReady, LogReady, Network, Runtime  # noqa: E402

__all__ = [
    "BUILD_TOOLS",
    "BaseImageMissing",
    "BuildFailed",
    "BuildRequest",
    "BuildResult",
    "Builder",
    "Container",
    "ContainerError",
    "ContainerExited",
    "ContainerNotReady",
    "Contract",
    "ContractError",
    "DockerbuildError",
    "Dockerfile",
    "DockerfileEmpty",
    "DockerfileError",
    "DockerfileNotFound",
    "DockerfileSyntaxError",
    "Efficiency",
    "EfficiencyRules",
    "Engine",
    "EngineInfo",
    "EngineUnavailable",
    "FileEntry",
    "FileTree",
    "Finding",
    "Healthy",
    "HttpReady",
    "Image",
    "ImageComparison",
    "ImageConfig",
    "ImageError",
    "Instruction",
    "Layer",
    "LayerContents",
    "LogReady",
    "Network",
    "PathNotFound",
    "RULES",
    "Rule",
    "Runtime",
    "SizeBaseline",
    "Stage",
    "StageResult",
    "StepResult",
    "UnknownStage",
    "analyze",
    "assert_cached",
    "assert_no_build_tools",
    "assert_path_absent",
    "assert_path_exists",
    "assert_rebuilt",
    "assert_size_under",
    "check_dockerfile",
    "load_contract",
    "parse_size",
]

# Public objects show as pytest_dockerbuild.X in reprs and tracebacks.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
