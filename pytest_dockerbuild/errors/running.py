"""The errors of a container that failed, and of the options of a run."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_dockerbuild.errors.base import DockerbuildError, OptionError


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
