"""Many engines (``--dockerbuild-engines``): pytest-xdist workers spread over the first engine
and a second dockerd on this machine, images shared through a real registry; a buildx builder
of another engine (``--dockerbuild-builder``), whose images come over through the registry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest
from engines import builder_names, context_names, docker_context
from helpers import BASE, MakeContext
from registry import free_port, tags

from pytest_dockerbuild import Builder
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.engine.pool import SHARED_REPOSITORY, EnginePool, buildx_builder, read_engines, same_engine
from pytest_dockerbuild.errors import BackendUnavailable, RegistryError

FIRST = "unix:///var/run/docker.sock"
REPO = Path(__file__).parent.parent
DEMO = REPO / "example_projects" / "multistage-demo"
BASES = {"diamol/base": BASE}

TESTS = """
import json, os
import pytest
import requests
from pytest_dockerbuild import HttpReady

@pytest.mark.parametrize("n", range(4))
def test_build_and_serve(dockerbuild, dockerbuild_runtime, worker_id, n):
    result = dockerbuild.build("app")
    assert dockerbuild.engine.client.images.get(result.image.id)  # on this worker's engine
    server = dockerbuild_runtime.run(result, ports=[8080], command=["httpd", "-f", "-p", "8080", "-h", "/www"],
                                     wait=HttpReady("/m"))
    assert requests.get(server.url("/m"), timeout=10).text.startswith("served-")
    with open(f"seen-{worker_id}-{n}.json", "w") as seen:
        json.dump({"worker": worker_id, "engine": os.environ["DOCKER_HOST"], "image": result.image.id,
                   "shared": result.shared}, seen)
"""


def test_workers_spread_over_two_engines_and_share_images_through_the_registry(
    inner: pytest.Pytester, registry: str, second_engine_url: str
) -> None:
    marker = uuid.uuid4().hex[:12]
    (inner.path / "app").mkdir()
    (inner.path / "app" / "Dockerfile").write_text(
        f"FROM diamol/base\nRUN mkdir /www && echo served-{marker} > /www/m\n"
    )
    inner.makepyfile(test_engines=TESTS)
    engines = f"{FIRST},{second_engine_url}"
    result = inner.runpytest_subprocess(
        "-n", "2", "--dist", "load", f"--dockerbuild-engines={engines}", f"--dockerbuild-share-via={registry}"
    )
    result.assert_outcomes(passed=4)
    seen = [json.loads(path.read_text()) for path in sorted(inner.path.glob("seen-*.json"))]
    assert {(s["worker"], s["engine"]) for s in seen} <= {("gw0", FIRST), ("gw1", second_engine_url)}
    assert {s["engine"] for s in seen} == {FIRST, second_engine_url}, seen  # both engines ran tests
    assert len({s["image"] for s in seen}) == 1  # the same image (one build) on both engines
    built_on = {s["engine"] for s in seen if not s["shared"]}
    assert len(built_on) == 1, seen  # built on one engine only; the other pulled it
    assert len(tags(registry, SHARED_REPOSITORY)) >= 1
    # the second engine holds the image and nothing of the run's containers is left on either
    second = docker.DockerClient(base_url=second_engine_url)
    label = {"label": "pytest-dockerbuild.managed"}
    for client in (second, docker.from_env()):  # built on one, pulled onto the other and tagged by its key there
        key_tags = [t for t in client.images.get(seen[0]["image"]).tags if t.startswith("pytest-dockerbuild/app-")]
        assert len(key_tags) == 1 and "-k" in key_tags[0], key_tags
        left = [c.name for c in client.containers.list(all=True, filters=label) if marker in str(c.attrs["Config"])]
        assert left == []
    second.close()


PUSHED = """
import json, os
import pytest

@pytest.mark.parametrize("n", range(4))
def test_build(dockerbuild, worker_id, n):
    result = dockerbuild.build("app", build_args={"ENGINE": os.environ["DOCKER_HOST"]})  # an image per engine
    with open(f"key-{worker_id}-{n}.json", "w") as seen:
        json.dump({"engine": os.environ["DOCKER_HOST"], "key": result.key}, seen)
