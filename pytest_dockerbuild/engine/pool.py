"""Many engines for one run (``--dockerbuild-engines``): which engine a pytest-xdist worker
uses (worker *i* gets engine *i* mod *n*), and how an image one engine built reaches the
others: through a registry (pushed once by the worker that built it, pulled by digest by a
worker of another engine that needs it).

Each worker talks to its engine as to any engine (``DOCKER_HOST``): builds, containers and
endpoint checks (a unix socket on this machine is reached on loopback, a ``tcp://`` or
``ssh://`` engine on its host) all go there.

A buildx builder can build outside the engine the tests use, too (:class:`BuildxBuilder`): a
``docker``-driver builder of another Docker context builds in, and loads into, that context's
engine; its images come over the same way, through a registry.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from pytest_dockerbuild.engine.client import endpoint
from pytest_dockerbuild.engine.registry import Registry, pull

__all__ = [
    "BuildxBuilder", "EnginePool", "RegistryShare", "buildx_builder", "docker_host", "read_engines", "same_engine",
]  # fmt: skip

SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")
SHARED_REPOSITORY = "pytest-dockerbuild-shared"  #: the repository of images shared between engines


def read_engines(value: str) -> list[str]:
    """The engine URLs of ``--dockerbuild-engines``: ``URL,URL`` or a file with one URL a line
    (``#`` comments); :class:`ValueError` names a bad entry."""
    path = Path(value)
    if "://" not in value and path.is_file():
        entries = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    else:
        entries = [part.strip() for part in value.split(",")]
    engines = [entry for entry in entries if entry]
    for entry in engines:
        if not entry.startswith(SCHEMES):
            raise ValueError(f"--dockerbuild-engines: {entry!r} is not an engine URL ({', '.join(SCHEMES)}...)")
    if not engines:
        raise ValueError(f"--dockerbuild-engines {value!r}: names no engine")
    return engines


@dataclass(frozen=True)
class EnginePool:
    """The engines of a run, and which one a process uses."""

    engines: Sequence[str]

    def for_worker(self, worker: str | None) -> str:
        """``gw3`` -> engine 3 mod n; the controller (or a run without workers) uses the first."""
        if worker is None or not worker[2:].isdigit():
            return self.engines[0]
        return self.engines[int(worker[2:]) % len(self.engines)]

    def others(self) -> list[str]:
        """The engines besides the first (the controller's), each once."""
        others: list[str] = []
        for url in self.engines[1:]:
            if not any(same_engine(url, seen) for seen in [self.engines[0], *others]):
                others.append(url)
        return others


@contextmanager
def docker_host(url: str) -> Iterator[None]:
    """This process talks to the engine at ``url`` (``DOCKER_HOST``) inside the block: for the
    controller's end of the run on each engine of the pool, one after the other."""
    before = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = before


class RegistryShare:
    """Images between engines through the registry at ``address``: the builder's cache calls
    :meth:`publish` after a build other workers may adopt, and :meth:`fetch` before adopting one."""

    def __init__(self, client: docker.DockerClient, address: str) -> None:
        self.client = client
        self.registry = Registry(client, address)
        self._pulled: dict[str, str] = {}

    def publish(self, image_id: str, key: str) -> str:
        """Push ``image_id`` under its content key; -> its reference with digest."""
        return self.registry.push(image_id, SHARED_REPOSITORY, [f"k{key[:40]}"])[0]

    def fetch(self, reference: str) -> str:
        """The image of ``reference`` on this engine (pulled by digest unless it is here already)."""
        name, _, digest = reference.partition("@")
        return pull(self.client, f"{name.rpartition(':')[0]}@{digest}", "an image another engine built", self._pulled)


@dataclass(frozen=True)
class BuildxBuilder:
    """A buildx builder as ``docker buildx inspect`` (and, for the docker driver, ``docker context
    inspect``) describe it."""

    name: str
    driver: str  #: ``docker``, ``docker-container``, ``kubernetes``, ``remote``, or ``unknown (why)``
    context: str | None = None  #: docker driver: the Docker context it builds in (its node's endpoint)
    host: str | None = None  #: docker driver: the engine of that context

    def builds_elsewhere(self, engine: str) -> bool:
        """True for a docker-driver builder whose context is another engine than ``engine``: it
        builds there, and ``--load`` loads there too."""
        return self.driver == "docker" and self.host is not None and not same_engine(self.host, engine)


def same_engine(first: str, second: str) -> bool:
    """Two engine URLs name the same engine (``unix://`` sockets compared by their real path)."""
    if first.startswith("unix://") and second.startswith("unix://"):
        return os.path.realpath(first.removeprefix("unix://")) == os.path.realpath(second.removeprefix("unix://"))
    return first.rstrip("/") == second.rstrip("/")


def buildx_builder(name: str) -> BuildxBuilder:
    """The builder ``name`` as this process sees it (asked once per process and ``DOCKER_HOST``)."""
    return _inspected(name, endpoint())


@functools.lru_cache(maxsize=16)
def _inspected(name: str, docker_host: str) -> BuildxBuilder:
    said = _docker("buildx", "inspect", name)
    fields = [line.partition(":")[::2] for line in said.splitlines() if ":" in line]
    driver = next((value.strip() for key, value in fields if key == "Driver"), None)
    node = next((value.strip() for key, value in fields if key == "Endpoint"), None)
    if driver is None:
        return BuildxBuilder(name, f"unknown ({said.strip().splitlines()[-1:] or 'docker buildx inspect failed'})")
    if driver != "docker" or not node:
        return BuildxBuilder(name, driver)
    host = _docker("context", "inspect", node, "--format", "{{.Endpoints.docker.Host}}").strip()
    return BuildxBuilder(name, driver, node, host if "://" in host else None)


def _docker(*arguments: str) -> str:
    """What the docker CLI printed (stdout, else stderr)."""
    try:
        done = subprocess.run([shutil.which("docker") or "docker", *arguments], capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return done.stdout if done.returncode == 0 else done.stderr or done.stdout
