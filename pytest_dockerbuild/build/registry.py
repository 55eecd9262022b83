"""The builder backends, and the one place that picks one.

Adding a backend is one module that implements
:class:`~pytest_dockerbuild.build.backend.Backend` and one line here; its name
becomes a choice of ``--dockerbuild-backend`` and of ``backend=``.
"""

from __future__ import annotations

from pytest_dockerbuild.build.backend import Backend
from pytest_dockerbuild.build.buildkit import BuildkitBackend
from pytest_dockerbuild.build.classic import ClassicBackend
from pytest_dockerbuild.errors import BackendUnavailable

__all__ = ["AUTO", "BACKENDS", "choices", "select"]

AUTO = "auto"  #: the first backend, in the order of :data:`BACKENDS`, that works here

#: the backends by name, in the order ``auto`` tries them
BACKENDS: dict[str, Backend] = {
    BuildkitBackend.name: BuildkitBackend(),
    ClassicBackend.name: ClassicBackend(),
}


def choices() -> list[str]:
    """What ``--dockerbuild-backend`` and ``backend=`` accept."""
    return [AUTO, *BACKENDS]


def select(name: str) -> Backend:
    """The backend called ``name`` (or the first that works, for ``auto``).

    :raises BackendUnavailable: no backend has that name, or it cannot work here (and why).
    """
    if name == AUTO:
        reasons = {}
        for backend in BACKENDS.values():
            reason = reasons[backend.name] = backend.unavailable()
            if reason is None:
                return backend
        raise BackendUnavailable(AUTO, "; ".join(f"{n}: {r}" for n, r in reasons.items()))
    if name not in BACKENDS:
        raise BackendUnavailable(name, f"there is no such backend; use one of {', '.join(choices())}")
    backend = BACKENDS[name]
    reason = backend.unavailable()
    if reason is not None:
        raise BackendUnavailable(name, reason)
    return backend
