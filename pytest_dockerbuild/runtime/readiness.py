"""What a readiness wait waits for: the :class:`Readiness` protocol (one probe, and what it
waits for in words) and its conditions :class:`HttpReady`, :class:`LogReady` and
:class:`Healthy`.  :meth:`Container.wait <pytest_dockerbuild.runtime.containers.Container.wait>`
runs them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import requests

from pytest_dockerbuild.errors import ContainerError

if TYPE_CHECKING:
    from pytest_dockerbuild.runtime.containers import Container

__all__ = ["Healthy", "HttpReady", "LogReady", "Readiness"]


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
        except requests.ConnectionError as error:
            return f"GET {url}: {type(error).__name__}; {container.unanswered(self.port)}"
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
    """Ready when the container's health check (the image's HEALTHCHECK, or run()'s
    ``healthcheck``) reports ``healthy``."""

    def probe(self, container: Container) -> str | None:
        health = (container.attrs.get("State") or {}).get("Health")
        if health is None or health.get("Status") == "":  # Podman's answer without a check
            test = ((container.attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test")
            why = "it was run with healthcheck='none'" if test == ["NONE"] else "the image has no HEALTHCHECK"
            raise ContainerError(
                container.name,
                f"no health check to wait for: {why}; give run() healthcheck={{'test': ...}} or another wait",
                container.logs(),
            )
        if health.get("Status") == "healthy":
            return None
        last = (health.get("Log") or [{}])[-1]
        output = str(last.get("Output", ""))[:200]
        return f"health {health.get('Status')!r}, last check: exit {last.get('ExitCode')} {output!r}"

    def describe(self) -> str:
        return "HEALTHCHECK status 'healthy'"
