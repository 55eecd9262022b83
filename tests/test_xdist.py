"""pytest-xdist: one build per image across workers, unique names, nothing left by a killed worker."""

from __future__ import annotations

import json
import uuid

import docker
import pytest

BASE = "dockerbuild-offline/base:bookworm"


def test_each_image_is_built_once_across_workers(inner: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex  # new content: nothing to reuse from an earlier run
    inner.mkdir("app")
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {marker} > /marker.txt && sleep 2\n")
    inner.makepyfile(
        """
        import json, os, pytest

        @pytest.mark.parametrize("n", range(6))
        def test_build(dockerbuild, n):
            result = dockerbuild.build("app")
            record = {"worker": os.environ["PYTEST_XDIST_WORKER"], "shared": result.shared, "id": result.image.id}
            with open(f"build-{n}.json", "w") as out:
                json.dump(record, out)
        """
    )
    result = inner.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=6)
    records = [json.loads((inner.path / f"build-{n}.json").read_text()) for n in range(6)]
    assert {r["worker"] for r in records} == {"gw0", "gw1"}, "both workers took part"
    assert len({r["id"] for r in records}) == 1
    builders = {r["worker"] for r in records if not r["shared"]}
    readers = {r["worker"] for r in records if r["shared"]}
    assert len(builders) == 1 and readers == {"gw0", "gw1"} - builders, f"one worker builds, one reads: {records}"
    # one summary, from the controller, with the rows of both workers
    result.stdout.fnmatch_lines(["*= dockerbuild: 1 images built, 1 reused, 0 failed builds =*"])
    result.stdout.fnmatch_lines(["* shared  app/Dockerfile"])
    assert result.stdout.str().count("dockerbuild: 1 images built") == 1


def test_a_failing_build_fails_once_and_on_every_worker(inner: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    inner.mkdir("bad")
    (inner.path / "bad" / "Dockerfile").write_text(f"FROM diamol/base AS check\nRUN echo {marker} && exit 9\n")
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_fails(dockerbuild, n):
            failure = dockerbuild.expect_failure("bad", stage="check", exit_code=9)
            assert failure.line == 2
        """
    )
    result = inner.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*= dockerbuild: 0 images built, 0 reused, 0 failed builds, 2 expected failures =*"])


def test_containers_of_two_workers_do_not_collide(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        f"""
        import pytest
        from pytest_dockerbuild import LogReady

        @pytest.mark.parametrize("n", range(4))
        def test_run(dockerbuild_network, n):
            box = dockerbuild_network.run({BASE!r}, command=["sh", "-c", "echo up; sleep 30"], aliases=["box"],
                                          wait=LogReady("up"))
            assert box.name.startswith("pytest-dockerbuild-")
        """
    )
    inner.runpytest_subprocess("-n", "2").assert_outcomes(passed=4)


def test_a_killed_worker_leaves_nothing_behind(inner: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    inner.makepyfile(
        f"""
        import os, signal
        import pytest

        @pytest.mark.parametrize("n", range(2))
        def test_killed(dockerbuild_network, n):
            dockerbuild_network.run({BASE!r}, command=["sh", "-c", "echo {marker}; sleep 300"])
            if n == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = inner.runpytest_subprocess("-n", "2")
    result.stdout.fnmatch_lines(["*crashed while running*"])
    client = docker.from_env()
    left = [
        c.name for c in client.containers.list(all=True, ignore_removed=True) if marker in str(c.attrs["Config"]["Cmd"])
    ]
    assert left == [], "the controller removes what its workers created"
