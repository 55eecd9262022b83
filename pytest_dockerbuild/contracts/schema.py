"""The contract model: a container-structure-test ``schemaVersion: 2.0.0`` file and its
``x-dockerbuild`` document, as frozen dataclasses.

:func:`load_contract` reads a file by yaml.v2's ``UnmarshalStrict`` rules, as CST does (an
unknown or duplicate key anywhere, or a value of the wrong type, is a problem), and raises one
:class:`ContractError` that lists every problem.  Nothing here touches an image or the engine;
:mod:`pytest_dockerbuild.plugin.contract_items` describes the feature as a whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_dockerbuild.errors import ContractError
from pytest_dockerbuild.image.efficiency import EfficiencyRules
from pytest_dockerbuild.image.image import parse_size

__all__ = [
    "BuildSpec",
    "CommandTest",
    "Contract",
    "EnvVar",
    "Extension",
    "FileContentTest",
    "FileExistenceTest",
    "LicenseTest",
    "MetadataTest",
    "RunOptions",
    "default_name",
    "load_contract",
]

DEFAULT_TIMEOUT = 300.0


# -- errors --------------------------------------------------------------------------
# -- the schema ----------------------------------------------------------------------
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
class Extension:
    """The ``x-dockerbuild`` document: which image, and its budgets."""

    name: str
    image: str | None = None
    build: BuildSpec | None = None
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


# -- strict YAML decoding (yaml.v2 UnmarshalStrict rules) -----------------------------
@dataclass(frozen=True)
class _Struct:
    where: str  #: how a message names it, e.g. "commandTests[]"
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class _List:
    item: Any


@dataclass(frozen=True)
class _Optional:
    """A list whose absence differs from emptiness (``cmd``, ``entrypoint``)."""

    item: Any


_STR, _INT, _BOOL, _MAP = "a string", "an integer", "a boolean", "a mapping"
_ENV = _Struct("envVars[]", {"key": _STR, "value": _STR, "isRegex": _BOOL})
_SCHEMA = _Struct(
    "the contract",
    {
        "schemaVersion": _STR,
        "globalEnvVars": _List(_ENV),
        "commandTests": _List(
            _Struct(
                "commandTests[]",
                {
                    "name": _STR, "setup": _List(_List(_STR)), "teardown": _List(_List(_STR)),
                    "envVars": _List(_ENV), "exitCode": _INT, "command": _STR, "args": _List(_STR),
                    "expectedOutput": _List(_STR), "excludedOutput": _List(_STR),
                    "expectedError": _List(_STR), "excludedError": _List(_STR),
                },
            )
        ),
        "fileExistenceTests": _List(
            _Struct(
                "fileExistenceTests[]",
                {
                    "name": _STR, "path": _STR, "shouldExist": _BOOL, "permissions": _STR,
                    "uid": _INT, "gid": _INT, "isExecutableBy": _STR,
                },
            )
        ),
        "fileContentTests": _List(
            _Struct(
                "fileContentTests[]",
                {"name": _STR, "path": _STR, "expectedContents": _List(_STR), "excludedContents": _List(_STR)},
            )
        ),
        "metadataTest": _Struct(
            "metadataTest",
            {
                "envVars": _List(_ENV), "unboundEnvVars": _List(_ENV), "labels": _List(_ENV),
                "exposedPorts": _List(_STR), "unexposedPorts": _List(_STR),
                "entrypoint": _Optional(_STR), "cmd": _Optional(_STR), "workdir": _STR,
                "volumes": _List(_STR), "unmountedVolumes": _List(_STR), "user": _STR,
            },
        ),
        "licenseTests": _List(_Struct("licenseTests[]", {"debian": _BOOL, "files": _List(_STR)})),
        "containerRunOptions": _Struct(
            "containerRunOptions",
            {
                "user": _STR, "privileged": _BOOL, "allocateTty": _BOOL, "envFile": _STR,
                "envVars": _List(_STR), "capabilities": _List(_STR), "bindMounts": _List(_STR),
            },
        ),
    },
)  # fmt: skip
_EXTENSION = _Struct(
    "x-dockerbuild",
    {
        "name": _STR,
        "image": _STR,
        "build": _Struct("x-dockerbuild.build", {"context": _STR, "dockerfile": _STR, "target": _STR, "args": _MAP}),
        "maxSize": _STR,
        "maxLayers": _INT,
        "efficiency": _Struct(
            "x-dockerbuild.efficiency",
            {"lowestEfficiency": _STR, "highestWastedBytes": _STR, "highestUserWastedPercent": _STR},
        ),
        "timeout": _STR,
    },
)
_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_NULL = {"", "~", "null", "Null", "NULL"}
_INT_RE = re.compile(r"[-+]?(?:0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)")


class _Decoder:
    """Decodes composed YAML nodes against a schema, collecting every problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, node: yaml.Node, text: str) -> None:
        self.problems.append(f"line {node.start_mark.line + 1}: {text}")

    @staticmethod
    def is_null(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.style is None and node.value in _NULL

    def decode(self, node: yaml.Node, kind: Any, where: str) -> Any:
        if isinstance(kind, _Struct):
            return self.struct(node, kind, where)
        if isinstance(kind, (_List, _Optional)):
            if self.is_null(node):
                return None
            if not isinstance(node, yaml.SequenceNode):
                self.problem(node, f"{where}: expected a list, got {_describe(node)}")
                return None
            return [self.decode(item, kind.item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        if kind == _MAP:
            if self.is_null(node):
                return {}
            if not isinstance(node, yaml.MappingNode):
                self.problem(node, f"{where}: expected a mapping, got {_describe(node)}")
                return {}
            return {
                self.scalar(k, _STR, f"{where} key"): self.scalar(v, _STR, f"{where}.{k.value}")
                for k, v in self.pairs(node, where)
            }
        return self.scalar(node, kind, where)

    def pairs(self, node: yaml.MappingNode, where: str) -> list[tuple[yaml.Node, yaml.Node]]:
        """The key/value pairs with ``<<`` merges applied; duplicate keys are problems."""
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge" or (isinstance(key, yaml.ScalarNode) and key.value == "<<"):
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.extend(self.pairs(source, where))
                    else:
                        self.problem(source, f"{where}: '<<' needs a mapping to merge")
            else:
                own.append((key, value))
        seen: set[str] = set()
        for key, _ in own:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            if name in seen:
                self.problem(key, f"{where}: key {name!r} appears twice")
            seen.add(name)
        own_keys = {str(k.value) for k, _ in own if isinstance(k, yaml.ScalarNode)}
        return [(k, v) for k, v in merged if str(k.value) not in own_keys] + own

    def struct(self, node: yaml.Node, kind: _Struct, where: str) -> dict[str, Any]:
        if self.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where}: expected a mapping, got {_describe(node)}")
            return {}
        result: dict[str, Any] = {"__line__": node.start_mark.line + 1}
        for key, value in self.pairs(node, where):
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            if name not in kind.fields:
                self.problem(key, f"unknown key {name!r} in {kind.where} (known keys: {', '.join(kind.fields)})")
                continue
            result[name] = self.decode(value, kind.fields[name], f"{where}.{name}" if where else name)
        return result

    def scalar(self, node: yaml.Node, kind: str, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, f"{where}: expected {kind}, got {_describe(node)}")
            return _zero(kind)
        text, plain = str(node.value), node.style is None
        if kind == _STR:
            return "" if plain and text in _NULL else text
        if plain and text in _NULL:
            return _zero(kind)
        if kind == _BOOL:
            if plain and text in _TRUE:
                return True
            if plain and text in _FALSE:
                return False
        elif kind == _INT and plain and _INT_RE.fullmatch(text):
            digits = text.replace("_", "")
            sign = -1 if digits.startswith("-") else 1
            digits = digits.lstrip("+-")
            if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
                return sign * int(digits, 8)  # Go's ParseInt(s, 0): a leading 0 is octal
            return sign * int(digits, 0)
        self.problem(node, f"{where}: expected {kind}, got {_describe(node)}")
        return _zero(kind)


def _zero(kind: str) -> Any:
    return {_STR: "", _INT: 0, _BOOL: False}.get(kind)


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    quoted = "" if getattr(node, "style", None) is None else "quoted "
    return f"the {quoted}value {node.value!r}"


# -- loading -------------------------------------------------------------------------
def default_name(path: Path) -> str:
    """The name a contract answers to when it sets none: ``app.cst.yaml`` -> ``app``."""
    name = path.name
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name.removesuffix(".cst")


def load_contract(path: str | os.PathLike[str]) -> Contract:
    """Read and check a contract file; :class:`ContractError` lists every problem."""
    path = Path(path).resolve()
    try:
        documents = list(yaml.compose_all(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))
    except (OSError, UnicodeDecodeError) as error:
        raise ContractError(path, [f"cannot read it: {error}"]) from None
    except yaml.YAMLError as error:
        raise ContractError(path, [f"not valid YAML: {error}".replace("\n", "\n  ")]) from None
    decoder = _Decoder()
    if not documents or documents[0] is None or decoder.is_null(documents[0]):
        raise ContractError(path, ["it is empty: a contract starts with `schemaVersion: 2.0.0`"])
    first, rest = documents[0], [d for d in documents[1:] if d is not None]
    if isinstance(first, yaml.MappingNode):
        for key, _ in first.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "x-dockerbuild":
                raise ContractError(
                    path,
                    [
                        f"line {key.start_mark.line + 1}: `x-dockerbuild` must be in a second YAML document "
                        "(after a `---` line): container-structure-test rejects unknown top-level keys, "
                        "and reads only the first document"
                    ],
                )
    raw = decoder.struct(first, _SCHEMA, "")
    extension_raw: dict[str, Any] = {}
    if len(rest) > 1:
        decoder.problem(rest[1], "a contract has at most two YAML documents (the contract, then x-dockerbuild)")
    if rest:
        wrapper = decoder.struct(rest[0], _Struct("the second document", {"x-dockerbuild": _EXTENSION}), "")
        extension_raw = wrapper.get("x-dockerbuild") or {}
    version = raw.get("schemaVersion", "")
    if decoder.problems:
        raise ContractError(path, decoder.problems)
    if not version:
        raise ContractError(path, ["it has no schemaVersion (write `schemaVersion: 2.0.0`)"])
    if version != "2.0.0":
        raise ContractError(
            path, [f"schemaVersion {version!r} is not supported: pytest-dockerbuild reads schemaVersion 2.0.0"]
        )
    problems: list[str] = []
    extension = _extension(path, extension_raw, problems)
    if problems:
        raise ContractError(path, problems)
    return Contract(
        path=path,
        schema_version=version,
        extension=extension,
        global_env_vars=_env_vars(raw.get("globalEnvVars")),
        command_tests=[_command(t) for t in raw.get("commandTests") or []],
        file_existence_tests=[
            FileExistenceTest(
                name=t.get("name", ""), path=t.get("path", ""), should_exist=t.get("shouldExist", True),
                permissions=t.get("permissions", ""), uid=t.get("uid", -1), gid=t.get("gid", -1),
                is_executable_by=t.get("isExecutableBy", ""), line=t["__line__"],
            )
            for t in raw.get("fileExistenceTests") or []
        ],
        file_content_tests=[
            FileContentTest(
                name=t.get("name", ""), path=t.get("path", ""),
                expected_contents=t.get("expectedContents") or [], excluded_contents=t.get("excludedContents") or [],
                line=t["__line__"],
            )
            for t in raw.get("fileContentTests") or []
        ],
        metadata=_metadata(raw.get("metadataTest") or {}),
        license_tests=[
            LicenseTest(debian=t.get("debian", False), files=t.get("files") or [], line=t["__line__"])
            for t in raw.get("licenseTests") or []
        ],
        run_options=_run_options(raw.get("containerRunOptions") or {}),
    )  # fmt: skip


def _env_vars(raw: list[dict[str, Any]] | None) -> list[EnvVar]:
    return [EnvVar(e.get("key", ""), e.get("value", ""), e.get("isRegex", False)) for e in raw or []]


def _command(raw: dict[str, Any]) -> CommandTest:
    return CommandTest(
        name=raw.get("name", ""), command=raw.get("command", ""), args=raw.get("args") or [],
        setup=[list(c or []) for c in raw.get("setup") or []],
        teardown=[list(c or []) for c in raw.get("teardown") or []],
        env_vars=_env_vars(raw.get("envVars")), exit_code=raw.get("exitCode", 0),
        expected_output=raw.get("expectedOutput") or [], excluded_output=raw.get("excludedOutput") or [],
        expected_error=raw.get("expectedError") or [], excluded_error=raw.get("excludedError") or [],
        line=raw["__line__"],
    )  # fmt: skip


def _metadata(raw: dict[str, Any]) -> MetadataTest:
    return MetadataTest(
        env_vars=_env_vars(raw.get("envVars")), unbound_env_vars=_env_vars(raw.get("unboundEnvVars")),
        labels=_env_vars(raw.get("labels")), exposed_ports=raw.get("exposedPorts") or [],
        unexposed_ports=raw.get("unexposedPorts") or [], entrypoint=raw.get("entrypoint"), cmd=raw.get("cmd"),
        workdir=raw.get("workdir", ""), volumes=raw.get("volumes") or [],
        unmounted_volumes=raw.get("unmountedVolumes") or [], user=raw.get("user", ""), line=raw.get("__line__", 0),
    )  # fmt: skip


def _run_options(raw: dict[str, Any]) -> RunOptions:
    return RunOptions(
        user=raw.get("user", ""), privileged=raw.get("privileged", False), allocate_tty=raw.get("allocateTty", False),
        env_file=raw.get("envFile", ""), env_vars=raw.get("envVars") or [], capabilities=raw.get("capabilities") or [],
        bind_mounts=raw.get("bindMounts") or [],
    )  # fmt: skip


def _extension(path: Path, raw: dict[str, Any], problems: list[str]) -> Extension:
    where = "x-dockerbuild"
    name = raw.get("name") or default_name(path)
    image, build_raw = raw.get("image") or None, raw.get("build")
    if image and build_raw is not None:
        problems.append(f"{where}: give `image` or `build`, not both")
    build = None
    if build_raw is not None:
        context = (path.parent / (build_raw.get("context") or ".")).resolve()
        if not context.is_dir():
            problems.append(f"{where}.build.context: {str(context)!r} is not a folder")
        build = BuildSpec(
            context=context,
            dockerfile=build_raw.get("dockerfile") or None,
            target=build_raw.get("target") or None,
            args=dict(build_raw.get("args") or {}),
        )
    max_size = max_layers = None
    rules = None
    timeout = DEFAULT_TIMEOUT
    try:
        if raw.get("maxSize"):
            max_size = parse_size(raw["maxSize"])
    except ValueError as error:
        problems.append(f"{where}.maxSize: {error}")
    if "maxLayers" in raw:
        max_layers = int(raw["maxLayers"])
    if "efficiency" in raw:
        try:
            rules = EfficiencyRules.from_mapping(raw["efficiency"], f"{where}.efficiency")
        except ValueError as error:
            problems.append(str(error))
    if raw.get("timeout"):
        try:
            timeout = float(raw["timeout"])
        except ValueError:
            problems.append(f"{where}.timeout: {raw['timeout']!r} is not a number of seconds")
    return Extension(name, image, build, max_size, max_layers, rules, timeout)
