"""Go semantics that container-structure-test 1.19 relies on, in Python.

Go's ``os.Expand`` (:func:`go_expand`), RE2 patterns as ``regexp.MatchString`` reads them
(:func:`go_regex`, which translates a pattern to Python ``re`` syntax or raises
:class:`~pytest_dockerbuild.errors.GoRegexError`) and ``os.FileMode`` strings
(:func:`go_file_mode`).  Nothing here knows about contracts: the checks in
:mod:`pytest_dockerbuild.contracts.checks` and the runner use these.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from functools import lru_cache

from pytest_dockerbuild.errors import GoRegexError
from pytest_dockerbuild.image import FileEntry

__all__ = ["go_expand", "go_file_mode", "go_mode_bits", "go_regex"]


# -- os.Expand -----------------------------------------------------------------------------
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
    """The variable name at the start of ``rest`` (after a ``$``) and how many characters it takes."""
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


# -- RE2 -----------------------------------------------------------------------------------
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}  # fmt: skip
_GO_ESCAPES = set("aftnrvdDwWsSbBAzxpPQE01234567")
_OCTAL = "01234567"
_FLAGS_RE = re.compile(r"([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")


@lru_cache(maxsize=1024)
def go_regex(pattern: str) -> re.Pattern[str]:
    """A compiled Python pattern that matches as Go's RE2 ``MatchString`` does
    (search anywhere; ``$`` = end of text without ``(?m)``; ``\\d\\w\\s\\b`` ASCII).

    :raises GoRegexError: the pattern is invalid for Go, or not expressible here.
    """
    try:
        return re.compile(_Translator(pattern).translate(), re.ASCII)
    except re.error as error:
        raise GoRegexError(str(error)) from None


class _Translator:
    """One pass over a Go RE2 pattern, writing Python ``re`` syntax with the same meaning
    (or raising :class:`GoRegexError`); one method per construct."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.i = 0  #: the next character to read
        self.out: list[str] = []
        self.in_class = False  #: inside ``[...]``
        self.multiline = [False]  #: the ``(?m)`` state of each open group

    def translate(self) -> str:
        while self.i < len(self.pattern):
            char = self.pattern[self.i]
            if char == "\\":
                self.escape()
            elif self.in_class:
                self.class_member(char)
            elif char == "[":
                self.open_class()
            elif char == "(":
                self.open_group()
            else:
                self.operator(char)
        return "".join(self.out)

    def emit(self, text: str, width: int) -> None:
        """Write ``text`` for the next ``width`` characters of the pattern."""
        self.out.append(text)
        self.i += width

    # -- escapes -------------------------------------------------------------------------
    def escape(self) -> None:
        pattern, i = self.pattern, self.i
        if i + 1 >= len(pattern):
            raise GoRegexError("trailing backslash at end of expression")
        escape = pattern[i + 1]
        if escape.isascii() and escape.isalnum() and escape not in _GO_ESCAPES:
            raise GoRegexError(f"invalid escape sequence \\{escape}")
        if escape in "pP":
            raise GoRegexError(f"Unicode classes (\\{escape}) cannot be checked with Python's re")
        if escape == "Q":
            self.quoted()
        elif escape == "E":
            self.i += 2  # a \E without \Q is ignored
        elif escape == "z":
            self.emit("\\Z", 2)
        elif escape == "s":
            self.emit("\\t\\n\\f\\r " if self.in_class else "[\\t\\n\\f\\r ]", 2)  # RE2's \s has no \v
        elif escape == "S" and not self.in_class:
            self.emit("[^\\t\\n\\f\\r ]", 2)
        elif escape.isdigit():
            self.octal()
        elif escape == "x" and pattern.startswith("{", i + 2):
            self.hex_code_point()
        else:
            self.emit(pattern[i : i + 2], 2)

    def quoted(self) -> None:
        """``\\Q...\\E``: the text between, literally (to the end without ``\\E``)."""
        pattern, start = self.pattern, self.i + 2
        end = pattern.find("\\E", start)
        literal = pattern[start:] if end < 0 else pattern[start:end]
        self.out.append("".join("\\" + c if not c.isalnum() else c for c in literal))
        self.i = len(pattern) if end < 0 else end + 2

    def octal(self) -> None:
        """``\\0``, ``\\101``: an octal character code (RE2 has no backreferences)."""
        pattern, i = self.pattern, self.i
        digits = pattern[i + 1]
        if digits != "0" and not pattern.startswith(tuple(_OCTAL), i + 2):
            raise GoRegexError(f"invalid escape sequence \\{digits} (RE2 has no backreferences)")
        j = i + 2
        while j < len(pattern) and len(digits) < 3 and pattern[j] in _OCTAL:
            digits += pattern[j]
            j += 1
        self.emit(f"\\x{int(digits, 8):02x}", j - i)

    def hex_code_point(self) -> None:
        """``\\x{10FFFF}``: a code point in hex."""
        pattern, i = self.pattern, self.i
        end = pattern.find("}", i + 3)
        if end < 0:
            raise GoRegexError("invalid escape sequence \\x{ without }")
        self.emit(f"\\U{int(pattern[i + 3 : end] or 'x', 16):08x}", end + 1 - i)

    # -- character classes ---------------------------------------------------------------
    def open_class(self) -> None:
        """``[``, ``[^``; a ``]`` right after them is a member, as in RE2."""
        self.in_class = True
        self.emit("[", 1)
        if self.pattern.startswith("^", self.i):
            self.emit("^", 1)
        if self.pattern.startswith("]", self.i):
            self.emit("\\]", 1)

    def class_member(self, char: str) -> None:
        """A character inside ``[...]``: a POSIX class ``[:name:]``, a literal ``[``, or the closing ``]``."""
        if self.pattern.startswith("[:", self.i):
            end = self.pattern.find(":]", self.i + 2)
            name = self.pattern[self.i + 2 : end] if end > 0 else ""
            if name not in _POSIX_CLASSES:
                raise GoRegexError(f"invalid character class range [:{name}:]")
            self.out.append(_POSIX_CLASSES[name])
            self.i = end + 2
        elif char == "[":
            self.emit("\\[", 1)
        else:
            self.emit(char, 1)
            self.in_class = char != "]"

    # -- groups and flags ----------------------------------------------------------------
    def open_group(self) -> None:
        """``(``, ``(?:``, ``(?<name>``, ``(?flags)``; Perl syntax RE2 lacks is an error."""
        rest = self.pattern[self.i + 2 :] if self.pattern.startswith("(?", self.i) else None
        if rest is not None:
            if rest.startswith(("=", "!", "<=", "<!")):
                raise GoRegexError("invalid or unsupported Perl syntax: lookaround assertions are not in RE2")
            if rest.startswith((">", "P=", "P>", "#")):
                raise GoRegexError(f"invalid or unsupported Perl syntax (?{rest[:2]}")
            if rest.startswith("<"):
                self.multiline.append(self.multiline[-1])
                self.emit("(?P<", 3)
                return
            flags = _FLAGS_RE.match(rest)
            if flags:
                self.flags(flags)
                return
        self.multiline.append(self.multiline[-1])
        self.emit("(", 1)

    def flags(self, flags: re.Match[str]) -> None:
        """``(?flags)`` (for the rest of the pattern) or ``(?flags:`` (for a group)."""
        on, off, closer = flags.group(1), flags.group(2) or "", flags.group(3)
        if set(on + off) - set("imsU"):
            raise GoRegexError(f"invalid or unsupported Perl syntax (?{flags.group(0)}")
        if "U" in on + off:
            raise GoRegexError("the U (ungreedy) flag cannot be checked with Python's re")
        state = True if "m" in on else False if "m" in off else self.multiline[-1]
        token = self.pattern[self.i : self.i + 2 + flags.end()]
        if closer == ")":
            if self.out or off:
                raise GoRegexError(f"{token} can be checked only at the very start of the pattern")
            self.multiline[-1] = state
        else:
            self.multiline.append(state)
        self.emit(token, len(token))

    # -- anchors, repetition and the rest ------------------------------------------------
    def operator(self, char: str) -> None:
        """Any other character: ``$`` (end of text unless ``(?m)``), ``{,n}`` (text in RE2),
        a nested repetition (an error), ``)`` (closes a group), or itself."""
        if char == "$":
            self.emit("$" if self.multiline[-1] else "\\Z", 1)
            return
        if char == "{" and self.pattern.startswith("{,", self.i):
            self.emit("\\{", 1)  # Go reads "{,n}" as text, Python as a repetition
            return
        if char in "*+?}" and self.pattern.startswith("+", self.i + 1):
            raise GoRegexError(f"invalid nested repetition operator {char}+")
        if char == ")" and len(self.multiline) > 1:
            self.multiline.pop()
        self.emit(char, 1)


# -- os.FileMode ---------------------------------------------------------------------------
def go_mode_bits(entry: FileEntry) -> int:
    """The entry's mode bits as Go's ``os.Lstat`` reports them: a Linux symlink is always 0777."""
    return 0o777 if entry.type == "symlink" else entry.mode


def go_file_mode(entry: FileEntry) -> str:
    """The entry's mode as Go's ``os.FileMode.String()`` writes it, which is what
    CST compares ``permissions`` with: ``-rw-r--r--``, ``drwxr-xr-x``, ``Lrwxrwxrwx``,
    ``urwxr-xr-x`` (setuid), ``dtrwxrwxrwx`` (sticky), ``Dcrw-rw-rw-`` (char device)."""
    mode = go_mode_bits(entry)
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
