"""Running images: user-defined networks, containers with aliases and loopback
ports, readiness waits that notice a dead container, an HTTP client, logs.

Containers and networks are created with the docker SDK directly (one shared
client, no pulls, ports bound to 127.0.0.1, labels with the run id);
testcontainers' wait strategies can be passed to :meth:`Container.wait`, since
:class:`Container` implements their ``WaitStrategyTarget`` protocol.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

import docker.errors
import requests

from pytest_dockerbuild.errors import ContainerError, ContainerExited, ContainerNotReady, DockerbuildError

if TYPE_CHECKING:
    from docker.models.containers import Container as DockerContainer
    from docker.models.networks import Network as DockerNetwork

    from pytest_dockerbuild.build.builder import BuildResult
    from pytest_dockerbuild.engine.client import Engine
    from pytest_dockerbuild.image.image import Image

__all__ = ["Container", "Healthy", "HttpReady", "LogReady", "Network", "Runtime", "engine_host"]

LOG_TAIL = 40


def engine_host() -> str:
    """Where published ports of the engine's containers are reached from here:
    127.0.0.1 for a local engine, the host of ``DOCKER_HOST`` for a remote one."""
    url = urlparse(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    if url.scheme in ("tcp", "http", "https", "ssh") and url.hostname:
        return "127.0.0.1" if url.hostname == "localhost" else url.hostname
    return "127.0.0.1"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# -- readiness ---------------------------------------------------------------------
class Readiness(Protocol):
    """One probe of a readiness wait: None when ready, else why not yet."""

    def probe(self, container: Container) -> str | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class HttpReady:
    """Ready when ``GET path`` on the published ``port`` answers ``status`` (a full
    HTTP response: an open port alone is not readiness)."""

    path: str = "/"
    status: int | Sequence[int] = 200
    port: int | None = None

    def probe(self, container: Container) -> str | None:
        expected = {self.status} if isinstance(self.status, int) else set(self.status)
        url = container.url(self.path, self.port)
        try:
            response = requests.get(url, timeout=1.0)
        except requests.RequestException as error:
            return f"GET {url}: {type(error).__name__}"
        if response.status_code in expected:
            return None
        return f"GET {url} answered {response.status_code}: {response.text[:200]!r}"

    def describe(self) -> str:
        return f"HTTP {self.status} on {self.path}" + (f" (port {self.port})" if self.port else "")


@dataclass(frozen=True)
class LogReady:
    """Ready when the container's output matches the regex ``pattern``."""

    pattern: str

    def probe(self, container: Container) -> str | None:
        return None if re.search(self.pattern, container.logs(), re.MULTILINE) else "no matching log line yet"

    def describe(self) -> str:
        return f"a log line matching {self.pattern!r}"


@dataclass(frozen=True)
class Healthy:
    """Ready when the image's HEALTHCHECK reports ``healthy``."""

    def probe(self, container: Container) -> str | None:
        health = (container.attrs.get("State") or {}).get("Health")
        if health is None:
            raise ContainerError(container.name, "the image has no HEALTHCHECK to wait for", container.logs())
        if health.get("Status") == "healthy":
            return None
        last = (health.get("Log") or [{}])[-1]
        output = str(last.get("Output", ""))[:200]
        return f"health {health.get('Status')!r}, last check: exit {last.get('ExitCode')} {output!r}"

    def describe(self) -> str:
        return "HEALTHCHECK status 'healthy'"


