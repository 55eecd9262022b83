"""Reading a contract file: container-structure-test ``schemaVersion: 2.0.0`` and the
``x-dockerbuild`` document, checked key by key and turned into a :class:`Contract`.

:func:`load_contract` decodes the file by yaml.v2's ``UnmarshalStrict`` rules, as CST does (an
unknown or duplicate key anywhere, or a value of the wrong type, is a problem; see
:mod:`pytest_dockerbuild.contracts.strict_yaml`), against the keys below, and raises one
:class:`ContractError` that lists every problem.  The dataclasses it returns are in
:mod:`pytest_dockerbuild.contracts.model` (and importable from here).  Nothing here touches an
image or the engine; :mod:`pytest_dockerbuild.plugin.contract_items` describes the feature as a whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from pytest_dockerbuild.contracts.model import (
    DEFAULT_TIMEOUT,
    BuildSpec,
    CommandTest,
    ComposeService,
    Contract,
    EnvVar,
    Extension,
    FileContentTest,
    FileExistenceTest,
    LicenseTest,
    MetadataTest,
    RunOptions,
)
from pytest_dockerbuild.contracts.strict_yaml import BOOL, INT, MAP, STR, Decoder, ListOf, OptionalList, Struct
from pytest_dockerbuild.errors import ContractError
from pytest_dockerbuild.image import EfficiencyRules, parse_size

__all__ = ["default_name", "load_contract"]


# -- the keys of a contract file ---------------------------------------------------------
_ENV = Struct("envVars[]", {"key": STR, "value": STR, "isRegex": BOOL})
_SCHEMA = Struct(
    "the contract",
    {
        "schemaVersion": STR,
        "globalEnvVars": ListOf(_ENV),
        "commandTests": ListOf(
            Struct(
                "commandTests[]",
                {
                    "name": STR, "setup": ListOf(ListOf(STR)), "teardown": ListOf(ListOf(STR)),
                    "envVars": ListOf(_ENV), "exitCode": INT, "command": STR, "args": ListOf(STR),
                    "expectedOutput": ListOf(STR), "excludedOutput": ListOf(STR),
                    "expectedError": ListOf(STR), "excludedError": ListOf(STR),
                },
            )
        ),
        "fileExistenceTests": ListOf(
            Struct(
                "fileExistenceTests[]",
                {
                    "name": STR, "path": STR, "shouldExist": BOOL, "permissions": STR,
                    "uid": INT, "gid": INT, "isExecutableBy": STR,
                },
            )
        ),
        "fileContentTests": ListOf(
            Struct(
                "fileContentTests[]",
                {"name": STR, "path": STR, "expectedContents": ListOf(STR), "excludedContents": ListOf(STR)},
            )
        ),
        "metadataTest": Struct(
            "metadataTest",
            {
                "envVars": ListOf(_ENV), "unboundEnvVars": ListOf(_ENV), "labels": ListOf(_ENV),
                "exposedPorts": ListOf(STR), "unexposedPorts": ListOf(STR),
                "entrypoint": OptionalList(STR), "cmd": OptionalList(STR), "workdir": STR,
                "volumes": ListOf(STR), "unmountedVolumes": ListOf(STR), "user": STR,
            },
        ),
        "licenseTests": ListOf(Struct("licenseTests[]", {"debian": BOOL, "files": ListOf(STR)})),
        "containerRunOptions": Struct(
            "containerRunOptions",
            {
                "user": STR, "privileged": BOOL, "allocateTty": BOOL, "envFile": STR,
                "envVars": ListOf(STR), "capabilities": ListOf(STR), "bindMounts": ListOf(STR),
            },
        ),
    },
)  # fmt: skip
_EXTENSION = Struct(
    "x-dockerbuild",
    {
        "name": STR,
        "image": STR,
        "build": Struct("x-dockerbuild.build", {"context": STR, "dockerfile": STR, "target": STR, "args": MAP}),
        "compose": Struct("x-dockerbuild.compose", {"file": STR, "service": STR}),
        "maxSize": STR,
        "maxLayers": INT,
        "efficiency": Struct(
            "x-dockerbuild.efficiency",
            {"lowestEfficiency": STR, "highestWastedBytes": STR, "highestUserWastedPercent": STR},
        ),
        "timeout": STR,
    },
)
_SECOND_DOCUMENT = Struct("the second document", {"x-dockerbuild": _EXTENSION})


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
    raw, extension_raw = _decode(path, _compose(path))
    version = _schema_version(path, raw)
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
        file_existence_tests=[_file_existence(t) for t in raw.get("fileExistenceTests") or []],
        file_content_tests=[_file_content(t) for t in raw.get("fileContentTests") or []],
        metadata=_metadata(raw.get("metadataTest") or {}),
        license_tests=[_license(t) for t in raw.get("licenseTests") or []],
        run_options=_run_options(raw.get("containerRunOptions") or {}),
    )


def _compose(path: Path) -> list[yaml.Node]:
    """The file's YAML documents, composed (not yet decoded)."""
    try:
        return list(yaml.compose_all(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))
    except (OSError, UnicodeDecodeError) as error:
        raise ContractError(path, [f"cannot read it: {error}"]) from None
    except yaml.YAMLError as error:
        raise ContractError(path, [f"not valid YAML: {error}".replace("\n", "\n  ")]) from None


