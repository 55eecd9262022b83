"""Container-structure-test semantics that need no container.

Go's ``os.Expand`` (:func:`go_expand`), RE2 patterns (:func:`go_regex`) and
``os.FileMode`` strings (:func:`go_file_mode`) as CST 1.19 uses them; the checks of
file-existence, file-content, metadata and license tests, which read the image's exported
layers; and :func:`check_command`, the checks of a command's :class:`CommandResult` (which
:mod:`pytest_dockerbuild.contracts.runner` produces).  A check returns its problems, one
line each: none, and the test passes.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pytest_dockerbuild.contracts.schema import (
    CommandTest,
    EnvVar,
    FileContentTest,
    FileExistenceTest,
    LicenseTest,
    MetadataTest,
)
from pytest_dockerbuild.errors import GoRegexError, ImageError
from pytest_dockerbuild.image.image import FileEntry, Image

__all__ = [
    "CommandResult",
    "check_command",
    "check_file_content",
    "check_file_existence",
    "check_license",
    "check_metadata",
    "go_expand",
    "go_file_mode",
    "go_regex",
]

DEBIAN_DOCS = "/usr/share/doc"
LICENSE_BLOCKLIST = ("AGPL", "WTFPL")
LICENSE_ALLOWLIST = ("libgnutls30",)


# -- Go semantics: os.Expand, RE2, os.FileMode -------------------------------------------
_SPECIAL_VARS = set("*#$@!?-0123456789")


def go_expand(text: str, env: Mapping[str, str]) -> str:
    """``$VAR`` and ``${VAR}`` replaced as Go's ``os.Expand`` does (unset = empty;
    ``$$``, ``$1`` ... are one-character names; ``${}`` is dropped; a lone ``$`` stays)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        name, width = _shell_name(text[i + 1 :])
        if name:
            out.append(env.get(name, ""))
        elif width == 0:
            out.append("$")
        i += 1 + width
    return "".join(out)


def _shell_name(rest: str) -> tuple[str, int]:
    if rest[0] == "{":
        if len(rest) > 2 and rest[1] in _SPECIAL_VARS and rest[2] == "}":
            return rest[1], 3
        end = rest.find("}", 1)
        if end == 1:
            return "", 2  # "${}" is dropped
        if end < 0:
            return "", 1  # "${" without "}" is dropped
        return rest[1:end], end + 1
    if rest[0] in _SPECIAL_VARS:
        return rest[0], 1
    width = 0
    while width < len(rest) and (rest[width] == "_" or (rest[width].isascii() and rest[width].isalnum())):
        width += 1
    return rest[:width], width


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}  # fmt: skip
_GO_ESCAPES = set("aftnrvdDwWsSbBAzxpPQE01234567")


