"""An engine reached over TCP (DOCKER_HOST=tcp://...): builds on both backends, and endpoint
checks go to the engine's host, not to localhost."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from helpers import EngineProxy, SshEngine


def host_address() -> str:
    """This machine's first non-loopback IPv4 address (what a remote client would dial)."""
    addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout.split()
    for address in addresses:
        try:
            socket.inet_aton(address)
        except OSError:
            continue
        if not address.startswith(("127.", "172.17.")):
            return address
    pytest.fail(f"no non-loopback IPv4 address among {addresses}")


@pytest.mark.parametrize("where", ["loopback", "host address"])
@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_an_engine_over_tcp(
    inner: pytest.Pytester, engine_proxy: EngineProxy, monkeypatch: pytest.MonkeyPatch, where: str, backend: str
) -> None:
    address = "127.0.0.1" if where == "loopback" else host_address()
    _, docker_host = engine_proxy(address)
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    inner.mkdir("web")
    (inner.path / "web" / "Dockerfile").write_text(
        "FROM diamol/base\n"
        "RUN mkdir /www && echo remote > /www/index.html\n"
        'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
    )
    inner.makepyfile(
        f"""
        from pytest_dockerbuild import HttpReady

        def test_build_and_reach(dockerbuild, dockerbuild_network):
            web = dockerbuild.build("web")
            assert web.image.read_text("/www/index.html") == "remote\\n"
            server = dockerbuild_network.run(web, ports=[80], wait=HttpReady("/index.html"))
            assert server.url("/").startswith("http://{address}:")
            binding = server.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostIp"]
            assert binding == {"127.0.0.1" if where == "loopback" else "0.0.0.0"!r}
            assert server.http.get("/index.html").text == "remote\\n"
        """
    )
    result = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["dockerbuild: Docker Engine *"])


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_an_engine_over_ssh(
    inner: pytest.Pytester, ssh_engine: SshEngine, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    docker_host, ssh_wrapper = ssh_engine
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    monkeypatch.setenv("PATH", f"{ssh_wrapper}:{os.environ['PATH']}")  # an ssh with the test's config and key
    inner.mkdir("web")
    (inner.path / "web" / "Dockerfile").write_text(
        "FROM diamol/base\n"
        "RUN mkdir /www && echo over-ssh > /www/index.html\n"
        'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
    )
    inner.makepyfile(
        """
        from pytest_dockerbuild import HttpReady

        def test_build_and_reach(dockerbuild, dockerbuild_network):
            web = dockerbuild.build("web", reuse=False)
            assert web.image.read_text("/www/index.html") == "over-ssh\\n"
            server = dockerbuild_network.run(web, ports=[80], wait=HttpReady("/index.html"))
            assert server.url("/").startswith("http://127.0.0.1:")
            assert server.http.get("/index.html").text == "over-ssh\\n"
        """
    )
    result = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}")
    result.assert_outcomes(passed=1)
