"""Shared helpers for the plugin's own tests (the engine is real, never mocked)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers import BASE

INI = f"""
[pytest]
dockerbuild_base_images =
    diamol/base={BASE}
"""


@pytest.fixture
def make_context(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a build context: ``make_context("FROM ...", files={"a.txt": "x"})`` -> its folder."""
    counter = iter(range(1000))

    def make(dockerfile: str | None, files: dict[str, str] | None = None, name: str | None = None) -> Path:
        folder = tmp_path / (name or f"context{next(counter)}")
        folder.mkdir(parents=True)
        if dockerfile is not None:
            (folder / "Dockerfile").write_text(textwrap.dedent(dockerfile).lstrip())
        for relative, text in (files or {}).items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        return folder

    return make


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder whose ini maps diamol/base onto the local busybox base image."""
    pytester.makeini(INI)
    return pytester


BACKENDS = ["classic", "buildkit"]


@pytest.fixture(scope="session")
def builders(dockerbuild_engine):  # type: ignore[no-untyped-def]
    """One Builder per backend, sharing the engine (each has its own session cache)."""
    from pytest_dockerbuild import Builder

    image_map = {"diamol/base": BASE}
    return {backend: Builder(dockerbuild_engine, image_map, backend=backend) for backend in BACKENDS}


@pytest.fixture(params=BACKENDS)
def builder(request: pytest.FixtureRequest, builders):  # type: ignore[no-untyped-def]
    """The same test against the classic builder and against BuildKit."""
    return builders[request.param]


@pytest.fixture
def engine_proxy():  # type: ignore[no-untyped-def]
    """Start a TCP proxy to the local engine: ``proxy = engine_proxy("127.0.0.1")`` ->
    (process, ``tcp://host:port``); stopped at teardown."""
    import subprocess
    import sys

    started: list[subprocess.Popen[str]] = []

    def start(host: str = "127.0.0.1") -> tuple[subprocess.Popen[str], str]:
        script = Path(__file__).parent / "tools" / "engine_proxy.py"
        process = subprocess.Popen([sys.executable, str(script), f"{host}:0"], stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout is not None
        port = process.stdout.readline().split()[1]
        return process, f"tcp://{host}:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)
