"""The engine's image store as the clean-up sees it (:class:`ImageIndex`: ids,
tags, parents), and the removals the clean-up is made of.

Images are removed by id only when a journal or the owned list of the ledger
records that the plugin committed them, and by tag only for tags in the
plugin's own repository; they are never selected by label (a child image
inherits labels), never forced (an image a container uses stays), and never
with their parents.  What a live run uses (``protected``) is skipped.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import docker.errors

from pytest_dockerbuild.engine.naming import is_plugin_tag, repository, stage_of_tag

__all__ = ["ImageIndex", "find_leftovers", "remove_dangling", "remove_leftovers", "remove_tags", "stale_tags"]


class ImageIndex:
    """One listing of the engine's images: ids, tags, parents and children."""

    def __init__(self, entries: Iterable[dict[str, Any]]) -> None:
        self.images: dict[str, dict[str, Any]] = {entry["Id"]: entry for entry in entries}  #: full id -> entry
        self._parents = Counter(str(entry.get("ParentId") or "") for entry in self.images.values())

    @classmethod
    def read(cls, client: docker.DockerClient) -> ImageIndex:
        return cls(client.api.images(all=True))

    def tags(self, image_id: str) -> list[str]:
        return [t for t in self.images.get(image_id, {}).get("RepoTags") or [] if t != "<none>:<none>"]

    def dangling(self, image_id: str) -> bool:
        """Untagged and no image's parent: nothing keeps it."""
        return image_id in self.images and not self.tags(image_id) and not self._parents[image_id]

    def drop(self, image_id: str) -> None:
        entry = self.images.pop(image_id, None)
        if entry is not None:
            self._parents[str(entry.get("ParentId") or "")] -= 1

    def resolve(self, reference: str) -> str | None:
        """The full id of a full or short id, if exactly one image has it."""
        if reference in self.images:
            return reference
        short = reference.split(":")[-1]
        if len(short) < 11:  # the Docker Engine's short ids have 12 characters, Buildah's 11
            return None
        found = [i for i in self.images if i.split(":")[-1].startswith(short)]
        return found[0] if len(found) == 1 else None

    def expand(self, references: Iterable[str]) -> set[str]:
        """Tags and full ids, with short ids turned into the full ids of the images here."""
        expanded = set(references)
        for reference in list(expanded):
            full = None if ":" in reference and not reference.startswith("sha256:") else self.resolve(reference)
            if full is not None:
                expanded.add(full)
        return expanded

    def project_tags(self, project: str) -> list[str]:
        prefix = repository(project) + ":"
        return [tag for image in self.images for tag in self.tags(image) if tag.startswith(prefix)]

    def projects(self) -> set[str]:
        """The ids of the projects the plugin's tags name."""
        return {tag.partition("/")[2].rpartition(":")[0] for image in self.images for tag in self.tags(image)
                if is_plugin_tag(tag)}  # fmt: skip


def _remove_image(client: docker.DockerClient, reference: str, index: ImageIndex) -> list[str]:
    """Remove an image or a tag, never forced and never its parents; the ids of the images
    deleted (the engine also lists the layers it deleted), which leave ``index``."""
    try:
        result = client.api.remove_image(reference, noprune=True)
    except docker.errors.APIError:  # gone, or used by a container, or a parent now
        return []
    deleted = [str(entry["Deleted"]) for entry in result or [] if str(entry.get("Deleted")) in index.images]
    for image_id in deleted:
        index.drop(image_id)
    for entry in index.images.values():  # an untagged tag leaves the index too
        if reference in (entry.get("RepoTags") or []):
            entry["RepoTags"] = [tag for tag in entry["RepoTags"] if tag != reference]
    return deleted


def find_leftovers(
    client: docker.DockerClient, created: Sequence[str], containers: Sequence[str]
) -> tuple[list[str], ImageIndex]:
    """What a failed, interrupted or killed build left: remove the step ``containers`` the
    classic builder ran (if still there); return the full ids of the ``created`` images still
    there and of the images the engine committed from those containers after the build's last
    line, parents before children; and the engine's images."""
    for container in containers:
        try:
            client.api.remove_container(container, force=True)
        except docker.errors.APIError:
            pass  # the builder removed it (forcerm)
    index = ImageIndex.read(client)
    candidates = [image for image in (index.resolve(c) for c in created) if image is not None]
    if containers:
        for image_id in list(index.images):
            if index.dangling(image_id) and image_id not in candidates:
                try:
                    origin = str(client.api.inspect_image(image_id).get("Container") or "")
                except docker.errors.APIError:
                    continue
                if origin and any(origin.startswith(c) or c.startswith(origin) for c in containers):
                    candidates.append(image_id)
    return candidates, index


