"""The contract model: a container-structure-test ``schemaVersion: 2.0.0`` file and its
``x-dockerbuild`` document, as frozen dataclasses.

Data only: :mod:`pytest_dockerbuild.contracts.schema` reads a file into a :class:`Contract`,
:mod:`pytest_dockerbuild.contracts.checks` and :mod:`pytest_dockerbuild.contracts.runner`
check an image against one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pytest_dockerbuild.image import EfficiencyRules

__all__ = [
    "DEFAULT_TIMEOUT",
    "BuildSpec",
    "CommandTest",
    "ComposeService",
    "Contract",
    "EnvVar",
    "Extension",
    "FileContentTest",
    "FileExistenceTest",
    "LicenseTest",
    "MetadataTest",
    "RunOptions",
]

DEFAULT_TIMEOUT = 300.0  #: seconds a command may run, unless x-dockerbuild sets ``timeout``


@dataclass(frozen=True)
class EnvVar:
    key: str
    value: str
    is_regex: bool = False


@dataclass(frozen=True)
class CommandTest:
    name: str
    command: str
    args: list[str] = field(default_factory=list)
    setup: list[list[str]] = field(default_factory=list)
    teardown: list[list[str]] = field(default_factory=list)
    env_vars: list[EnvVar] = field(default_factory=list)
    exit_code: int = 0
    expected_output: list[str] = field(default_factory=list)
    excluded_output: list[str] = field(default_factory=list)
    expected_error: list[str] = field(default_factory=list)
    excluded_error: list[str] = field(default_factory=list)
    line: int = 0  #: 1-based line of the test in the file


@dataclass(frozen=True)
class FileExistenceTest:
    name: str
    path: str
    should_exist: bool = True
    permissions: str = ""
    uid: int = -1  #: -1 = unchecked
    gid: int = -1
    is_executable_by: str = ""
    line: int = 0


@dataclass(frozen=True)
class FileContentTest:
    name: str
    path: str
    expected_contents: list[str] = field(default_factory=list)
    excluded_contents: list[str] = field(default_factory=list)
    line: int = 0


@dataclass(frozen=True)
class MetadataTest:
    env_vars: list[EnvVar] = field(default_factory=list)
    unbound_env_vars: list[EnvVar] = field(default_factory=list)
    labels: list[EnvVar] = field(default_factory=list)
    exposed_ports: list[str] = field(default_factory=list)
    unexposed_ports: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None  #: None = unchecked, [] = must be empty
    cmd: list[str] | None = None
    workdir: str = ""
    volumes: list[str] = field(default_factory=list)
    unmounted_volumes: list[str] = field(default_factory=list)
    user: str = ""
    line: int = 0

    def is_empty(self) -> bool:
        """CST skips a metadata test with nothing to check."""
        return not (
            self.env_vars or self.unbound_env_vars or self.labels or self.exposed_ports or self.unexposed_ports
            or self.entrypoint is not None or self.cmd is not None or self.workdir or self.volumes
            or self.unmounted_volumes or self.user
        )  # fmt: skip


@dataclass(frozen=True)
class LicenseTest:
    debian: bool = False
    files: list[str] = field(default_factory=list)
    line: int = 0


@dataclass(frozen=True)
class RunOptions:
    """``containerRunOptions``: how command-test containers are created."""

    user: str = ""
    privileged: bool = False
    allocate_tty: bool = False
    env_file: str = ""
    env_vars: list[str] = field(default_factory=list)  #: names read from the environment of pytest
    capabilities: list[str] = field(default_factory=list)
    bind_mounts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildSpec:
    context: Path
    dockerfile: str | None = None
    target: str | None = None
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComposeService:
    """A service of a Compose file whose image a contract checks (built if it has ``build:``)."""

    file: Path
    service: str


@dataclass(frozen=True)
class Extension:
    """The ``x-dockerbuild`` document: which image, and its budgets."""

    name: str
    image: str | None = None
    build: BuildSpec | None = None
    compose: ComposeService | None = None
    max_size: int | None = None
    max_layers: int | None = None
    efficiency: EfficiencyRules | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Contract:
    path: Path
    schema_version: str
    extension: Extension
    global_env_vars: list[EnvVar] = field(default_factory=list)
    command_tests: list[CommandTest] = field(default_factory=list)
    file_existence_tests: list[FileExistenceTest] = field(default_factory=list)
    file_content_tests: list[FileContentTest] = field(default_factory=list)
    metadata: MetadataTest = field(default_factory=MetadataTest)
    license_tests: list[LicenseTest] = field(default_factory=list)
    run_options: RunOptions = field(default_factory=RunOptions)
