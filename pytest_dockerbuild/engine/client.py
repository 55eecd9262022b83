"""The connection to the Docker Engine, the labels the plugin puts on what it
creates, and the clean-up of what earlier, killed runs left behind."""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors
import docker.utils
import requests.exceptions

from pytest_dockerbuild.engine.cleanup import (
    ImageIndex,
    orphaned,
    remove_dangling,
    remove_leftovers,
    remove_tags,
    stale_tags,
    within,
)
from pytest_dockerbuild.engine.ledger import Journal, Ledger, cache_home
from pytest_dockerbuild.engine.naming import LABEL_MANAGED, LABEL_OWNER, LABEL_PROJECT, LABEL_RUN, slug
from pytest_dockerbuild.errors import EngineUnavailable
from pytest_dockerbuild.image.image import Image

__all__ = ["LABEL_MANAGED", "LABEL_OWNER", "LABEL_PROJECT", "LABEL_RUN", "Engine", "EngineInfo", "PruneReport", "endpoint", "published_host"]


@dataclass
class PruneReport:
    """What ``--dockerbuild-prune`` removed, and the live runs whose resources it kept."""

    images: int = 0
    containers: int = 0
    networks: int = 0
    live_runs: list[str] = field(default_factory=list)  #: ``host:pid`` of runs still in progress

    def __str__(self) -> str:
        text = f"removed {self.images} images, {self.containers} containers and {self.networks} networks"
        if self.live_runs:
            text += f"; kept those of runs in progress ({', '.join(self.live_runs)})"
        return text


