"""Containers on user-defined networks: aliases, loopback ports, readiness, logs, clean-up; the
run options (user, workdir, volumes, tmpfs, read-only root, capabilities, limits, healthcheck,
env files); the hint when a published port is not the one the image serves on; container names."""

from __future__ import annotations

import dataclasses
import inspect
import io
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import docker
import pytest
import requests
from helpers import MakeContext

from pytest_dockerbuild import (
    Builder,
    ContainerError,
    ContainerExited,
    ContainerNotReady,
    DockerbuildError,
    Healthy,
    HttpReady,
    LogReady,
    Network,
    Runtime,
)
from pytest_dockerbuild.engine.client import published_host
from pytest_dockerbuild.runtime import RunOptions

BASE = "dockerbuild-offline/base:bookworm"
# busybox's httpd serves /www on port 80 and logs nothing by itself
SERVE = ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && echo serving && exec httpd -f -p 80 -h /www"]


def test_a_port_is_published_on_loopback_only(dockerbuild_network: Network) -> None:
    web = dockerbuild_network.run(BASE, command=SERVE, ports=[80], wait=HttpReady("/index.html"))
    binding = web.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    assert web.url("/x") == f"http://127.0.0.1:{binding['HostPort']}/x"
    assert web.http.get("/index.html").text == "hello\n"


def test_containers_reach_each_other_by_alias(dockerbuild_network: Network) -> None:
    dockerbuild_network.run(BASE, command=SERVE, aliases=["backend"], wait=LogReady("serving"))
    client = dockerbuild_network.run(BASE, command=["sleep", "30"])
    code, output = client.exec(
        ["sh", "-c", "nc backend 80 </dev/null; printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc backend 80"]
    )
    assert code == 0
    assert "hello" in output


def test_a_container_that_crashes_at_start_fails_fast_with_its_logs(dockerbuild_network: Network) -> None:
    with pytest.raises(ContainerExited) as error:
        dockerbuild_network.run(
            BASE, command=["sh", "-c", "echo 'config missing: /etc/app.conf' >&2; exit 7"], ports=[80],
            wait=HttpReady("/"), timeout=60,
        )  # fmt: skip
    assert error.value.exit_code == 7
    message = str(error.value)
    assert "exited with code 7 before it was ready" in message
    assert "| config missing: /etc/app.conf" in message


def test_a_wrong_port_times_out_with_what_was_awaited(dockerbuild_network: Network) -> None:
    with pytest.raises(ContainerNotReady) as error:
        dockerbuild_network.run(
            BASE, command=["sh", "-c", "echo listening on 8080; exec httpd -f -p 8080 -h /"], ports=[80],
            wait=HttpReady("/"), timeout=2,
        )  # fmt: skip
    assert error.value.waiting_for == "HTTP 200 on /"
    assert "GET http://127.0.0.1:" in error.value.last_probe
    assert "| listening on 8080" in str(error.value)


def test_healthcheck_wait(dockerbuild_network: Network) -> None:
    healthy = dockerbuild_network.run(
        BASE, command=["sh", "-c", "sleep 1; touch /ready; sleep 60"],
        healthcheck={"test": ["CMD", "test", "-e", "/ready"], "interval": 0.2, "retries": 50},
        wait=Healthy(), timeout=30,
    )  # fmt: skip
    assert healthy.attrs["State"]["Health"]["Status"] == "healthy"
    assert healthy.attrs["Config"]["Healthcheck"] == {
        "Test": ["CMD", "test", "-e", "/ready"], "Interval": 200_000_000, "Retries": 50,
    }  # fmt: skip


def test_a_testcontainers_wait_strategy_works_too(dockerbuild_network: Network) -> None:
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    # Network.run annotates wait as Readiness only, though it takes (and documents) testcontainers' strategies too
    started = dockerbuild_network.run(BASE, command=SERVE, wait=LogMessageWaitStrategy("serving"))  # type: ignore[arg-type]
    assert "serving" in started.logs()


