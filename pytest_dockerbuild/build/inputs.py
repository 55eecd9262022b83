"""What a ``build()`` call names, checked before anything is built: its paths (relative to
the test file that asks) and its build args (each declared by an ARG, as docker warns)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from pytest_dockerbuild.build.model import BuildRequest
from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.errors import BuildOptionError, DockerbuildWarning

__all__ = ["PREDEFINED_ARGS", "resolve_path", "unused_build_args"]

_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
#: build args every build takes without an ARG (docker does not warn about them)
PREDEFINED_ARGS = frozenset(
    [*_PROXIES, *(name.lower() for name in _PROXIES), "SOURCE_DATE_EPOCH", "BUILDKIT_INLINE_CACHE", "BUILDKIT_SYNTAX",
     "BUILDKIT_CONTEXT_KEEP_GIT_DIR", "BUILDKIT_MULTI_PLATFORM", "BUILDKIT_SANDBOX_HOSTNAME"]
)  # fmt: skip


def resolve_path(path: str | os.PathLike[str], folder: Path | None) -> Path:
    """``path`` made absolute: relative to ``folder`` (the test file's that asks); a path that
    is not there but is in the current directory is read from there, with a warning."""
    given = Path(path)
    if given.is_absolute() or folder is None:
        return given.resolve()
    if not (folder / given).exists() and given.exists():
        warnings.warn(DockerbuildWarning(
            f"{str(path)!r} is not in {folder}, the folder of the test file that asks for it: read from the "
            f"current directory instead ({given.resolve()}); write it relative to the test file, or absolute"
        ), stacklevel=4)  # fmt: skip
        return given.resolve()
    return (folder / given).resolve()


def unused_build_args(request: BuildRequest, parsed: Dockerfile, strict: bool) -> list[str]:
    """A warning (an error when ``strict``) for build args that no ARG declares."""
    unused = sorted(set(request.build_args) - parsed.declared_args() - PREDEFINED_ARGS)
    if not unused:
        return []
    message = (f"build arg{'s' if len(unused) > 1 else ''} {', '.join(unused)} not declared by any ARG of "
               f"{request.describe()}: the build does not use {'them' if len(unused) > 1 else 'it'}")  # fmt: skip
    if strict:
        raise BuildOptionError("build_args", message)
    warnings.warn(DockerbuildWarning(message), stacklevel=3)
    return [message]
