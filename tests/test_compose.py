"""The Compose fixture on the real engine and the real Docker Compose v2: builds through the
plugin's builder, images through the base-image map, random loopback ports, readiness,
clear errors with the file and line, and nothing left behind (after a failure, or a kill)."""

from __future__ import annotations

import hashlib
import textwrap
import time
import uuid
from pathlib import Path

import docker
import pytest

from pytest_dockerbuild import (
    Builder,
    BuildFailed,
    ComposeError,
    ContainerExited,
    ContainerNotReady,
    HttpReady,
    LogReady,
    Runtime,
    Stacks,
)
from pytest_dockerbuild.compose.stack import PROJECT_LABEL, service_image

SERVE = 'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]'


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    return folder / next(iter(files))


def left_over(project: str) -> list[str]:
    """What Compose made for ``project`` and is still there."""
    client = docker.from_env()
    label = {"label": [f"{PROJECT_LABEL}={project}"]}
    return ([c.name for c in client.containers.list(all=True, filters=label)]
            + [n.name for n in client.networks.list(filters=label)]
            + [v.name for v in client.volumes.list(filters=label)])  # fmt: skip


@pytest.fixture
def web(tmp_path: Path) -> Path:
    """A stack of two services: ``web`` built from a Dockerfile (FROM an image the map replaces),
    serving on 80 with a host port pinned, and ``cache`` from an image; a named volume."""
    return write(tmp_path, {
        "compose.yaml": """
            x-common: &common
              restart: "no"
            services:
              web:
                <<: *common
                build: {context: ./web, args: {MESSAGE: "${MESSAGE:-hello}"}}
                ports: ["18080:80"]
                depends_on: [cache]
                volumes: ["data:/data"]
              cache:
                <<: *common
                image: diamol/base
                command: ["sh", "-c", "echo cache ready; sleep 600"]
              debug:
                image: diamol/base
                profiles: [debug]
                command: ["sleep", "600"]
            volumes:
              data: {}
        """,
        "web/Dockerfile": f"""
            FROM diamol/base
            ARG MESSAGE
            RUN mkdir /www && echo "$MESSAGE" > /www/index.html
            {SERVE}
        """,
        "greeting.env": "MESSAGE=from the env file\n",
    })  # fmt: skip


