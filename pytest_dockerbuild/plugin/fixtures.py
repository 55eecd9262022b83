"""The plugin's fixtures: the engine, the builder, the runtime, and networks per
test, module and session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_dockerbuild.build import Builder
from pytest_dockerbuild.compose import Stacks
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.plugin.session import Session
from pytest_dockerbuild.runtime import Network, Runtime

__all__ = [
    "dockerbuild",
    "dockerbuild_compose",
    "dockerbuild_engine",
    "dockerbuild_module_compose",
    "dockerbuild_module_network",
    "dockerbuild_network",
    "dockerbuild_runtime",
    "dockerbuild_session_compose",
    "dockerbuild_session_network",
]


@pytest.fixture(scope="session")
def dockerbuild_engine(pytestconfig: pytest.Config) -> Engine:
    """The Docker Engine connection of this run (docker SDK client as ``.client``).

    Skips the test when no engine answers, or fails it when ``CI`` is set or
    ``dockerbuild_require_engine = true``.
    """
    return Session.of(pytestconfig).engine_or_skip()


@pytest.fixture(scope="session")
def dockerbuild(pytestconfig: pytest.Config, dockerbuild_engine: Engine) -> Builder:
    """Build Dockerfiles and their stages: ``dockerbuild.build(context, target=...)``.

    Results are cached per content key for the session; ``expect_failure``
    asserts that a build fails (in a given stage); ``image(ref)`` inspects any image.
    Under pytest-xdist, each image is built once per run, by the first worker that needs it.
    """
    return Session.of(pytestconfig).builder()


@pytest.fixture(scope="session")
def dockerbuild_runtime(pytestconfig: pytest.Config, dockerbuild_engine: Engine) -> Runtime:
    """Start containers and networks: ``dockerbuild_runtime.network("app")``,
    ``dockerbuild_runtime.run(image, ports=[80], wait=HttpReady("/health"))``.

    Everything it creates is labelled with the run id and removed at the end of
    the run at the latest (or by the next run, if this one is killed).
    """
    return Session.of(pytestconfig).runtime()


def _network(request: pytest.FixtureRequest, runtime: Runtime) -> Iterator[Network]:
    network = runtime.network(request.node.name)
    try:
        yield network
    finally:
        network.remove()


@pytest.fixture
def dockerbuild_network(request: pytest.FixtureRequest, dockerbuild_runtime: Runtime) -> Iterator[Network]:
    """A user-defined bridge network for one test; its containers reach each other by alias:
    ``dockerbuild_network.run(image, aliases=["api"], ports=[80])``."""
    yield from _network(request, dockerbuild_runtime)


@pytest.fixture(scope="module")
def dockerbuild_module_network(request: pytest.FixtureRequest, dockerbuild_runtime: Runtime) -> Iterator[Network]:
    """Like ``dockerbuild_network``, shared by the tests of a module."""
    yield from _network(request, dockerbuild_runtime)


@pytest.fixture(scope="session")
def dockerbuild_session_network(request: pytest.FixtureRequest, dockerbuild_runtime: Runtime) -> Iterator[Network]:
    """Like ``dockerbuild_network``, shared by the whole run."""
    yield from _network(request, dockerbuild_runtime)


def _compose(request: pytest.FixtureRequest, builder: Builder, runtime: Runtime) -> Iterator[Stacks]:
    session = Session.of(request.config)
    stacks = Stacks(runtime, builder, lambda: session.current.path.parent if session.current is not None else None)
    try:
        yield stacks
    finally:
        stacks.down()


@pytest.fixture
def dockerbuild_compose(
    request: pytest.FixtureRequest, dockerbuild: Builder, dockerbuild_runtime: Runtime
) -> Iterator[Stacks]:
    """Bring up a Compose file's services for one test: ``stack = dockerbuild_compose("compose.yaml")``,
    then ``stack["web"].http.get("/")``; builds go through ``dockerbuild``, ports to random
    loopback ports, and everything is taken down at the end of the test."""
    yield from _compose(request, dockerbuild, dockerbuild_runtime)


@pytest.fixture(scope="module")
def dockerbuild_module_compose(
    request: pytest.FixtureRequest, dockerbuild: Builder, dockerbuild_runtime: Runtime
) -> Iterator[Stacks]:
    """Like ``dockerbuild_compose``, its stacks shared by the tests of a module."""
    yield from _compose(request, dockerbuild, dockerbuild_runtime)


@pytest.fixture(scope="session")
def dockerbuild_session_compose(
    request: pytest.FixtureRequest, dockerbuild: Builder, dockerbuild_runtime: Runtime
) -> Iterator[Stacks]:
    """Like ``dockerbuild_compose``, its stacks shared by the whole run."""
    yield from _compose(request, dockerbuild, dockerbuild_runtime)
