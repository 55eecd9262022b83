"""Images inspected without running them: size, layers, metadata and the file tree.

The file tree comes from one streamed ``docker save`` per image (written to a
cache folder, never held in memory), merged layer by layer with whiteouts, so it
is exactly what the image holds (no container init files) and works on an image
with no shell, e.g. one built ``FROM scratch``.  File contents are read from the
saved archive by offset.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import stat
import tarfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors

from pytest_dockerbuild.errors import ImageError, PathNotFound

if TYPE_CHECKING:
    import docker

__all__ = [
    "FileEntry",
    "FileTree",
    "Image",
    "ImageComparison",
    "ImageConfig",
    "Layer",
    "LayerContents",
    "parse_size",
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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
_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip


def parse_size(size: int | float | str) -> int:
    """Bytes from ``123``, ``"30MB"`` (10**6), ``"30 MiB"`` (2**20), ``"1.5GB"``."""
    if isinstance(size, (int, float)):
        return round(size)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", size)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read {size!r} as a size; use bytes or e.g. '30MB', '30MiB', '1.5GB'")
    return round(float(match.group(1)) * _UNITS[match.group(2).lower()])


def human_size(size: float) -> str:
    """``26.1 MB`` style (SI units, as ``docker images`` prints)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


@dataclass(frozen=True)
class ImageConfig:
    """The run-time metadata of an image (``docker inspect`` ``.Config``)."""

    entrypoint: list[str] | None
    cmd: list[str] | None
    env: dict[str, str]
    workdir: str
    user: str
    exposed_ports: list[str]  #: e.g. ``["80/tcp"]``
    labels: dict[str, str]
    healthcheck: dict[str, Any] | None
    volumes: list[str]
    stop_signal: str | None
    shell: list[str] | None

    @classmethod
    def from_inspect(cls, config: Mapping[str, Any]) -> ImageConfig:
        env: dict[str, str] = {}
        for entry in config.get("Env") or []:
            key, _, value = entry.partition("=")
            env[key] = value
        return cls(
            entrypoint=config.get("Entrypoint"),
            cmd=config.get("Cmd"),
            env=env,
            workdir=config.get("WorkingDir") or "",
            user=config.get("User") or "",
            exposed_ports=sorted(config.get("ExposedPorts") or {}),
            labels=dict(config.get("Labels") or {}),
            healthcheck=config.get("Healthcheck"),
            volumes=sorted(config.get("Volumes") or {}),
            stop_signal=config.get("StopSignal"),
            shell=config.get("Shell"),
        )

    @property
    def ports(self) -> set[int]:
        """Exposed port numbers, protocol dropped."""
        return {int(port.split("/")[0]) for port in self.exposed_ports}


@dataclass(frozen=True)
class Layer:
    """One entry of the image history (newest last)."""

    index: int  #: position, 0 = oldest
    instruction: str  #: e.g. ``RUN go build ...``, ``COPY file:... in /web``, ``IMPORT``
    size: int  #: bytes the layer adds (0 for metadata-only steps)
    created_by: str  #: the raw history text
    empty: bool  #: True if the step adds no bytes (metadata steps, and e.g. ``RUN true``)


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


@dataclass(frozen=True)
class ImageComparison:
    """How image ``left`` differs from image ``right`` (e.g. final stage vs builder)."""

    left: Image
    right: Image
    added: list[str]  #: paths in left only
    removed: list[str]  #: paths in right only
    changed: list[str]  #: paths in both whose type, size, mode, owner or link target differ

    @property
    def size_ratio(self) -> float:
        """``right.size / left.size``: how many times bigger the right image is."""
        return self.right.size / self.left.size if self.left.size else float("inf")

    @property
    def size_delta(self) -> int:
        """``left.size - right.size`` in bytes (negative when left is smaller)."""
        return self.left.size - self.right.size

    def __str__(self) -> str:
        return (
            f"{self.left.short_id} ({human_size(self.left.size)}) vs {self.right.short_id} "
            f"({human_size(self.right.size)}): {len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.changed)} changed"
        )


