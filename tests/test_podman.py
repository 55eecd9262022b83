"""The plugin on Podman (``podman system service``, Docker-compatible API): the example's stages
build with the classic backend (Buildah behind the compat endpoint), a failing stage is named as
on the Docker Engine, the image's files and metadata are read, containers run, the contract file
passes, the header names Podman, and BuildKit and Podman's rlimit refusal are one clear error
each.  A private service (:mod:`podman`) is started for the module and stopped at its end."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from docker.types import Ulimit
from filelock import FileLock
from helpers import BASE, missing
from podman import PodmanService

from pytest_dockerbuild import (
    Builder,
    ComposeError,
    ContainerError,
    ContainerNotReady,
    Healthy,
    HttpReady,
    Runtime,
    Stacks,
)
from pytest_dockerbuild.compose.stack import PROJECT_LABEL
from pytest_dockerbuild.engine.cleanup import Cleanup
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.engine.naming import LABEL_LEASE, LABEL_RUN
from pytest_dockerbuild.engine.podman import RLIMIT_ADVICE, HealthChecks, podman_version
from pytest_dockerbuild.errors import BackendUnavailable, BuildOptionError

REPO = Path(__file__).parent.parent
DEMO = REPO / "example_projects" / "multistage-demo"
CAP_SYS_RESOURCE = 24


@pytest.fixture(scope="module")
def podman_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    """A private Podman service with the base image loaded (``localhost/<BASE>``).  One at a time on
    the machine (pytest-xdist workers take turns): services share the default network's bridge and
    the CNI firewall chains, which each removes at its end."""
    if shutil.which("podman") is None:
        missing("podman is not installed (scripts/setup installs Debian's podman)")
    with FileLock(Path(tempfile.gettempdir()) / "pytest-dockerbuild-podman.lock"):
        service = PodmanService(tmp_path_factory.mktemp("podman"))
        try:
            service.start()
            service.load(BASE)
            yield service
        finally:
            service.stop()


@pytest.fixture
def on_podman(podman_service: PodmanService, monkeypatch: pytest.MonkeyPatch) -> PodmanService:
    """``DOCKER_HOST`` names the service for this test (the plugin opens build streams from it)."""
    monkeypatch.setenv("DOCKER_HOST", podman_service.url)
    return podman_service


@pytest.fixture(scope="module")
def podman_engine(podman_service: PodmanService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = Engine(docker.DockerClient(base_url=podman_service.url, timeout=120),
                    export_dir=tmp_path_factory.mktemp("podman-exports"))  # fmt: skip
    yield engine
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", podman_service.url)
        cleanup = Cleanup(engine)
        cleanup.remove_run_resources()
        cleanup.finish({}, retain=False)
    engine.close()


@pytest.fixture
def podman_builder(on_podman: PodmanService, podman_engine: Engine) -> Builder:
    return Builder(podman_engine, {"diamol/base": BASE})


def test_the_engine_is_podman_and_the_header_says_so(on_podman: PodmanService, podman_engine: Engine) -> None:
    assert podman_engine.podman
    again = Engine(docker.DockerClient(base_url=on_podman.url), export_dir=on_podman.folder / "exports")
    assert again.ledger.folder == podman_engine.ledger.folder == on_podman.ledger_folder  # one ledger per store
    again.close()
    header = podman_engine.info().header()
    assert re.fullmatch(r"dockerbuild: Podman Engine 4\.\d+\.\d+, API 1\.\d+, classic builder \(no BuildKit.*", header)


def test_each_stage_builds_and_the_final_image_is_inspected(podman_builder: Builder) -> None:
    first = podman_builder.build(DEMO, target="build-stage")
    assert first.backend == "classic"  # auto: no BuildKit on Podman
    assert first.stage("build-stage").built and not first.stage("test-stage").built
    assert [s.instruction for s in first.steps] == [
        "FROM diamol/base AS build-stage",
        "RUN echo 'Building...' > /build.txt",
    ]
    assert first.image.read_text("/build.txt") == "Building...\n"
    final = podman_builder.build(DEMO)
    assert [s.ref for s in final.stages if s.built] == ["build-stage", "test-stage", "2"]
    assert [(s.stage, s.step, s.line) for s in final.steps][-3:] == [("2", 1, 11), ("2", 2, 12), ("2", 3, 13)]
    assert final.stage("build-stage").steps[1].cached  # the same step as the first build's
    stage_image = final.stage("test-stage").image_id  # Buildah's 11-character ids are read, and tagged
    assert stage_image is not None and len(stage_image) == 11
    tags = podman_builder.engine.client.images.get(stage_image).tags
    assert [t for t in tags if f":test-stage-{stage_image}" in t] != []
    assert final.image.read_text("/build.txt") == "Building...\nTesting...\n"
    assert final.image.files["/build.txt"].size == len("Building...\nTesting...\n")
    assert final.image.config.cmd == ["cat", "/build.txt"] and final.image.config.entrypoint is None
    diff = final.image.compare(podman_builder.image(final.target_stage.base_image))
    assert (diff.added, diff.removed, diff.changed) == (["/build.txt"], [], [])


def test_a_failing_stage_is_named_as_on_the_docker_engine(podman_builder: Builder) -> None:
    failure = podman_builder.expect_failure(DEMO, "Dockerfile.failing-test", stage="test-stage", exit_code=1)
    assert (failure.step, failure.line) == (3, 10)
    assert failure.instruction is not None and failure.instruction.startswith("RUN echo 'Testing...'")
    assert "test failed: expected 3 lines" in failure.log_tail
    assert "[2/3] STEP 4/4 of the classic log" in str(failure)  # Buildah's numbering (after the plugin's LABEL)


def test_buildkit_is_refused_with_one_clear_error(podman_builder: Builder) -> None:
    with pytest.raises(BackendUnavailable) as caught:
        podman_builder.build(DEMO, backend="buildkit")
    message = str(caught.value)
    assert "Podman" in message and "backend='classic'" in message
    assert "Traceback" not in message


def test_containers_run_on_podman(on_podman: PodmanService, podman_engine: Engine) -> None:
    runtime = Runtime(podman_engine)
    done = runtime.run_once(BASE, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (done.exit_code, done.stdout, done.stderr) == (3, "out\n", "err\n")
    with runtime.network("web") as network:
        script = (
            "mkdir /www && echo podman > /www/index.html && echo ok > /www/health && busybox httpd -f -p 8080 -h /www"
        )
        web = network.run(BASE, command=["sh", "-c", script], aliases=["web"], ports=[8080], wait=HttpReady("/health"))
        assert web.http.get("/").text == "podman\n"
        peer = network.run_once(BASE, ["wget", "-qO-", "http://web:8080/"])  # by alias, on the network
        assert (peer.exit_code, peer.stdout) == (0, "podman\n")
        name = network.name
    labelled = podman_engine.client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={podman_engine.run_id}"})
    assert [c.name for c in labelled if LABEL_LEASE not in c.labels] == []  # only the images' leases remain
    assert podman_engine.client.networks.list(names=[name]) == []


def test_a_refused_rlimit_is_one_clear_error(on_podman: PodmanService, podman_engine: Engine) -> None:
    """Above the service's own hard limit, the runtime cannot set a limit (without CAP_SYS_RESOURCE):
    the error says it is Podman and what to set."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    over = [Ulimit(name="nofile", soft=hard * 2, hard=hard * 2)]
    runtime = Runtime(podman_engine)
    if _may_raise_limits():  # the container starts
        assert runtime.run_once(BASE, ["sh", "-c", "ulimit -n"], ulimits=over).stdout == f"{hard * 2}\n"
        return
    with pytest.raises(ContainerError) as caught:
        runtime.run_once(BASE, ["true"], ulimits=over)
    assert "rlimit" in str(caught.value).lower() and RLIMIT_ADVICE in str(caught.value)


