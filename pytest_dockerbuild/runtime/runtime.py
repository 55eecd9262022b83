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
from pytest_dockerbuild.errors import ContainerError, DockerbuildError
from pytest_dockerbuild.runtime.containers import Container, remove_container

if TYPE_CHECKING:
    from docker.models.networks import Network as DockerNetwork

    from pytest_dockerbuild.build import BuildResult
    from pytest_dockerbuild.engine.client import Engine
    from pytest_dockerbuild.image import Image
    from pytest_dockerbuild.runtime.readiness import Readiness

__all__ = ["Network", "Runtime"]


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
        **options: Any,
    ) -> Container:
        """Start ``image`` on this network with ``aliases``; publish ``ports`` on the
        loopback address (random host ports); wait for readiness.

        ``wait`` is a condition (``HttpReady("/health")``, ``LogReady("listening")``,
        ``Healthy()``) or a list of them.  Extra ``options`` go to docker-py's
        ``containers.create``.
        """
        return self._runtime.run(
            image, network=self, aliases=aliases, env=env, ports=ports, command=command,
            wait=wait, timeout=timeout, name=name, **options,
        )  # fmt: skip

    def remove(self) -> None:
        """Remove its containers, then the network."""
        for container in reversed(self.containers):
            container.remove()
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
        **options: Any,
    ) -> Container:
        """Start a container of ``image`` (see :meth:`Network.run`), tracked until its network
        or the run ends."""
        reference = _image_id(image)
        alias_list = list(aliases)
        hint = name or (alias_list[0] if alias_list else reference.split("/")[-1].split(":")[0])
        create: dict[str, Any] = {
            "environment": dict(env or {}),
            "ports": {f"{port}/tcp": (self.publish_address, None) for port in ports},
            "detach": True,
            **options,
        }
        if command is not None:
            create["command"] = command
        try:
            container = self.create(reference, hint, network=network, aliases=alias_list, **create)
        except docker.errors.ImageNotFound:
            raise ContainerError(hint, f"image {reference!r} is not in the engine (nothing is pulled)", "") from None
        except docker.errors.APIError as error:
            raise ContainerError(hint, f"cannot create a container of {reference!r}: {error.explanation}", "") from None
        self._track(container)
        try:
            container.get_wrapped_container().start()
        except docker.errors.APIError as error:
            raise ContainerError(container.name, f"cannot start: {error.explanation}", container.logs()) from None
        container.reload()
        conditions = _conditions(wait)
        if conditions:
            container.wait(*conditions, timeout=timeout)
        return container

    def _track(self, container: Container) -> None:
        """Remember a created container (and tell the listeners) before it starts, so that it
        is removed and its logs shown even if it does not start."""
        self.containers.append(container)
        if container.network is not None:
            container.network.containers.append(container)
        for listener in self._listeners:
            listener(container)


def _conditions(wait: Readiness | Sequence[Readiness] | None) -> list[Readiness]:
    """The readiness conditions of a ``wait`` argument: none, one, or a list."""
    if wait is None:
        return []
    if hasattr(wait, "probe") or not isinstance(wait, Sequence):
        return [wait]  # type: ignore[list-item]
    return list(wait)


def _image_id(image: str | Image | BuildResult) -> str:
    if isinstance(image, str):
        return image
    inner: Any = getattr(image, "image", image)
    return str(inner.id)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
