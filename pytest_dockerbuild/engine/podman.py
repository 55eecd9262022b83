"""Podman behind ``DOCKER_HOST``: ``podman system service`` answers the Docker API, and
the plugin works through it as far as Podman allows.

What works: builds with the classic backend (the compat ``/build`` endpoint, which runs
Buildah; its log is parsed as well as the engine's), image inspection and export (``docker
save``'s endpoint), contracts' file and metadata tests, and containers once the service
can start them (see :data:`RLIMIT_ADVICE`).  What does not: BuildKit (``docker buildx``
needs a BuildKit the engine runs; Podman has none), which is refused with one
:class:`~pytest_dockerbuild.errors.BackendUnavailable` saying so.

The functions here take what the engine answered (``/version``), so that the rest of the
plugin only asks :func:`is_podman` and calls the hook it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_dockerbuild.errors import BackendUnavailable

__all__ = ["ENGINE_NAME", "RLIMIT_ADVICE", "backend_for", "engine_name", "explain_start", "is_podman", "stable_id"]

ENGINE_NAME = "Podman Engine"  #: the component ``/version`` names on Podman

#: why containers may not start on a Podman service, and what to do about it
RLIMIT_ADVICE = (
    "the engine is Podman, and its OCI runtime could not set the container's resource limits: Podman asks "
    "for more open files and processes (nofile, nproc) than the service itself may have, and raising a hard "
    "limit needs CAP_SYS_RESOURCE. Set default_ulimits in the service's containers.conf (CONTAINERS_CONF) to "
    'at most the service\'s own limits (e.g. ["nofile=20000:20000", "nproc=32768:32768"]; `cat '
    "/proc/<service pid>/limits`), or pass ulimits= to run(); on cgroups v1 or hybrid hosts use runtime "
    '"runc" (crun refuses hybrid cgroups)'
)


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
            "buildkit", "the engine is Podman, which runs no BuildKit for `docker buildx build` (buildx would try "
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
