"""What the plugin made on an engine, written down as it happens.

The plugin removes only what it can prove it made: an image under its own tag,
or an id it recorded here.  Each pytest process appends to a **journal** of its
own (JSON lines, flushed per line, so a killed process leaves it complete up
to the kill): the image ids its builds committed, the containers the classic
builder ran its steps in, and the images and tags its tests use.  At its end
the process removes its dangling leftovers and hands the ids of the images
that remain to the engine's **owned** list; a later run does the same for a
journal whose process is dead.  Journals of live processes protect what they
use from prune and from the clean-up of old tags.

A journal line is written only after the engine said it took an image from the
cache, so the ledger's **build lock** closes the gap: every build holds it
shared while it talks to the engine, and images are removed only under it held
exclusively (by no process while any build of this host is under way: a
clean-up that finds it taken leaves its removals to the next one).

Files live under ``~/.cache/pytest-dockerbuild/ledger/<engine id>/`` (see :func:`cache_home`).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, ReadWriteLock, Timeout

from pytest_dockerbuild.engine.process import ProcessId, current, mount_namespace
from pytest_dockerbuild.errors import DockerbuildError

__all__ = ["Journal", "JournalRecord", "Ledger", "cache_home"]


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/pytest-dockerbuild``, else ``.cache/pytest-dockerbuild`` in the user's home
    as the password database has it: one ledger per user, even for a pytest run with another
    ``$HOME`` (pytester's), since they share one engine."""
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "pytest-dockerbuild"
    try:
        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (KeyError, OSError):
        home = Path.home()
    return home / ".cache" / "pytest-dockerbuild"


