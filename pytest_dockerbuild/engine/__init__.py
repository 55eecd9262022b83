"""The Docker Engine: the connection of a run (:mod:`~pytest_dockerbuild.engine.client`),
every label, name and tag the plugin uses (:mod:`~pytest_dockerbuild.engine.naming`),
the journals of what it makes (:mod:`~pytest_dockerbuild.engine.ledger`), and the
clean-up (:mod:`~pytest_dockerbuild.engine.imagestore`, :mod:`~pytest_dockerbuild.engine.cleanup`), and
what differs on Podman's Docker-compatible service (:mod:`~pytest_dockerbuild.engine.podman`)."""

from pytest_dockerbuild.engine.cleanup import Cleanup, PruneReport
from pytest_dockerbuild.engine.client import Engine, EngineInfo, endpoint, published_host

__all__ = ["Cleanup", "Engine", "EngineInfo", "PruneReport", "endpoint", "published_host"]
