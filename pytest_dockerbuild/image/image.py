"""Images inspected without running them: identity, size, metadata (:class:`ImageConfig`),
history (:class:`Layer`), files, and how two images differ (:class:`ImageComparison`).

The file tree comes from one streamed ``docker save`` per image (written to a
cache folder, never held in memory) and is read by :mod:`pytest_dockerbuild.image.files`,
so it is exactly what the image holds (no container init files) and works on an image
with no shell, e.g. one built ``FROM scratch``.  File contents are read from the
saved archive by offset; when the tree is an earlier run's (the index), a file is read
alone through a container that is never started (:mod:`pytest_dockerbuild.image.probe`).
"""

from __future__ import annotations

import posixpath
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors

from pytest_dockerbuild.errors import ImageError
from pytest_dockerbuild.image import probe
from pytest_dockerbuild.image.files import FileEntry, FileTree, LayerContents, read_saved_image
from pytest_dockerbuild.image.index import index_path, load_index, load_layers, store_index
from pytest_dockerbuild.image.sizes import human_size

if TYPE_CHECKING:
    import docker

# FileEntry, FileTree, LayerContents (image.files) and the size helpers (image.sizes) are
__all__ = ["Image", "ImageComparison", "ImageConfig", "Layer"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROBE_LIMIT = 16 * 1024 * 1024  #: a file read from a known tree without an export: at most this size (in memory)
PROBE_IMAGE_SIZE = 64 * 1024 * 1024  #: from this size, which() asks the engine before any export


@dataclass(frozen=True)
class ImageConfig:
    """The run-time metadata of an image (``docker inspect`` ``.Config``)."""

    entrypoint: list[str] | None
    cmd: list[str] | None
    env: dict[str, str]
    workdir: str
    user: str
    exposed_ports: list[str]  #: as docker lists them, sorted: ``["80/tcp", "53/udp"]`` (see :meth:`exposes`)
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
            entrypoint=config.get("Entrypoint") or None,  # Podman says [] where the Docker Engine says null
            cmd=config.get("Cmd") or None,
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

    def exposes(self, port: int | str, protocol: str = "tcp") -> bool:
        """True if the image EXPOSEs ``port`` (``8080``, or ``"8080/tcp"``) for ``protocol``."""
        number, _, given = str(port).partition("/")
        return f"{number}/{given or protocol}" in self.exposed_ports

    @property
    def ports(self) -> set[int]:
        """Deprecated: the exposed port numbers, protocol dropped; use :attr:`exposed_ports` or
        :meth:`exposes`."""
        warnings.warn("ImageConfig.ports is deprecated: use .exposed_ports (['80/tcp']) or .exposes(80)",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
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

    def __init__(
        self, client: docker.DockerClient, reference: str, cache_dir: Path, index_dir: Path | None = None,
        probe_labels: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self._client = client
        self.reference = reference
        self._cache_dir = cache_dir  #: where this run exports images
        self._index_dir = index_dir  #: where file indexes are kept across runs (None: not kept)
        self._probe_labels = probe_labels  #: labels of a container that reads one file (None: export instead)
        self._offsets = False  #: True once the tree is read from this run's export (file contents readable)
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
        """The image's file tree (one ``docker save`` per image, its index kept across runs)."""
        with self._lock:
            if "_tree" not in self.__dict__:
                self.__dict__["_tree"] = self._load_tree()
        return self.__dict__["_tree"]  # type: ignore[no-any-return]

    def exists(self, path: str) -> bool:
        """True if ``path`` exists (a dangling symlink counts)."""
        return path in self.files  # never the engine's: a container has paths the image lacks (/.dockerenv ...)

    def file(self, path: str) -> FileEntry:
        """The entry at ``path`` (not following a final symlink); :class:`PathNotFound` if absent."""
        return self.files.resolve(path, follow=False)

    def read_bytes(self, path: str) -> bytes:
        """Contents of the regular file at ``path`` (symlinks and hard links followed)."""
        entry = self.files.resolve(path)
        if (not self._offsets and entry.is_file and 0 < entry.size <= PROBE_LIMIT and self._probe_labels is not None
                and entry.path not in probe.CONTAINER_FILES):  # fmt: skip
            data = probe.read_one_file(self._client, self.id, entry.path, self._probe_labels)  # no export
            if data is not None and len(data) == entry.size:
                return data
        if not self._offsets:  # the tree came from an earlier run's index: export, and read it from there
            with self._lock:
                self.__dict__["_tree"] = self._read_archive()
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
        if self._ask_engine():
            found = probe.which(self._client, self.id, search.split(":"), name, self._probe_labels or {})
            if found is not None:
                return found[0]
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

    def _ask_engine(self) -> bool:
        """True if ``which()`` is cheaper asked of the engine than of the file tree: a big image
        whose tree no run has read yet (neither here, nor in the index, nor exported)."""
        if self._probe_labels is None or "_tree" in self.__dict__ or self.size < PROBE_IMAGE_SIZE:
            return False
        return self._index_dir is None or not index_path(self._index_dir, self.id).exists()

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
        self.files  # noqa: B018 - an export reads both
        with self._lock:
            if "_layers" not in self.__dict__:  # the tree came from the index: the layers too, or export
                kept = load_layers(self._index_dir, self.id) if self._index_dir is not None else None
                if kept is None:
                    self.__dict__["_tree"] = self._read_archive()
                else:
                    self.__dict__["_layers"] = kept
        return self.__dict__["_layers"]  # type: ignore[no-any-return]

    def _load_tree(self) -> FileTree:
        if not self._archive.exists() and self._index_dir is not None:
            kept = load_index(self._index_dir, self.id, self.short_id)
            if kept is not None:
                return kept
        return self._read_archive()

    def _read_archive(self) -> FileTree:
        """The tree from this run's export of the image (made if needed), kept in the index."""
        if not self._archive.exists():
            self._save()
        tree, layers = read_saved_image(self._archive, self.reference, self.short_id)
        self.__dict__["_layers"] = layers
        self._offsets = True
        if self._index_dir is not None:
            store_index(self._index_dir, self.id, tree, layers)
        return tree

    def __repr__(self) -> str:
        name = self.tags[0] if self.tags else self.short_id
        return f"<Image {name} {human_size(self.size)}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


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