@dataclass(frozen=True)
class EngineInfo:
    """Versions shown in the report header."""

    engine_version: str
    api_version: str
    buildx_version: str | None  #: None when the buildx CLI plugin is absent or broken

    def header(self) -> str:
        builder = f"buildx {self.buildx_version}" if self.buildx_version else "classic builder"
        return f"dockerbuild: Docker Engine {self.engine_version}, API {self.api_version}, {builder}"


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Engine:
    """A connection to the engine for one pytest run (or one script).

    Holds the run id and owner that label everything the run creates, and a
    folder where exported image archives are cached.
    """

    def __init__(
        self, client: docker.DockerClient | None = None, run_id: str | None = None, worker: str = "main"
    ) -> None:
        if client is None:
            client = self.connect()
        self.client = client
        self.run_id = run_id or uuid.uuid4().hex[:12]
        #: the pytest-xdist worker (``gw0``...) or ``main``: part of every container and network name
        self.worker = worker
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._counter = itertools.count(1)
        self._cache_dir = Path(tempfile.mkdtemp(prefix="pytest-dockerbuild-"))
        self._images: dict[str, Image] = {}
        self._ledger: Ledger | None = None
        self._journal: Journal | None = None

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

    def connection(self) -> docker.APIClient:
        """A new low-level connection to the same engine (for a stream that may have to be cut)."""
        return docker.APIClient(
            **docker.utils.kwargs_from_env(),
            version=self.client.api.api_version,
            timeout=None,
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

    def image(self, reference: str) -> Image:
        """An :class:`Image` for a reference or id; one object (and one export) per image id."""
        image = Image(self.client, reference, self._cache_dir)
        return self._images.setdefault(image.id, image)

    # -- information -------------------------------------------------------------
    def info(self) -> EngineInfo:
        version = self.client.version()
        return EngineInfo(
            engine_version=str(version.get("Version", "?")),
            api_version=str(version.get("ApiVersion", "?")),
            buildx_version=buildx_version(),
        )

    # -- the ledger: what this process made -----------------------------------------------
    @property
    def ledger(self) -> Ledger:
        """The journals and owned list of this engine (keyed by the engine's id)."""
        if self._ledger is None:
            try:
                engine_id = str(self.client.info().get("ID") or endpoint())
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

    def owned_images(self) -> set[str]:
        """Full ids of the images the plugin committed on this engine (earlier runs and this one)."""
        index = ImageIndex.read(self.client)
        return {i for i in (index.resolve(c) for c in self.journal.created) if i} | self.ledger.owned()

    # -- clean-up ------------------------------------------------------------------
    def sweep(self) -> list[str]:
        """Remove what runs on this host whose pytest process no longer exists (killed, or
        interrupted hard) left: their containers and networks, and the dangling images their
        journals recorded.  Returns what was removed."""
        host = socket.gethostname()

        def stale(labels: dict[str, str]) -> bool:
            owner_host, _, pid = labels.get(LABEL_OWNER, "").rpartition(":")
            if labels.get(LABEL_RUN) == self.run_id or owner_host != host or not pid.isdigit():
                return False
            return not _pid_alive(int(pid))

        removed = self._remove_labelled([f"{LABEL_MANAGED}=true"], stale)
        for record in self.ledger.journals():
            if not record.alive and record.path != self.journal.path:
                removed += [f"image {i}" for i in self._settle(record.created, record.containers)]
                record.path.unlink(missing_ok=True)
        return removed

    def _settle(self, created: list[str], containers: list[str]) -> list[str]:
        """Remove the leftovers of a finished process's builds and add the images that remain
        to the owned list; returns the ids deleted."""
        protected = self.ledger.protected(exclude=self._journal)
        deleted = remove_leftovers(self.client, created, containers, protected)
        index = ImageIndex.read(self.client)
        self.ledger.update_owned(i for i in (index.resolve(c) for c in created) if i is not None)
        return deleted

    def remove_run_resources(self, own_only: bool = False) -> None:
        """Remove every container and network labelled with this run's id; with ``own_only``
        (a pytest-xdist worker), only those this process created: the other workers' are
        still in use, and the controller removes the rest at the end of the run."""
        self._remove_labelled([f"{LABEL_RUN}={self.run_id}"] + ([f"{LABEL_OWNER}={self.owner}"] if own_only else []))

    def finish(self, projects: Iterable[str] = (), keep: int = 3) -> None:
        """At the end of this process: remove its builds' dangling leftovers, then the tags of
        ``projects`` beyond the ``keep`` newest per stage, and those of projects whose folder is
        gone; what live runs (this one included) use is kept."""
        journal = self._journal
        if journal is not None:
            self._settle(journal.created, journal.containers)
        protected = self.ledger.protected()
        index = ImageIndex.read(self.client)
        wanted = set(projects)
        for project, context in index.projects().items():
            if project in wanted:
                remove_tags(self.client, stale_tags(index, project, keep, protected), protected)
            elif orphaned(context):
                remove_tags(self.client, index.project_tags(project), protected)
        self._forget_gone(protected)
        if journal is not None:
            journal.close()
            self._journal = None

    def _forget_gone(self, protected: set[str]) -> list[str]:
        """Remove owned images nothing keeps; drop the ids of images gone from the owned list."""
        owned = self.ledger.owned()
        deleted = remove_dangling(self.client, owned, protected)
        self.ledger.update_owned(keep_only=set(ImageIndex.read(self.client).images))
        return deleted

    def _remove_labelled(self, labels: list[str], select: Callable[[dict[str, str]], bool] | None = None) -> list[str]:
        """Remove the containers, then the networks, with all of ``labels`` (and whose labels
        ``select`` accepts); returns what was removed."""
        removed: list[str] = []
        for container in self.client.containers.list(all=True, ignore_removed=True, filters={"label": labels}):
            if (select is None or select(container.labels)) and self._quietly(container.remove, force=True, v=True):
                removed.append(f"container {container.name}")
        for network in self.client.networks.list(filters={"label": labels}):
            if (select is None or select(network.attrs.get("Labels") or {})) and self._quietly(network.remove):
                removed.append(f"network {network.name}")
        return removed

    def prune(self, project: str | None = None, root: Path | None = None) -> PruneReport:
        """Remove what the plugin made that no live run uses: the containers and networks of
        dead runs, and the images under the plugin's tags: of ``project`` (a project id), or,
        without one, of every project built from a folder under ``root`` or from a folder that
        is gone; then the images the plugin committed that nothing keeps."""
        report = PruneReport()
        for removed in self.sweep():
            kind = removed.split(" ", 1)[0]
            setattr(report, kind + "s", getattr(report, kind + "s") + 1)
        report.live_runs = sorted(self._live_owners())
        protected = self.ledger.protected()
        index = ImageIndex.read(self.client)
        tags: list[str] = []
        for name, context in index.projects().items():
            if name == project or (project is None and (orphaned(context) or (root and within(context, root)))):
                tags += index.project_tags(name)
        tagged = {image for image in index.images if set(index.tags(image)) & set(tags)}
        remove_tags(self.client, tags, protected)
        self._forget_gone(protected)
        report.images += len(tagged - set(ImageIndex.read(self.client).images))
        shutil.rmtree(cache_home() / "failures", ignore_errors=True)  # failure records of older versions
        return report

    def _live_owners(self) -> set[str]:
        """``host:pid`` of the runs in progress whose containers or networks prune kept."""
        owners: set[str] = set()
        wanted = {"label": f"{LABEL_MANAGED}=true"}
        for container in self.client.containers.list(all=True, ignore_removed=True, filters=wanted):
            owners.add(container.labels.get(LABEL_OWNER) or "")
        for network in self.client.networks.list(filters=wanted):
            owners.add((network.attrs.get("Labels") or {}).get(LABEL_OWNER) or "")
        return {owner for owner in owners if owner.rpartition(":")[2].isdigit()}

    def close(self) -> None:
        shutil.rmtree(self._cache_dir, ignore_errors=True)
        self.client.close()

    @staticmethod
    def _quietly(action: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            action(*args, **kwargs)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError:
            return False
        return True


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
