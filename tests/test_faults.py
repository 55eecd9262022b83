"""Nothing leaks under faults: interrupts during a build and a readiness wait, a lost engine."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import docker
import pytest
from helpers import marked_leftovers

BASE = "dockerbuild-offline/base:bookworm"


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def interrupt_when(pytester: pytest.Pytester, ready: Callable[[], bool], *args: str) -> str:
    """Run pytest in a subprocess, send it SIGINT once ``ready()``, return its output."""
    log = pytester.path / "interrupted.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=pytester.path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(ready)
            time.sleep(0.5)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    output = log.read_text()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    return output


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_sigint_during_a_build_leaves_nothing(inner: pytest.Pytester, backend: str) -> None:
    marker = uuid.uuid4().hex
    inner.mkdir("slow")
    (inner.path / "slow" / "Dockerfile").write_text(
        f"FROM diamol/base\nENV MARKER={marker}\nRUN echo start > /started && sleep 60\n"
    )
    started = inner.path / "building"
    inner.makepyfile(
        f"""
        def test_slow(dockerbuild):
            open({str(started)!r}, "w").close()
            dockerbuild.build("slow")
        """
    )
    output = interrupt_when(inner, lambda: started.exists(), f"--dockerbuild-backend={backend}")
    assert "KeyboardInterrupt" in output
    wait_for(lambda: marked_leftovers(marker) == ([], []), timeout=30)


def test_sigint_during_a_readiness_wait_leaves_nothing(inner: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    inner.makepyfile(
        f"""
        from pytest_dockerbuild import HttpReady

        def test_never_ready(dockerbuild_network):
            dockerbuild_network.run({BASE!r}, command=["sh", "-c", "echo {marker}; sleep 300"], ports=[80],
                                    wait=HttpReady("/"), timeout=300)
        """
    )
    client = docker.from_env()

    def waiting() -> bool:
        return any(marker in str(c.attrs["Config"]["Cmd"]) for c in client.containers.list(ignore_removed=True))

    interrupt_when(inner, waiting)
    assert marked_leftovers(marker) == ([], [])
    networks = [n.name for n in client.networks.list(filters={"label": "pytest-dockerbuild.managed=true"})]
    assert not any("test_never_ready" in name for name in networks)


def test_a_lost_engine_gives_one_clear_error(inner: pytest.Pytester, engine_proxy, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    proxy, address = engine_proxy()
    monkeypatch.setenv("DOCKER_HOST", address)
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text("FROM diamol/base\nRUN echo hi > /hi\n")
    inner.makepyfile(
        f"""
        import os, signal, time

        def test_first(dockerbuild):
            dockerbuild.build("app")
            os.kill({proxy.pid}, signal.SIGTERM)  # the engine goes away
            time.sleep(0.5)

        def test_second(dockerbuild):
            dockerbuild.build("app", build_args={{"CHANGED": "1"}})

        def test_third(dockerbuild):
            dockerbuild.build("app", build_args={{"CHANGED": "2"}})
        """
    )
    result = inner.runpytest_subprocess("--dockerbuild-backend=classic")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*dockerbuild: the Docker Engine at {address} went away; stopping the run*",
            "*! the Docker Engine went away !*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