def _translate(pattern: str) -> str:
    """Go RE2 syntax -> Python ``re`` syntax with the same meaning (or GoRegexError)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    multiline = [False]  # (?m) state per open group
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                raise GoRegexError("trailing backslash at end of expression")
            escape = pattern[i + 1]
            if escape.isascii() and escape.isalnum() and escape not in _GO_ESCAPES:
                raise GoRegexError(f"invalid escape sequence \\{escape}")
            if escape in "pP":
                raise GoRegexError(f"Unicode classes (\\{escape}) cannot be checked with Python's re")
            if escape == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append("".join("\\" + c if not c.isalnum() else c for c in literal))
                i = n if end < 0 else end + 2
                continue
            if escape == "E":
                i += 2  # a \E without \Q is ignored
                continue
            if escape == "z":
                out.append("\\Z")
                i += 2
                continue
            if escape == "s":
                out.append("\\t\\n\\f\\r " if in_class else "[\\t\\n\\f\\r ]")
                i += 2
                continue
            if escape == "S" and not in_class:
                out.append("[^\\t\\n\\f\\r ]")
                i += 2
                continue
            if escape.isdigit():
                digits = escape
                if escape != "0" and not (i + 2 < n and pattern[i + 2] in "01234567"):
                    raise GoRegexError(f"invalid escape sequence \\{escape} (RE2 has no backreferences)")
                j = i + 2
                while j < n and len(digits) < 3 and pattern[j] in "01234567":
                    digits += pattern[j]
                    j += 1
                out.append(f"\\x{int(digits, 8):02x}")
                i = j
                continue
            if escape == "x" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.find("}", i + 3)
                if end < 0:
                    raise GoRegexError("invalid escape sequence \\x{ without }")
                out.append(f"\\U{int(pattern[i + 3 : end] or 'x', 16):08x}")
                i = end + 1
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2 : end] if end > 0 else ""
                if name not in _POSIX_CLASSES:
                    raise GoRegexError(f"invalid character class range [:{name}:]")
                out.append(_POSIX_CLASSES[name])
                i = end + 2
                continue
            if char == "[":
                out.append("\\[")
            else:
                out.append(char)
                in_class = char != "]"
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if char == "$":
            out.append("$" if multiline[-1] else "\\Z")
            i += 1
            continue
        if char == "{" and pattern.startswith("{,", i):
            out.append("\\{")  # Go reads "{,n}" as text, Python as a repetition
            i += 1
            continue
        if char in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            raise GoRegexError(f"invalid nested repetition operator {char}+")
        if char == "(":
            if pattern.startswith("(?", i):
                rest = pattern[i + 2 :]
                if rest.startswith(("=", "!", "<=", "<!")):
                    raise GoRegexError("invalid or unsupported Perl syntax: lookaround assertions are not in RE2")
                if rest.startswith((">", "P=", "P>", "#")):
                    raise GoRegexError(f"invalid or unsupported Perl syntax (?{rest[:2]}")
                if rest.startswith("<"):
                    out.append("(?P<")
                    multiline.append(multiline[-1])
                    i += 3
                    continue
                flags = re.match(r"([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", rest)
                if flags:
                    on, off, closer = flags.group(1), flags.group(2) or "", flags.group(3)
                    if set(on + off) - set("imsU"):
                        raise GoRegexError(f"invalid or unsupported Perl syntax (?{flags.group(0)}")
                    if "U" in on + off:
                        raise GoRegexError("the U (ungreedy) flag cannot be checked with Python's re")
                    state = True if "m" in on else False if "m" in off else multiline[-1]
                    token = pattern[i : i + 2 + flags.end()]
                    if closer == ")":
                        if out or off:
                            raise GoRegexError(f"{token} can be checked only at the very start of the pattern")
                        multiline[-1] = state
                    else:
                        multiline.append(state)
                    out.append(token)
                    i += len(token)
                    continue
            multiline.append(multiline[-1])
        elif char == ")" and len(multiline) > 1:
            multiline.pop()
        out.append(char)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def go_regex(pattern: str) -> re.Pattern[str]:
    """A compiled Python pattern that matches as Go's RE2 ``MatchString`` does
    (search anywhere; ``$`` = end of text without ``(?m)``; ``\\d\\w\\s\\b`` ASCII).

    :raises GoRegexError: the pattern is invalid for Go, or not expressible here.
    """
    try:
        return re.compile(_translate(pattern), re.ASCII)
    except re.error as error:
        raise GoRegexError(str(error)) from None


def go_file_mode(entry: FileEntry) -> str:
    """The entry's mode as Go's ``os.FileMode.String()`` writes it, which is what
    CST compares ``permissions`` with: ``-rw-r--r--``, ``drwxr-xr-x``, ``Lrwxrwxrwx``,
    ``urwxr-xr-x`` (setuid), ``dtrwxrwxrwx`` (sticky), ``Dcrw-rw-rw-`` (char device)."""
    mode = 0o777 if entry.type == "symlink" else entry.mode  # a Linux symlink is always 0777
    letters = ""
    for letter, present in (
        ("d", entry.type == "dir"),
        ("L", entry.type == "symlink"),
        ("D", entry.type in ("char", "block")),
        ("p", entry.type == "fifo"),
        ("u", bool(mode & stat.S_ISUID)),
        ("g", bool(mode & stat.S_ISGID)),
        ("c", entry.type == "char"),
        ("t", bool(mode & stat.S_ISVTX)),
    ):
        if present:
            letters += letter
    bits = "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return (letters or "-") + bits


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


def check_file_existence(image: Image, test: FileExistenceTest) -> list[str]:
    path = go_expand(test.path, image.config.env)
    try:
        entry: FileEntry | None = image.files.resolve(path, follow=False)
    except ImageError as error:
        entry, missing = None, str(error)
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
        elif not (0o777 if entry.type == "symlink" else entry.mode) & bits:
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
    problems = []

    def matches(wanted: EnvVar, actual: str) -> bool:
        if not wanted.is_regex:
            return wanted.value == actual
        try:
            return bool(go_regex(wanted.value).search(actual))
        except GoRegexError:
            return False

    for wanted in test.env_vars:
        if wanted.key not in config.env:
            problems.append(f"env var {wanted.key} is not set in the image")
        elif not matches(wanted, config.env[wanted.key]):
            how = "does not match the pattern" if wanted.is_regex else "is not"
            problems.append(f"env var {wanted.key} is {config.env[wanted.key]!r}, which {how} {wanted.value!r}")
    for unbound in test.unbound_env_vars:
        if unbound.key in config.env:
            problems.append(f"env var {unbound.key} should not be set, but is {config.env[unbound.key]!r}")
    for wanted in test.labels:
        if wanted.key not in config.labels:
            problems.append(f"label {wanted.key} is not set in the image")
        elif not matches(wanted, config.labels[wanted.key]):
            how = "does not match the pattern" if wanted.is_regex else "is not"
            problems.append(f"label {wanted.key} is {config.labels[wanted.key]!r}, which {how} {wanted.value!r}")
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
