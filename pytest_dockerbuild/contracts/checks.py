"""The checks of each container-structure-test kind: a check returns its problems, one line
each; none, and the test passes.

File-existence, file-content, metadata and license tests read the image's exported layers
(no container; file-existence tests also see the mount points the engine makes for the
image's volumes, :func:`volume_mount_points`, as CST's container does); :func:`check_command`
checks a command's :class:`CommandResult`, which :mod:`pytest_dockerbuild.contracts.runner`
produces.  Paths, patterns and permissions mean what they mean to Go
(:mod:`pytest_dockerbuild.contracts.gocompat`, whose :func:`go_expand`,
:func:`go_regex` and :func:`go_file_mode` are importable from here too).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_dockerbuild.contracts.gocompat import go_expand, go_file_mode, go_mode_bits, go_regex
from pytest_dockerbuild.contracts.model import (
    CommandTest,
    EnvVar,
    FileContentTest,
    FileExistenceTest,
    LicenseTest,
    MetadataTest,
)
from pytest_dockerbuild.errors import GoRegexError, ImageError
from pytest_dockerbuild.image import FileEntry, Image

__all__ = [
    "CommandResult",
    "check_command",
    "check_file_content",
    "check_file_existence",
    "check_license",
    "check_metadata",
    "volume_mount_points",
]

DEBIAN_DOCS = "/usr/share/doc"
LICENSE_BLOCKLIST = ("AGPL", "WTFPL")
LICENSE_ALLOWLIST = ("libgnutls30",)


# -- checks that need no container -------------------------------------------------------
def _patterns(
    text: str, expected: Sequence[str], excluded: Sequence[str], what: str, keys: tuple[str, str]
) -> list[str]:
    """CST's regex checks: every expected pattern found, no excluded one."""
    problems = []
    for pattern in expected:
        try:
            if not go_regex(pattern).search(text):
                problems.append(f"{what} does not match {keys[0]} pattern {pattern!r}")
        except GoRegexError as error:
            problems.append(f"{keys[0]} pattern {pattern!r} cannot be used: {error}")
    for pattern in excluded:
        try:
            found = go_regex(pattern).search(text)
        except GoRegexError as error:
            problems.append(f"{keys[1]} pattern {pattern!r} cannot be used: {error}")
            continue
        if found:
            line = text.count("\n", 0, found.start()) + 1
            problems.append(f"{what} matches {keys[1]} pattern {pattern!r}: {found.group(0)!r} on line {line}")
    return problems


_EXEC_BITS = {"owner": 0o100, "group": 0o010, "other": 0o001, "any": 0o111}


def volume_mount_points(image: Image) -> set[str]:
    """The folders the engine makes in every container of ``image`` and its layers do not hold:
    the mount point of each ``VOLUME`` the image declares and its missing parent folders.

    The engine resolves a volume's path through the image's symlinks and creates what is
    missing as folders of mode 0755 owned by root (whatever the image's ``USER``);
    container-structure-test's docker driver reads files through the archive API of a
    container, so it finds them.  A volume over a folder of the image keeps that folder.
    """
    made: set[str] = set()
    for volume in image.config.volumes:
        try:
            found = image.files.find(volume, follow=True)
        except ImageError:
            continue  # a symlink loop: the engine refuses the container
        if isinstance(found, FileEntry):
            continue
        folders = [found]
        while (parent := posixpath.dirname(folders[-1])) not in image.files:
            folders.append(parent)
        if image.files[parent].is_dir:  # over a file, the engine refuses the container
            made.update(folders)
    return made


def _mount_point(image: Image, path: str) -> FileEntry | None:
    """The entry CST sees at ``path`` when the image's layers have none: a volume's mount point."""
    try:
        found = image.files.find(path, follow=False)
    except ImageError:
        return None
    if isinstance(found, str) and found in volume_mount_points(image):
        return FileEntry(found, "dir", 0, 0o755, 0, 0, "", -1)
    return None


def check_file_existence(image: Image, test: FileExistenceTest) -> list[str]:
    path = go_expand(test.path, image.config.env)
    try:
        entry: FileEntry | None = image.files.resolve(path, follow=False)
    except ImageError as error:
        entry, missing = _mount_point(image, path), str(error)
    if entry is None:
        return [f"{path} should exist but does not: {missing}"] if test.should_exist else []
    if not test.should_exist:
        return [f"{path} should not exist but does (a {entry.type})"]
    problems = []
    mode = go_file_mode(entry)
    if test.permissions and mode != test.permissions:
        problems.append(f"{path} has permissions {mode}, expected {test.permissions}")
    if test.is_executable_by:
        bits = _EXEC_BITS.get(test.is_executable_by)
        if bits is None:
            problems.append(f"isExecutableBy {test.is_executable_by!r} is not one of owner, group, other, any")
        elif not go_mode_bits(entry) & bits:
            problems.append(f"{path} is not executable by {test.is_executable_by} (permissions {mode})")
    if test.uid != -1 and entry.uid != test.uid:
        problems.append(f"{path} is owned by uid {entry.uid}, expected {test.uid}")
    if test.gid != -1 and entry.gid != test.gid:
        problems.append(f"{path} has gid {entry.gid}, expected {test.gid}")
    return problems


