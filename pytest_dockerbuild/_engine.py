"""The connection to the Docker Engine, the labels the plugin puts on what it
creates, and the clean-up of what earlier, killed runs left behind."""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.utils
import requests.exceptions

from ._errors import EngineUnavailable
from ._image import Image

__all__ = ["LABEL_MANAGED", "LABEL_OWNER", "LABEL_PROJECT", "LABEL_RUN", "Engine", "EngineInfo"]

LABEL_MANAGED = "pytest-dockerbuild.managed"  #: "true" on every image, container and network
LABEL_RUN = "pytest-dockerbuild.run"  #: the run id, on containers and networks
LABEL_OWNER = "pytest-dockerbuild.owner"  #: "<host>:<pid>" of the pytest process, on containers and networks
LABEL_PROJECT = "pytest-dockerbuild.project"  #: the build context's folder name, on built images
IMAGE_REPOSITORY = "pytest-dockerbuild"  #: built images are tagged pytest-dockerbuild/<project>:...


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
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


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
        slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", hint).strip("-.")[:40] or "x"
        return f"pytest-dockerbuild-{self.run_id}-{self.worker}-{slug}-{next(self._counter)}"

    # -- images ------------------------------------------------------------------
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

    # -- clean-up ------------------------------------------------------------------
    def sweep(self) -> list[str]:
        """Remove containers and networks left by runs on this host whose pytest
        process no longer exists (killed, or interrupted hard).  Returns what was removed."""
        host = socket.gethostname()

        def stale(labels: dict[str, str]) -> bool:
            owner_host, _, pid = labels.get(LABEL_OWNER, "").rpartition(":")
            if labels.get(LABEL_RUN) == self.run_id or owner_host != host or not pid.isdigit():
                return False
            return not _pid_alive(int(pid))

        return self._remove_labelled([f"{LABEL_MANAGED}=true"], stale)

    def remove_run_resources(self, own_only: bool = False) -> None:
        """Remove every container and network labelled with this run's id; with ``own_only``
        (a pytest-xdist worker), only those this process created: the other workers' are
        still in use, and the controller removes the rest at the end of the run."""
        self._remove_labelled([f"{LABEL_RUN}={self.run_id}"] + ([f"{LABEL_OWNER}={self.owner}"] if own_only else []))

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

    def prune(self, project: str | None = None) -> dict[str, int]:
        """Remove what the plugin made: every labelled container, network and built image;
        with ``project``, only the images built from context folders of that name (and
        the containers and networks of dead runs)."""
        counts = {"containers": 0, "networks": 0, "images": 0}
        for removed in self._remove_labelled([f"{LABEL_MANAGED}=true"]) if project is None else self.sweep():
            counts["containers" if removed.startswith("container") else "networks"] += 1
        wanted = [f"{LABEL_MANAGED}=true"] + ([f"{LABEL_PROJECT}={project}"] if project else [])
        ours = f"{IMAGE_REPOSITORY}/{project}:" if project else f"{IMAGE_REPOSITORY}/"
        # Built images carry the labels; the classic builder's stage images only a tag. An image
        # can hold the tags of several projects (same content): remove this project's tags, and
        # the engine deletes an image with its last tag.
        images = {image.id: image for image in self.client.images.list(filters={"label": wanted})}
        for image in self.client.images.list(filters={"reference": f"{IMAGE_REPOSITORY}/{project or '*'}"}):
            images[image.id] = image
        for image in images.values():
            tags = [tag for tag in image.tags if tag.startswith(ours)]
            for tag in tags:
                self._quietly(self.client.images.remove, tag)
            if not tags and not image.tags:
                self._quietly(self.client.images.remove, image.id)
        records = self.failure_records()
        for record in records.glob(f"{project}--*.pickle" if project else "*.pickle"):
            record.unlink(missing_ok=True)
        present = {image.id for image in self.client.images.list(all=True)}
        counts["images"] = sum(1 for image_id in images if image_id not in present)
        return counts

    @staticmethod
    def failure_records() -> Path:
        """Where builds that failed are recorded by content key, so that a later run reuses
        the failure as it reuses an image (``$XDG_CACHE_HOME/pytest-dockerbuild/failures``)."""
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "pytest-dockerbuild" / "failures"

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
