"""Podman behind ``DOCKER_HOST``: ``podman system service`` answers the Docker API, and
the plugin works through it as far as Podman allows.

What works: builds with the classic backend (the compat ``/build`` endpoint, which runs
Buildah; its log is parsed as well as the engine's), image inspection and export (``docker
save``'s endpoint), contracts' file and metadata tests, and containers once the service
can start them (see :data:`RLIMIT_ADVICE`).  What does not: BuildKit (``docker buildx``
needs a BuildKit the engine runs; Podman has none), which is refused with one
:class:`~pytest_dockerbuild.errors.BackendUnavailable` saying so.

Health checks: Podman runs them from systemd timers, and where there is no systemd (a
container, a CI machine) they never run, so a container stays ``starting`` for ever.
:class:`HealthChecks` runs the due checks of the process's containers through Podman's
own endpoint (``podman healthcheck run``), and leaves a container to Podman once it sees
checks it did not run.  Podman's compat API also splits a ``CMD`` check's arguments at
spaces (``["CMD", "sh", "-c", "a b"]`` runs ``sh -c a``): :func:`podman_healthcheck` sends such
a check in the shell form, which keeps its meaning.

The functions here take what the engine answered (``/version``), so that the rest of the
plugin only asks :func:`is_podman` and calls the hook it needs.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from pytest_dockerbuild.errors import BackendUnavailable

__all__ = [
    "ENGINE_NAME",
    "NO_BUILDKIT",
    "RLIMIT_ADVICE",
    "HealthChecks",
    "backend_for",
    "engine_name",
    "explain_start",
    "is_podman",
    "podman_healthcheck",
    "podman_version",
    "stable_id",
]

ENGINE_NAME = "Podman Engine"  #: the component ``/version`` names on Podman

#: why containers may not start on a Podman service, and what to do about it
RLIMIT_ADVICE = (
    "the engine is Podman, and its OCI runtime could not set the container's resource limits: Podman asks "
    "for more open files and processes (nofile, nproc) than the service itself may have, and raising a hard "
    "limit needs CAP_SYS_RESOURCE. Set default_ulimits in the service's containers.conf (CONTAINERS_CONF) to "
    'at most the service\'s own limits (e.g. ["nofile=20000:20000", "nproc=32768:32768"]; `cat '
    "/proc/<service pid>/limits`), or give the container lower limits (ulimits= of run(), ulimits: of a "
    'Compose service); on cgroups v1 or hybrid hosts use runtime "runc" (crun refuses hybrid cgroups)'
)

#: why a BuildKit build cannot run on Podman
NO_BUILDKIT = "the engine is Podman, which runs no BuildKit"


def is_podman(version: Mapping[str, Any]) -> bool:
    """True if the engine's ``/version`` answer names Podman among its components."""
    components = version.get("Components") or []
    return any(isinstance(c, Mapping) and c.get("Name") == ENGINE_NAME for c in components)


def engine_name(version: Mapping[str, Any]) -> str:
    """``Podman Engine`` or ``Docker Engine``, as the report header names the engine."""
    return ENGINE_NAME if is_podman(version) else "Docker Engine"


def stable_id(info: Mapping[str, Any]) -> str:
    """An id of the engine that stays the same across connections: Podman's ``/info`` answers a new
    random ``ID`` on every call, so the host name and the store's folder stand for it (the
    plugin's journals of what each run made are kept per engine)."""
    name, root = info.get("Name"), info.get("DockerRootDir")
    return f"podman:{name}:{root}" if name and root else ""


def backend_for(requested: str, podman: bool) -> str:
    """The backend to use on this engine: ``auto`` is the classic builder on Podman, and BuildKit
    there is one clear error (the names of other engines pass unchanged)."""
    if not podman:
        return requested
    if requested == "auto":
        return "classic"
    if requested == "buildkit":
        raise BackendUnavailable(
            "buildkit", f"{NO_BUILDKIT} for `docker buildx build` (buildx would try "
            "to start a moby/buildkit container, which cannot be pulled here); build with the classic backend "
            "(backend='classic', --dockerbuild-backend=classic: Podman's compat build endpoint, Buildah), or "
            "point DOCKER_HOST at a Docker Engine for BuildKit-only options (secrets, ssh, build_contexts)",
        )  # fmt: skip
    return requested


def explain_start(explanation: str, podman: bool) -> str:
    """The engine's reason a container did not start, with :data:`RLIMIT_ADVICE` when it is
    Podman's rlimit problem."""
    lowered = explanation.lower()
    if podman and "rlimit" in lowered and "not permitted" in lowered:
        return f"{explanation.strip()}\n{RLIMIT_ADVICE}"
    return explanation


def podman_version(version: Mapping[str, Any]) -> str:
    """Podman's own version (``4.3.1``), from the engine's ``/version`` answer: the prefix of
    its ``libpod`` endpoints."""
    for component in version.get("Components") or []:
        if isinstance(component, Mapping) and component.get("Name") == ENGINE_NAME:
            return str(component.get("Version"))
    return str(version.get("Version"))