def test_a_stack_builds_starts_and_answers_on_a_random_loopback_port(dockerbuild_compose: Stacks, web: Path) -> None:
    stack = dockerbuild_compose(web, waits={"web": HttpReady("/"), "cache": LogReady("cache ready")})
    assert stack.services == ["cache", "web"]
    assert stack["web"].http.get("/").text == "hello\n"
    binding = stack["web"].attrs["NetworkSettings"]["Ports"]["80/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1" and binding["HostPort"] != "18080"
    assert stack.builds["web"].target_stage.base_image == "dockerbuild-offline/base:bookworm"
    assert stack["cache"].exec(["sh", "-c", "ping -c 1 -W 2 web >/dev/null && echo reached"]) == (0, "reached\n")
    assert "cache ready" in stack.logs("cache") and "cache-1  | cache ready" in stack.logs()
    done = stack.run("cache", ["sh", "-c", "echo out; echo err >&2; printf last"])
    assert (done.exit_code, done.stdout, done.stderr) == (0, "out\nlast", "err\n")
    with pytest.raises(ComposeError, match=r"run did not finish within 3 s: .*-cache-run-\w+ is running .*'waiting"):
        stack.run("cache", ["sh", "-c", "echo waiting; sleep 60"], timeout=3)
    assert done.image == "dockerbuild-offline/base:bookworm"  # the image it ran: diamol/base, mapped
    labels = stack["web"].attrs["Config"]["Labels"]
    assert labels["pytest-dockerbuild.run"] == stack.runtime.engine.run_id
    project = stack.project
    dockerbuild_compose.down()
    assert left_over(project) == []


def test_services_build_on_both_backends(builder: Builder, dockerbuild_runtime: Runtime, web: Path) -> None:
    stacks = Stacks(dockerbuild_runtime, builder, lambda: None)
    try:
        stack = stacks(web, waits={"web": HttpReady("/")})
        assert stack.builds["web"].backend == builder.default_backend
        assert stack["web"].http.get("/").text == "hello\n"
    finally:
        stacks.down()
    assert left_over(stack.project) == []


def test_profiles_env_files_and_override_files(dockerbuild_compose: Stacks, web: Path) -> None:
    override = write(web.parent, {"override.yaml": "services:\n  cache:\n    environment: {ROLE: replica}\n"})
    stack = dockerbuild_compose(web, override, profiles=["debug"], env_files=[web.parent / "greeting.env"],
                                waits={"web": HttpReady("/")})  # fmt: skip
    assert stack.services == ["cache", "debug", "web"]
    assert stack["web"].http.get("/").text == "from the env file\n"
    assert stack["cache"].exec(["sh", "-c", "echo $ROLE"]) == (0, "replica\n")


def test_a_broken_build_names_the_service_stage_and_line(dockerbuild_compose: Stacks, web: Path) -> None:
    (web.parent / "web" / "Dockerfile").write_text("FROM diamol/base AS app\nRUN echo broken && exit 7\nARG MESSAGE\n")
    with pytest.raises(BuildFailed) as failure:
        dockerbuild_compose(web)
    assert (failure.value.service, failure.value.stage, failure.value.exit_code, failure.value.line) == (
        "web",
        "app",
        7,
        2,
    )
    assert str(failure.value).startswith("Docker build failed in service 'web', stage 'app', step 2/3")
    assert left_over(dockerbuild_compose.stacks[0].project) == []


def test_a_service_that_crashes_at_start_fails_at_once_with_its_logs(
    dockerbuild_compose: Stacks, tmp_path: Path
) -> None:
    compose = write(tmp_path, {"compose.yaml": """
        services:
          ok: {image: diamol/base, command: ["sleep", "600"]}
          crash: {image: diamol/base, command: ["sh", "-c", "echo cannot open the database >&2; exit 3"]}
    """})  # fmt: skip
    with pytest.raises(ContainerExited, match=r"container crash \(\S*compose.yaml:3\): exited with code 3") as exited:
        dockerbuild_compose(compose)
    assert "cannot open the database" in exited.value.logs
    project = dockerbuild_compose.stacks[0].project
    dockerbuild_compose.down()
    assert left_over(project) == []


def test_a_service_that_never_becomes_healthy_is_named(dockerbuild_compose: Stacks, tmp_path: Path) -> None:
    compose = write(tmp_path, {"compose.yaml": """
        services:
          sick:
            image: diamol/base
            command: ["sleep", "600"]
            healthcheck: {test: ["CMD", "sh", "-c", "echo no database; exit 1"], interval: 1s, retries: 2}
    """})  # fmt: skip
    slow = write(tmp_path, {"slow.yaml": """
        services:
          slow:
            image: diamol/base
            command: ["sleep", "600"]
            healthcheck: {test: ["CMD", "sh", "-c", "echo still starting; exit 1"], interval: 1s, retries: 1000}
    """})  # fmt: skip
    with pytest.raises(ContainerNotReady, match=r"container sick \(\S*compose.yaml:2\): not ready: waited for its "
                       r"healthcheck; last probe: unhealthy: no database"):  # fmt: skip
        dockerbuild_compose(compose, timeout=30)
    started = time.monotonic()
    with pytest.raises(ContainerNotReady, match=r"container slow \(\S*slow.yaml:2\): not ready: waited for its "
                       r"healthcheck; last probe: starting: still starting"):  # fmt: skip
        dockerbuild_compose(slow, timeout=5)
    assert time.monotonic() - started < 30, "the stack's timeout bounds the wait"


def test_an_image_built_by_name_and_a_fixed_container_name_work_as_in_compose(
    dockerbuild_compose: Stacks, tmp_path: Path
) -> None:
    name = f"mydb-{uuid.uuid4().hex[:8]}"
    compose = write(tmp_path, {
        "compose.yaml": f"""
            services:
              web: {{build: ./web, image: "myorg/web:dev"}}
              worker: {{image: "myorg/web:dev", command: ["sleep", "600"]}}
              db: {{image: diamol/base, container_name: {name}, command: ["sleep", "600"]}}
        """,
        "web/Dockerfile": "FROM diamol/base\nRUN echo built > /built\nCMD [\"sleep\", \"600\"]\n",
    })  # fmt: skip
    stack = dockerbuild_compose(compose)
    assert stack["worker"].attrs["Image"] == stack["web"].attrs["Image"] == stack.builds["web"].image.id
    assert stack["worker"].exec(["sh", "-c", f"ping -c 1 -W 2 {name} >/dev/null && cat /built"]) == (0, "built\n")
    assert stack["db"].name != name  # no fixed name: parallel runs of the file do not collide


def test_bad_files_and_unknown_services_are_named_with_the_file_and_line(
    dockerbuild_compose: Stacks, tmp_path: Path, web: Path
) -> None:
    broken = write(tmp_path, {"broken.yaml": "services:\n  web:\n    image: [unclosed\n"})
    with pytest.raises(ComposeError, match=r"broken.yaml:\d+: not a Compose file"):
        dockerbuild_compose(broken)
    dangling = write(tmp_path, {"dangling.yaml": "services:\n  app:\n    image: diamol/base\n    depends_on: [db]\n"})
    with pytest.raises(ComposeError, match=r"dangling.yaml:2: .*depends on undefined service \"?db"):
        dockerbuild_compose(dangling)
    with pytest.raises(ComposeError, match=r"no such file"):
        dockerbuild_compose(tmp_path / "absent.yaml")
    with pytest.raises(ComposeError, match=r"no service 'nope' in .*compose.yaml; its services: cache, web"):
        dockerbuild_compose(web, waits={"nope": HttpReady("/")})


def test_a_pinned_port_does_not_collide_under_xdist_and_a_killed_run_is_swept(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = uuid.uuid4().hex[:8]
    write(inner.path, {"compose.yaml": f"""
        services:
          app:
            image: diamol/base
            command: ["sh", "-c", "mkdir -p /www && echo {marker} > /www/index.html && httpd -f -p 80 -h /www"]
            ports: ["18081:80"]
            volumes: ["state:/state"]
        volumes:
          state: {{}}
    """})  # fmt: skip
    inner.makepyfile(
        """
        import os, signal, pytest
        from pytest_dockerbuild import HttpReady

        @pytest.mark.parametrize("n", range(2))
        def test_up(dockerbuild_compose, n):
            stack = dockerbuild_compose(waits={"app": HttpReady("/")})
            assert stack["app"].http.get("/").status_code == 200
            if os.environ.get("KILL_ME"):
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    inner.runpytest_subprocess("-n", "2").assert_outcomes(passed=2)  # both bind "18081" at once
    assert projects_serving(marker) == set()
    monkeypatch.setenv("KILL_ME", "1")
    inner.runpytest_subprocess("-p", "no:xdist", "-k", "0")
    killed = projects_serving(marker)
    assert killed and all(left_over(project) for project in killed), "the killed run left its stack"
    monkeypatch.delenv("KILL_ME")
    inner.makepyfile(test_next="def test_next(dockerbuild_engine):\n    pass\n")
    inner.runpytest_subprocess("test_next.py").assert_outcomes(passed=1)  # its start sweeps dead runs
    assert [name for project in killed for name in left_over(project)] == []


def projects_serving(marker: str) -> set[str]:
    """The Compose projects with a container that serves ``marker``."""
    client = docker.from_env()
    return {c.labels.get(PROJECT_LABEL, "") for c in client.containers.list(all=True)
            if marker in " ".join(c.attrs["Config"].get("Cmd") or [])}  # fmt: skip


def test_a_contract_checks_the_image_of_a_compose_service(inner: pytest.Pytester) -> None:
    write(inner.path, {
        "compose.yaml": """
            services:
              web:
                build: ./web
                profiles: [full]
              sidecar:
                image: diamol/base
        """,
        "web/Dockerfile": f"FROM diamol/base\nRUN mkdir /www && echo hi > /www/index.html\n{SERVE}\n",
        "web.cst.yaml": """
            schemaVersion: 2.0.0
            fileExistenceTests:
              - {name: page, path: /www/index.html, shouldExist: true}
            ---
            x-dockerbuild: {compose: {service: web}}
        """,
        "sidecar.cst.yaml": """
            schemaVersion: 2.0.0
            fileExistenceTests:
              - {name: busybox, path: /bin/busybox, shouldExist: true}
            ---
            x-dockerbuild: {compose: {file: compose.yaml, service: sidecar}}
        """,
        "missing.cst.yaml": """
            schemaVersion: 2.0.0
            fileExistenceTests:
              - {name: any, path: /, shouldExist: true}
            ---
            x-dockerbuild: {compose: {service: nope}}
        """,
    })  # fmt: skip
    result = inner.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*no service 'nope' in compose.yaml; its services: sidecar, web*",
                                 "PASSED sidecar.cst.yaml::file-existence:busybox",
                                 "PASSED web.cst.yaml::file-existence:page"])  # fmt: skip


def test_ctrl_c_takes_the_stack_down(inner: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex[:8]
    write(inner.path, {"compose.yaml": f"""
        services:
          app:
            image: diamol/base
            command: ["sh", "-c", "echo {marker}; sleep 600"]
            volumes: ["state:/state"]
        volumes:
          state: {{}}
    """})  # fmt: skip
    inner.makepyfile(
        """
        import os, signal
        from pathlib import Path

        def test_interrupted(dockerbuild_session_compose):
            stack = dockerbuild_session_compose()
            Path("project").write_text(stack.project)
            os.kill(os.getpid(), signal.SIGINT)
        """
    )
    result = inner.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    project = (inner.path / "project").read_text()
    assert project and left_over(project) == []


def test_a_contract_service_with_build_secrets_builds(builders: dict[str, Builder], tmp_path: Path) -> None:
    compose = write(tmp_path, {
        "compose.yaml": """
            services:
              web: {build: {context: ./web, secrets: [tok]}}
            secrets:
              tok: {file: ./tok.txt}
        """,
        "web/Dockerfile": "FROM diamol/base\nRUN --mount=type=secret,id=tok sha256sum /run/secrets/tok > /digest\n",
        "tok.txt": "s3cr3t",
    })  # fmt: skip
    image = builders["buildkit"].image(service_image(builders["buildkit"], [compose], "web"))
    assert image.read_text("/digest").split()[0] == hashlib.sha256(b"s3cr3t").hexdigest()
