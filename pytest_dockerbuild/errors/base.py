"""The root of the exception tree, and the errors of the engine, options, images,
Compose files and contracts (the tree is drawn in :mod:`pytest_dockerbuild.errors`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_dockerbuild.lint import Finding


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
