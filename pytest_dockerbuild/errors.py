"""The exception tree of pytest-dockerbuild.

Every error the plugin raises derives from :class:`DockerbuildError` and carries
the context needed to act on it (which file, which stage, what to do)::

    DockerbuildError
    ├── EngineUnavailable          the Docker Engine does not answer
    ├── BackendUnavailable         a builder backend cannot be used here (.backend)
    ├── OptionError                an option of a call cannot be used as given (.option, .problem)
    │   ├── BuildOptionError       of build() and expect_failure()
    │   └── RunOptionError         of run() and run_once()
    ├── DockerfileError            a Dockerfile cannot be used (.dockerfile)
    │   ├── DockerfileNotFound
    │   ├── DockerfileEmpty
    │   ├── DockerfileSyntaxError  (.line)
    │   └── UnknownStage           (.stage, .available)
    ├── BuildFailed                a build step failed (.stage, .step, .instruction,
    │                              .exit_code, .log_tail, .line, .log, .log_file)
    ├── BaseImageMissing           a FROM image is not in the engine and cannot be pulled
    ├── ComposeError               a Compose file cannot be used, or Compose failed (.files)
    ├── ImageError                 inspecting an image failed (.image)
    │   ├── PathNotFound           (.path)
    │   └── RegistryError          a push or pull failed (.image: the registry reference)
    ├── ContractError              a contract file cannot be used (.path, .problems)
    ├── ContractFailure            a contract test failed (also an AssertionError)
    ├── GoRegexError               a pattern Go's RE2 rejects (also a ValueError)
    ├── DockerfileChecksFailed     the static checks found problems (.findings; an AssertionError)
    └── ContainerError             a container failed (.container, .logs)
        ├── ContainerExited        it stopped before it was ready (.exit_code)
        ├── RunFailed              a one-shot command exited with another code than 0 (.exit_code,
        │                          .stdout, .stderr)
        └── ContainerNotReady      not ready by the deadline (.waiting_for, .last_probe)

Warnings (:class:`DockerbuildWarning`, a ``UserWarning``) say what a build was given and
did not use.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_dockerbuild.lint import Finding

__all__ = [
    "BackendUnavailable",
    "BaseImageMissing",
    "BuildFailed",
    "BuildOptionError",
    "ComposeError",
    "ContainerError",
    "ContainerExited",
    "ContainerNotReady",
    "ContractError",
    "ContractFailure",
    "DockerbuildError",
    "DockerbuildWarning",
    "DockerfileChecksFailed",
    "DockerfileEmpty",
    "DockerfileError",
    "DockerfileNotFound",
    "DockerfileSyntaxError",
    "EngineUnavailable",
    "GoRegexError",
    "ImageError",
    "OptionError",
    "PathNotFound",
    "RegistryError",
    "RunFailed",
    "RunOptionError",
    "UnknownStage",
    "shown_path",
]


class DockerbuildError(Exception):
    """Base class of every error raised by pytest-dockerbuild."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors: copy and pickle (xdist) by state, not by arguments.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[DockerbuildError], args: tuple[Any, ...], state: dict[str, Any]) -> DockerbuildError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class EngineUnavailable(DockerbuildError):
    """The Docker Engine cannot be reached."""

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint  #: where the engine was expected (``DOCKER_HOST`` or the default socket)
        self.reason = reason  #: what the docker SDK said
        super().__init__(
            f"Cannot reach the Docker Engine at {endpoint}: {reason}\n"
            "Start the engine (e.g. `sudo dockerd &` or `systemctl start docker`), or point "
            "DOCKER_HOST at a running one, then re-run."
        )


