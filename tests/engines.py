"""A second Docker engine on this machine for the tests (imported as ``engines``; the fixture
is in conftest.py): its own config file, data root, exec root, unix socket, pid file, bridge
and address pool, so that the first engine (shared with everything else here) is never
touched. Never ``"bridge": "none"``: at start that deletes the host's docker0.

A killed run's daemon is stopped by the next start: :data:`RECORD` names the pid, folder
and bridge of the daemon the tests started, and only that pid (with that folder on its
command line) is stopped.

:func:`docker_context` makes a Docker context for an engine: buildx gives every context a
builder of the docker driver named after it, which builds in (and loads into) that engine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import docker
from helpers import missing

# One slot per pytest-xdist worker of the outer run (gw3 -> 3), so that workers never share a
# record, a bridge or an address pool.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
SLOT = int(_WORKER[2:]) % 20 if _WORKER[2:].isdigit() else 0
RECORD = Path(tempfile.gettempdir()) / f"pytest-dockerbuild-second-engine-{SLOT}.json"
BRIDGE = f"dkbt2s{SLOT}"  #: the second engine's bridge (never docker0)
BRIDGE_ADDRESS = f"10.{213 + SLOT}.255.1/24"
POOL = f"10.{213 + SLOT}.0.0/16"  #: its networks; the first engine's default pools are 172.17-31.x and 192.168.x


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def stop_recorded() -> None:
    """Stop the daemon a killed earlier run recorded (if it still runs), and delete its bridge."""
    if not RECORD.exists():
        return
    record = json.loads(RECORD.read_text())
    pid, folder = int(record["pid"]), str(record["folder"])
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        command = ""
    if folder in command:  # that pid is still our daemon (not a reused pid)
        _stop(pid)
    _run("ip", "link", "delete", str(record["bridge"]))
    shutil.rmtree(folder, ignore_errors=True)
    RECORD.unlink(missing_ok=True)


def _stop(pid: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


@contextmanager
def second_engine(images: Sequence[str], timeout: float = 60.0) -> Iterator[str]:
    """Start a second dockerd, load ``images`` from the first engine into it; -> its
    ``unix://`` URL. Stopped (by its pid), its bridge deleted and its folder removed at the end."""
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        missing("a second engine needs dockerd and root (the Docker Engine package provides dockerd)")
    stop_recorded()
    folder = Path(tempfile.mkdtemp(prefix="dk2-", dir="/tmp"))  # short: a unix socket path is limited
    socket_path = folder / "sock"
    config = {
        "data-root": str(folder / "data"), "exec-root": str(folder / "exec"), "pidfile": str(folder / "pid"),
        "hosts": [f"unix://{socket_path}"], "storage-driver": "fuse-overlayfs", "bridge": BRIDGE,
        "default-address-pools": [{"base": POOL, "size": 24}], "iptables": False, "mtu": 1400,
    }  # fmt: skip
    (folder / "daemon.json").write_text(json.dumps(config))
    _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    log = (folder / "dockerd.log").open("wb")
    daemon = subprocess.Popen([dockerd, "--config-file", str(folder / "daemon.json")], stdout=log, stderr=log)
    RECORD.write_text(json.dumps({"pid": daemon.pid, "folder": str(folder), "bridge": BRIDGE}))
    url = f"unix://{socket_path}"
    try:
        client = _wait(daemon, url, folder, timeout)
        for image in images:
            saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
            assert saved.stdout is not None
            client.images.load(saved.stdout)
            assert saved.wait() == 0, f"docker save {image} failed"
        client.close()
        yield url
    finally:
        _stop(daemon.pid)
        daemon.wait(timeout=10)
        log.close()
        _run("ip", "link", "delete", BRIDGE)
        shutil.rmtree(folder, ignore_errors=True)
        RECORD.unlink(missing_ok=True)


def _wait(daemon: subprocess.Popen[bytes], url: str, folder: Path, timeout: float) -> docker.DockerClient:
    deadline = time.monotonic() + timeout
    while True:
        if daemon.poll() is not None:
            raise RuntimeError(f"the second dockerd exited: {(folder / 'dockerd.log').read_text()[-2000:]}")
        try:
            client = docker.DockerClient(base_url=url, timeout=30)
            client.ping()
            return client
        except docker.errors.DockerException:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the second dockerd did not answer on {url} within {timeout} s") from None
            time.sleep(0.3)


def _docker_config() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


@contextmanager
def docker_context(url: str) -> Iterator[str]:
    """A Docker context for the engine at ``url`` (and so a buildx builder of the docker driver of
    the same name): -> its name. Removed at the end, with what buildx recorded of the builder."""
    name = f"pytest-dockerbuild-{uuid.uuid4().hex[:8]}"
    created = _run("docker", "context", "create", name, "--docker", f"host={url}")
    if created.returncode != 0:
        raise RuntimeError(f"docker context create {name} failed: {created.stderr.strip()}")
    try:
        yield name
    finally:
        _run("docker", "context", "rm", "--force", name)
        (_docker_config() / "buildx" / "activity" / name).unlink(missing_ok=True)


def context_names() -> list[str]:
    """The Docker contexts the CLI knows."""
    return _run("docker", "context", "ls", "--format", "{{.Name}}").stdout.split()


def builder_names() -> list[str]:
    """The buildx builders (and their nodes) ``docker buildx ls`` lists."""
    lines = _run("docker", "buildx", "ls").stdout.splitlines()[1:]
    return [line.replace("\\_", "").split()[0].rstrip("*") for line in lines if line.strip()]
