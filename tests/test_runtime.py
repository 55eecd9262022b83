"""Containers on user-defined networks: aliases, loopback ports, readiness, logs, clean-up."""

from __future__ import annotations

import socket
import uuid

import docker
import pytest

from pytest_dockerbuild import (
    ContainerExited,
    ContainerNotReady,
    Healthy,
    HttpReady,
    LogReady,
    Network,
    Runtime,
)
from pytest_dockerbuild.engine.client import published_host

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
        healthcheck={"test": ["CMD", "test", "-e", "/ready"], "interval": 200_000_000, "retries": 50},
        wait=Healthy(), timeout=30,
    )  # fmt: skip
    assert healthy.attrs["State"]["Health"]["Status"] == "healthy"


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