"""


def test_the_run_pushes_each_image_from_the_engine_that_built_it(
    inner: pytest.Pytester, registry: str, second_engine_url: str
) -> None:
    (inner.path / "app").mkdir()
    (inner.path / "app" / "Dockerfile").write_text(
        f"FROM diamol/base\nARG ENGINE\nRUN echo {uuid.uuid4().hex} $ENGINE > /m\n"
    )
    inner.makepyfile(test_pushed=PUSHED)
    result = inner.runpytest_subprocess(
        "-n", "2", "--dist", "load", f"--dockerbuild-engines={FIRST},{second_engine_url}",
        f"--dockerbuild-share-via={registry}", f"--dockerbuild-push={registry}",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.OK
    seen = [json.loads(path.read_text()) for path in inner.path.glob("key-*.json")]
    keys = {s["engine"]: s["key"] for s in seen}
    assert set(keys) == {FIRST, second_engine_url}, seen
    pushed = tags(registry, project_id(inner.path / "app"))
    assert {f"final-k{key[:16]}" for key in keys.values()} <= set(pushed), pushed  # each from its own engine


def test_the_controller_removes_what_a_killed_worker_left_on_another_engine(
    inner: pytest.Pytester, registry: str, second_engine_url: str
) -> None:
    marker = uuid.uuid4().hex
    inner.makepyfile(
        f"""
        import os, signal
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_killed(dockerbuild_network, n):
            dockerbuild_network.run({BASE!r}, command=["sh", "-c", "echo {marker}; sleep 300"])
            if os.environ["DOCKER_HOST"] == {second_engine_url!r}:
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = inner.runpytest_subprocess(
        "-n", "2", "--dist", "load", f"--dockerbuild-engines={FIRST},{second_engine_url}",
        f"--dockerbuild-share-via={registry}",
    )  # fmt: skip
    result.stdout.fnmatch_lines(["*crashed while running*"])
    for url in (FIRST, second_engine_url):
        client = docker.DockerClient(base_url=url)
        left = [c.name for c in client.containers.list(all=True) if marker in str(c.attrs["Config"]["Cmd"])]
        client.close()
        assert left == [], f"the controller removes what its workers left on {url}"


def test_workers_get_engine_i_mod_n() -> None:
    pool = EnginePool(["unix:///a", "tcp://b:2375", "ssh://c"])
    assert [pool.for_worker(w) for w in ("gw0", "gw1", "gw2", "gw3", None)] == [
        "unix:///a", "tcp://b:2375", "ssh://c", "unix:///a", "unix:///a"
    ]  # fmt: skip


def test_engines_from_a_file_and_bad_entries(tmp_path: Path) -> None:
    listing = tmp_path / "engines.txt"
    listing.write_text("# the engines\nunix:///var/run/docker.sock\n\ntcp://10.0.0.2:2375  # second\n")
    assert read_engines(str(listing)) == ["unix:///var/run/docker.sock", "tcp://10.0.0.2:2375"]
    with pytest.raises(ValueError, match=r"'10\.0\.0\.2:2375' is not an engine URL"):
        read_engines("unix:///var/run/docker.sock,10.0.0.2:2375")


def test_two_engines_need_a_registry_to_share_through(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess(f"--dockerbuild-engines={FIRST},tcp://127.0.0.1:1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*more than one engine needs --dockerbuild-share-via REGISTRY*"])


BUILDER_TEST = """
def test_build(dockerbuild):
    assert dockerbuild.build("app", backend="buildkit").backend == "buildkit"
"""