def podman_healthcheck(check: Mapping[str, Any]) -> Mapping[str, Any]:
    """A health check (``{"test": [...], ...}``, as Compose and the SDK write it) in the form
    Podman's compat API keeps the meaning of: a ``CMD`` test with an argument that holds a space,
    or is empty, becomes the shell form, its arguments quoted (it then needs ``/bin/sh`` in the
    image, as every shell-form check does); anything else is returned unchanged."""
    test = check.get("test")
    if not isinstance(test, list) or test[:1] != ["CMD"]:
        return check
    items = [str(item) for item in test[1:]]
    if not any(not item or any(char.isspace() for char in item) for item in items):
        return check
    return {**check, "test": ["CMD-SHELL", shlex.join(items)]}


POLL = 0.5  #: seconds between two looks at the running containers
DEFAULT_INTERVAL = 30.0  #: seconds between checks, and a check's timeout, when it names none (as both engines)
START_INTERVAL = 5.0  #: seconds between checks during a start period, when the check names none (Docker 25)


@dataclass
class _Record:
    """What this process knows of one container's checks (shared by its runners)."""

    seen: float  #: when it was first seen running (monotonic)
    due: float  #: when its next check is due
    last: str = ""  #: when the last check this process ran ended
    before: str | None = None  #: while a check it ran has not ended: the last end before it
    ran_at: float = 0.0  #: when it ran that check
    left: bool = False  #: no check, or Podman's timers run them: never looked at again


_RECORDS: dict[str, _Record] = {}  #: container id -> its record, for every runner of the process
_RECORDS_LOCK = threading.Lock()


class HealthChecks:
    """Runs the health checks of running containers with ``label`` on Podman, in a daemon thread
    from :meth:`start` to :meth:`stop`: each check when due (its ``interval``; during its
    ``start_period``, every ``start_interval``; the first one that long after the container is
    first seen, as the Docker Engine does).  A container whose log shows a check no runner of
    this process ran is left to Podman's own timers.  Checks run one at a time, and Podman does
    not stop a check at its timeout (it reports it failed when it ends): a hanging check delays
    the others by its timeout."""

    def __init__(self, api: docker.APIClient, version: str, label: str) -> None:
        self.api = api  #: a connection of its own (the thread's)
        self.url = f"{api.base_url}/v{version}/libpod/containers/{{}}/healthcheck"
        self.filters = {"label": label, "status": "running"}
        self.ran: dict[str, int] = {}  #: container id -> how many checks this object ran
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pytest-dockerbuild-healthchecks", daemon=True)

    def start(self) -> HealthChecks:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.api.close()

    def _loop(self) -> None:
        while not self._stop.wait(POLL):
            try:
                running = [entry["Id"] for entry in self.api.containers(filters=self.filters)]
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                continue  # the engine going away: the run says so elsewhere
            for container in running:
                if self._stop.is_set():
                    return
                try:
                    self.check(container)
                except Exception:  # removed meanwhile, or anything else: the thread must go on
                    continue

    def check(self, container: str) -> bool:
        """Run ``container``'s check if it has one, it is due, and Podman does not run it; True if it ran."""
        with _RECORDS_LOCK:
            if container in _RECORDS and _RECORDS[container].left:
                return False
        attrs = self.api.inspect_container(container)
        config = (attrs.get("Config") or {}).get("Healthcheck") or {}
        end, now = _last_end(attrs), time.monotonic()
        timeout = _seconds(config, "Timeout", DEFAULT_INTERVAL) + 5
        with _RECORDS_LOCK:
            record = _RECORDS.setdefault(container, _Record(seen=now, due=now + _wait(config, 0.0)))
            if record.before is not None and (end != record.before or now > record.ran_at + 2 * timeout):
                record.last, record.before = end, None  # the check this process ran has ended (or never will)
            if (config.get("Test") or ["NONE"])[0] == "NONE" or (record.before is None and end != record.last):
                record.left = True  # no check, or a check no runner of this process ran: Podman's timers work
                return False
            if record.before is not None or now < record.due:
                return False
            record.due = now + _wait(config, now - record.seen)  # set first: a hanging check is not run again at once
            record.before, record.ran_at = end, now
        self.ran[container] = self.ran.get(container, 0) + 1
        try:
            answer = self.api.get(self.url.format(container), timeout=timeout)
        except requests.exceptions.ReadTimeout:
            return True  # past its timeout: Podman reports it when it ends, and the next look sees that
        except requests.exceptions.RequestException:
            answer = None
        if answer is None or answer.status_code not in (200, 500):  # it did not run (500: it failed)
            with _RECORDS_LOCK:
                record.before = None
        return True


def _seconds(config: Mapping[str, Any], key: str, default: float) -> float:
    return float(config.get(key) or default * 1e9) / 1e9


def _wait(config: Mapping[str, Any], age: float) -> float:
    """Seconds to the next check of a container ``age`` seconds after it was first seen."""
    interval = _seconds(config, "Interval", DEFAULT_INTERVAL)
    if age < _seconds(config, "StartPeriod", 0.0):
        return min(interval, _seconds(config, "StartInterval", START_INTERVAL))
    return interval


def _last_end(attrs: Mapping[str, Any]) -> str:
    """When the last check in a container's health log ended ('' before the first)."""
    log = ((attrs.get("State") or {}).get("Health") or {}).get("Log") or []
    return str(log[-1].get("End") or "") if log else ""
