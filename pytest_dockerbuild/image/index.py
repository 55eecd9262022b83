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

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from pytest_dockerbuild.image.files import FileEntry, FileTree, LayerContents

__all__ = ["INDEX_VERSION", "KEEP", "forget_except", "index_path", "load_index", "load_layers", "store_index"]

INDEX_VERSION = 3
KEEP = 64  #: entries kept (about 1 MB per 10,000 files)


def index_path(folder: Path, image_id: str) -> Path:
    """Where the file tree of ``image_id`` is kept."""
    return folder / f"{image_id.split(':')[-1]}.json"


_NAMES = [field.name for field in dataclasses.fields(FileEntry)]


def _entry(fields: list[Any]) -> FileEntry:
    """A FileEntry of its kept fields, three times faster than its frozen ``__init__`` (tens of
    thousands of entries per image): the instance's dict filled directly, as ``__init__`` would."""
    entry = object.__new__(FileEntry)
    entry.__dict__.update(zip(_NAMES, fields, strict=True))
    return entry


def _fields(entry: FileEntry) -> list[Any]:
    # the offset names the entry's data: hard links share one (total_size counts it once); the
    # image's contents are read from this run's export or one file alone, never at a kept offset
    return [entry.path, entry.type, entry.size, entry.mode, entry.uid, entry.gid, entry.link_target, entry.layer,
            entry._offset]  # fmt: skip


def _read(path: Path, image_id: str) -> Any:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != INDEX_VERSION or data.get("image") != image_id:
        raise ValueError("another version's entry, or another image's")
    return data


def load_index(folder: Path, image_id: str, short_id: str) -> FileTree | None:
    """The file tree of ``image_id`` kept by an earlier run, or None."""
    path = index_path(folder, image_id)
    try:
        tree = FileTree({fields[0]: _entry(fields) for fields in _read(path, image_id)["tree"]}, short_id)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, or written by another version: the image is exported again
    os.utime(path)  # recently used
    return tree


def load_layers(folder: Path, image_id: str) -> list[LayerContents] | None:
    """The filesystem layers of ``image_id`` kept by an earlier run (a file of their own: only
    the efficiency figures read them), or None."""
    try:
        kept = _read(_layers_path(folder, image_id), image_id)["layers"]
        return [LayerContents(layer["index"], [_entry(f) for f in layer["entries"]], layer["whiteouts"],
                              layer["opaque"]) for layer in kept]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_index(folder: Path, image_id: str, tree: FileTree, layers: list[LayerContents]) -> None:
    """Keep the file tree and layers of ``image_id`` (quietly: a cache that cannot be written is none)."""
    head = {"version": INDEX_VERSION, "image": image_id}
    kept_layers = [
        {"index": layer.index, "entries": [_fields(e) for e in layer.entries], "whiteouts": layer.whiteouts,
         "opaque": layer.opaque}
        for layer in layers
    ]  # fmt: skip
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(_layers_path(folder, image_id), {**head, "layers": kept_layers})  # first: a tree implies its layers
        _write(index_path(folder, image_id), {**head, "tree": [_fields(entry) for entry in tree.values()]})
        kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".layers").unlink(missing_ok=True)
    except OSError:
        pass


def _layers_path(folder: Path, image_id: str) -> Path:
    return index_path(folder, image_id).with_suffix(".layers")


def _write(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    partial.replace(path)


def forget_except(folder: Path, image_ids: set[str]) -> int:
    """Remove the entries of images not in ``image_ids`` (those the engine no longer has)."""
    keep = {image_id.split(":")[-1] for image_id in image_ids}
    removed = 0
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if path.stem not in keep:
            path.unlink(missing_ok=True)
            path.with_suffix(".layers").unlink(missing_ok=True)
            removed += 1
    return removed
