"""Running images: containers on user-defined networks, with loopback ports, readiness
waits and an HTTP client; one-shot commands.

The modules, each importing at run time only those above it (and, of the rest of the package,
the errors and :func:`~pytest_dockerbuild.engine.client.published_host`; type hints aside):

- :mod:`~pytest_dockerbuild.runtime.readiness`: what a wait waits for (:class:`Readiness`,
  :class:`HttpReady`, :class:`LogReady`, :class:`Healthy`);
- :mod:`~pytest_dockerbuild.runtime.options`: the run options (:class:`RunOptions`: user,
  workdir, volumes, tmpfs, capabilities, limits, healthcheck, env files) as the docker SDK's
  create arguments, and the name a container gets from its image;
- :mod:`~pytest_dockerbuild.runtime.containers`: a started :class:`Container` (state, logs,
  ports, HTTP, waits, ``exec``) and the plugin's one way to remove a container;
- :mod:`~pytest_dockerbuild.runtime.oneshot`: a command run to its end (:class:`CompletedRun`);
- :mod:`~pytest_dockerbuild.runtime.runtime`: :class:`Runtime`, which names, labels, creates and
  starts containers, and user-defined networks (:class:`Network`).
"""

from pytest_dockerbuild.runtime.containers import Container
from pytest_dockerbuild.runtime.oneshot import CompletedRun
from pytest_dockerbuild.runtime.options import RunOptions
from pytest_dockerbuild.runtime.readiness import Healthy, HttpReady, LogReady, Readiness
from pytest_dockerbuild.runtime.runtime import Network, Runtime

__all__ = [
    "CompletedRun",
    "Container",
    "Healthy",
    "HttpReady",
    "LogReady",
    "Network",
    "Readiness",
    "RunOptions",
    "Runtime",
]
