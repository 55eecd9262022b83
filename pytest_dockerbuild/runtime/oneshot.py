"""One-shot containers: :func:`complete` starts a created container, waits for it to exit
(killing it at the deadline), reads its stdout and stderr apart, removes it whatever
happens, and returns a :class:`CompletedRun`.
:meth:`Runtime.run_once <pytest_dockerbuild.runtime.runtime.Runtime.run_once>` creates it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import docker.errors
import requests

from pytest_dockerbuild.engine.podman import explain_start
from pytest_dockerbuild.errors import ContainerError, RunFailed
from pytest_dockerbuild.runtime.containers import LOG_TAIL, Container, remove_container

__all__ = ["CompletedRun", "complete", "shown_command"]


@dataclass(frozen=True)
class CompletedRun:
    """What a one-shot container did: its exit code and its output, stream by stream
    (decoded as UTF-8, undecodable bytes replaced, exactly as written)."""

    exit_code: int
    stdout: str
    stderr: str
    command: str | list[str]  #: the command as given, or the image's (entrypoint and cmd)
    image: str  #: the image as given (a reference), or its first tag, or its id
    name: str = ""  #: the name the container had (it is removed)

    def check(self) -> CompletedRun:
        """Itself when the exit code is 0; else raise an error with the code and both streams."""
        if self.exit_code != 0:
            raise run_failed(self)
        return self


def run_failed(run: CompletedRun) -> RunFailed:
    """The error of a one-shot command that exited with another code than 0."""
    problem = f"{shown_command(run.command)} (image {run.image!r}) exited with code {run.exit_code}"
    return RunFailed(run.name or run.image, problem, _streams(run.stdout, run.stderr), exit_code=run.exit_code,
                     stdout=run.stdout, stderr=run.stderr, command=run.command, image=run.image)  # fmt: skip


def complete(
    container: Container, image: str, command: str | Sequence[str] | None, timeout: float, podman: bool = False
) -> CompletedRun:
    """Start ``container``, wait up to ``timeout`` seconds for it to exit, read its output and
    remove it (also when it cannot start, times out, or the wait is interrupted); ``podman``: the
    engine is Podman (a start failure says what to do about its rlimits)."""
    api = container.get_wrapped_container().client.api
    ran = _command(container, command)
    try:
        try:
            api.start(container.id)
        except docker.errors.APIError as error:
            reason = explain_start(str(error.explanation), podman)
            problem = f"cannot start {shown_command(ran)} (image {image!r}): {reason}"
            raise ContainerError(container.name, problem, container.logs(LOG_TAIL)) from None
        exit_code = _wait(api, container, timeout)
        if exit_code is None:
            _kill(api, container.id)
            problem = f"{shown_command(ran)} (image {image!r}) did not exit within timeout={timeout:g} s; it was killed"
            raise ContainerError(container.name, problem, container.logs(LOG_TAIL))
        stdout, stderr = _output(api, container)
        return CompletedRun(exit_code, stdout, stderr, ran, image, container.name)
    finally:
        remove_container(api, container.id)


def shown_command(command: str | Sequence[str]) -> str:
    """A command as a shell would read it, in backquotes."""
    return f"`{command if isinstance(command, str) else shlex.join(command)}`"


def _command(container: Container, command: str | Sequence[str] | None) -> str | list[str]:
    """The command as given, or what the container runs (the image's entrypoint and cmd)."""
    if command is not None:
        return command if isinstance(command, str) else list(command)
    attrs = container.attrs
    return [str(attrs.get("Path") or ""), *(str(arg) for arg in attrs.get("Args") or [])]


def _wait(api: docker.APIClient, container: Container, timeout: float) -> int | None:
    """The exit code, or None if it still runs after ``timeout`` seconds."""
    try:
        status = api.wait(container.id, timeout=timeout)
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
        # the SDK's read timeout (a ConnectionError on a unix socket); an engine that went
        # away fails the inspection
        state = api.inspect_container(container.id).get("State") or {}
        return None if state.get("Running") else int(state.get("ExitCode", -1))
    error = (status.get("Error") or {}).get("Message")
    if error:
        raise ContainerError(container.name, f"waiting for it to exit failed: {error}", container.logs(LOG_TAIL))
    return int(status.get("StatusCode", -1))


def _kill(api: docker.APIClient, container: str) -> None:
    try:
        api.kill(container)
    except docker.errors.APIError:
        pass  # it exited meanwhile


def _output(api: docker.APIClient, container: Container) -> tuple[str, str]:
    """stdout and stderr apart (with a TTY, the engine keeps one stream: all is stdout)."""
    try:
        stdout: bytes = api.logs(container.id, stdout=True, stderr=False)
        tty = bool((container.attrs.get("Config") or {}).get("Tty"))
        stderr: bytes = b"" if tty else api.logs(container.id, stdout=False, stderr=True)
    except docker.errors.APIError as error:
        raise ContainerError(container.name, f"cannot read its output: {error.explanation}", "") from None
    return stdout.decode("utf-8", errors="replace"), stderr.decode("utf-8", errors="replace")


def _streams(stdout: str, stderr: str) -> str:
    """Both streams for a message, each headed and cut to its last lines."""
    shown: list[str] = []
    for label, text in (("stdout", stdout), ("stderr", stderr)):
        lines = text.splitlines()
        if not lines:
            shown.append(f"{label}: (empty)")
            continue
        cut = f" (last {LOG_TAIL} of {len(lines)} lines)" if len(lines) > LOG_TAIL else ""
        shown += [f"{label}{cut}:", *lines[-LOG_TAIL:]]
    return "\n".join(shown)