def test_network_removal_removes_its_containers(dockerbuild_runtime: Runtime) -> None:
    client = dockerbuild_runtime.engine.client
    with dockerbuild_runtime.network("cleanup") as net:
        box = net.run(BASE, command=["sleep", "60"], aliases=["box"])
        labels = client.containers.get(box.id).labels
        assert labels["pytest-dockerbuild.run"] == dockerbuild_runtime.engine.run_id
        assert client.networks.get(net.name).attrs["Labels"]["pytest-dockerbuild.managed"] == "true"
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(box.id)
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(net.name)


def test_names_are_unique_per_run_and_worker(dockerbuild_runtime: Runtime) -> None:
    with dockerbuild_runtime.network("x") as first, dockerbuild_runtime.network("x") as second:
        assert first.name != second.name
        assert first.name.startswith(f"pytest-dockerbuild-{dockerbuild_runtime.engine.run_id}-")
        assert dockerbuild_runtime.worker in first.name


def test_container_logs_are_attached_to_a_failing_test(pytester: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    pytester.makepyfile(
        f"""
        def test_it(dockerbuild_network):
            dockerbuild_network.run({BASE!r}, command=["sh", "-c", "echo {marker}; sleep 30"], aliases=["app"])
            assert False, "the app said the wrong thing"
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- dockerbuild container pytest-dockerbuild-*-app-* (app) -*", marker])
    client = docker.from_env()
    assert [
        c.name for c in client.containers.list(all=True, ignore_removed=True) if marker in str(c.attrs["Config"]["Cmd"])
    ] == []


def test_an_interrupted_run_is_swept_by_the_next(pytester: pytest.Pytester) -> None:
    marker = uuid.uuid4().hex
    pytester.makepyfile(
        f"""
        import os, signal

        def test_killed(dockerbuild_network):
            dockerbuild_network.run({BASE!r}, command=["sh", "-c", "echo {marker}; sleep 300"])
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    pytester.runpytest_subprocess()
    client = docker.from_env()

    def leftovers() -> list[str]:
        return [
            c.name
            for c in client.containers.list(all=True, ignore_removed=True)
            if marker in str(c.attrs["Config"]["Cmd"])
        ]

    assert len(leftovers()) == 1, "SIGKILL leaves the container behind"
    pytester.makepyfile(test_next="def test_next(dockerbuild_engine): pass")
    pytester.runpytest_subprocess("test_next.py").assert_outcomes(passed=1)
    assert leftovers() == []


def test_published_ports_are_reached_on_loopback_for_a_local_engine() -> None:
    assert published_host() == "127.0.0.1"
    assert socket.gethostbyname(published_host()) == "127.0.0.1"


# -- an image of our own: EXPOSEs 8000, serves on 8000, and its HEALTHCHECK never passes ----------
WEB_DOCKERFILE = f"""
FROM {BASE}
RUN mkdir -p /www && echo hello > /www/index.html
EXPOSE 8000
HEALTHCHECK --interval=1s CMD false
CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]
"""


@pytest.fixture(scope="module")
def web_image(dockerbuild_runtime: Runtime) -> Iterator[str]:
    """``pytest-dockerbuild-test/web:<nonce>`` (an image of its own: the nonce is a label too),
    removed with this process's containers of it at the end of the module."""
    engine = dockerbuild_runtime.engine
    nonce = uuid.uuid4().hex[:12]
    tag = f"pytest-dockerbuild-test/web:{nonce}"
    image, _ = engine.client.images.build(
        fileobj=io.BytesIO(WEB_DOCKERFILE.encode()), tag=tag, rm=True, forcerm=True,
        labels={"pytest-dockerbuild.test": "runtime", "pytest-dockerbuild.test-nonce": nonce},
    )  # fmt: skip
    yield tag
    ours = {"ancestor": image.id, "label": f"pytest-dockerbuild.owner={engine.owner}"}
    for container in engine.client.containers.list(all=True, filters=ours):
        dockerbuild_runtime.remove(container.id)
    engine.client.images.remove(image.id)


def test_every_run_method_takes_every_run_option() -> None:
    for method in (Runtime.run, Runtime.run_once, Network.run, Network.run_once):
        parameters = inspect.signature(method).parameters
        for option in dataclasses.fields(RunOptions):
            assert option.name in parameters, f"{method.__qualname__} lacks {option.name}"
            assert parameters[option.name].default == option.default, f"{method.__qualname__}({option.name}=)"
            assert parameters[option.name].kind is inspect.Parameter.KEYWORD_ONLY


# -- run options ----------------------------------------------------------------------------------
def test_user_and_workdir(dockerbuild_runtime: Runtime, dockerbuild_network: Network) -> None:
    done = dockerbuild_runtime.run_once(BASE, ["sh", "-c", "id -u; id -g; pwd"], user="1234:45", workdir="/srv/app")
    assert (done.exit_code, done.stdout) == (0, "1234\n45\n/srv/app\n")
    box = dockerbuild_network.run(BASE, command=["sleep", "30"], user=4321, workdir="/work")
    assert box.exec(["sh", "-c", "id -u; pwd"]) == (0, "4321\n/work\n")
    assert (box.attrs["Config"]["User"], box.attrs["Config"]["WorkingDir"]) == ("4321", "/work")
    with pytest.raises(DockerbuildError, match=r"workdir=: 'srv': a path in the container must be absolute"):
        dockerbuild_runtime.run_once(BASE, ["pwd"], workdir="srv")


def test_read_only_root_with_a_tmpfs(dockerbuild_runtime: Runtime) -> None:
    script = (
        "touch /root/x; echo touched $?; touch /scratch/y && echo scratch ok; grep -E ' /(scratch|cache) ' /proc/mounts"
    )
    done = dockerbuild_runtime.run_once(BASE, ["sh", "-c", script], read_only=True, tmpfs={"/scratch": "size=1m"})
    lines = done.stdout.splitlines()
    assert lines[:2] == ["touched 1", "scratch ok"]
    assert "Read-only file system" in done.stderr
    assert len(lines) == 3 and lines[2].startswith("tmpfs /scratch tmpfs rw") and "size=1024k" in lines[2]
    writable = dockerbuild_runtime.run_once(
        BASE, ["sh", "-c", "touch /root/x && echo touched; grep ' /cache ' /proc/mounts"], tmpfs=["/cache"]
    )
    touched, mount = writable.stdout.splitlines()
    assert touched == "touched" and mount.startswith("tmpfs /cache tmpfs rw")
    with pytest.raises(DockerbuildError, match=r"tmpfs=: 'scratch': a path in the container must be absolute"):
        dockerbuild_runtime.run_once(BASE, ["true"], tmpfs=["scratch"])


def test_capabilities_dropped_and_added(dockerbuild_runtime: Runtime) -> None:
    def effective(cap_drop: Sequence[str] | None = None, cap_add: Sequence[str] | None = None) -> int:
        command = ["grep", "CapEff", "/proc/self/status"]
        done = dockerbuild_runtime.run_once(BASE, command, cap_drop=cap_drop, cap_add=cap_add).check()
        return int(done.stdout.split()[1], 16)

    default = effective()
    net_raw, net_bind_service = 1 << 13, 1 << 10
    assert default & net_raw and default & net_bind_service
    assert effective(cap_drop=["ALL"]) == 0
    assert effective(cap_drop="NET_RAW") == default & ~net_raw
    assert effective(cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"]) == net_bind_service


def test_resource_limits(dockerbuild_runtime: Runtime, dockerbuild_network: Network) -> None:
    box = dockerbuild_network.run(BASE, command=["sleep", "30"], mem_limit="64m", cpus=0.5, pids_limit=50)
    host = box.attrs["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 * 1024 * 1024, 500_000_000, 50)
    cgroup = "cat /sys/fs/cgroup/memory.max || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "  # v2 || v1
    cgroup += "cat /sys/fs/cgroup/pids.max || cat /sys/fs/cgroup/pids/pids.max"
    assert box.exec(["sh", "-c", cgroup.replace(" ||", " 2>/dev/null ||")]) == (0, "67108864\n50\n")
    inspected = dockerbuild_runtime.run(BASE, command=["sleep", "30"], mem_limit=32 * 1024 * 1024)
    try:
        assert inspected.attrs["HostConfig"]["Memory"] == 32 * 1024 * 1024
    finally:
        inspected.remove()
    with pytest.raises(DockerbuildError, match=r"mem_limit=: 'lots': give bytes .* such as '256m'"):
        dockerbuild_runtime.run_once(BASE, ["true"], mem_limit="lots")
    with pytest.raises(DockerbuildError, match=r"cpus=: 0: give a number of CPUs above 0"):
        dockerbuild_runtime.run_once(BASE, ["true"], cpus=0)


def test_bind_mounts_and_named_volumes(dockerbuild_runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("from the host\n")
    run_once = dockerbuild_runtime.run_once
    assert run_once(BASE, ["cat", "/data/in.txt"], volumes={tmp_path: "/data"}).stdout == "from the host\n"
    assert run_once(BASE, ["sh", "-c", "echo back > /data/out.txt"], volumes={str(tmp_path): "/data"}).exit_code == 0
    assert (tmp_path / "out.txt").read_text() == "back\n"
    refused = run_once(BASE, ["sh", "-c", "echo no > /data/out.txt"], volumes=[f"{tmp_path}:/data:ro"])
    assert refused.exit_code != 0 and "Read-only file system" in refused.stderr
    assert run_once(BASE, ["cat", "/d/in.txt"], volumes={tmp_path: "/d:ro"}).stdout == "from the host\n"
    volume = dockerbuild_runtime.engine.client.volumes.create(
        f"pytest-dockerbuild-test-{uuid.uuid4().hex[:12]}", labels={"pytest-dockerbuild.test": "runtime"}
    )
    try:
        run_once(BASE, ["sh", "-c", "echo kept > /v/file"], volumes=[f"{volume.name}:/v"]).check()
        assert run_once(BASE, ["cat", "/v/file"], volumes={volume.name: "/v"}).stdout == "kept\n"
    finally:
        volume.remove()


def test_a_missing_host_path_is_named_before_anything_is_created(
    dockerbuild_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = dockerbuild_runtime.engine.client
    engine = dockerbuild_runtime.engine  # this process's (another xdist worker of the run makes its own meanwhile)
    ours = {"label": [f"pytest-dockerbuild.run={engine.run_id}", f"pytest-dockerbuild.owner={engine.owner}"]}
    before = {c.id for c in client.containers.list(all=True, filters=ours)}
    missing = tmp_path / "not-there"
    with pytest.raises(DockerbuildError) as error:
        dockerbuild_runtime.run(BASE, command=["true"], volumes={missing: "/data"})
    assert str(error.value) == f"volumes=: host path {str(missing)!r} does not exist (resolved: {missing})"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DockerbuildError, match=r"host path './nope' does not exist"):
        dockerbuild_runtime.run_once(BASE, ["true"], volumes=["./nope:/data"])
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "f").write_text("relative\n")
    assert dockerbuild_runtime.run_once(BASE, ["cat", "/h/f"], volumes=["./here:/h"]).stdout == "relative\n"
    with pytest.raises(DockerbuildError, match=r"volumes=: 'data': give 'source:target'"):
        dockerbuild_runtime.run_once(BASE, ["true"], volumes=["data"])
    with pytest.raises(DockerbuildError, match=r"volumes=: '/data:rx': unknown mount mode 'rx'"):
        dockerbuild_runtime.run_once(BASE, ["true"], volumes={tmp_path: "/data:rx"})
    assert {c.id for c in client.containers.list(all=True, filters=ours)} <= before


ENV_FILE = (
    b"\xef\xbb\xbfGREETING=hello world \n# a comment\n\n   INDENTED=yes\nQUOTED=\"kept\"\nSINGLE='kept too'\n"
    b"EQUALS=a=b\nFROM_HOST\nNOT_SET_ANYWHERE\nCRLF=value\r\nOVERRIDDEN=first\nEMPTY=\n"
)
ENV_FILE_2 = b"OVERRIDDEN=second\nEXPLICIT=from the file\nLAST=no newline"
ENV_EXPECTED = {
    "GREETING": "hello world ", "INDENTED": "yes", "QUOTED": '"kept"', "SINGLE": "'kept too'", "EQUALS": "a=b",
    "FROM_HOST": "from the host", "CRLF": "value", "OVERRIDDEN": "second", "EMPTY": "", "LAST": "no newline",
}  # fmt: skip


def _environment(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines())


def test_env_files_are_read_as_docker_run_reads_them(
    dockerbuild_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.env", tmp_path / "second.env"
    first.write_bytes(ENV_FILE)
    second.write_bytes(ENV_FILE_2)
    monkeypatch.setenv("FROM_HOST", "from the host")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    done = dockerbuild_runtime.run_once(BASE, ["env"], env_file=[first, str(second)], env={"EXPLICIT": "env wins"})
    seen = _environment(done.stdout)
    assert {key: seen.get(key) for key in ENV_EXPECTED} == ENV_EXPECTED
    assert seen["EXPLICIT"] == "env wins" and "NOT_SET_ANYWHERE" not in seen
    assert _environment(dockerbuild_runtime.run_once(BASE, ["env"], env_file=second).stdout)["OVERRIDDEN"] == "second"
    if shutil.which("docker") is None:  # the CI set-up has it (buildx needs it): there, its absence fails
        (pytest.fail if os.environ.get("CI") else pytest.skip)("no docker CLI to compare with")
    cli = subprocess.run(
        ["docker", "run", "--rm", "--env-file", str(first), "--env-file", str(second), BASE, "env"],
        capture_output=True, text=True, check=True, env=os.environ,
    )  # fmt: skip
    from_cli = _environment(cli.stdout)
    assert {key: from_cli.get(key) for key in ENV_EXPECTED} == ENV_EXPECTED
    assert from_cli["EXPLICIT"] == "from the file" and "NOT_SET_ANYWHERE" not in from_cli


def test_a_bad_env_file_is_named(dockerbuild_runtime: Runtime, tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    with pytest.raises(DockerbuildError) as error:
        dockerbuild_runtime.run_once(BASE, ["env"], env_file=missing)
    assert str(error.value) == f"env_file=: {str(missing)!r} does not exist (resolved: {missing})"
    spaced = tmp_path / "spaced.env"
    spaced.write_text("OK=1\nMY VAR=2\n")
    with pytest.raises(DockerbuildError, match=rf"env_file=: {spaced}:2: variable name 'MY VAR' contains whitespace"):
        dockerbuild_runtime.run(BASE, command=["env"], env_file=spaced)
    nameless = tmp_path / "nameless.env"
    nameless.write_text("=value\n")
    with pytest.raises(DockerbuildError, match=rf"{nameless}:1: no variable name in '=value'"):
        dockerbuild_runtime.run_once(BASE, ["env"], env_file=[nameless])


def test_healthcheck_override_and_none(dockerbuild_network: Network, web_image: str) -> None:
    with pytest.raises(ContainerNotReady, match=r"health '(starting|unhealthy)'"):
        dockerbuild_network.run(web_image, wait=Healthy(), timeout=2)  # the image's HEALTHCHECK never passes
    overridden = dockerbuild_network.run(
        web_image, healthcheck={"test": "test -e /www/index.html", "interval": 0.2, "retries": 2, "start_period": 5},
        wait=Healthy(), timeout=20,
    )  # fmt: skip
    assert overridden.attrs["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -e /www/index.html"], "Interval": 200_000_000, "Retries": 2,
        "StartPeriod": 5_000_000_000,
    }  # fmt: skip
    with pytest.raises(ContainerError, match=r"no health check to wait for: it was run with healthcheck='none'"):
        dockerbuild_network.run(web_image, healthcheck="none", wait=Healthy(), timeout=5)
    disabled = dockerbuild_network.containers[-1]
    disabled.reload()
    assert disabled.attrs["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert "Health" not in disabled.attrs["State"]


def test_a_healthcheck_given_in_nanoseconds_or_with_a_typo_is_refused(dockerbuild_runtime: Runtime) -> None:
    with pytest.raises(DockerbuildError, match=r"healthcheck=: interval 200000000: give seconds \(0.2\), not nano"):
        dockerbuild_runtime.run(BASE, healthcheck={"test": ["CMD", "true"], "interval": 200_000_000})
    with pytest.raises(DockerbuildError, match=r"unknown keys \['intervall'\]; the keys are test, interval"):
        dockerbuild_runtime.run_once(BASE, healthcheck={"intervall": 1})
    with pytest.raises(DockerbuildError, match=r"test \['true'\]: a shell string, or a list starting with 'CMD'"):
        dockerbuild_runtime.run_once(BASE, healthcheck={"test": ["true"]})


# -- a published port that is not the one the image serves on ------------------------------------
def test_the_wrong_port_names_the_exposed_one(dockerbuild_network: Network, web_image: str) -> None:
    hint = "nothing answered on container port 8080; the image exposes 8000/tcp; publish that port (ports=[8000])"
    with pytest.raises(ContainerNotReady) as error:
        dockerbuild_network.run(web_image, ports=[8080], wait=HttpReady("/index.html"), timeout=2)
    assert error.value.last_probe.endswith(f"ConnectionError; {hint} (after 2 s)")
    assert hint in str(error.value)
    started = dockerbuild_network.run(web_image, ports=[8080])
    with pytest.raises(requests.ConnectionError) as refused:
        started.http.get("/index.html")
    assert str(refused.value).startswith(f"GET {started.url('/index.html')}: {hint}; requests said: ")
    with pytest.raises(ContainerError, match=r"port 8000/tcp is not published \(published: \['8080/tcp'\]; the image"):
        started.port(8000)
    served = dockerbuild_network.run(web_image, ports=[8000], wait=HttpReady("/index.html"))
    assert served.http.get("/index.html").text == "hello\n"


def test_an_exposed_port_that_does_not_answer_says_so(dockerbuild_network: Network, web_image: str) -> None:
    with pytest.raises(ContainerNotReady) as error:
        dockerbuild_network.run(web_image, command=["sleep", "30"], ports=[8000], wait=HttpReady("/"), timeout=1)
    assert "nothing answered on container port 8000 (the image exposes it): the server is not listening yet" in (
        error.value.last_probe
    )
    with pytest.raises(ContainerNotReady, match=r"8080; the image exposes 8000/tcp; it is published too: ask for it"):
        dockerbuild_network.run(web_image, ports=[8000, 8080], wait=HttpReady("/", port=8080), timeout=1)
    with pytest.raises(ContainerNotReady, match=r"8080; the image exposes no port \(no EXPOSE\)"):
        dockerbuild_network.run(BASE, command=["sleep", "30"], ports=[8080], wait=HttpReady("/"), timeout=1)


# -- names ---------------------------------------------------------------------------------------------
def test_a_container_is_named_after_its_image(
    dockerbuild_runtime: Runtime, dockerbuild: Builder, make_context: MakeContext, web_image: str
) -> None:
    prefix = f"pytest-dockerbuild-{dockerbuild_runtime.engine.run_id}-{dockerbuild_runtime.worker}-"

    def hint(name: str) -> str:
        assert name.startswith(prefix)
        return name.removeprefix(prefix).rsplit("-", 1)[0]

    run_once = dockerbuild_runtime.run_once
    assert hint(run_once(web_image, ["true"]).name) == "web"
    assert hint(run_once(BASE, ["true"]).name) == "base"
    image = dockerbuild_runtime.engine.image(web_image)
    assert hint(run_once(image.id, ["true"]).name) == "container"
    assert hint(run_once(image, ["true"]).name) == "web"
    context = make_context(f'FROM {BASE} AS tools\nRUN true\nFROM {BASE}\nCMD ["true"]\n', name="gallery-app")
    assert hint(run_once(dockerbuild.build(context)).name) == "gallery-app"
    assert hint(run_once(dockerbuild.build(context, target="tools"), ["true"]).name) == "gallery-app-tools"
    assert hint(run_once(web_image, ["true"], name="migrate").name) == "migrate"
    with dockerbuild_runtime.network("names") as net:
        assert hint(net.run(web_image, command=["sleep", "30"]).name) == "web"
        assert hint(net.run(web_image, command=["sleep", "30"], aliases=["api", "web2"]).name) == "api"
