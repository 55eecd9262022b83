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

from pytest_dockerbuild.errors.base import (
    BackendUnavailable,
    BuildOptionError,
    ComposeError,
    ContractError,
    ContractFailure,
    DockerbuildError,
    DockerbuildWarning,
    DockerfileChecksFailed,
    EngineUnavailable,
    GoRegexError,
    ImageError,
    OptionError,
    PathNotFound,
    RegistryError,
    shown_path,
)
from pytest_dockerbuild.errors.build import (
    BaseImageMissing,
    BuildFailed,
    DockerfileEmpty,
    DockerfileError,
    DockerfileNotFound,
    DockerfileSyntaxError,
    UnknownStage,
)
from pytest_dockerbuild.errors.running import (
    ContainerError,
    ContainerExited,
    ContainerNotReady,
    RunFailed,
    RunOptionError,
)

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
