"""How Docker reads the text of a Dockerfile: decoding, variable expansion, words and flags.

A file is read as Docker reads it (:func:`decode_dockerfile`): a leading UTF-8 BOM is
dropped and every byte that is not part of valid UTF-8 becomes U+FFFD, so the text
parsed here and sent to the engine is the text the engine itself would parse.  The
other helpers take apart an instruction's arguments (variables, shell words, ``--mount``
options, the words of a FROM) for the model and for the static checks.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

__all__ = [
    "BOM",
    "arg_definitions",
    "decode_dockerfile",
    "empty_variables",
    "expand_variables",
    "from_words",
    "mount_options",
    "shell_words",
    "shortened",
]

BOM = "\ufeff"
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what ``surrogateescape`` makes of an invalid byte
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[-+])(?P<word>[^}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def decode_dockerfile(data: bytes) -> str:
    """The text of a Dockerfile as Docker parses it: UTF-8, each byte that is not part of a
    valid UTF-8 sequence replaced by U+FFFD (one per byte, as both builders do; Python's
    ``errors="replace"`` would make one of a truncated sequence).  A leading BOM is kept
    here and dropped by :class:`~pytest_dockerbuild.dockerfile.model.Dockerfile`."""
    return _ESCAPED_BYTE.sub("\ufffd", data.decode("utf-8", "surrogateescape"))


def expand_variables(text: str, variables: Mapping[str, str]) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${VAR:+alternative}`` with
    ``variables``; an undeclared name is empty, as in the engine."""

    def value(match: re.Match[str]) -> str:
        current = variables.get(match.group("braced") or match.group("plain"), "")
        if match.group("op") == "-":
            return current or expand_variables(match.group("word"), variables)
        if match.group("op") == "+":
            return expand_variables(match.group("word"), variables) if current else ""
        return current

    return _VARIABLE.sub(value, text)


def empty_variables(text: str, variables: Mapping[str, str]) -> list[str]:
    """The variables of ``text`` that expand to nothing (those of an empty default too)."""
    names: list[str] = []
    for match in _VARIABLE.finditer(text):
        if expand_variables(match.group(0), variables):
            continue
        names.append(match.group("braced") or match.group("plain"))
        if match.group("op") == "-":
            names += empty_variables(match.group("word"), variables)
    return list(dict.fromkeys(names))


def shell_words(text: str) -> list[str]:
    """``text`` split like a shell would, or at whitespace if its quotes do not close."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def arg_definitions(value: str) -> list[tuple[str, str | None]]:
    """``(name, default or None)`` of each variable an ``ARG`` declares.

    :raises ValueError: if the quotes do not close (the classic builder refuses it too).
    """
    definitions: list[tuple[str, str | None]] = []
    for token in shlex.split(value):
        name, sep, default = token.partition("=")
        definitions.append((name, default if sep else None))
    return definitions


def from_words(value: str) -> list[str]:
    """The words of a FROM's arguments without its flags: the image as written (variables
    not expanded), then ``AS name`` if any."""
    return [word for word in value.split() if not word.startswith("--")]


def mount_options(value: str) -> list[dict[str, str]]:
    """The options of each ``--mount=`` of a RUN, e.g. ``{"type": "cache", "target": "/root/.m2"}``."""
    return [
        dict(part.partition("=")[::2] for part in mount.split(",")) for mount in re.findall(r"--mount=(\S+)", value)
    ]


def shortened(word: str, limit: int = 40) -> str:
    """``repr(word)`` in at most about ``limit`` characters (a binary file makes long words)."""
    cut = word[:limit]
    while len(repr(cut)) > limit:
        cut = cut[:-1]
    return repr(cut) if cut == word else f"{cut!r}... ({len(word)} characters)"
