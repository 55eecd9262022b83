"""The content key of a build: a hash of every input the backend reads.

Two builds with the same key make the same image, so the key decides reuse
(in a session, across pytest-xdist workers, across runs).  It must hold every
input: the context files the backend sends (after the ignore file *that
backend* honours), the Dockerfile, build args, target, labels, substitutions,
the ids of every image any stage reads (the classic builder runs stages the
target does not need), the backend, and the environment the backend reads.
Leaving an input out serves a stale image; adding one only costs a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

from docker.utils.build import exclude_paths

from pytest_dockerbuild.build.backend import Backend
from pytest_dockerbuild.build.model import BuildRequest
from pytest_dockerbuild.dockerfile import Dockerfile, normalize_image
from pytest_dockerbuild.errors import DockerfileNotFound

__all__ = ["KEY_VERSION", "content_key", "context_digest", "external_images"]

KEY_VERSION = "6"


def content_key(
    request: BuildRequest, parsed: Dockerfile, backend: Backend, image_id: Callable[[str], str | None]
) -> str:
    """The key of ``request`` built by ``backend``; ``image_id(reference)`` is the engine's id of an
    image (None when it has none)."""
    bases = {}
    for image in external_images(parsed):
        replacement = request.image_map.get(normalize_image(image), image)
        bases[image] = image_id(replacement) or f"missing:{replacement}"
    header = {
        "version": KEY_VERSION,
        "backend": backend.name,
        "dockerfile": parsed.text,
        "target": request.target,
        "args": sorted(request.build_args.items()),
        "labels": sorted(request.image_labels.items()),
        "map": sorted(request.image_map.items()),
        "bases": sorted(bases.items()),
        "environment": sorted(backend.environment().items()),
        "options": request.options.key(),
        "contexts": sorted(_named_contexts(request, image_id).items()),
    }
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    patterns = backend.ignore_patterns(request.context, request.dockerfile)
    digest.update(context_digest(request.context, request.dockerfile, patterns).encode())
    return digest.hexdigest()


def _named_contexts(request: BuildRequest, image_id: Callable[[str], str | None]) -> dict[str, str]:
    """The extra named contexts: a folder by all its files (no ignore file applies), an image by id."""
    found = {}
    for name, where in request.options.build_contexts.items():
        if where.startswith("docker-image://"):
            reference = where.removeprefix("docker-image://")
            found[name] = image_id(reference) or f"missing:{reference}"
        elif "://" in where or where.startswith("git@"):
            found[name] = where  # fetched: the build is not repeatable (BuildOptions.unrepeatable)
        else:
            found[name] = context_digest(Path(where), Path(where) / ".pytest-dockerbuild-none", [])
    return found


def external_images(parsed: Dockerfile) -> list[str]:
    """Every image (not a stage) any stage builds FROM or copies from, in file order."""
    images: list[str] = []
    for stage in parsed.stages:
        found = ([stage.base] if stage.is_external_base else []) + parsed.copied_images(stage)
        images += [image for image in found if image not in images]
    return images


def context_digest(context: Path, dockerfile: Path, patterns: list[str]) -> str:
    """A hash of the files of the build context that ``patterns`` (ignore patterns) keep: paths,
    types, permission bits and contents; not timestamps."""
    if not context.is_dir():
        raise DockerfileNotFound(dockerfile, context)
    try:
        relative_dockerfile = str(dockerfile.relative_to(context))
    except ValueError:
        relative_dockerfile = "Dockerfile"
    digest = hashlib.sha256()
    for relative in sorted(exclude_paths(str(context), list(patterns), relative_dockerfile)):
        path = context / relative
        info = path.lstat()
        digest.update(f"{relative}\0{stat.S_IFMT(info.st_mode)}\0{info.st_mode & 0o7777}\0".encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path).encode())
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()