def remove_leftovers(
    client: docker.DockerClient, created: Sequence[str], containers: Sequence[str], protected: Iterable[str] = ()
) -> list[str]:
    """Remove what a failed, interrupted or killed build left (:func:`find_leftovers`) that
    nothing keeps (untagged, no children, not ``protected``).  Returns the ids deleted.  Only
    under the ledger's build lock: an image a build is taking from the cache is in no journal yet."""
    return remove_leftovers_of(client, created, containers, protected)[0]


def remove_leftovers_of(
    client: docker.DockerClient, created: Sequence[str], containers: Sequence[str], protected: Iterable[str] = ()
) -> tuple[list[str], ImageIndex]:
    """:func:`remove_leftovers`, and the engine's images after it (one listing for both)."""
    candidates, index = find_leftovers(client, created, containers)
    keep = index.expand(protected)
    deleted: list[str] = []
    for image_id in reversed(candidates):  # children before their parents
        if image_id not in keep and index.dangling(image_id):
            deleted += _remove_image(client, image_id, index)
    return deleted, index


def remove_dangling(
    client: docker.DockerClient, owned: set[str], protected: Iterable[str] = (), index: ImageIndex | None = None
) -> tuple[list[str], ImageIndex]:
    """Remove the images of the owned list that nothing keeps, up their parent chains (from
    ``index``, a listing taken under the same build lock, if given); returns the ids deleted and
    the engine's images after that."""
    deleted: list[str] = []
    while True:
        index = index or ImageIndex.read(client)
        keep = index.expand(protected)
        victims = [i for i in index.images if i in owned and i not in keep and index.dangling(i)]
        removed = [gone for image_id in victims for gone in _remove_image(client, image_id, index)]
        if not removed:
            return deleted, index
        deleted += removed
        index = None  # a parent may be dangling now: list again


def remove_tags(
    client: docker.DockerClient, tags: Iterable[str], protected: Iterable[str] = (), index: ImageIndex | None = None
) -> list[str]:
    """Remove plugin tags (an image goes with its last tag, if no container uses it and no
    image is built on it); a tag in ``protected`` is kept, and so is the last tag of an image
    in ``protected``.  ``index`` (a listing under the same build lock) is kept up to date."""
    tags = list(tags)
    if not tags:
        return []  # no engine round trip
    index = index or ImageIndex.read(client)
    keep = index.expand(protected)
    deleted: list[str] = []
    for tag in tags:
        if not is_plugin_tag(tag) or tag in keep:
            continue
        try:
            image_id = str(client.api.inspect_image(tag)["Id"])
        except docker.errors.APIError:
            continue
        if image_id not in keep or len(index.tags(image_id)) > 1:  # a kept image keeps another tag
            deleted += _remove_image(client, tag, index)
    return deleted


def stale_tags(index: ImageIndex, project: str, keep: int, protected: Iterable[str] = ()) -> list[str]:
    """The tags of ``project`` beyond the ``keep`` newest per stage (by image creation time);
    a protected tag, or a tag of a protected image, counts but is never stale."""
    held = index.expand(protected)
    by_stage: dict[str, list[tuple[int, str, bool]]] = {}
    prefix = repository(project) + ":"
    for image_id, entry in index.images.items():
        for tag in index.tags(image_id):
            if tag.startswith(prefix):
                entries = by_stage.setdefault(stage_of_tag(tag), [])
                entries.append((int(entry.get("Created") or 0), tag, tag in held or image_id in held))
    stale: list[str] = []
    for entries in by_stage.values():
        entries.sort(reverse=True)
        stale += [tag for position, (_, tag, used) in enumerate(entries) if position >= keep and not used]
    return stale


def orphaned(folder: Path) -> bool:
    """True if ``folder`` provably no longer exists: its parent is there and can be read, and it
    is not in it (a folder this process cannot look into, or whose parent is gone as well, as on
    an unmounted drive, may well exist)."""
    try:
        folder.lstat()
    except FileNotFoundError:
        return folder.parent.is_dir() and os.access(folder.parent, os.R_OK | os.X_OK)
    except OSError:
        return False
    return False


def within(folder: Path, root: Path) -> bool:
    """True if ``folder`` is ``root`` or under it (both resolved)."""
    folder, root = folder.resolve(), root.resolve()
    return folder == root or root in folder.parents
