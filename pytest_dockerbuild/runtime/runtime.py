"""Starting images: :class:`Runtime` creates the containers and user-defined networks
(:class:`Network`) of a run, and is the one place that names, labels and removes the
plugin's containers (:meth:`Runtime.create`, :meth:`Runtime.remove`).

Containers and networks are created with the docker SDK directly (the engine's one
client, no pulls, ports bound to the loopback address where the engine is local, labels
with the run id); the engine says where published ports are reached
(:func:`~pytest_dockerbuild.engine.client.published_host`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import docker.errors
import requests

from pytest_dockerbuild.engine.client import published_host
from pytest_dockerbuild.engine.podman import explain_start, podman_healthcheck
from pytest_dockerbuild.errors import ContainerError, DockerbuildError
from pytest_dockerbuild.runtime.containers import Container, remove_all, remove_container
from pytest_dockerbuild.runtime.oneshot import CompletedRun, complete
from pytest_dockerbuild.runtime.options import (
    EnvFiles,
    RunOptions,
    Tmpfs,
    Volumes,
    image_name,
    image_reference,
    name_hint,
)

if TYPE_CHECKING:
    from docker.models.networks import Network as DockerNetwork

    from pytest_dockerbuild.build import BuildResult
    from pytest_dockerbuild.engine.client import Engine
    from pytest_dockerbuild.image import Image
    from pytest_dockerbuild.runtime.readiness import Readiness

__all__ = ["Network", "Runtime", "conditions"]


class Network:
    """A user-defined bridge network (its embedded DNS resolves names and aliases)."""

    def __init__(self, runtime: Runtime, wrapped: DockerNetwork) -> None:
        self._runtime = runtime
        self._wrapped = wrapped
        self.containers: list[Container] = []

    @property
    def name(self) -> str:
        return str(self._wrapped.name)

    def run(
        self,
        image: str | Image | BuildResult,
        *,
        aliases: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        ports: Iterable[int] = (),
        command: str | Sequence[str] | None = None,
        wait: Readiness | Sequence[Readiness] | None = None,
        timeout: float = 60.0,
        name: str | None = None,
        user: str | int | None = None,
        workdir: str | None = None,
        volumes: Volumes | None = None,
        tmpfs: Tmpfs | None = None,
        read_only: bool = False,
        cap_drop: Sequence[str] | None = None,
        cap_add: Sequence[str] | None = None,
        mem_limit: int | str | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        healthcheck: Mapping[str, Any] | str | None = None,
        env_file: EnvFiles | None = None,
        **options: Any,
    ) -> Container:
        """Start ``image`` on this network with ``aliases``; publish ``ports`` on the
        loopback address (random host ports); wait for readiness.

        ``wait`` is a condition (``HttpReady("/health")``, ``LogReady("listening")``,
        ``Healthy()``) or a list of them.  The run options (``user`` ... ``env_file``) are
        described in :class:`~pytest_dockerbuild.runtime.options.RunOptions`; extra
        ``options`` go to docker-py's ``containers.create`` as they are.
        """
        return self._runtime.run(
            image, network=self, aliases=aliases, env=env, ports=ports, command=command,
            wait=wait, timeout=timeout, name=name,
            user=user, workdir=workdir, volumes=volumes, tmpfs=tmpfs, read_only=read_only, cap_drop=cap_drop,
            cap_add=cap_add, mem_limit=mem_limit, cpus=cpus, pids_limit=pids_limit, healthcheck=healthcheck,
            env_file=env_file,
            **options,
        )  # fmt: skip

    def run_once(
        self,
        image: str | Image | BuildResult,
        command: str | Sequence[str] | None = None,
        *,
        aliases: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        name: str | None = None,
        user: str | int | None = None,
        workdir: str | None = None,
        volumes: Volumes | None = None,
        tmpfs: Tmpfs | None = None,
        read_only: bool = False,
        cap_drop: Sequence[str] | None = None,
        cap_add: Sequence[str] | None = None,
        mem_limit: int | str | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        healthcheck: Mapping[str, Any] | str | None = None,
        env_file: EnvFiles | None = None,
        **options: Any,
    ) -> CompletedRun:
        """Run ``command`` in a new container of ``image`` on this network (reaching the others
        by alias) until it exits; see :meth:`Runtime.run_once`."""
        return self._runtime.run_once(
            image, command, network=self, aliases=aliases, env=env, timeout=timeout, name=name,
            user=user, workdir=workdir, volumes=volumes, tmpfs=tmpfs, read_only=read_only, cap_drop=cap_drop,
            cap_add=cap_add, mem_limit=mem_limit, cpus=cpus, pids_limit=pids_limit, healthcheck=healthcheck,
            env_file=env_file,
            **options,
        )  # fmt: skip

    def remove(self) -> None:
        """Remove its containers (at once: each removal waits for the engine to stop and unmount
        one), then the network."""
        remove_all(self.containers)
        self.containers.clear()
        try:
            self._wrapped.remove()
        except (docker.errors.NotFound, requests.ConnectionError):
            pass

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<Network {self.name} containers={[c.name for c in self.containers]}>"


class Runtime:
    """Creates the networks and containers of a run, named and labelled per run and worker."""

    def __init__(self, engine: Engine, publish_address: str | None = None) -> None:
        self.engine = engine
        self.host = published_host()
        self.publish_address = publish_address or ("127.0.0.1" if _is_loopback(self.host) else "0.0.0.0")
        self.containers: list[Container] = []  #: every container started, in order
        self._listeners: list[Callable[[Container], None]] = []

    def add_listener(self, listener: Callable[[Container], None]) -> None:
        self._listeners.append(listener)

    @property
    def worker(self) -> str:
        """The pytest-xdist worker (or ``main``) its names carry."""
        return self.engine.worker

    def network(self, hint: str = "net") -> Network:
        """A new user-defined bridge network (``with runtime.network() as net: ...``)."""
        try:
            wrapped = self.engine.client.networks.create(
                self.engine.resource_name(hint), driver="bridge", labels=self.engine.labels(), check_duplicate=True
            )
        except docker.errors.APIError as error:
            raise DockerbuildError(f"cannot create network for {hint!r}: {error.explanation}") from None
        return Network(self, wrapped)

    # -- the one place that names, labels and removes containers ---------------------
    def create(
        self, image: str, hint: str, *, network: Network | None = None, aliases: Sequence[str] = (), **options: Any
    ) -> Container:
        """A new container of ``image`` (never pulled), named from ``hint`` and labelled with
        the run, on ``network`` with ``aliases`` if given; not started and not tracked.
        ``options`` go to docker-py's ``containers.create``; the docker SDK's errors pass."""
        create: dict[str, Any] = {"name": self.engine.resource_name(hint), "labels": self.engine.labels(), **options}
        if self.engine.podman and "healthcheck" in create:
            create["healthcheck"] = podman_healthcheck(create["healthcheck"])
        if network is not None:
            create["network"] = network.name
            create["networking_config"] = {
                network.name: self.engine.client.api.create_endpoint_config(aliases=list(aliases))
            }
        wrapped = self.engine.client.containers.create(image, **create)
        return Container(wrapped, network, aliases, self.host)

    def remove(self, container: str) -> None:
        """Remove the container with this id or name, quietly (gone already is no error)."""
        remove_container(self.engine.client.api, container)

    # -- running ------------------------------------------------------------------------
    def run(
        self,
        image: str | Image | BuildResult,
        *,
        network: Network | None = None,
        aliases: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        ports: Iterable[int] = (),
        command: str | Sequence[str] | None = None,
        wait: Readiness | Sequence[Readiness] | None = None,
        timeout: float = 60.0,
        name: str | None = None,
        user: str | int | None = None,
        workdir: str | None = None,
        volumes: Volumes | None = None,
        tmpfs: Tmpfs | None = None,
        read_only: bool = False,
        cap_drop: Sequence[str] | None = None,
        cap_add: Sequence[str] | None = None,
        mem_limit: int | str | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        healthcheck: Mapping[str, Any] | str | None = None,
        env_file: EnvFiles | None = None,
        **options: Any,
    ) -> Container:
        """Start a container of ``image`` (see :meth:`Network.run`), tracked until its network
        or the run ends."""
        settings = RunOptions(
            user=user, workdir=workdir, volumes=volumes, tmpfs=tmpfs, read_only=read_only, cap_drop=cap_drop,
            cap_add=cap_add, mem_limit=mem_limit, cpus=cpus, pids_limit=pids_limit, healthcheck=healthcheck,
            env_file=env_file,
        )  # fmt: skip
        create: dict[str, Any] = {
            **settings.create_kwargs(env, local_paths=_is_loopback(self.host)),
            "ports": {f"{port}/tcp": (self.publish_address, None) for port in ports},
            "detach": True,
            **options,
        }
        container = self._create_for(image, name, network, list(aliases), command, create)
        self.track(container)
        try:
            container.get_wrapped_container().start()
        except docker.errors.APIError as error:
            reason = explain_start(str(error.explanation), self.engine.podman)
            raise ContainerError(container.name, f"cannot start: {reason}", container.logs()) from None
        self.engine.watch_health()
        container.reload()
        pending = conditions(wait)
        if pending:
            container.wait(*pending, timeout=timeout)
        return container

    def run_once(
        self,
        image: str | Image | BuildResult,
        command: str | Sequence[str] | None = None,
        *,
        network: Network | None = None,
        aliases: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        name: str | None = None,
        user: str | int | None = None,
        workdir: str | None = None,
        volumes: Volumes | None = None,
        tmpfs: Tmpfs | None = None,
        read_only: bool = False,
        cap_drop: Sequence[str] | None = None,
        cap_add: Sequence[str] | None = None,
        mem_limit: int | str | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        healthcheck: Mapping[str, Any] | str | None = None,
        env_file: EnvFiles | None = None,
        **options: Any,
    ) -> CompletedRun:
        """Run ``command`` (default: the image's) in a new container of ``image`` until it exits:
        its exit code, stdout and stderr.  After ``timeout`` seconds it is killed and a
        :class:`~pytest_dockerbuild.errors.ContainerError` says so, with its output so far.  The
        container is named and labelled like every other, and removed when it ends; the run
        options are :meth:`run`'s."""
        settings = RunOptions(
            user=user, workdir=workdir, volumes=volumes, tmpfs=tmpfs, read_only=read_only, cap_drop=cap_drop,
            cap_add=cap_add, mem_limit=mem_limit, cpus=cpus, pids_limit=pids_limit, healthcheck=healthcheck,
            env_file=env_file,
        )  # fmt: skip
        create = {**settings.create_kwargs(env, local_paths=_is_loopback(self.host)), **options}
        container = self._create_for(image, name, network, list(aliases), command, create)
        return complete(container, image_name(image), command, timeout, self.engine.podman)

    def _create_for(
        self,
        image: str | Image | BuildResult,
        name: str | None,
        network: Network | None,
        aliases: list[str],
        command: str | Sequence[str] | None,
        create: dict[str, Any],
    ) -> Container:
        """A container of ``image`` named from ``name``, its first alias or the image; a missing
        image or a refused creation is a :class:`ContainerError`."""
        reference = image_reference(image)
        hint = name or (aliases[0] if aliases else name_hint(image))
        if command is not None:
            create["command"] = command
        try:
            return self.create(reference, hint, network=network, aliases=aliases, **create)
        except docker.errors.ImageNotFound:
            raise ContainerError(hint, f"image {reference!r} is not in the engine (nothing is pulled)", "") from None
        except docker.errors.APIError as error:
            raise ContainerError(hint, f"cannot create a container of {reference!r}: {error.explanation}", "") from None

    def track(self, container: Container) -> None:
        """Remember a created container (and tell the listeners) before it starts, so that it
        is removed and its logs shown even if it does not start."""
        self.containers.append(container)
        if container.network is not None:
            container.network.containers.append(container)
        for listener in self._listeners:
            listener(container)


def conditions(wait: Readiness | Sequence[Readiness] | None) -> list[Readiness]:
    """The readiness conditions of a ``wait`` argument: none, one, or a list."""
    if wait is None:
        return []
    if hasattr(wait, "probe") or not isinstance(wait, Sequence):
        return [wait]  # type: ignore[list-item]
    return list(wait)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
