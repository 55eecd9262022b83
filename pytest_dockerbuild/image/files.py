"""An image's files as its saved archive holds them: the entries of each layer tar
(:class:`LayerContents`), merged oldest first with whiteouts and opaque folders into one
:class:`FileTree` of :class:`FileEntry`.

Reading works on the archive ``docker save`` writes (``manifest.json`` and one plain tar
per layer); an entry remembers where its data starts in that archive, so contents are read
by offset later, without extracting anything.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import stat
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_dockerbuild.errors import ImageError, PathNotFound

__all__ = ["FileEntry", "FileTree", "LayerContents", "read_saved_image"]

_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


@dataclass(frozen=True)
class FileEntry:
    """One path of an image's file tree."""

    path: str  #: absolute, normalized (``/usr/bin/env``)
    type: str  #: file, dir, symlink, hardlink, char, block or fifo
    size: int
    mode: int  #: permission bits incl. setuid/setgid/sticky (``0o755``)
    uid: int
    gid: int
    link_target: str  #: for symlinks and hard links, else ""
    layer: int  #: index of the filesystem layer the entry comes from
    _offset: int = field(default=-1, repr=False, compare=False)  # data offset in the saved archive

    @property
    def is_file(self) -> bool:
        return self.type in ("file", "hardlink")

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    @property
    def is_symlink(self) -> bool:
        return self.type == "symlink"

    @property
    def is_executable(self) -> bool:
        """Some execute bit is set (owner, group or other)."""
        return self.type != "dir" and bool(self.mode & 0o111)

    @property
    def mode_string(self) -> str:
        """``ls``-style, e.g. ``-rwxr-xr-x`` or ``drwxrwxrwt``."""
        kind = {"dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "char": stat.S_IFCHR,
                "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}.get(self.type, stat.S_IFREG)  # fmt: skip
        return stat.filemode(kind | (0o777 if self.type == "symlink" else self.mode))  # as Linux shows links


@dataclass(frozen=True)
class LayerContents:
    """What one filesystem layer of an image holds, as its tar says (before merging)."""

    index: int  #: 0 = the base layer
    entries: list[FileEntry]  #: files, folders and links it adds or replaces
    whiteouts: list[str]  #: paths it deletes (``.wh.<name>``)
    opaque: list[str]  #: folders whose lower contents it hides (``.wh..wh..opq``)

    @property
    def size(self) -> int:
        """Sum of the sizes of its regular files (dive's layer size)."""
        return sum(entry.size for entry in self.entries if entry.type == "file")


class FileTree(Mapping[str, FileEntry]):
    """The merged file tree of an image: a read-only mapping of absolute path to entry."""

    def __init__(self, entries: Mapping[str, FileEntry], image: str) -> None:
        self._entries = dict(entries)
        self._image = image

    def __getitem__(self, path: str) -> FileEntry:
        key = _normalize(path)
        try:
            return self._entries[key]
        except KeyError:
            raise self._missing(key) from None

    def _missing(self, key: str) -> PathNotFound:
        parent = posixpath.dirname(key)
        nearby = sorted(posixpath.basename(p) for p in self._entries if posixpath.dirname(p) == parent and p != "/")
        return PathNotFound(self._image, key, nearby)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and _normalize(path) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def under(self, folder: str) -> list[FileEntry]:
        """Entries below ``folder`` (not the folder itself), sorted by path."""
        prefix = _normalize(folder).rstrip("/") + "/"
        return [self._entries[p] for p in sorted(self._entries) if p.startswith(prefix)]

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries whose path matches a shell pattern (``*`` crosses folders), sorted."""
        return [self._entries[p] for p in sorted(self._entries) if fnmatch.fnmatchcase(p, pattern)]

    def resolve(self, path: str, follow: bool = True) -> FileEntry:
        """The entry at ``path``, following symlinks (in any folder of the path) when ``follow``;
        :class:`PathNotFound` (naming the entries of its folder) if there is none."""
        found = self.find(path, follow)
        if isinstance(found, FileEntry):
            return found
        raise self._missing(found)

    def find(self, path: str, follow: bool = True) -> FileEntry | str:
        """Like :meth:`resolve`, without raising: the entry, or the resolved path that is missing."""
        current = _normalize(path)
        for _ in range(40):
            parts = current.strip("/").split("/") if current != "/" else []
            resolved = "/"
            for i, part in enumerate(parts):
                candidate = posixpath.join(resolved, part)
                entry = self._entries.get(candidate)
                last = i == len(parts) - 1
                if entry is not None and entry.is_symlink and (follow or not last):
                    target = entry.link_target
                    rest = "/".join(parts[i + 1 :])
                    base = target if target.startswith("/") else posixpath.join(resolved, target)
                    current = _normalize(posixpath.join(base, rest) if rest else base)
                    break
                resolved = candidate
            else:
                return self._entries.get(resolved) or resolved
        raise ImageError(self._image, f"too many levels of symbolic links resolving {path!r}")

    @property
    def total_size(self) -> int:
        """Sum of the sizes of regular files, each stored blob once (hard links share theirs)."""
        blobs = {e._offset: e.size for e in self._entries.values() if e.is_file and e.size}
        return sum(blobs.values())


def read_saved_image(archive: Path, reference: str, short_id: str) -> tuple[FileTree, list[LayerContents]]:
    """The merged file tree of the image saved in ``archive`` and the contents of each of its
    layers, oldest first; ``reference`` and ``short_id`` name the image in errors."""
    entries: dict[str, FileEntry] = {"/": FileEntry("/", "dir", 0, 0o755, 0, 0, "", -1)}
    layers: list[LayerContents] = []
    with tarfile.open(archive, "r:") as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for index, layer_name in enumerate(manifest[0]["Layers"]):
            member = outer.getmember(layer_name)
            layer_file = outer.extractfile(member)
            assert layer_file is not None
            try:
                inner = tarfile.open(fileobj=layer_file, mode="r:")
            except tarfile.ReadError as error:
                raise ImageError(
                    reference, f"layer {layer_name} of image {short_id} is not a plain tar ({error})"
                ) from None
            with inner:
                layers.append(_apply_layer(entries, inner, index, member.offset_data))
    return FileTree(entries, short_id), layers


def _normalize(path: str) -> str:
    normalized = posixpath.normpath("/" + path.strip().lstrip("/"))
    return "/" if normalized in ("/", "//") else normalized


def _apply_layer(entries: dict[str, FileEntry], layer: tarfile.TarFile, index: int, base_offset: int) -> LayerContents:
    """Merge one layer into ``entries``, honouring whiteouts; return what the layer holds.

    Whiteouts hide what lower layers hold, never what this layer adds: they are gathered
    first and applied in one pass over the tree (a walk up each path's folders), then the
    layer's own entries are added.
    """
    contents = LayerContents(index, [], [], [])
    hidden: set[str] = set()  # paths removed with everything below them
    emptied: set[str] = set()  # folders whose lower contents are hidden (the folder stays)
    added: dict[str, FileEntry] = {}
    for member in layer:
        path = _normalize(member.name)
        folder, name = posixpath.split(path)
        if name == ".wh..wh..opq":  # opaque folder: lower layers' contents are hidden
            contents.opaque.append(folder)
            emptied.add(folder)
            continue
        if name.startswith(".wh."):
            contents.whiteouts.append(posixpath.join(folder, name[4:]))
            hidden.add(posixpath.join(folder, name[4:]))
            continue
        kind = _TYPES.get(member.type, "file")
        lower = entries.get(path)
        if kind != "dir" and lower is not None and lower.is_dir:
            emptied.add(path)  # a folder replaced by a file: its contents go
        link = member.linkname if kind in ("symlink", "hardlink") else ""
        size, offset = (member.size, base_offset + member.offset_data) if kind == "file" else (0, -1)
        if kind == "hardlink":  # same data as its target, an earlier member of this layer
            target_path = _normalize(member.linkname)
            target = added.get(target_path) or entries.get(target_path)
            if target is not None:
                size, offset = target.size, target._offset
        added[path] = FileEntry(
            path=path,
            type=kind,
            size=size,
            mode=member.mode & 0o7777,
            uid=member.uid,
            gid=member.gid,
            link_target=link,
            layer=index,
            _offset=offset,
        )
        contents.entries.append(added[path])
    if hidden or emptied:
        for path in [p for p in entries if p != "/" and _is_hidden(p, hidden, emptied)]:
            del entries[path]
    entries.update(added)
    return contents


def _is_hidden(path: str, hidden: set[str], emptied: set[str]) -> bool:
    if path in hidden:
        return True
    folder = posixpath.dirname(path)
    while True:
        if folder in hidden or folder in emptied:
            return True
        if folder == "/":
            return False
        folder = posixpath.dirname(folder)