def test_without_the_ulimits_setting_containers_fail_with_one_clear_error(
    podman_service: PodmanService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service with Podman's default ulimits (what the notes saw: every start refused)."""
    service = PodmanService(tmp_path / "defaults", ulimits=None)
    try:
        service.start()
        image = service.load(BASE)  # from the Docker Engine: before DOCKER_HOST names Podman
        monkeypatch.setenv("DOCKER_HOST", service.url)
        engine = Engine(docker.DockerClient(base_url=service.url), export_dir=tmp_path / "exports")
        runtime = Runtime(engine)
        if _may_raise_limits():
            assert runtime.run_once(image, ["true"]).exit_code == 0
            return
        with pytest.raises(ContainerError) as caught:
            runtime.run_once(image, ["true"])
        assert RLIMIT_ADVICE in str(caught.value) and "operation not permitted" in str(caught.value).lower()
        with pytest.raises(ContainerError, match=r"cannot start: .*rlimit.*\n.*the engine is Podman"):
            runtime.run(image, command=["sleep", "5"])
        Cleanup(engine).remove_run_resources()
        engine.close()
    finally:
        service.stop()
    assert service.ledger_folder is not None and not service.ledger_folder.exists()
    assert not service.folder.exists()


def _may_raise_limits() -> bool:
    """True if this process has CAP_SYS_RESOURCE (then the runtime may raise hard limits)."""
    capabilities = int(re.findall(r"CapEff:\s*([0-9a-f]+)", Path("/proc/self/status").read_text())[0], 16)
    return bool(capabilities & (1 << CAP_SYS_RESOURCE))


def test_the_example_and_its_contract_pass_on_podman(on_podman: PodmanService) -> None:
    """The example project's own tests and contract file, through the whole plugin, as a user runs them."""
    env = {**os.environ, "DOCKER_HOST": on_podman.url}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-rA", str(DEMO)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"dockerbuild: Podman Engine 4\.\S+, API \S+, classic builder", output)
    assert re.search(r"PASSED .*multistage\.cst\.yaml::command:the default command prints", output), output
    assert re.search(r"PASSED .*multistage\.cst\.yaml::metadata", output), output
    assert re.search(r"=+ 15 passed in", output), output
    run_id = re.findall(r"; run (\w+) \(label", output)[0]
    assert on_podman.podman("ps", "-a", "-q", "--filter", f"label={LABEL_RUN}={run_id}") == ""
    assert on_podman.podman("network", "ls", "-q", "--filter", f"label={LABEL_RUN}={run_id}") == ""


# -- Compose and health checks on Podman ----------------------------------------------------
SERVICE = "mkdir /www && echo podman > /www/index.html && busybox httpd -f -p 8080 -h /www"


def stack_files(folder: Path, web: str, client: str = "") -> Path:
    """A Compose file of a ``web`` service (``web``: its extra keys) and maybe a ``client``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "compose.yaml"
    path.write_text(f"services:\n  web:\n    image: diamol/base\n    command: [sh, -c, '{SERVICE}']\n{web}{client}")
    return path


def test_a_compose_stack_runs_on_podman_with_its_health_checks(
    on_podman: PodmanService, podman_engine: Engine, podman_builder: Builder, tmp_path: Path
) -> None:
    """``client`` starts only once ``web``'s check passed, which no systemd timer runs here, and
    the check's ``CMD`` form has an argument with spaces (Podman's compat API would split it);
    ``client`` has no check (Podman answers an empty status) and reaches ``web`` by name."""
    web = ("    healthcheck:\n      test: [CMD, sh, -c, 'wget -q -O /dev/null http://localhost:8080/']\n"
           "      interval: 1s\n      retries: 20\n    ports: ['8080']\n")  # fmt: skip
    client = ("  client:\n    image: diamol/base\n    depends_on: {web: {condition: service_healthy}}\n"
              "    command: [sh, -c, 'wget -qO- http://web:8080/ && sleep 300']\n")  # fmt: skip
    stacks = Stacks(Runtime(podman_engine), podman_builder, lambda: None)
    try:
        stack = stacks(stack_files(tmp_path, web, client), waits={"web": Healthy()}, timeout=60)
        health = stack["web"].attrs["State"]["Health"]
        assert health["Status"] == "healthy" and health["Log"][-1]["ExitCode"] == 0
        assert stack["web"].attrs["Config"]["Healthcheck"]["Test"] == [
            "CMD-SHELL", "sh -c 'wget -q -O /dev/null http://localhost:8080/'",
        ]  # fmt: skip
        assert stack["web"].http.get("/").text == "podman\n"
        assert stack["client"].logs().startswith("podman\n")
        project = stack.project
    finally:
        stacks.down()
    assert on_podman.podman("ps", "-a", "-q", "--filter", f"label={PROJECT_LABEL}={project}") == ""


def test_a_failing_health_check_on_podman_names_the_service(
    on_podman: PodmanService, podman_engine: Engine, podman_builder: Builder, tmp_path: Path
) -> None:
    web = "    healthcheck:\n      test: [CMD, test, -e, /missing]\n      interval: 1s\n      retries: 2\n"
    stacks = Stacks(Runtime(podman_engine), podman_builder, lambda: None)
    try:
        with pytest.raises(ContainerNotReady, match=r"web \(.*compose\.yaml:2\).*its healthcheck.*unhealthy"):
            stacks(stack_files(tmp_path, web), timeout=20)
    finally:
        stacks.down()


def test_runtime_health_checks_run_on_podman(on_podman: PodmanService, podman_engine: Engine) -> None:
    runtime = Runtime(podman_engine)
    check = {"test": ["CMD", "sh", "-c", "test -e /www/index.html"], "interval": 0.5, "retries": 50}
    web = runtime.run(BASE, command=["sh", "-c", SERVICE], healthcheck=check, wait=Healthy(), timeout=30)
    assert web.attrs["State"]["Health"]["Status"] == "healthy"
    bare = runtime.run(BASE, command=["sleep", "60"])
    with pytest.raises(ContainerError, match="no health check to wait for: the image has no HEALTHCHECK"):
        bare.wait(Healthy(), timeout=30)  # at once: Podman's empty status is no check, not "starting"


@pytest.fixture
def checked(podman_engine: Engine) -> Iterator[Callable[[int, int], tuple[list[str], list[HealthChecks]]]]:
    """``checked(containers, runners)``: running containers with a check every 0.3 s and runners
    for them, under a label of their own (not the run's, so the engine's own runner leaves them
    alone); removed and stopped at the end."""
    label = f"test-{uuid.uuid4().hex[:8]}"
    version = podman_version(podman_engine.version())
    made: tuple[list[Container], list[HealthChecks]] = ([], [])

    def make(containers: int, runners: int) -> tuple[list[str], list[HealthChecks]]:
        check = {"test": ["CMD", "true"], "interval": 300_000_000}
        made[0].extend(podman_engine.client.containers.run(BASE, ["sleep", "60"], detach=True, healthcheck=check,
                                                           labels={label: ""}) for _ in range(containers))  # fmt: skip
        made[1].extend(HealthChecks(podman_engine.connection(timeout=30), version, label) for _ in range(runners))
        return [container.id for container in made[0]], made[1]

    yield make
    for runner in made[1]:
        runner.stop()
    for container in made[0]:
        container.remove(force=True)


def test_checks_that_podman_runs_itself_are_left_to_it(
    on_podman: PodmanService, podman_engine: Engine, checked: Callable[[int, int], tuple[list[str], list[HealthChecks]]]
) -> None:
    """Where Podman's timers run the checks (simulated: `podman healthcheck run` from outside),
    the plugin's runner does not run them too; otherwise it runs each when due."""
    (ours, theirs), (runner,) = checked(2, 1)
    on_podman.podman("healthcheck", "run", theirs)
    time.sleep(0.4)
    assert (runner.check(ours), runner.check(theirs)) == (False, False)  # the first is due after 0.3 s
    time.sleep(0.4)
    assert (runner.check(ours), runner.check(theirs)) == (True, False)
    assert runner.check(ours) is False  # not due again yet
    assert runner.ran == {ours: 1}
    assert podman_engine.client.containers.get(ours).attrs["State"]["Health"]["Status"] == "healthy"


