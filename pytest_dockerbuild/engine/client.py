"""The connection to the Docker Engine for one run (or one script): the SDK
client, connections of its own for streams that may be cut, the run's names and
labels, inspected images, and the journal of what this process makes.

Which engine: ``DOCKER_HOST`` (``unix://``, ``tcp://``, ``ssh://`` through the
system's ssh client), else the default socket; :func:`published_host` says where
its containers' published ports are reached from here.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors
import docker.utils
import requests.exceptions

from pytest_dockerbuild.engine.imagestore import ImageIndex
from pytest_dockerbuild.engine.ledger import Journal, Ledger, cache_home
from pytest_dockerbuild.engine.naming import LABEL_LEASE, LABEL_MANAGED, LABEL_OWNER, LABEL_RUN, slug
from pytest_dockerbuild.engine.podman import HealthChecks, engine_name, is_podman, podman_version, stable_id
from pytest_dockerbuild.engine.process import current
from pytest_dockerbuild.engine.registry import is_registry_reference, pull
from pytest_dockerbuild.errors import DockerbuildError, EngineUnavailable
from pytest_dockerbuild.image import Image

__all__ = ["Engine", "EngineInfo", "builder_driver", "buildx_version", "endpoint", "published_host"]


@dataclass(frozen=True)
class EngineInfo:
    """Versions shown in the report header."""

    engine_version: str
    api_version: str
    buildx_version: str | None  #: None when the buildx CLI plugin is absent or broken
    engine_name: str = "Docker Engine"  #: or ``Podman Engine`` (its Docker-compatible API)

    def header(self) -> str:
        if self.engine_name != "Docker Engine":  # BuildKit is the Docker Engine's
            builder = "classic builder (no BuildKit on this engine)"
        else:
            builder = f"buildx {self.buildx_version}" if self.buildx_version else "classic builder"
        return f"dockerbuild: {self.engine_name} {self.engine_version}, API {self.api_version}, {builder}"


def endpoint() -> str:
    """Where the engine is: ``DOCKER_HOST``, or the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def published_host() -> str:
    """Where published ports of the engine's containers are reached from here: 127.0.0.1 for a
    local engine, the host of ``DOCKER_HOST`` for a remote one."""
    url = urlparse(endpoint())
    if url.scheme in ("tcp", "http", "https", "ssh") and url.hostname:
        return "127.0.0.1" if url.hostname == "localhost" else url.hostname
    return "127.0.0.1"


def _over_ssh() -> bool:
    """``DOCKER_HOST=ssh://...``: go through the system's ssh client (its config, keys and
    agent), as the docker CLI does, rather than the SDK's paramiko (not a dependency)."""
    return endpoint().startswith("ssh://")


