"""Builds shared by the example projects' tests (each built once per session), and an
editable copy of a project for the layer-cache tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_dockerbuild import Builder, BuildResult

HERE = Path(__file__).parent


def built(project: str, target: str | None = None) -> object:
    """A session fixture: the build of ``project`` (or of its stage ``target``)."""

    @pytest.fixture(scope="session")
    def fixture(dockerbuild: Builder) -> BuildResult:
        return dockerbuild.build(HERE / project, target=target)

    fixture.__doc__ = f"The {target or 'final'} image of example_projects/{project}."
    return fixture


iotd = built("image-of-the-day")
iotd_builder = built("image-of-the-day", target="builder")
accesslog = built("access-log")
accesslog_builder = built("access-log", target="builder")
gallery = built("image-gallery")
gallery_builder = built("image-gallery", target="builder")


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[[str], Path]:
    """A copy of an example project that a test may edit. It keeps the project's folder
    name, so its images get the same labels and the layer cache is shared."""

    def copy(project: str) -> Path:
        target = tmp_path / project
        shutil.copytree(HERE / project, target, ignore=shutil.ignore_patterns("target", "node_modules", "*.py*"))
        return target

    return copy