def shown_path(path: Path) -> str:
    """A path as messages show it: relative to the current directory when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class BackendUnavailable(DockerbuildError):
    """A builder backend was asked for that does not exist or cannot work here."""

    def __init__(self, backend: str, reason: str) -> None:
        self.backend = backend  #: the backend asked for
        self.reason = reason  #: why it cannot be used, and what to do
        super().__init__(f"the {backend!r} backend cannot be used: {reason}")


class OptionError(DockerbuildError):
    """An option of a call cannot be used as given."""

    def __init__(self, option: str, problem: str) -> None:
        self.option = option  #: the option, as the call names it (``secrets``, ``volumes``...)
        self.problem = problem  #: what is wrong, and what to do
        super().__init__(f"{option}=: {problem}")


class BuildOptionError(OptionError):
    """A build option cannot be used as given: a bad value, or one this backend or engine cannot honour."""


class DockerbuildWarning(UserWarning):
    """Something a build was given that it does not use (a build arg no stage declares...)."""


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


class ComposeError(DockerbuildError):
    """A Compose file cannot be used (it does not parse, names no such service...), or Compose failed."""

    def __init__(self, message: str, files: Sequence[Path] = ()) -> None:
        self.files = list(files)  #: the Compose files in question
        super().__init__(message)


class ImageError(DockerbuildError):
    """Inspecting an image failed."""

    def __init__(self, image: str, message: str) -> None:
        self.image = image  #: the image id or reference
        super().__init__(message)


class PathNotFound(ImageError, KeyError):
    """A path does not exist in an image's file tree."""

    def __init__(self, image: str, path: str, nearby: Sequence[str] = ()) -> None:
        self.path = path  #: the path that was asked for
        hint = f"; entries in its folder: {', '.join(nearby[:10])}" if nearby else ""
        super().__init__(image, f"{path!r} does not exist in image {image}{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RegistryError(ImageError):
    """A push or pull failed, or the registry has another digest (.image: the reference)."""


class ContainerError(DockerbuildError):
    """A container could not be created, started or used."""

    def __init__(self, container: str, problem: str, logs: str) -> None:
        self.container = container  #: the container's name
        self.problem = problem  #: what went wrong, without the logs
        self.logs = logs  #: the last lines of its output
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"container {self.container}: {self.problem}"
        if self.logs.strip():
            lines = self.logs.rstrip("\n").splitlines()
            text += f"\nlast {len(lines)} lines of its output:\n" + "\n".join(f"  | {line}" for line in lines)
        else:
            text += "\n(it wrote no output)"
        return text


class RunFailed(ContainerError):
    """A one-shot command (``run_once(...).check()``) exited with another code than 0."""

    def __init__(
        self, container: str, problem: str, logs: str, *, exit_code: int, stdout: str, stderr: str,
        command: str | Sequence[str] | None, image: str,
    ) -> None:  # fmt: skip
        self.exit_code = exit_code  #: the command's exit code
        self.stdout = stdout  #: all it wrote to stdout
        self.stderr = stderr  #: all it wrote to stderr
        self.command = command  #: the command run (None: the image's own)
        self.image = image  #: the image it ran
        super().__init__(container, problem, logs)


class RunOptionError(OptionError):
    """A run option (``run()``, ``run_once()``: ``volumes``, ``env_file``...) cannot be used as given."""


class ContainerExited(ContainerError):
    """The container stopped while the plugin waited for it to be ready."""

    def __init__(self, container: str, exit_code: int | None, logs: str) -> None:
        self.exit_code = exit_code  #: its exit code
        super().__init__(container, f"exited with code {exit_code} before it was ready", logs)


class ContainerNotReady(ContainerError):
    """The container did not become ready by the deadline."""

    def __init__(self, container: str, waiting_for: str, last_probe: str, logs: str) -> None:
        self.waiting_for = waiting_for  #: the readiness conditions still pending
        self.last_probe = last_probe  #: what the last probe saw
        super().__init__(container, f"not ready: waited for {waiting_for}; last probe: {last_probe}", logs)


class ContractError(DockerbuildError):
    """A contract file cannot be used: bad YAML, an unknown key, a wrong type, no image."""

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.path = Path(path)  #: the contract file
        self.problems = list(problems)  #: what is wrong, one line each
        shown = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"contract {shown_path(self.path)} cannot be used:\n{shown}")


class ContractFailure(DockerbuildError, AssertionError):
    """A contract test failed; the message lists each mismatch and the output seen."""


class GoRegexError(DockerbuildError, ValueError):
    """A pattern Go's RE2 rejects, or one the translation to Python cannot express."""


class DockerfileChecksFailed(DockerbuildError, AssertionError):
    """The static checks of a Dockerfile found problems."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)  #: what the checks found
        super().__init__("\n".join(str(finding) for finding in self.findings) or "no findings")
