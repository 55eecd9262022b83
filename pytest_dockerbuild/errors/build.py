"""The errors of a Dockerfile that cannot be used and of a build that failed."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from pytest_dockerbuild.errors.base import DockerbuildError


class DockerfileError(DockerbuildError):
    """A Dockerfile cannot be used as given."""

    def __init__(self, message: str, dockerfile: Path) -> None:
        self.dockerfile = dockerfile  #: the Dockerfile in question
        super().__init__(message)


class DockerfileNotFound(DockerfileError):
    """The Dockerfile does not exist."""

    def __init__(self, dockerfile: Path, context: Path) -> None:
        self.context = context  #: the build context the Dockerfile was looked for in
        hint = "" if context.is_dir() else f" (and the build context {str(context)!r} is not a directory)"
        super().__init__(
            f"Dockerfile not found: {str(dockerfile)!r}{hint}.\n"
            "Pass dockerfile= (a path relative to the context, or absolute) or create it.",
            dockerfile,
        )


class DockerfileEmpty(DockerfileError):
    """The Dockerfile holds no instruction."""

    def __init__(self, dockerfile: Path) -> None:
        super().__init__(
            f"Dockerfile {str(dockerfile)!r} holds no instruction: it needs at least a FROM line.",
            dockerfile,
        )


class DockerfileSyntaxError(DockerfileError):
    """The Dockerfile cannot be parsed (unknown instruction, no FROM, bad arguments)."""

    def __init__(self, dockerfile: Path, line: int | None, problem: str) -> None:
        self.line = line  #: 1-based line number of the offending instruction, if known
        self.problem = problem  #: what is wrong, without the location
        where = f"{dockerfile}:{line}" if line else str(dockerfile)
        super().__init__(f"Dockerfile syntax error at {where}: {problem}", dockerfile)


class UnknownStage(DockerfileError):
    """A build target or stage reference names no stage of the Dockerfile."""

    def __init__(self, dockerfile: Path, stage: str, available: Sequence[str]) -> None:
        self.stage = stage  #: the stage that was asked for
        self.available = list(available)  #: the stages that exist, in file order
        super().__init__(
            f"Dockerfile {str(dockerfile)!r} has no stage {stage!r}; "
            f"its stages are: {', '.join(repr(s) for s in self.available) or '(none)'}.",
            dockerfile,
        )


class BuildFailed(DockerbuildError):
    """A build step failed: the engine reported an error while building."""

    def __init__(
        self,
        *,
        dockerfile: Path,
        reason: str,
        stage: str | None = None,
        step: int | None = None,
        steps_in_stage: int | None = None,
        instruction: str | None = None,
        line: int | None = None,
        exit_code: int | None = None,
        log: Sequence[str] = (),
        tail: int = 20,
        target: str | None = None,
        backend: str = "classic",
        engine_step: str | None = None,
    ) -> None:
        self.dockerfile = dockerfile  #: the Dockerfile that was built
        self.reason = reason  #: the engine's error message
        self.stage = stage  #: name of the failing stage (or its 0-based index as a string for unnamed stages)
        self.step = step  #: 1-based step number within the stage (its FROM is step 1)
        self.steps_in_stage = steps_in_stage  #: number of instructions in the failing stage
        self.instruction = instruction  #: the failing instruction as written in the Dockerfile
        self.line = line  #: 1-based Dockerfile line of the failing instruction
        self.exit_code = exit_code  #: exit code of a failing RUN, None for other failures (e.g. COPY)
        self.log = list(log)  #: the last lines of the build log (the whole log is in :attr:`log_file`)
        #: the file holding the whole build log, if it was written to one
        self.log_file: Path | None = getattr(log, "path", None)
        self.log_lines: int = getattr(log, "total", len(self.log))  #: how many lines the whole build log has
        self.tail = tail  #: how many lines of the log the message shows (ini ``dockerbuild_log_lines``)
        self.target = target  #: the build target asked for (None = last stage)
        self.backend = backend  #: "classic" or "buildkit"
        #: the step as the backend's own log numbers it (``Step 11/21``, ``[test 3/3]``), if known
        self.engine_step = engine_step
        self.service: str | None = None  #: the Compose service whose build it is, if any
        super().__init__(self._message(tail))

    def in_service(self, service: str) -> BuildFailed:
        """A copy that names the Compose service whose build failed."""
        named = copy.copy(self)
        named.service = service
        named.args = (named._message(self.tail),)
        return named

    @property
    def log_tail(self) -> list[str]:
        """The last lines of the build log, as many as the message shows."""
        return self.log[-self.tail :] if self.tail > 0 else []

    def _message(self, tail: int) -> str:
        where = f"stage {self.stage!r}" if self.stage is not None else "an unknown stage"
        if self.step is not None:
            where += f", step {self.step}/{self.steps_in_stage}" if self.steps_in_stage else f", step {self.step}"
        location = f"{self.dockerfile}:{self.line}" if self.line else str(self.dockerfile)
        if self.engine_step:
            location += f", {self.engine_step} of the {self.backend} log"
        service = f"service {self.service!r}, " if self.service else ""
        lines = [f"Docker build failed in {service}{where} ({location}):"]
        if self.instruction:
            lines.append(f"    {self.instruction}")
        lines.append(f"exit code: {self.exit_code}" if self.exit_code is not None else f"error: {self.reason}")
        if self.exit_code is not None:
            lines.append(f"error: {self.reason}")
        if self.target:
            lines.append(f"target: {self.target!r} ({self.backend} builder)")
        shown = self.log[-tail:] if tail > 0 else []
        if shown:
            lines.append(f"last {len(shown)} lines of the build log:")
            lines.extend(f"  | {entry}" for entry in shown)
        if self.log_file is not None:
            lines.append(f"the whole build log ({self.log_lines} lines): {self.log_file}")
        return "\n".join(lines)


class BaseImageMissing(DockerbuildError):
    """A FROM image is not in the engine's image store and could not be pulled."""

    def __init__(self, dockerfile: Path, stage: str, image: str, reason: str) -> None:
        self.dockerfile = dockerfile
        self.stage = stage
        self.image = image
        self.reason = reason
        super().__init__(
            f"Base image {image!r} of stage {stage!r} in {str(dockerfile)!r} is not in the engine "
            f"and could not be pulled: {reason}\n"
            "Build or load it first, or map it onto a local image with the ini option "
            f"`dockerbuild_base_images = {image}=<local image>` or `--dockerbuild-base-image`."
        )