class Image:
    """An image in the engine, inspected without running it.

    Get one from a build result (``result.image``) or ``dockerbuild.image(ref)``.
    """

    def __init__(self, client: docker.DockerClient, reference: str, cache_dir: Path) -> None:
        self._client = client
        self.reference = reference
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        try:
            self._attrs: dict[str, Any] = client.api.inspect_image(reference)
        except docker.errors.ImageNotFound:
            raise ImageError(reference, f"image {reference!r} is not in the engine's image store") from None
        except docker.errors.APIError as error:
            raise ImageError(reference, f"cannot inspect image {reference!r}: {error.explanation}") from None

    # -- identity and metadata ------------------------------------------------
    @property
    def id(self) -> str:
        """``sha256:...``"""
        return str(self._attrs["Id"])

    @property
    def short_id(self) -> str:
        return self.id.split(":")[-1][:12]

    @property
    def tags(self) -> list[str]:
        return list(self._attrs.get("RepoTags") or [])

    @property
    def size(self) -> int:
        """Size in bytes of all layers, as ``docker images`` shows it."""
        return int(self._attrs["Size"])

    @property
    def attrs(self) -> dict[str, Any]:
        """The raw ``docker inspect`` data."""
        return self._attrs

    @cached_property
    def config(self) -> ImageConfig:
        """Entrypoint, cmd, env, workdir, user, exposed ports, labels, healthcheck ..."""
        return ImageConfig.from_inspect(self._attrs.get("Config") or {})

    @cached_property
    def layers(self) -> list[Layer]:
        """The history, oldest first: instruction and size of each step."""
        history = list(reversed(self._client.api.history(self.id)))
        layers = []
        for index, entry in enumerate(history):
            created_by = entry.get("CreatedBy") or ""
            layers.append(
                Layer(
                    index=index,
                    instruction=_instruction(created_by, entry.get("Comment") or ""),
                    size=int(entry.get("Size") or 0),
                    created_by=created_by,
                    empty=not int(entry.get("Size") or 0),
                )
            )
        return layers

    # -- files ------------------------------------------------------------------
    @property
    def files(self) -> FileTree:
        """The image's file tree (one ``docker save`` per image, cached)."""
        with self._lock:
            if "_tree" not in self.__dict__:
                self.__dict__["_tree"] = self._load_tree()
        return self.__dict__["_tree"]  # type: ignore[no-any-return]

    def exists(self, path: str) -> bool:
        """True if ``path`` exists (a dangling symlink counts)."""
        return path in self.files

    def file(self, path: str) -> FileEntry:
        """The entry at ``path`` (not following a final symlink); :class:`PathNotFound` if absent."""
        return self.files.resolve(path, follow=False)

    def read_bytes(self, path: str) -> bytes:
        """Contents of the regular file at ``path`` (symlinks and hard links followed)."""
        entry = self.files.resolve(path)
        if not entry.is_file:
            raise ImageError(self.reference, f"{path!r} in image {self.short_id} is a {entry.type}, not a file")
        if entry.size == 0:
            return b""
        with open(self._archive, "rb") as archive:
            archive.seek(entry._offset)
            return archive.read(entry.size)

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """Contents of the file at ``path`` as text."""
        return self.read_bytes(path).decode(encoding)

    def which(self, name: str) -> str | None:
        """Where ``name`` is found on the image's ``PATH`` as an executable file, or None."""
        search = self.config.env.get("PATH", DEFAULT_PATH)
        for folder in search.split(":"):
            candidate = posixpath.join(folder or "/", name)
            try:
                entry = self.files.find(candidate)
            except ImageError:  # a symlink loop
                continue
            if isinstance(entry, FileEntry) and entry.is_file and entry.is_executable:
                return candidate
        return None

    def compare(self, other: Image) -> ImageComparison:
        """What this image adds, removes and changes relative to ``other``."""
        mine, theirs = self.files, other.files

        def signature(e: FileEntry) -> tuple[Any, ...]:
            size = e.size if e.type == "file" else 0
            return (e.type, size, e.mode, e.uid, e.gid, e.link_target)

        added = [p for p in mine if p not in theirs]
        removed = [p for p in theirs if p not in mine]
        changed = [p for p in mine if p in theirs and signature(mine[p]) != signature(theirs[p])]
        return ImageComparison(self, other, added, removed, changed)

    # -- the saved archive ------------------------------------------------------
    @property
    def _archive(self) -> Path:
        return self._cache_dir / f"{self.id.split(':')[-1]}.tar"

    def _save(self) -> None:
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        partial = self._archive.with_suffix(".partial")
        try:
            with open(partial, "wb") as out:
                for chunk in self._client.api.get_image(self.id, chunk_size=1024 * 1024):
                    out.write(chunk)
        except docker.errors.APIError as error:
            partial.unlink(missing_ok=True)
            raise ImageError(self.reference, f"cannot export image {self.short_id}: {error.explanation}") from None
        partial.rename(self._archive)

    @property
    def filesystem_layers(self) -> list[LayerContents]:
        """The contents of each filesystem layer, oldest first (from the same export as :attr:`files`)."""
        self.files  # noqa: B018 - loads both
        return self.__dict__["_layers"]  # type: ignore[no-any-return]

    def _load_tree(self) -> FileTree:
        if not self._archive.exists():
            self._save()
        entries: dict[str, FileEntry] = {"/": FileEntry("/", "dir", 0, 0o755, 0, 0, "", -1)}
        layers: list[LayerContents] = []
        with tarfile.open(self._archive, "r:") as outer:
            manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
            for index, layer_name in enumerate(manifest[0]["Layers"]):
                member = outer.getmember(layer_name)
                layer_file = outer.extractfile(member)
                assert layer_file is not None
                try:
                    inner = tarfile.open(fileobj=layer_file, mode="r:")
                except tarfile.ReadError as error:
                    raise ImageError(
                        self.reference, f"layer {layer_name} of image {self.short_id} is not a plain tar ({error})"
                    ) from None
                with inner:
                    layers.append(_apply_layer(entries, inner, index, member.offset_data))
        self.__dict__["_layers"] = layers
        return FileTree(entries, self.short_id)

    def __repr__(self) -> str:
        name = self.tags[0] if self.tags else self.short_id
        return f"<Image {name} {human_size(self.size)}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


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


def _instruction(created_by: str, comment: str) -> str:
    text = created_by.strip()
    if not text:
        return "IMPORT" if comment.startswith("Imported") else ""
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
        if text.startswith("RUN "):  # BuildKit writes "RUN [|N ARGS] /bin/sh -c ..."
            text = text[len("RUN ") :]
    text = re.sub(r"^\|\d+ (?:\S+=\S* )*", "", text)  # build args a RUN saw: "|1 NAME=value /bin/sh -c ..."
    if "#(nop)" in text:  # a metadata step, whatever the SHELL: "/bin/sh -ec #(nop)  CMD [...]"
        return text.split("#(nop)", 1)[1].strip()
    shell = re.match(r"^(?:/bin/)?(?:ba)?sh -\w*c ", text)
    if shell:
        return "RUN " + text[shell.end() :]
    return text
