"""The file index of images kept on disk across runs, by image id, so that a later run's
``files``, ``which()`` and ``exists()`` do not export the image again.

An image id is the digest of its configuration, which names the digest of every layer:
the same id is the same files, so an entry never goes stale.  Entries are JSON (no code
runs on load), written atomically, at most :data:`KEEP` of them (the least recently used
go first), and forgotten with the images (:func:`forget_except`, from the prune).  The
offsets of file contents belong to one export of the image: they are kept only to tell which
entries share their data (hard links); a later run reads a file alone through a container
(:mod:`pytest_dockerbuild.image.probe`), or from an export of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pytest_dockerbuild.image.files import FileEntry, FileTree, LayerContents

__all__ = ["INDEX_VERSION", "KEEP", "forget_except", "load_index", "store_index"]

INDEX_VERSION = 2
KEEP = 64  #: entries kept (about 1 MB per 10,000 files)


def _path(folder: Path, image_id: str) -> Path:
    return folder / f"{image_id.split(':')[-1]}.json"


def _entry(fields: list[Any]) -> FileEntry:
    return FileEntry(*fields)


def _fields(entry: FileEntry) -> list[Any]:
    # the offset names the entry's data: hard links share one (total_size counts it once); the
    # image's contents are read from this run's export or one file alone, never at a kept offset
    return [entry.path, entry.type, entry.size, entry.mode, entry.uid, entry.gid, entry.link_target, entry.layer,
            entry._offset]  # fmt: skip


def load_index(folder: Path, image_id: str, short_id: str) -> tuple[FileTree, list[LayerContents]] | None:
    """The file tree and layers of ``image_id`` kept by an earlier run, or None."""
    path = _path(folder, image_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != INDEX_VERSION or data.get("image") != image_id:
            return None
        tree = FileTree({fields[0]: _entry(fields) for fields in data["tree"]}, short_id)
        layers = [LayerContents(layer["index"], [_entry(f) for f in layer["entries"]], layer["whiteouts"],
                                layer["opaque"]) for layer in data["layers"]]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, or written by another version: the image is exported again
    os.utime(path)  # recently used
    return tree, layers


def store_index(folder: Path, image_id: str, tree: FileTree, layers: list[LayerContents]) -> None:
    """Keep the file tree and layers of ``image_id`` (quietly: a cache that cannot be written is none)."""
    data = {
        "version": INDEX_VERSION,
        "image": image_id,
        "tree": [_fields(entry) for entry in tree.values()],
        "layers": [
            {
                "index": layer.index,
                "entries": [_fields(e) for e in layer.entries],
                "whiteouts": layer.whiteouts,
                "opaque": layer.opaque,
            }
            for layer in layers
        ],
    }
    path = _path(folder, image_id)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        partial.replace(path)
        kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def forget_except(folder: Path, image_ids: set[str]) -> int:
    """Remove the entries of images not in ``image_ids`` (those the engine no longer has)."""
    keep = {image_id.split(":")[-1] for image_id in image_ids}
    removed = 0
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if path.stem not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
