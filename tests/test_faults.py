"""The fault matrix: SIGINT and SIGKILL during a build (both backends) and during a readiness wait, a killed
builder, a step killed as by the OOM killer, a lost engine. After each, the next run builds again and passes,
leaves no container, network or dangling image behind, and removes nothing it did not make."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from helpers import EngineProxy, marked_leftovers

BASE = "dockerbuild-offline/base:bookworm"


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def fault_when(
    pytester: pytest.Pytester, ready: Callable[[], bool], *args: str, sig: signal.Signals = signal.SIGINT,
    group: bool = True,
) -> str:  # fmt: skip
    """Run pytest in a subprocess (its own process group), send ``sig`` once ``ready()`` (SIGKILL
    goes to the whole group, as a CI job's timeout does, unless not ``group``), return its output."""
    log = pytester.path / "faulted.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=pytester.path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(ready)
            time.sleep(0.5)
            if sig == signal.SIGKILL and group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text()
    expected = pytest.ExitCode.INTERRUPTED if sig == signal.SIGINT else -sig
    assert process.returncode == expected, output
    return output


@pytest.fixture
def witnesses() -> Iterator[list[str]]:
    """Images a user made by hand from the base image, which no fault and no clean-up may
    touch: a tagged one and an untagged one built on it."""
    client = docker.from_env()
    marker = uuid.uuid4().hex
    tag = f"mine/witness:{marker[:12]}"
    client.images.build(fileobj=io.BytesIO(f"FROM {BASE}\nLABEL w={marker}\n".encode()), tag=tag, rm=True)
    child = client.images.build(fileobj=io.BytesIO(f"FROM {tag}\nRUN echo {marker}\n".encode()), rm=True)[0]
    images = [tag, child.id]
    yield images
    for image in reversed(images):
        client.images.remove(image)


def slow_once(marker: str, seconds: int = 6, then: str = "sleep 120") -> str:
    """A Dockerfile whose RUN does ``then`` until ``seconds`` from now, and finishes at once after
    (the same content, so the next run has the same content key); its ENV commits a step image
    before (the classic builder's leftover when it is killed)."""
    until = int(time.time()) + seconds
    return (
        f"FROM diamol/base\nENV MARKER={marker}\nRUN echo {marker} && if [ $(date +%s) -lt {until} ]; then {then}; fi\n"
    )


def assert_next_run_recovers(pytester: pytest.Pytester, marker: str, witnesses: list[str], *args: str) -> None:
    """The next run builds again and passes, and leaves no container, network or dangling image of
    the build; the user's images are all there."""
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*= dockerbuild: 1 images built, 0 reused, 0 failed builds =*"])
    assert marked_leftovers(marker) == ([], [])
    client = docker.from_env()
    for image in witnesses:
        client.images.get(image)  # raises if a clean-up took it


def sweep(pytester: pytest.Pytester) -> None:
    """A run that builds nothing: its start removes what dead runs left."""
    test = pytester.path / "test_sweep_only.py"
    test.write_text("def test_next(dockerbuild_engine):\n    pass\n")
    try:
        pytester.runpytest_subprocess(str(test)).assert_outcomes(passed=1)
    finally:
        test.unlink()


def build_under_way(started: Path) -> Callable[[], bool]:
    """Ready two seconds after the test wrote ``started`` (just before its build)."""

    def ready() -> bool:
        if not started.exists():
            return False
        time.sleep(2)
        return True

    return ready


BUILD_TEST = """
import pathlib

def test_build(dockerbuild):
    pathlib.Path({started!r}).write_text("")
    dockerbuild.build("app")
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_a_signal_during_a_build(inner: pytest.Pytester, witnesses: list[str], backend: str,
                                 sig: signal.Signals) -> None:  # fmt: skip
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(slow_once(marker, seconds=8))
    started = inner.path / "building"
    inner.makepyfile(BUILD_TEST.format(started=str(started)))
    output = fault_when(inner, build_under_way(started), f"--dockerbuild-backend={backend}", sig=sig)
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in output
        wait_for(lambda: marked_leftovers(marker) == ([], []), timeout=30)
    elif backend == "classic":
        assert marked_leftovers(marker)[1] != [], "the killed build's ENV step image is left for the next run"
    sweep(inner)
    assert marked_leftovers(marker) == ([], []), "the next run's start removed what the faulted one left"
    while time.time() < int((inner.path / "app" / "Dockerfile").read_text().split("-lt ")[1].split("]")[0]) + 1:
        time.sleep(0.2)
    assert_next_run_recovers(inner, marker, witnesses, f"--dockerbuild-backend={backend}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_signal_during_a_readiness_wait(inner: pytest.Pytester, witnesses: list[str], sig: signal.Signals) -> None:
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

    output = fault_when(inner, waiting, sig=sig)
    run = re.search(r"; run (\w+) \(label pytest-dockerbuild.run\)", output)
    assert run is not None, output
    by_label = {"label": f"pytest-dockerbuild.run={run.group(1)}"}
    if sig == signal.SIGINT:
        assert client.containers.list(all=True, filters=by_label) == [] == client.networks.list(filters=by_label)
    sweep(inner)
    assert client.containers.list(all=True, filters=by_label) == [] == client.networks.list(filters=by_label)
    assert marked_leftovers(marker) == ([], [])
    for image in witnesses:
        client.images.get(image)


def test_a_killed_builder_process(inner: pytest.Pytester, witnesses: list[str]) -> None:
    """buildx killed under the plugin ("exited with -9"): the build fails with that reason, and the
    next run builds again."""
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(slow_once(marker, seconds=8))
    inner.makepyfile(
        """
        import os, signal, subprocess, threading, time

        def kill_buildx():
            time.sleep(3)
            subprocess.run(["pkill", "-KILL", "-P", str(os.getpid()), "-f", "buildx"])

        def test_build(dockerbuild):
            threading.Thread(target=kill_buildx, daemon=True).start()
            failure = dockerbuild.expect_failure("app")
            assert "killed by SIGKILL" in failure.reason, failure.reason
        """
    )
    inner.runpytest_subprocess("--dockerbuild-backend=buildkit").assert_outcomes(passed=1)
    time.sleep(6)
    inner.makepyfile('def test_build(dockerbuild):\n    dockerbuild.build("app")\n')
    assert_next_run_recovers(inner, marker, witnesses, "--dockerbuild-backend=buildkit")


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_an_oom_style_kill_of_a_step(inner: pytest.Pytester, witnesses: list[str], backend: str) -> None:
    """A step killed (exit 137, as by the OOM killer) fails the build with that exit code; the next
    run builds again."""
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(slow_once(marker, seconds=4, then="sh -c 'kill -9 $$'; exit $?"))
    inner.makepyfile('def test_build(dockerbuild):\n    dockerbuild.expect_failure("app", exit_code=137)\n')
    inner.runpytest_subprocess(f"--dockerbuild-backend={backend}").assert_outcomes(passed=1)
    time.sleep(5)
    inner.makepyfile('def test_build(dockerbuild):\n    dockerbuild.build("app")\n')
    assert_next_run_recovers(inner, marker, witnesses, f"--dockerbuild-backend={backend}")


def test_a_lost_engine_gives_one_clear_error(
    inner: pytest.Pytester, engine_proxy: EngineProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def test_a_killed_runs_image_exports_stay_in_its_temporary_folder(inner: pytest.Pytester) -> None:
    """Exported image archives go under the run's basetemp (pytest keeps the last few), not to a
    folder of their own that nothing would ever remove after a kill."""
    started = inner.path / "exported"
    inner.makepyfile(  # a new image: no run has kept its file tree, so reading a file exports it
        f"""
        import pathlib, time

        def test_export(dockerbuild, tmp_path):
            (tmp_path / "Dockerfile").write_text("FROM {BASE}\\nRUN echo {uuid.uuid4().hex} > /marker\\n")
            dockerbuild.build(tmp_path).image.read_bytes("/marker")
            pathlib.Path({str(started)!r}).write_text("")
            time.sleep(300)
        """
    )
    fault_when(inner, started.exists, "--basetemp", str(inner.path / "basetemp"), sig=signal.SIGKILL)
    exports = list((inner.path / "basetemp" / "dockerbuild-exports").glob("*.tar"))
    assert exports, "the export of the killed run is in its basetemp"


def test_buildx_ends_with_a_killed_pytest(inner: pytest.Pytester, witnesses: list[str]) -> None:
    """Only pytest killed (the OOM killer's choice): buildx is told to stop too, instead of
    finishing the build for no one and loading an image nothing would tag or remove."""
    marker = uuid.uuid4().hex
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(slow_once(marker, seconds=12, then="sleep 10"))
    started = inner.path / "building"
    inner.makepyfile(BUILD_TEST.format(started=str(started)))
    fault_when(inner, build_under_way(started), "--dockerbuild-backend=buildkit", sig=signal.SIGKILL, group=False)
    time.sleep(12)  # had buildx gone on, its build would be over and its image loaded by now
    client = docker.from_env()
    loaded = [i["Id"] for i in client.api.images() if any(marker in (h.get("CreatedBy") or "")
                                                         for h in client.api.history(i["Id"]))]  # fmt: skip
    assert loaded == [], "buildx went on after pytest was killed"
    sweep(inner)
    assert_next_run_recovers(inner, marker, witnesses, "--dockerbuild-backend=buildkit")
