"""Builds shared by the example projects' tests (each built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dockerbuild import Builder, BuildResult

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def iotd(dockerbuild: Builder) -> BuildResult:
    """The image-of-the-day service (Java): final image."""
    return dockerbuild.build(HERE / "image-of-the-day")


@pytest.fixture(scope="session")
def iotd_builder(dockerbuild: Builder) -> BuildResult:
    return dockerbuild.build(HERE / "image-of-the-day", target="builder")


@pytest.fixture(scope="session")
def accesslog(dockerbuild: Builder) -> BuildResult:
    """The access-log service (Node): final image."""
    return dockerbuild.build(HERE / "access-log")


@pytest.fixture(scope="session")
def accesslog_builder(dockerbuild: Builder) -> BuildResult:
    return dockerbuild.build(HERE / "access-log", target="builder")


@pytest.fixture(scope="session")
def gallery(dockerbuild: Builder) -> BuildResult:
    """The image gallery web app (Go): final image."""
    return dockerbuild.build(HERE / "image-gallery")


@pytest.fixture(scope="session")
def gallery_builder(dockerbuild: Builder) -> BuildResult:
    return dockerbuild.build(HERE / "image-gallery", target="builder")