# -- containers ----------------------------------------------------------------------
class Container:
    """A running container started by the plugin (labelled, removed at teardown).

    Implements testcontainers' ``WaitStrategyTarget`` protocol, so any of its
    wait strategies works with :meth:`wait`.
    """

    def __init__(self, wrapped: DockerContainer, network: Network | None, aliases: Sequence[str], host: str) -> None:
        self._wrapped = wrapped
        self.network = network
        self.aliases = list(aliases)
        self.host = host
        self._http: requests.Session | None = None

    # identity and state
    @property
    def name(self) -> str:
        return str(self._wrapped.name)

    @property
    def id(self) -> str:
        return str(self._wrapped.id)

    @property
    def attrs(self) -> dict[str, Any]:
        return self._wrapped.attrs  # type: ignore[no-any-return]

    @property
    def status(self) -> str:
        return str(self._wrapped.status)

    @property
    def exit_code(self) -> int | None:
        state = self.attrs.get("State") or {}
        return None if state.get("Running") else state.get("ExitCode")

    def reload(self) -> None:
        self._wrapped.reload()

    def logs(self, tail: int | None = None) -> str:
        """stdout and stderr, interleaved as the container wrote them."""
        try:
            raw = self._wrapped.logs(tail=tail if tail is not None else "all")
        except docker.errors.APIError:
            return ""
        return raw.decode("utf-8", errors="replace")  # type: ignore[no-any-return]

    # ports and HTTP
    def port(self, container_port: int | None = None) -> int:
        """The host port published for ``container_port`` (default: the only published one)."""
        ports = self.attrs.get("NetworkSettings", {}).get("Ports") or {}
        published = {key: value for key, value in ports.items() if value}
        if container_port is None:
            if len(published) != 1:
                raise ContainerError(
                    self.name, f"say which port: it publishes {sorted(published) or 'none'}", self.logs(LOG_TAIL)
                )
            key = next(iter(published))
        else:
            key = f"{container_port}/tcp"
        if key not in published:
            raise ContainerError(
                self.name, f"port {key} is not published (published: {sorted(published) or 'none'})", ""
            )
        return int(published[key][0]["HostPort"])

    def url(self, path: str = "/", port: int | None = None) -> str:
        """``http://<engine host>:<published port><path>``."""
        return f"http://{self.host}:{self.port(port)}/{path.lstrip('/')}"

    @property
    def http(self) -> requests.Session:
        """A requests session whose relative URLs go to the published port:
        ``container.http.get("/stats")``."""
        if self._http is None:
            self._http = _BaseUrlSession(self.url("/"))
        return self._http

    # waiting
    def wait(self, *conditions: Readiness | Any, timeout: float = 60.0, interval: float = 0.2) -> None:
        """Wait until every condition holds; fail at once, with the logs, if the container exits.

        Conditions are :class:`HttpReady`, :class:`LogReady`, :class:`Healthy`, or
        testcontainers wait strategies (run as they are, with their own timeouts).
        """
        pending = [c for c in conditions if hasattr(c, "probe")]
        strategies: list[Any] = [c for c in conditions if not hasattr(c, "probe")]
        for strategy in strategies:
            try:
                strategy.wait_until_ready(self)
            except Exception as error:  # their TimeoutError and friends
                raise ContainerNotReady(self.name, type(strategy).__name__, str(error), self.logs(LOG_TAIL)) from None
        deadline = time.monotonic() + timeout
        why = "not checked yet"
        while pending:
            self.reload()
            if self.status in ("exited", "dead"):
                raise ContainerExited(self.name, self.attrs["State"].get("ExitCode"), self.logs(LOG_TAIL))
            for condition in list(pending):
                why = condition.probe(self) or ""
                if not why:
                    pending.remove(condition)
            if not pending:
                return
            if time.monotonic() > deadline:
                what = " and ".join(c.describe() for c in pending)
                raise ContainerNotReady(self.name, what, f"{why} (after {timeout:.0f} s)", self.logs(LOG_TAIL))
            time.sleep(interval)

    # testcontainers' WaitStrategyTarget protocol
    def get_container_host_ip(self) -> str:
        return self.host

    def get_exposed_port(self, port: int) -> int:
        return self.port(port)

    def get_wrapped_container(self) -> DockerContainer:
        return self._wrapped

    def get_logs(self) -> tuple[bytes, bytes]:
        return (
            self._wrapped.logs(stdout=True, stderr=False),
            self._wrapped.logs(stdout=False, stderr=True),
        )

    # running commands
    def exec(self, command: str | Sequence[str]) -> tuple[int, str]:
        """Run a command in the container: (exit code, output)."""
        code, output = self._wrapped.exec_run(command)
        return int(code), output.decode("utf-8", errors="replace")

    def remove(self) -> None:
        if self._http is not None:
            self._http.close()
        try:
            self._wrapped.remove(force=True, v=True)
        except (docker.errors.NotFound, requests.ConnectionError):
            pass  # gone already, or the engine is: the next run's sweep removes it

    def __repr__(self) -> str:
        return f"<Container {self.name} aliases={self.aliases}>"


class _BaseUrlSession(requests.Session):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        if not re.match(r"^https?://", text):
            text = f"{self.base}/{text.lstrip('/')}"
        kwargs.setdefault("timeout", 10)
        return super().request(method, text, *args, **kwargs)


# -- networks -------------------------------------------------------------------------
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
        self.host = engine_host()
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
        reference = _image_id(image)
        alias_list = list(aliases)
        hint = name or (alias_list[0] if alias_list else reference.split("/")[-1].split(":")[0])
        create: dict[str, Any] = {
            "name": self.engine.resource_name(hint),
            "environment": dict(env or {}),
            "ports": {f"{port}/tcp": (self.publish_address, None) for port in ports},
            "labels": self.engine.labels(),
            "detach": True,
            **options,
        }
        if command is not None:
            create["command"] = command
        if network is not None:
            create["network"] = network.name
            create["networking_config"] = {
                network.name: self.engine.client.api.create_endpoint_config(aliases=alias_list)
            }
        try:
            wrapped = self.engine.client.containers.create(reference, **create)
        except docker.errors.ImageNotFound:
            raise ContainerError(hint, f"image {reference!r} is not in the engine (nothing is pulled)", "") from None
        except docker.errors.APIError as error:
            raise ContainerError(hint, f"cannot create a container of {reference!r}: {error.explanation}", "") from None
        container = Container(wrapped, network, alias_list, self.host)
        self.containers.append(container)
        if network is not None:
            network.containers.append(container)
        for listener in self._listeners:
            listener(container)
        try:
            wrapped.start()
        except docker.errors.APIError as error:
            raise ContainerError(container.name, f"cannot start: {error.explanation}", container.logs()) from None
        container.reload()
        conditions = (
            [] if wait is None else [wait] if hasattr(wait, "probe") or not isinstance(wait, Sequence) else list(wait)
        )
        if conditions:
            container.wait(*conditions, timeout=timeout)
        return container


def _image_id(image: str | Image | BuildResult) -> str:
    if isinstance(image, str):
        return image
    inner: Any = getattr(image, "image", image)
    return str(inner.id)
