"""The rule on secrets: DB005, an ARG or ENV whose name looks like it holds a secret (ARG values
land in the image history, ENV values in its config)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pytest_dockerbuild.dockerfile import Instruction
from pytest_dockerbuild.lint.context import LintContext, arg_names, env_names

__all__ = ["secret_in_arg_env"]

_SECRET_WORDS = frozenset(
    "password passwords passwd pass passphrase pwd pword secret secrets token tokens apikey accesskey "
    "privatekey secretkey credential credentials creds auth".split()
)
_KEY_QUALIFIERS = frozenset("api access private secret ssh signing encryption master".split())
_NOT_THE_SECRET = frozenset(
    "file path dir url uri host port endpoint name id user username enabled disabled mode type method length".split()
)
_RISKS = {
    "ARG": "ARG values are recorded in the image history",
    "ENV": "ENV values are stored in the image config, readable by anyone who can pull it",
}


def secret_in_arg_env(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DB005: an ARG or ENV (global ARGs too) whose name looks like a secret's."""
    declared: list[tuple[Instruction, str]] = [(i, "before the first FROM") for i in lint.dockerfile.global_args]
    for stage in lint.dockerfile.stages:
        declared += [(i, f"in {lint.label(stage)}") for i in stage.instructions if i.keyword in ("ARG", "ENV")]
    for instruction, where in declared:
        keyword = instruction.keyword
        for name in arg_names(instruction.value) if keyword == "ARG" else env_names(instruction.value):
            word = _secret_word(name)
            if word is not None:
                yield (
                    instruction.line,
                    f"{keyword} {name} {where} looks like a secret (the name contains {word!r}): {_RISKS[keyword]}; "
                    "pass it as a build secret (RUN --mount=type=secret) or set it when the container runs",
                )


def _secret_word(name: str) -> str | None:
    """The word that makes ``name`` look like a secret's, or None."""
    words = _words(name)
    if not words or name == "PWD" or "public" in words or words[-1] in _NOT_THE_SECRET:
        return None
    for position, word in enumerate(words):
        if word in _SECRET_WORDS:
            return word
        if word == "key" and position > 0 and words[position - 1] in _KEY_QUALIFIERS:
            return f"{words[position - 1]}_{word}"
    return None


def _words(name: str) -> list[str]:
    """The lower-case words of a variable name (split at non-alphanumerics and camelCase)."""
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        words += [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", part)]
    return words
