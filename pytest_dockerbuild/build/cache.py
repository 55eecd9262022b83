"""Where the outcome of a build is found again instead of building: this session,
the other pytest-xdist workers of this run, and an image an earlier run built.

A failure is found again only in this session and run (a new run tries again:
builds are not deterministic); an earlier run's image is found by the tag of
its content key.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import docker.errors
from filelock import FileLock

from pytest_dockerbuild.build.model import BuildResult
from pytest_dockerbuild.errors import DockerbuildError

if TYPE_CHECKING:
    from pytest_dockerbuild.engine.client import Engine

__all__ = ["BuildCache", "ImageShare", "Outcome"]

Outcome: TypeAlias = "BuildResult | DockerbuildError"


class ImageShare(Protocol):
    """How an image built on one engine reaches the others (:class:`~pytest_dockerbuild.engine.pool.RegistryShare`)."""

    def publish(self, image_id: str, key: str) -> str: ...

    def fetch(self, reference: str) -> str: ...


class BuildCache:
    """The session's outcomes by content key, the run's shared records, and earlier runs' images."""

    def __init__(self, engine: Engine, shared_dir: Path | None = None) -> None:
        self.engine = engine
        #: where the pytest-xdist workers of one run share outcomes (a lock and a record per key)
        self.shared_dir = shared_dir
        self._session: dict[str, Outcome] = {}
        self._producing: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: with many engines (``--dockerbuild-engines``): how a built image reaches the others
        self.share: ImageShare | None = None

    @contextmanager
    def producing(self, key: str) -> Iterator[None]:
        """One thread of this process at a time finds or produces the outcome of ``key``: a call
        for an image a prebuild is building waits for that build, then finds its outcome."""
        with self._guard:
            lock = self._producing.setdefault(key, threading.Lock())
        with lock:
            yield

    def in_session(self, key: str) -> Outcome | None:
        return self._session.get(key)

    def remember(self, key: str, outcome: Outcome) -> None:
        self._session[key] = outcome

    def shared(
        self, key: str, read: bool, produce: Callable[[], Outcome], adopt: Callable[[dict[str, Any]], Outcome]
    ) -> Outcome:
        """Once per run across pytest-xdist workers: the first worker produces the outcome under a
        file lock and leaves a record, which the others ``adopt`` (unless not ``read``: then they
        produce their own, and leave its record)."""
        if self.shared_dir is None:
            return produce()
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        record = self.shared_dir / f"{key}.pickle"
        with FileLock(str(self.shared_dir / f"{key}.lock")):
            if read and record.exists():
                saved = pickle.loads(record.read_bytes())
                if self.share is not None and "pushed" in saved:
                    self.share.fetch(saved["pushed"])
                return adopt(saved)
            outcome = produce()
            written = _record_of(outcome)
            if self.share is not None and isinstance(outcome, BuildResult):
                written["pushed"] = self.share.publish(outcome.image.id, key)
            partial = record.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(pickle.dumps(written))
            partial.replace(record)
            return outcome

    def earlier_image(self, tag: str) -> str | None:
        """The id of the image under ``tag`` (an earlier run's build of a content key), if any."""
        self.engine.journal.uses(tag)  # before the look-up: a prune by a run in parallel keeps it
        try:
            image_id = str(self.engine.client.api.inspect_image(tag)["Id"])
        except docker.errors.APIError:
            return None
        return image_id if self.engine.use(image_id) else None  # gone since the look-up: build again


def _record_of(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, BuildResult):
        return {"image": outcome.image.id, "backend": outcome.backend, "stages": outcome.stages,
                "log": outcome.log, "seconds": outcome.seconds, "reused": outcome.reused}  # fmt: skip
    return {"error": outcome}
