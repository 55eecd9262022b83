"""What a builder backend is: the :class:`Backend` protocol, what it receives
(:class:`BuildJob`) and what it returns (:class:`BuildOutput`).

A backend runs one build on the engine and parses its own output into the
result model; it never sees the :class:`~pytest_dockerbuild.build.builder.Builder`.
Backends are listed in :mod:`pytest_dockerbuild.build.registry`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from pytest_dockerbuild.build.log import BuildLog
from pytest_dockerbuild.build.model import BuildRequest, StageResult
from pytest_dockerbuild.dockerfile import Dockerfile, normalize_image
from pytest_dockerbuild.engine.naming import pending_tag
from pytest_dockerbuild.errors import BuildFailed

if TYPE_CHECKING:
    from pytest_dockerbuild.engine.client import Engine

__all__ = [
    "Backend",
    "BuildJob",
    "BuildOutput",
    "dockerignore",
    "failure_at",
    "original_line",
    "read_patterns",
    "remote_sources",
    "resolve_base",
]


@dataclass
class BuildJob:
    """One build for a backend to run."""

    request: BuildRequest
    dockerfile: Dockerfile  #: the parsed Dockerfile of the request
    key: str  #: its content key (the image is tagged with it: :func:`~pytest_dockerbuild.engine.naming.key_tag`)
    log: BuildLog  #: where the backend writes the build log
    engine: Engine  #: the engine (its client, a connection of its own, the journal of what it commits)
    log_tail: int = 20  #: lines of log a failure message shows
    #: the registry (``host:port[/prefix]``) through which a builder that builds outside ``engine``
    #: hands its image over (``--dockerbuild-share-via``, else ``--dockerbuild-push``); not in the key
    transit: str | None = None

    @property
    def pending_tag(self) -> str:
        """The tag the backend leaves on the image it built (the builder tags it by its key once
        the key is checked again): so that it never dangles, even if the process dies between."""
        return pending_tag(self.request.context, self.request.target, self.key)


@dataclass
class BuildOutput:
    """What a successful build made."""

    image_id: str
    stages: list[StageResult]
    seconds: float


class Backend(Protocol):
    """A way to build: it names itself, says whether it works here, which files it reads, and
    builds (raising :class:`~pytest_dockerbuild.errors.BuildFailed` and the Dockerfile errors)."""

    name: ClassVar[str]  #: as ``--dockerbuild-backend`` and ``backend=`` name it
    #: the :class:`~pytest_dockerbuild.build.options.BuildOptions` it can honour (by field name)
    supported: ClassVar[frozenset[str]]

    def unavailable(self) -> str | None:
        """Why it cannot build here (and what to do), or None if it can."""
        ...

    def environment(self) -> dict[str, str]:
        """What it reads of this process's environment that can change what it builds (part of
        the content key)."""
        ...

    def ignore_patterns(self, context: Path, dockerfile: Path) -> list[str]:
        """The ignore patterns the content key applies, as docker-py's matcher reads them, to
        find the context files the backend sends.  A backend whose own matcher may keep a file
        docker-py's drops gives fewer patterns (the key hashes more files, never fewer)."""
        ...

    def unrepeatable(self, request: BuildRequest, dockerfile: Dockerfile) -> list[str]:
        """Why an earlier run's image for the same content key may differ from a build now (an
        input no key holds: a URL it fetches, the git commit it labels...); [] when none."""
        ...

    def build(self, job: BuildJob) -> BuildOutput:
        """Build, leaving the image tagged :attr:`BuildJob.pending_tag` (not by its key); raise
        :class:`~pytest_dockerbuild.errors.BuildFailed` and the Dockerfile errors."""
        ...


def dockerignore(context: Path) -> Path | None:
    """The context's ``.dockerignore``, if there is one."""
    path = context / ".dockerignore"
    return path if path.is_file() else None


def read_patterns(ignore: Path | None) -> list[str]:
    """The patterns of an ignore file (as docker-py reads them)."""
    if ignore is None:
        return []
    lines = [line.strip() for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def remote_sources(dockerfile: Dockerfile) -> list[str]:
    """``ADD`` sources fetched from the network without a pinned checksum (a URL, a git
    repository), or that a variable names (it may hold one): what they hold is in no key."""
    found = []
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword == "ADD" and "checksum" not in instruction.flags:
                found += [f"line {instruction.line}: ADD {source}" for source in instruction.arguments[:-1]
                          if "$" in source or re.match(r"^(https?://|git@|git://|ssh://)", source)]  # fmt: skip
    return found


def original_line(dockerfile: Dockerfile, sent: int, added: Collection[int] | None = None) -> int:
    """The line of the user's Dockerfile of line ``sent`` of the text a backend sent, which has
    one line more after the FROM of each stage in ``added`` (default: every stage; see
    :func:`~pytest_dockerbuild.dockerfile.rewrite.added_after_from`)."""
    shift = 0  # the lines added above the stage's FROM
    for stage in dockerfile.stages:
        if added is not None and stage.index not in added:
            continue
        if stage.instructions[0].end_line + shift >= sent:
            break
        shift += 1
    return sent - shift


def resolve_base(request: BuildRequest, base: str, external: bool) -> str:
    """The image a stage is built FROM after substitution (``base`` itself for an earlier stage)."""
    return request.image_map.get(normalize_image(base), base) if external else base


def failure_at(
    job: BuildJob, reason: str, *, stage_index: int | None = None, step: int | None = None,
    exit_code: int | None = None, log: Sequence[str] = (), engine_step: str | None = None,
) -> BuildFailed:  # fmt: skip
    """A :class:`BuildFailed` for a failure at ``step`` (1-based, FROM is 1) of stage ``stage_index``."""
    stages = job.dockerfile.stages
    stage = stages[stage_index] if stage_index is not None and 0 <= stage_index < len(stages) else None
    instruction = None
    if stage is not None and step is not None and 0 < step <= len(stage.instructions):
        instruction = stage.instructions[step - 1]
    return BuildFailed(
        dockerfile=job.request.dockerfile,
        reason=job.log.redact(reason),
        stage=stage.ref if stage else None,
        step=step,
        steps_in_stage=len(stage.instructions) if stage else None,
        instruction=instruction.text if instruction else None,
        line=instruction.line if instruction else None,
        exit_code=exit_code,
        log=log,
        tail=job.log_tail,
        target=job.request.target,
        backend=job.request.backend,
        engine_step=engine_step,
    )
