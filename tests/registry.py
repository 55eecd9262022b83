"""A real registry for the tests: Debian's ``docker-registry`` (distribution 2.8) with its
own config and storage on a free loopback port (plain HTTP: the engine treats 127.0.0.0/8
registries as insecure by default). Imported as ``registry``; the fixture is in conftest.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from helpers import missing

CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_registry(folder: Path, timeout: float = 20.0) -> Iterator[str]:
    """Start ``docker-registry serve`` under ``folder``; -> its address ``127.0.0.1:PORT``.
    Stopped (by its own process handle) when the block ends, even on failure."""
    binary = shutil.which("docker-registry")
    if binary is None:
        missing("docker-registry is not on PATH (scripts/setup installs Debian's docker-registry)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(CONFIG.format(storage=folder / "storage", port=port))
    log = (folder / "registry.log").open("wb")
    server = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited ({server.returncode}): {(folder / 'registry.log').read_text()}"
                )
            try:
                if requests.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not answer on {address} within {timeout} s")
            time.sleep(0.1)
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def tags(address: str, repository: str) -> list[str]:
    """The tags the registry holds for ``repository`` (its HTTP API, not the engine)."""
    answer = requests.get(f"http://{address}/v2/{repository}/tags/list", timeout=10)
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    return sorted(answer.json().get("tags") or [])