@dataclass
class JournalRecord:
    """One journal as read back."""

    path: Path
    process: ProcessId | None = None  #: the process that wrote it
    run_id: str = ""
    created: list[str] = field(default_factory=list)  #: image ids (maybe short) its builds committed
    containers: list[str] = field(default_factory=list)  #: containers the classic builder ran steps in
    used: set[str] = field(default_factory=set)  #: image ids and tags its tests used or were about to
    abandoned: set[str] = field(default_factory=set)  #: created images of its failed builds (left to a clean-up)

    @property
    def alive(self) -> bool:
        """True unless its process is provably gone (see :attr:`ProcessId.alive`)."""
        return self.process is None or self.process.alive

    @classmethod
    def read(cls, path: Path) -> JournalRecord:
        record = cls(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return record
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            kind, value = event.get("event"), event.get("value")
            if kind == "start" and isinstance(value, dict):
                record.process = ProcessId.parse(str(value.get("process", "")))
                record.run_id = str(value.get("run", ""))
            elif kind == "created":
                record.created.append(str(value))
            elif kind == "container":
                record.containers.append(str(value))
            elif kind == "uses":
                record.used.add(str(value))
            elif kind == "abandoned":
                record.abandoned.add(str(value))
        return record


class Journal:
    """The journal of this process (created on its first event)."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.created: list[str] = []
        self.containers: list[str] = []
        self.used: set[str] = set()
        self._started = False

    def _write(self, event: str, value: object) -> None:
        try:
            if not self._started:
                self._started = True
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._write("start", {"process": str(current()), "run": self.run_id, "time": time.time()})
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"event": event, "value": value}) + "\n")
        except OSError:
            pass  # a read-only home: leftovers of a kill are then not found again

    def created_image(self, image_id: str) -> None:
        """An image a build of this process committed (not one it found in the cache)."""
        if image_id not in self.created:
            self.created.append(image_id)
            self._write("created", image_id)

    def step_container(self, container_id: str) -> None:
        """A container the classic builder runs a step of this process's build in."""
        self.containers.append(container_id)
        self._write("container", container_id)

    def abandon(self, image_ids: Iterable[str]) -> None:
        """Images its failed build committed that it left to a clean-up (a build was under way):
        no longer protected as this process's own (unless it uses them)."""
        for image_id in image_ids:
            self._write("abandoned", image_id)

    def uses(self, reference: str) -> None:
        """An image id or tag a test of this process uses, or is about to look up."""
        if reference not in self.used:
            self.used.add(reference)
            self._write("uses", reference)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


class Ledger:
    """The journals and the owned list of one engine."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_engine(cls, engine_id: str) -> Ledger:
        return cls(cache_home() / "ledger" / hashlib.sha256(engine_id.encode()).hexdigest()[:16])

    def journal(self, run_id: str) -> Journal:
        process = current()
        name = f"{process.host}-{process.namespace}-{process.pid}-{process.start or int(time.time())}.jsonl"
        return Journal(self.folder / "journals" / name, run_id)

    def journals(self) -> list[JournalRecord]:
        return [JournalRecord.read(path) for path in sorted((self.folder / "journals").glob("*.jsonl"))]

    def protected(self, exclude: Journal | None = None) -> set[str]:
        """Image ids and tags that live processes use (but the one writing ``exclude``)."""
        used: set[str] = set()
        for record in self.journals():
            if record.alive and (exclude is None or record.path != exclude.path):
                used |= record.used | (set(record.created) - record.abandoned)
        return used

    @contextmanager
    def building(self, patience: float = 900.0) -> Iterator[None]:
        """Hold the build lock shared while a build may take images from the engine's cache
        (until the journal holds them), waiting up to ``patience`` seconds for a removal."""
        lock = self._build_lock()
        if lock is None:
            yield  # no ledger here (a read-only home): no journal to protect either
            return
        try:
            lock.acquire_read(timeout=patience)
        except Timeout:
            lock.close()
            raise DockerbuildError(f"a clean-up held the build lock {lock.lock_file} for {patience:.0f} s; "
                                   "if no other pytest run is pruning, remove that file") from None  # fmt: skip
        try:
            yield
        finally:
            lock.release()
            lock.close()

    @contextmanager
    def removing(self, patience: float = 0.0) -> Iterator[bool]:
        """Hold the build lock exclusively: yields True when no build of this host is under way
        (within ``patience`` seconds), so images may be removed; False: remove none now."""
        lock = self._build_lock()
        held = False
        if lock is not None:
            try:
                lock.acquire_write(timeout=patience, blocking=patience > 0)
                held = True
            except Timeout:
                pass
        try:
            yield held
        finally:
            if lock is not None:
                if held:
                    lock.release()
                lock.close()

    def _build_lock(self) -> ReadWriteLock | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return ReadWriteLock(self.folder / "builds.lock", is_singleton=False)
        except (OSError, ValueError, sqlite3.Error):
            return None

    def remember_projects(self, contexts: Mapping[str, Path]) -> None:
        """Note where projects were built from (project id -> context folder), on this host and in
        this mount namespace: only such a folder can be found gone."""
        here = current()
        where = {"host": here.host, "mounts": mount_namespace(), "uid": os.getuid()}
        self._update_projects(lambda known: {**known, **{p: {**where, "context": str(c)} for p, c in contexts.items()}})

    def forget_projects(self, projects: Iterable[str]) -> None:
        gone = set(projects)
        self._update_projects(lambda known: {p: record for p, record in known.items() if p not in gone})

    def projects(self) -> dict[str, Path]:
        """The context folders of the projects built on this host, in this mount namespace."""
        here = current()
        mine = {"host": here.host, "mounts": mount_namespace(), "uid": os.getuid()}
        return {project: Path(record["context"]) for project, record in self._read_projects().items()
                if all(record.get(k) == v for k, v in mine.items())}  # fmt: skip

    def _read_projects(self) -> dict[str, dict[str, Any]]:
        try:
            known = json.loads((self.folder / "projects.json").read_text())
        except (OSError, ValueError):
            return {}
        return known if isinstance(known, dict) else {}

    def _update_projects(self, change: Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.folder / "projects.lock")):
                partial = self.folder / f"projects.{os.getpid()}.partial"
                partial.write_text(json.dumps(change(self._read_projects()), indent=1, sort_keys=True))
                partial.replace(self.folder / "projects.json")
        except OSError:
            pass

    def owned(self) -> set[str]:
        """Ids of images the plugin made (and that existed when they were last listed)."""
        try:
            return {line.strip() for line in (self.folder / "owned").read_text().splitlines() if line.strip()}
        except OSError:
            return set()

    def update_owned(self, add: Iterable[str] = (), keep_only: set[str] | None = None) -> None:
        """Add ids to the owned list; with ``keep_only``, drop the ids not in it (images gone)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.folder / "owned.lock")):
                owned = self.owned() | set(add)
                if keep_only is not None:
                    owned &= keep_only
                partial = self.folder / f"owned.{os.getpid()}.partial"
                partial.write_text("".join(f"{image}\n" for image in sorted(owned)))
                partial.replace(self.folder / "owned")
        except OSError:
            pass
