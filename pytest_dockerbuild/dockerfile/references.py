"""Image references: their canonical form for comparisons, their parts, and the base-image map.

The map (``FROM_IMAGE=LOCAL_IMAGE`` entries, from the ini file or the command line)
says which local image a build uses in place of a FROM image; its keys are normalized
references, as are the references it is looked up with.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["is_blank_reference", "normalize_image", "parse_image_map", "repository", "split_reference"]


def normalize_image(reference: str) -> str:
    """Canonical form of an image reference for comparisons: ``diamol/base`` ->
    ``diamol/base:latest``; ``docker.io/library/x`` -> ``x:latest``."""
    ref = reference.strip()
    for prefix in ("docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    if ref.startswith("library/") and ref.count("/") == 1:
        ref = ref[len("library/") :]
    if "@" in ref:
        return ref
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        ref += ":latest"
    return ref


def parse_image_map(entries: Iterable[str], source: str = "base image map") -> dict[str, str]:
    """Parse ``FROM_IMAGE=LOCAL_IMAGE`` entries into a normalized mapping.

    :raises ValueError: on an entry without ``=`` or with an empty side; the
        message names ``source`` (the ini key or command line option).
    """
    mapping: dict[str, str] = {}
    for raw in entries:
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        original, sep, replacement = entry.partition("=")
        if not sep or not original.strip() or not replacement.strip():
            raise ValueError(f"{source}: {entry!r} is not of the form IMAGE=REPLACEMENT")
        if any(side.strip() != "".join(side.split()) for side in (original, replacement)):
            raise ValueError(f"{source}: {entry!r}: an image reference has no spaces (one IMAGE=REPLACEMENT per line)")
        mapping[normalize_image(original)] = replacement.strip()
    return mapping


def split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """``(name, tag, digest)`` of an image reference; a registry port is not a tag."""
    name, _, digest = reference.partition("@")
    head, slash, last = name.rpartition("/")
    tag: str | None = None
    if ":" in last:
        last, _, tag = last.partition(":")
    return f"{head}{slash}{last}", tag, digest or None


def repository(reference: str) -> str:
    """The repository name of an image without registry, tag and digest: ``diamol/base``."""
    name = split_reference(normalize_image(reference))[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def is_blank_reference(reference: str) -> bool:
    """True for what an empty ARG makes of a reference: '', 'img:', 'img@', '/img', 'reg//img'."""
    return not reference or reference.endswith((":", "@")) or "" in reference.partition("@")[0].split("/")