def _decode(path: Path, documents: list[yaml.Node]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The contract document and the ``x-dockerbuild`` mapping, decoded; any problem raises."""
    decoder = Decoder()
    if not documents or documents[0] is None or decoder.is_null(documents[0]):
        raise ContractError(path, ["it is empty: a contract starts with `schemaVersion: 2.0.0`"])
    first, rest = documents[0], [d for d in documents[1:] if d is not None]
    _reject_inline_extension(path, first)
    raw = decoder.struct(first, _SCHEMA, "")
    extension_raw: dict[str, Any] = {}
    if len(rest) > 1:
        decoder.problem(rest[1], "a contract has at most two YAML documents (the contract, then x-dockerbuild)")
    if rest:
        extension_raw = decoder.struct(rest[0], _SECOND_DOCUMENT, "").get("x-dockerbuild") or {}
    if decoder.problems:
        raise ContractError(path, decoder.problems)
    return raw, extension_raw


def _reject_inline_extension(path: Path, first: yaml.Node) -> None:
    """``x-dockerbuild`` in the first document would make CST reject the file."""
    if not isinstance(first, yaml.MappingNode):
        return
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


def _schema_version(path: Path, raw: dict[str, Any]) -> str:
    version: str = raw.get("schemaVersion", "")
    if not version:
        raise ContractError(path, ["it has no schemaVersion (write `schemaVersion: 2.0.0`)"])
    if version != "2.0.0":
        raise ContractError(
            path, [f"schemaVersion {version!r} is not supported: pytest-dockerbuild reads schemaVersion 2.0.0"]
        )
    return version


# -- decoded mappings -> the model -------------------------------------------------------
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


def _file_existence(raw: dict[str, Any]) -> FileExistenceTest:
    return FileExistenceTest(
        name=raw.get("name", ""), path=raw.get("path", ""), should_exist=raw.get("shouldExist", True),
        permissions=raw.get("permissions", ""), uid=raw.get("uid", -1), gid=raw.get("gid", -1),
        is_executable_by=raw.get("isExecutableBy", ""), line=raw["__line__"],
    )  # fmt: skip


def _file_content(raw: dict[str, Any]) -> FileContentTest:
    return FileContentTest(
        name=raw.get("name", ""), path=raw.get("path", ""),
        expected_contents=raw.get("expectedContents") or [], excluded_contents=raw.get("excludedContents") or [],
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


def _license(raw: dict[str, Any]) -> LicenseTest:
    return LicenseTest(debian=raw.get("debian", False), files=raw.get("files") or [], line=raw["__line__"])


def _run_options(raw: dict[str, Any]) -> RunOptions:
    return RunOptions(
        user=raw.get("user", ""), privileged=raw.get("privileged", False), allocate_tty=raw.get("allocateTty", False),
        env_file=raw.get("envFile", ""), env_vars=raw.get("envVars") or [], capabilities=raw.get("capabilities") or [],
        bind_mounts=raw.get("bindMounts") or [],
    )  # fmt: skip


def _extension(path: Path, raw: dict[str, Any], problems: list[str]) -> Extension:
    where = "x-dockerbuild"
    name = raw.get("name") or default_name(path)
    image, build_raw, compose_raw = raw.get("image") or None, raw.get("build"), raw.get("compose")
    if sum(1 for given in (image, build_raw, compose_raw) if given is not None) > 1:
        problems.append(f"{where}: give one of `image`, `build` and `compose`")
    build = None if build_raw is None else _build_spec(path, build_raw, problems)
    compose = None if compose_raw is None else _compose_service(path, compose_raw, problems)
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
    return Extension(name, image, build, compose, max_size, max_layers, rules, timeout)


def _compose_service(path: Path, raw: dict[str, Any], problems: list[str]) -> ComposeService:
    """``x-dockerbuild.compose``; its file is relative to the contract file (``compose.yaml``)."""
    file = (path.parent / (raw.get("file") or "compose.yaml")).resolve()
    if not file.is_file():
        problems.append(f"x-dockerbuild.compose.file: {str(file)!r} is not a file")
    if not raw.get("service"):
        problems.append("x-dockerbuild.compose.service: name the service whose image the contract checks")
    return ComposeService(file, str(raw.get("service") or ""))


def _build_spec(path: Path, raw: dict[str, Any], problems: list[str]) -> BuildSpec:
    """``x-dockerbuild.build``; its context is relative to the contract file."""
    context = (path.parent / (raw.get("context") or ".")).resolve()
    if not context.is_dir():
        problems.append(f"x-dockerbuild.build.context: {str(context)!r} is not a folder")
    return BuildSpec(
        context=context,
        dockerfile=raw.get("dockerfile") or None,
        target=raw.get("target") or None,
        args=dict(raw.get("args") or {}),
    )