def test_two_runners_of_one_process_share_what_they_ran(
    on_podman: PodmanService, checked: Callable[[int, int], tuple[list[str], list[HealthChecks]]]
) -> None:
    """Two engines of one process (two runners, one owner label): a check one ran is not taken
    for Podman's by the other, and no check runs twice as often."""
    (container,), (first, second) = checked(1, 2)
    assert (first.check(container), second.check(container)) == (False, False)
    time.sleep(0.4)
    assert (first.check(container), second.check(container)) == (True, False)  # one run, then not due
    time.sleep(0.4)
    assert (second.check(container), first.check(container)) == (True, False)  # the other one's turn
    assert (first.ran, second.ran) == ({container: 1}, {container: 1})


def test_during_a_start_period_checks_run_every_start_interval(on_podman: PodmanService, podman_engine: Engine) -> None:
    """As on Docker 25: a check of a 60 s interval with a start period runs after 5 s, not 60 s."""
    check = {"test": ["CMD", "true"], "interval": 60, "start_period": 30}
    begun = time.monotonic()
    Runtime(podman_engine).run(BASE, command=["sleep", "60"], healthcheck=check, wait=Healthy(), timeout=20)
    assert 4 < time.monotonic() - begun < 15


def test_compose_on_podman_refuses_buildkit_keys_and_explains_rlimits(
    on_podman: PodmanService, podman_engine: Engine, podman_builder: Builder, tmp_path: Path
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM diamol/base\nRUN --mount=type=secret,id=token true\n")
    (tmp_path / "token").write_text("s3cret")
    built = "  app:\n    build: {context: ./app, secrets: [token]}\nsecrets:\n  token: {file: ./token}\n"
    stacks = Stacks(Runtime(podman_engine), podman_builder, lambda: None)
    try:
        with pytest.raises(BuildOptionError, match=r"service 'app' \(.*compose\.yaml:5\).*runs no BuildKit"):
            stacks(stack_files(tmp_path, "", built))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        over = f"    ulimits: {{nofile: {{soft: {hard * 2}, hard: {hard * 2}}}}}\n"
        if _may_raise_limits():  # the container starts
            web = stacks(stack_files(tmp_path / "over", over))["web"]
            assert web.exec(["sh", "-c", "ulimit -n"]) == (0, f"{hard * 2}\n")
            return
        with pytest.raises(ComposeError) as caught:
            stacks(stack_files(tmp_path / "over", over), timeout=30)
        assert "rlimit" in str(caught.value) and "ulimits: of a Compose service" in str(caught.value)
    finally:
        stacks.down()
