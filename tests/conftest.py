"""Shared helpers for the plugin's own tests (the engine is real, never mocked)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import second_engine
from helpers import BASE, INI, EngineProxy, MakeContext, SshEngine
from registry import running_registry

from pytest_dockerbuild import Builder
from pytest_dockerbuild.engine.client import Engine

# A suite started in the background by a shell without job control inherits SIGINT ignored, and so
# would every pytest it starts: the Ctrl-C tests need it delivered (a handler resets on exec).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def make_context(tmp_path: Path) -> MakeContext:
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
def inner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> pytest.Pytester:
    """A pytester folder whose ini maps diamol/base onto the local busybox base image, with a
    ledger of its own (``XDG_CACHE_HOME``): its runs see the suite's other builds as another
    user's, whose leases protect their images, and their clean-up does not wait for them."""
    pytester.makeini(INI)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    return pytester


BACKENDS = ["classic", "buildkit"]


@pytest.fixture(scope="session")
def builders(dockerbuild_engine: Engine) -> dict[str, Builder]:
    """One Builder per backend, sharing the engine (each has its own session cache)."""
    image_map = {"diamol/base": BASE}
    return {backend: Builder(dockerbuild_engine, image_map, backend=backend) for backend in BACKENDS}


@pytest.fixture(params=BACKENDS)
def builder(request: pytest.FixtureRequest, builders: dict[str, Builder]) -> Builder:
    """The same test against the classic builder and against BuildKit."""
    return builders[request.param]


@pytest.fixture
def engine_proxy() -> Iterator[EngineProxy]:
    """Start a TCP proxy to the local engine: ``proxy = engine_proxy("127.0.0.1")`` ->
    (process, ``tcp://host:port``); stopped at teardown."""
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


@pytest.fixture
def ssh_engine(tmp_path: Path) -> Iterator[SshEngine]:
    """A private sshd on a loopback port in front of the local engine (the docker CLI answers
    ``docker system dial-stdio`` there): -> (``ssh://root@127.0.0.1:PORT``, a folder to put
    first on PATH, whose ``ssh`` reaches it with its own config and key). ssh reads its
    config from the passwd home, not $HOME, so the test wraps the binary instead."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        pytest.fail("sshd is missing: scripts/setup installs Debian's openssh-server")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key, host_key = home / ".ssh" / "id_ed25519", tmp_path / "host_key"
    for path in (key, host_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {key}.pub\n"
        f"PermitRootLogin prohibit-password\nPasswordAuthentication no\nStrictModes no\nUsePAM no\n"
        f"PidFile {tmp_path}/sshd.pid\n"
    )
    (home / ".ssh" / "config").write_text(
        f"Host 127.0.0.1\n  IdentityFile {key}\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(tmp_path / "sshd_config")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert server.poll() is None and time.monotonic() < deadline, "sshd did not start"
        time.sleep(0.1)
    wrapper = home / "bin" / "ssh"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {home / ".ssh" / "config"} "$@"\n')
    wrapper.chmod(0o755)
    yield f"ssh://root@127.0.0.1:{port}", wrapper.parent
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry (Debian's docker-registry) on a loopback port for the session: -> ``127.0.0.1:PORT``."""
    with running_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="session")
def second_engine_url() -> Iterator[str]:
    """A second dockerd on this machine (own socket, data root, bridge and address pool) with the
    base image loaded: -> its ``unix://`` URL; stopped by its pid at the end of the session."""
    with second_engine([BASE]) as url:
        yield url