class Engine:
    """A connection to the engine for one pytest run (or one script).

    Holds the run id and owner that label everything the run creates, and a
    folder where exported image archives are cached (``export_dir``: under the run's
    temporary folder in a pytest run, so that a killed run's exports go with it; else
    a temporary folder removed by :meth:`close`).
    """

    def __init__(
        self, client: docker.DockerClient | None = None, run_id: str | None = None, worker: str = "main",
        export_dir: Path | None = None,
    ) -> None:  # fmt: skip
        if client is None:
            client = self.connect()
        self.client = client
        self.run_id = run_id or uuid.uuid4().hex[:12]
        #: the pytest-xdist worker (``gw0``...) or ``main``: part of every container and network name
        self.worker = worker
        self.owner = str(current())  #: this process, as the owner label names it
        self._counter = itertools.count(1)
        if export_dir is not None:
            export_dir.mkdir(parents=True, exist_ok=True)
        self._cache_dir = export_dir or Path(tempfile.mkdtemp(prefix="pytest-dockerbuild-"))
        self._images: dict[str, Image] = {}
        self._pulled: dict[str, str] = {}  #: registry reference -> image id, pulled (or found) once
        self._ledger: Ledger | None = None
        self._journal: Journal | None = None
        self._leases: set[str] = set()
        self._version: dict[str, Any] | None = None
        self._health: HealthChecks | None = None

    @staticmethod
    def connect() -> docker.DockerClient:
        """A docker SDK client for ``DOCKER_HOST`` (or the default socket) that answers a ping."""
        try:
            client = docker.from_env(timeout=120, use_ssh_client=_over_ssh())
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            reason = str(error).split("\n")[0]
            if "Connection refused" in reason or "No such file" in reason or "FileNotFoundError" in reason:
                reason = "nothing is listening there (" + reason + ")"
            if "paramiko" in reason:
                reason = "ssh:// needs paramiko: pip install 'pytest-dockerbuild[ssh]'"
            raise EngineUnavailable(endpoint(), reason) from None
        return client

    def connection(self, timeout: float | None = None) -> docker.APIClient:
        """A new low-level connection to the same engine (for a stream that may have to be cut)."""
        return docker.APIClient(
            **docker.utils.kwargs_from_env(),
            version=self.client.api.api_version,
            timeout=timeout,
            use_ssh_client=_over_ssh(),
        )

    # -- names and labels ----------------------------------------------------------
    def labels(self, **extra: str) -> dict[str, str]:
        """Labels for a container or network of this run."""
        return {LABEL_MANAGED: "true", LABEL_RUN: self.run_id, LABEL_OWNER: self.owner, **extra}

    def resource_name(self, hint: str) -> str:
        """``pytest-dockerbuild-<run>-<worker>-<hint>-<n>``: unique per run, worker and process."""
        return f"pytest-dockerbuild-{self.run_id}-{self.worker}-{slug(hint)}-{next(self._counter)}"

    # -- images ------------------------------------------------------------------
    def project_ids(self) -> list[str]:
        """The ids of the projects the plugin's tags on this engine name."""
        return sorted(ImageIndex.read(self.client).projects())

    def image(self, reference: str, asked_by: str | None = None) -> Image:
        """An :class:`Image` for a reference or id; one object (and one export) per image id. A
        registry reference (``127.0.0.1:5000/app:1``, ``...@sha256:...``) is pulled once per process
        (:func:`~pytest_dockerbuild.engine.registry.pull`; ``asked_by`` names who asked, in errors)."""
        if is_registry_reference(reference):
            image_id = pull(self.client, reference, asked_by or reference, self._pulled)
            reference = image_id if "@" in reference else reference  # the engine names it by id
        image = Image(self.client, reference, self._cache_dir, cache_home() / "index", self.labels())
        return self._images.setdefault(image.id, image)

    # -- information -------------------------------------------------------------
    def local_binfmt(self) -> Path | None:
        """The folder where the engine's host registers emulators (binfmt_misc), when the engine
        runs on this host (a unix socket); None for a remote engine."""
        return Path("/proc/sys/fs/binfmt_misc") if urlparse(endpoint()).scheme in ("unix", "") else None

    def version(self) -> dict[str, Any]:
        """The engine's ``/version`` answer (asked once per connection)."""
        if self._version is None:
            self._version = dict(self.client.version())
        return self._version

    @property
    def podman(self) -> bool:
        """True if the engine is Podman's Docker-compatible service (see :mod:`.podman`)."""
        return is_podman(self.version())

    def watch_health(self) -> None:
        """On Podman, run the health checks of this process's containers where Podman's timers do
        not (:class:`~pytest_dockerbuild.engine.podman.HealthChecks`, once per engine); nothing on
        the Docker Engine, which runs them itself."""
        if self._health is None and self.podman:
            label = f"{LABEL_OWNER}={self.owner}"
            self._health = HealthChecks(self.connection(timeout=60), podman_version(self.version()), label).start()

    def info(self) -> EngineInfo:
        version = self.version()
        return EngineInfo(
            engine_version=str(version.get("Version", "?")),
            api_version=str(version.get("ApiVersion", "?")),
            buildx_version=None if self.podman else buildx_version(),
            engine_name=engine_name(version),
        )

    # -- the ledger: what this process made -----------------------------------------------
    @property
    def ledger(self) -> Ledger:
        """The journals and owned list of this engine (keyed by the engine's id)."""
        if self._ledger is None:
            try:
                info = self.client.info()
                engine_id = (stable_id(info) if self.podman else str(info.get("ID") or "")) or endpoint()
            except docker.errors.APIError:
                engine_id = endpoint()
            self._ledger = Ledger.for_engine(engine_id)
        return self._ledger

    @property
    def journal(self) -> Journal:
        """This process's journal (images its builds commit, step containers, images it uses)."""
        if self._journal is None:
            self._journal = self.ledger.journal(self.run_id)
        return self._journal

    @property
    def open_journal(self) -> Journal | None:
        """This process's journal if it has one (None before its first use)."""
        return self._journal

    def close_journal(self) -> None:
        """Delete this process's journal (at its end, once its clean-up is done)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def use(self, image_id: str) -> bool:
        """Keep image ``image_id`` from being removed while this process runs, by anyone's clean-up
        (another user's, another host's): a container of it, created but never started and
        labelled with the run (the engine removes no image a container uses, unless forced, which
        the plugin never does); it goes with the run's containers.  False if the image is gone."""
        self.journal.uses(image_id)
        if image_id in self._leases:
            return True
        try:
            self.client.api.create_container(
                image_id, command=["/pytest-dockerbuild-lease"], network_disabled=True,
                labels=self.labels(**{LABEL_LEASE: image_id}), name=self.resource_name("lease"),
            )  # fmt: skip
        except docker.errors.APIError:
            return False
        self._leases.add(image_id)
        return True

    def tag(self, image_id: str, tag: str) -> None:
        """Tag ``image_id`` as ``tag`` (``repository[:name]``); a refusal is a :class:`DockerbuildError`."""
        repository, name = docker.utils.parse_repository_tag(tag)
        try:
            self.client.api.tag(image_id, repository, name or "latest")
        except docker.errors.APIError as error:
            raise DockerbuildError(f"cannot tag the image {image_id[:19]} as {tag!r}: {error.explanation}") from None

    def untag(self, tag: str) -> None:
        """Remove the tag ``tag`` (never the image's layers); already gone is fine."""
        try:
            self.client.api.remove_image(tag, noprune=True)
        except docker.errors.APIError:
            pass  # a pending tag left on an image retention takes care of

    def close(self) -> None:
        if self._health is not None:
            self._health.stop()
        shutil.rmtree(self._cache_dir, ignore_errors=True)
        self.client.close()


@functools.lru_cache(maxsize=1)
def buildx_version() -> str | None:
    """The version of the ``docker buildx`` CLI plugin, or None if it is absent or broken
    (asked once per process)."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        return None
    try:
        completed = subprocess.run(
            [docker_cli, "buildx", "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    words = completed.stdout.split()
    return words[1] if len(words) > 1 else completed.stdout.strip() or None


def builder_driver(name: str) -> str:
    """The driver of the buildx builder ``name`` (``docker``, ``docker-container``...), or what
    ``docker buildx inspect`` said when it cannot tell."""
    try:
        completed = subprocess.run([shutil.which("docker") or "docker", "buildx", "inspect", name],
                                   capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    for line in completed.stdout.splitlines():
        if line.startswith("Driver:"):
            return line.partition(":")[2].strip()
    return f"unknown ({(completed.stderr or completed.stdout).strip().splitlines()[-1:]})"