def check_file_content(image: Image, test: FileContentTest) -> tuple[list[str], str | None]:
    """Problems, and the file's text (None when it could not be read)."""
    try:
        data = image.read_bytes(test.path)
    except ImageError as error:
        return [f"cannot read {test.path}: {error}"], None
    text = data.decode("utf-8", errors="replace")
    keys = ("expectedContents", "excludedContents")
    return _patterns(text, test.expected_contents, test.excluded_contents, f"{test.path}", keys), text


def check_metadata(image: Image, test: MetadataTest) -> list[str]:
    config = image.config
    problems = _key_values("env var", test.env_vars, config.env)
    for unbound in test.unbound_env_vars:
        if unbound.key in config.env:
            problems.append(f"env var {unbound.key} should not be set, but is {config.env[unbound.key]!r}")
    problems += _key_values("label", test.labels, config.labels)
    if test.cmd is not None and (config.cmd or []) != test.cmd:
        problems.append(f"cmd is {config.cmd!r}, expected {test.cmd!r}")
    if test.entrypoint is not None and (config.entrypoint or []) != test.entrypoint:
        problems.append(f"entrypoint is {config.entrypoint!r}, expected {test.entrypoint!r}")
    if test.workdir and test.workdir != config.workdir:
        problems.append(f"workdir is {config.workdir!r}, expected {test.workdir!r}")
    if test.user and test.user != config.user:
        problems.append(f"user is {config.user!r}, expected {test.user!r}")
    ports = [port.split("/")[0] for port in config.exposed_ports]
    for port in test.exposed_ports:
        if port not in ports:
            problems.append(f"port {port} is not exposed (exposed: {', '.join(config.exposed_ports) or 'none'})")
    for port in test.unexposed_ports:
        if port in ports:
            problems.append(f"port {port} should not be exposed, but is")
    for volume in test.volumes:
        if volume not in config.volumes:
            problems.append(f"volume {volume} is not declared (declared: {', '.join(config.volumes) or 'none'})")
    for volume in test.unmounted_volumes:
        if volume in config.volumes:
            problems.append(f"volume {volume} should not be declared, but is")
    return problems


def _key_values(what: str, wanted: Sequence[EnvVar], actual: Mapping[str, str]) -> list[str]:
    """Env vars or labels: each one set, to the value given or to one matching its pattern."""
    problems = []
    for var in wanted:
        if var.key not in actual:
            problems.append(f"{what} {var.key} is not set in the image")
        elif not _value_matches(var, actual[var.key]):
            how = "does not match the pattern" if var.is_regex else "is not"
            problems.append(f"{what} {var.key} is {actual[var.key]!r}, which {how} {var.value!r}")
    return problems


def _value_matches(wanted: EnvVar, actual: str) -> bool:
    """The value is the one given, or matches its pattern (an unusable pattern matches nothing)."""
    if not wanted.is_regex:
        return wanted.value == actual
    try:
        return bool(go_regex(wanted.value).search(actual))
    except GoRegexError:
        return False


def check_license(image: Image, test: LicenseTest) -> list[str]:
    problems = []

    def scan(path: str) -> None:
        try:
            text = image.read_bytes(path).decode("utf-8", errors="replace").upper()
        except ImageError as error:
            problems.append(f"cannot read license file {path}: {error}")
            return
        for word in LICENSE_BLOCKLIST:
            if word in text:
                problems.append(f"license file {path} mentions {word}")

    if test.debian:
        packages = [
            e for e in image.files.under(DEBIAN_DOCS)
            if e.is_dir and os.path.dirname(e.path) == DEBIAN_DOCS and os.path.basename(e.path) not in LICENSE_ALLOWLIST
        ]  # fmt: skip
        for package in packages:
            scan(f"{package.path}/copyright")
    for path in test.files:
        scan(path)
    return problems


# -- command tests -----------------------------------------------------------------------
@dataclass
class CommandResult:
    """What a command did: its output, exit code, or why it could not run."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    error: str | None = None  #: it could not run (no such executable, timeout, setup error)
    container: str = ""  #: how it ran, for the report


def check_command(test: CommandTest, result: CommandResult) -> list[str]:
    """CST's checks of a command's output and exit code."""
    if result.error is not None:
        return [result.error]
    problems = _patterns(
        result.stdout, test.expected_output, test.excluded_output, "stdout", ("expectedOutput", "excludedOutput")
    )
    problems += _patterns(
        result.stderr, test.expected_error, test.excluded_error, "stderr", ("expectedError", "excludedError")
    )
    if result.exit_code != test.exit_code:
        problems.append(f"exit code {result.exit_code}, expected {test.exit_code}")
    return problems
