"""The clean-up policies: what a process removes at its end, what the next run
removes after a killed one, which old tags go, and what prune removes.

Containers and networks are removed by the run labels they carry; images only
as :mod:`~pytest_dockerbuild.engine.imagestore` allows (the plugin's own tags, ids
its journals recorded), and never what a live run uses.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors

from pytest_dockerbuild.engine.imagestore import (
    ImageIndex,
    find_leftovers,
    orphaned,
    remove_dangling,
    remove_leftovers_of,
    remove_tags,
    stale_tags,
    within,
)
from pytest_dockerbuild.engine.ledger import cache_home
from pytest_dockerbuild.engine.naming import LABEL_MANAGED, LABEL_OWNER, LABEL_RUN
from pytest_dockerbuild.engine.process import ProcessId
from pytest_dockerbuild.image.index import forget_except

if TYPE_CHECKING:
    from pytest_dockerbuild.engine.client import Engine

__all__ = ["Cleanup", "PruneReport"]

PRUNE_PATIENCE = 60.0  #: seconds prune waits for the builds in progress on this host to end


@dataclass
class PruneReport:
    """What ``--dockerbuild-prune`` removed, and the live runs whose resources it kept."""

    images: int = 0
    containers: int = 0
    networks: int = 0
    volumes: int = 0
    live_runs: list[str] = field(default_factory=list)  #: ``host:pid`` of runs still in progress
    builds_waited: float = 0.0  #: seconds prune waited for builds in progress before it left the images

    def __str__(self) -> str:
        text = f"removed {self.images} images, {self.containers} containers, {self.networks} networks"
        text += f" and {self.volumes} volumes"
        if self.live_runs:
            text += f"; kept those of runs in progress ({', '.join(self.live_runs)})"
        if self.builds_waited:
            text += (
                f"; removed no image: builds were still under way after {self.builds_waited:.0f} s"
                " (run the prune again when they end)"
            )
        return text


class Cleanup:
    """The clean-up of one process on its engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def sweep(self) -> list[str]:
        """Remove what runs on this host whose pytest process no longer exists (killed, or
        interrupted hard) left: their containers and networks, and the dangling images their
        journals recorded.  Returns what was removed."""

        def stale(labels: dict[str, str]) -> bool:
            owner = ProcessId.parse(labels.get(LABEL_OWNER, ""))
            return labels.get(LABEL_RUN) != self.engine.run_id and owner is not None and not owner.alive

        removed = self._remove_labelled([f"{LABEL_MANAGED}=true"], stale)
        dead = [r for r in self.engine.ledger.journals() if not r.alive and r.path != self.engine.journal.path]
        if not dead:
            return removed
        with self.engine.ledger.removing() as free:
            for record in dead:
                removed += [f"image {i}" for i in self._settle(record.created, record.containers, free)[0]]
                record.path.unlink(missing_ok=True)
        return removed

    def _settle(self, created: list[str], containers: list[str], free: bool) -> tuple[list[str], ImageIndex | None]:
        """Remove the leftovers of a finished process's builds (if ``free``: the build lock is
        held, so no build is under way) and add the images that remain to the owned list, which
        a later clean-up under the lock goes through; returns the ids deleted, and the engine's
        images if it listed them."""
        if not created and not containers:
            return [], None  # no engine round trip
        if not free:
            found, index = find_leftovers(self.engine.client, created, containers)
            self.engine.ledger.update_owned(found)
            return [], index
        protected = self.engine.ledger.protected(exclude=self.engine.open_journal)
        deleted, index = remove_leftovers_of(self.engine.client, created, containers, protected)
        self.engine.ledger.update_owned(i for i in (index.resolve(c) for c in created) if i is not None)
        return deleted, index

    def remove_run_resources(self, own_only: bool = False) -> None:
        """Remove every container and network labelled with this run's id; with ``own_only``
        (a pytest-xdist worker), only those this process created: the other workers' are
        still in use, and the controller removes the rest at the end of the run."""
        self._remove_labelled(
            [f"{LABEL_RUN}={self.engine.run_id}"] + ([f"{LABEL_OWNER}={self.engine.owner}"] if own_only else [])
        )

    def finish(
        self, projects: Mapping[str, Path], keep: int = 3, *, retain: bool = True, used: Iterable[str] = ()
    ) -> None:
        """At the end of this process: remove its builds' dangling leftovers.  With ``retain`` (the
        last process of the run: not a pytest-xdist worker, whose images other workers may still
        read), also untag the images of ``projects`` (id -> context folder) beyond the ``keep``
        newest per stage, all those of projects whose folder is gone, and remove the plugin's
        images nothing keeps.  What live runs use (this one too, and ``used``: what its workers
        used) is kept."""
        journal = self.engine.open_journal
        # Builds under way (another run's, another worker's) may take leftovers from the cache:
        # then they go to the owned list, for the next clean-up that finds no build under way.
        with self.engine.ledger.removing() as free:
            index = self._settle(journal.created, journal.containers, free)[1] if journal is not None else None
            if retain and free:  # else another run is building: its end, or the next run's, does this
                self._retain(projects, keep, self.engine.ledger.protected() | set(used), index)
        self.engine.close_journal()

    def _retain(
        self, projects: Mapping[str, Path], keep: int, protected: set[str], index: ImageIndex | None = None
    ) -> None:
        """Untag the old and orphaned projects' images, then remove what nothing keeps (one listing
        of the engine's images, ``index`` if given, kept up to date, under the build lock)."""
        index = index or ImageIndex.read(self.engine.client)
        for project in index.projects() & set(projects):
            remove_tags(self.engine.client, stale_tags(index, project, keep, protected), protected, index)
        gone = [project for project, folder in self.engine.ledger.projects().items() if orphaned(folder)]
        tags = [tag for project in gone for tag in index.project_tags(project)]
        remove_tags(self.engine.client, tags, protected, index)
        self.engine.ledger.forget_projects(gone)
        self._forget_gone(protected, index)

    def remove_unkept(self, patience: float = 0.0) -> list[str] | None:
        """Remove the images the plugin made that nothing keeps (the owned list: among them what a
        clean-up left while builds were under way), once no build of this host is under way,
        waiting up to ``patience`` seconds; returns the ids deleted, None if builds still were."""
        with self.engine.ledger.removing(patience) as free:
            return self._forget_gone(self.engine.ledger.protected()) if free else None

    def _forget_gone(self, protected: set[str], index: ImageIndex | None = None) -> list[str]:
        """Remove owned images nothing keeps; drop the ids of images gone from the owned list."""
        owned = self.engine.ledger.owned()
        deleted, index = remove_dangling(self.engine.client, owned, protected, index)
        self.engine.ledger.update_owned(keep_only=set(index.images))
        return deleted

    def _remove_labelled(self, labels: list[str], select: Callable[[dict[str, str]], bool] | None = None) -> list[str]:
        """Remove the containers, then the networks and volumes, with all of ``labels`` (and whose
        labels ``select`` accepts); returns what was removed."""
        removed: list[str] = []
        found = self.engine.client.containers.list(all=True, ignore_removed=True, filters={"label": labels})
        chosen = [container for container in found if select is None or select(container.labels)]
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(chosen)))) as pool:  # each stops in its own time
            gone = list(pool.map(lambda container: _quietly(container.remove, force=True, v=True), chosen))
        removed += [f"container {container.name}" for container, done in zip(chosen, gone, strict=True) if done]
        for network in self.engine.client.networks.list(filters={"label": labels}):
            if (select is None or select(network.attrs.get("Labels") or {})) and _quietly(network.remove):
                removed.append(f"network {network.name}")
        for volume in self.engine.client.volumes.list(filters={"label": labels}):
            if (select is None or select(volume.attrs.get("Labels") or {})) and _quietly(volume.remove, force=True):
                removed.append(f"volume {volume.name}")
        return removed

    def prune(self, project: str | None = None, root: Path | None = None) -> PruneReport:
        """Remove what the plugin made that no live run uses: the containers and networks of
        dead runs, and the images under the plugin's tags: of ``project`` (a project id), or,
        without one, of every project built from a folder under ``root`` or from a folder that
        is gone; then the images the plugin committed that nothing keeps."""
        report = PruneReport()
        for removed in self.sweep():
            kind = removed.split(" ", 1)[0]
            setattr(report, kind + "s", getattr(report, kind + "s") + 1)
        report.live_runs = sorted(self._live_owners())
        with self.engine.ledger.removing(patience=PRUNE_PATIENCE) as free:
            if not free:
                report.builds_waited = PRUNE_PATIENCE
                return report
            protected = self.engine.ledger.protected()
            index = ImageIndex.read(self.engine.client)
            known = self.engine.ledger.projects()
            if project is not None:
                names = [project]
            else:  # this repository's projects, and those whose folder is gone
                names = [name for name, folder in known.items() if orphaned(folder) or (root and within(folder, root))]
            tags = [tag for name in names for tag in index.project_tags(name)]
            tagged = {image for image in index.images if set(index.tags(image)) & set(tags)}
            remove_tags(self.engine.client, tags, protected)
            self._forget_gone(protected)
            remaining = set(ImageIndex.read(self.engine.client).images)
            report.images += len(tagged - remaining)
        self.engine.ledger.forget_projects(names)
        shutil.rmtree(cache_home() / "failures", ignore_errors=True)  # failure records of older versions
        forget_except(cache_home() / "index", remaining)
        return report

    def _live_owners(self) -> set[str]:
        """``host:pid`` of the runs in progress whose containers or networks prune kept."""
        owners: set[str] = set()
        wanted = {"label": f"{LABEL_MANAGED}=true"}
        for container in self.engine.client.containers.list(all=True, ignore_removed=True, filters=wanted):
            owners.add(container.labels.get(LABEL_OWNER) or "")
        for network in self.engine.client.networks.list(filters=wanted):
            owners.add((network.attrs.get("Labels") or {}).get(LABEL_OWNER) or "")
        return {owner for owner in owners if ProcessId.parse(owner) is not None}


def _quietly(action: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    try:
        action(*args, **kwargs)
    except docker.errors.APIError:  # gone already, or in use
        return False
    return True