def test_the_buildx_builder_is_passed_through_and_its_driver_shown(inner: pytest.Pytester) -> None:
    (inner.path / "app").mkdir()
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo builder-{uuid.uuid4().hex}\n")
    inner.makepyfile(test_builder=BUILDER_TEST)
    result = inner.runpytest_subprocess("--dockerbuild-builder=default")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["dockerbuild: *; buildx builder default (driver docker)*"])
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    result = inner.runpytest_subprocess(f"--dockerbuild-builder={missing}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"dockerbuild: *; buildx builder {missing} (driver unknown (*{missing}*))*"])
    result.stdout.fnmatch_lines([f'*error: no builder "{missing}" found*'])


def test_a_builder_of_another_engine_hands_its_image_over_through_the_registry(
    registry: str, second_engine_url: str, dockerbuild_engine: Engine, make_context: MakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    marker = uuid.uuid4().hex
    context = make_context(f"FROM diamol/base\nRUN echo through-{marker} > /m\n")
    with docker_context(second_engine_url) as name:
        monkeypatch.setenv("BUILDX_BUILDER", name)
        found = buildx_builder(name)
        assert (found.driver, found.context, found.host) == ("docker", name, second_engine_url)
        assert found.builds_elsewhere(FIRST) and not found.builds_elsewhere(second_engine_url)
        with pytest.raises(BackendUnavailable, match=rf"builder '{name}' .* pass --dockerbuild-share-via REGISTRY"):
            Builder(dockerbuild_engine, {"diamol/base": BASE}, backend="buildkit").build(context)
        closed = f"127.0.0.1:{free_port()}"
        with pytest.raises(RegistryError, match=rf"builder '{name}' built the image but could not push it to the "
                           rf"registry {closed} as {closed}/{SHARED_REPOSITORY}:k"):  # fmt: skip
            Builder(dockerbuild_engine, BASES, backend="buildkit", transit_registry=closed).build(context)
        through = Builder(dockerbuild_engine, BASES, backend="buildkit", transit_registry=registry)
        result = through.build(context)
        assert name in context_names() and name in builder_names()
    assert result.image.read_text("/m") == f"through-{marker}\n"  # in the first engine: the tests' engine
    assert result.step(f"echo through-{marker}").cached  # the second engine's layer cache, of the failed push
    pulled = dockerbuild_engine.client.images.get(result.image.id)
    assert any(digest.startswith(f"{registry}/{SHARED_REPOSITORY}@sha256:") for digest in pulled.attrs["RepoDigests"])
    assert f"k{result.key[:40]}" in tags(registry, SHARED_REPOSITORY)
    second = docker.DockerClient(base_url=second_engine_url)
    assert second.images.get(result.image.id)  # built there
    second.close()
    assert name not in context_names() and name not in builder_names()  # removed with the test


def test_engines_are_compared_by_socket() -> None:
    assert same_engine("unix:///var/run/docker.sock", "unix:///var/run/../run/docker.sock")
    assert not same_engine("unix:///var/run/docker.sock", "unix:///tmp/dk2/sock")
    assert same_engine("tcp://10.0.0.2:2376/", "tcp://10.0.0.2:2376")


CONTEXT_BUILDER_TEST = """
def test_build(dockerbuild):
    result = dockerbuild.build("app", backend="buildkit")
    assert result.image.read_text("/m") == "through-{marker}\\n"
"""


def test_the_builder_option_goes_through_the_share_registry(
    inner: pytest.Pytester, registry: str, second_engine_url: str
) -> None:
    marker = uuid.uuid4().hex
    (inner.path / "app").mkdir()
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo through-{marker} > /m\n")
    inner.makepyfile(test_builder=CONTEXT_BUILDER_TEST.format(marker=marker))
    with docker_context(second_engine_url) as name:
        result = inner.runpytest_subprocess(f"--dockerbuild-builder={name}")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"*builder '{name}' (docker driver, Docker context '{name}' at "
                                     f"{second_engine_url}) builds in, and loads into, its own engine*"])  # fmt: skip
        result = inner.runpytest_subprocess(f"--dockerbuild-builder={name}", f"--dockerbuild-share-via={registry}")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"dockerbuild: *; buildx builder {name} (driver docker)*"])


def test_an_example_and_its_contract_run_over_two_engines_and_are_pushed(registry: str, second_engine_url: str) -> None:
    """The multistage-demo example's own tests and contract file, as a user runs them: ``-n 2``
    over both engines, images shared through the registry, the tested ones pushed at the end."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-rA", str(DEMO),
               f"--dockerbuild-engines={FIRST},{second_engine_url}", f"--dockerbuild-share-via={registry}",
               f"--dockerbuild-push={registry}"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"=+ 15 passed in", output), output
    assert re.search(r"PASSED .*multistage\.cst\.yaml::metadata", output), output
    pushed = tags(registry, project_id(DEMO))
    assert {"build-stage-tested", "test-stage-tested", "final-tested"} <= set(pushed), pushed
    images = []
    for url in (FIRST, second_engine_url):  # each engine ran tests that built or pulled the final image
        client = docker.DockerClient(base_url=url)
        found = [t for image in client.images.list(name=f"pytest-dockerbuild/{project_id(DEMO)}") for t in image.tags]
        images.append([t for t in found if re.search(r":final-k[0-9a-f]{16}$", t)])
        client.close()
    assert images[0] and images[1], images
