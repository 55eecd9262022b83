"""A container the plugin started (:class:`Container`): its state, logs, published ports,
an HTTP session on them, readiness waits that notice a dead container, ``exec``; and
:func:`remove_container`, the one way the plugin removes a container.

:class:`Container` implements testcontainers' ``WaitStrategyTarget`` protocol, so their
wait strategies can be passed to :meth:`Container.wait`.  Containers are made by
:class:`~pytest_dockerbuild.runtime.runtime.Runtime`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any

import docker.errors
import requests

from pytest_dockerbuild.errors import ContainerError, ContainerExited, ContainerNotReady

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container as DockerContainer

    from pytest_dockerbuild.runtime.readiness import Readiness
    from pytest_dockerbuild.runtime.runtime import Network

__all__ = ["LOG_TAIL", "Container", "remove_all", "remove_container"]

LOG_TAIL = 40  #: lines of a container's log an error shows


def remove_container(api: docker.APIClient, container: str) -> None:
    """Remove a container and its anonymous volumes, quietly: a container that is gone
    already, or an engine that no longer answers, is no error (the next run's sweep
    removes what is left)."""
    try:
        api.remove_container(container, force=True, v=True)
    except (docker.errors.APIError, requests.ConnectionError):
        pass


def remove_all(containers: Sequence[Container]) -> None:
    """Remove containers concurrently (the engine stops and unmounts each in its own time)."""
    if len(containers) < 2:
        for container in containers:
            container.remove()
        return
    with ThreadPoolExecutor(max_workers=min(8, len(containers))) as pool:
        list(pool.map(Container.remove, containers))


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
        published = self._published()
        if container_port is None:
            if len(published) != 1:
                raise ContainerError(
                    self.name, f"say which port: it publishes {sorted(published) or 'none'}", self.logs(LOG_TAIL)
                )
            key = next(iter(published))
        else:
            key = f"{container_port}/tcp"
        if key not in published:
            exposed = f"; the image exposes {', '.join(self.image_ports) or 'no port'}"
            raise ContainerError(
                self.name,
                f"port {key} is not published (published: {sorted(published) or 'none'}{exposed}); "
                f"publish it with ports=[{key.split('/')[0]}]",
                "",
            )
        return int(published[key][0]["HostPort"])

    def url(self, path: str = "/", port: int | None = None) -> str:
        """``http://<engine host>:<published port><path>``."""
        return f"http://{self.host}:{self.port(port)}/{path.lstrip('/')}"

    @cached_property
    def image_ports(self) -> list[str]:
        """The ports its image EXPOSEs, e.g. ``["8000/tcp"]`` (from the image's config)."""
        try:
            config = self._wrapped.client.api.inspect_image(self.attrs["Image"]).get("Config") or {}
        except docker.errors.APIError:
            return []
        return sorted(config.get("ExposedPorts") or {}, key=_port_order)

    def unanswered(self, container_port: int | None = None) -> str:
        """Why nothing may answer on a published port, and what to do: the image's exposed ports
        against the published ones."""
        published = sorted(self._published(), key=_port_order)
        key = f"{container_port}/tcp" if container_port is not None else (published[0] if published else "?")
        said = f"nothing answered on container port {key.removesuffix('/tcp')}"
        if not self.image_ports:
            return f"{said}; the image exposes no port (no EXPOSE): check which port the server listens on"
        if key in self.image_ports:
            return (
                f"{said} (the image exposes it): the server is not listening yet, or listens on another port, "
                "or on 127.0.0.1 only inside the container"
            )
        missing = [p.removesuffix("/tcp") for p in self.image_ports if p.endswith("/tcp") and p not in published]
        advice = f"publish that port (ports=[{missing[0]}])" if len(missing) == 1 else ""
        if len(missing) > 1:
            advice = f"publish the one it serves on (ports=[{', '.join(missing)}])"
        elif not missing:
            advice = "it is published too: ask for it (HttpReady(port=...), url(port=...))"
        return "; ".join(part for part in (said, f"the image exposes {', '.join(self.image_ports)}", advice) if part)

    @property
    def http(self) -> requests.Session:
        """A requests session whose relative URLs go to the published port:
        ``container.http.get("/stats")``."""
        if self._http is None:
            self._http = _BaseUrlSession(self.url("/"), self.unanswered)
        return self._http

    def _published(self) -> dict[str, Any]:
        ports = self.attrs.get("NetworkSettings", {}).get("Ports") or {}
        return {key: value for key, value in ports.items() if value}

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
        """Remove it (and its anonymous volumes), quietly (see :func:`remove_container`)."""
        if self._http is not None:
            self._http.close()
        remove_container(self._wrapped.client.api, self.id)

    def __repr__(self) -> str:
        return f"<Container {self.name} aliases={self.aliases}>"


class _BaseUrlSession(requests.Session):
    def __init__(self, base: str, unanswered: Callable[[], str]) -> None:
        super().__init__()
        self.base = base.rstrip("/")
        self._unanswered = unanswered

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        if not re.match(r"^https?://", text):
            text = f"{self.base}/{text.lstrip('/')}"
        kwargs.setdefault("timeout", 10)
        try:
            return super().request(method, text, *args, **kwargs)
        except requests.ConnectionError as error:
            if not text.startswith(self.base + "/"):
                raise
            shown = method.decode() if isinstance(method, bytes) else method
            raise requests.ConnectionError(
                f"{shown.upper()} {text}: {self._unanswered()}; requests said: {error}",
                request=error.request,
                response=error.response,
            ) from error


def _port_order(port: str) -> tuple[int, str]:
    number, _, protocol = port.partition("/")
    return (int(number) if number.isdigit() else 0, protocol)
