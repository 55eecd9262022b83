"""What every rule sees: one Dockerfile, the base-image map, the stages built on purpose with
``--target`` (:data:`TARGET_PRAGMA` or a list), the ignore pragmas of its comments, and what
several rules share (how messages name a stage, the hint for a stage defined later, the names an
ARG or ENV declares).

A rule is a :data:`Check`: a function of the :class:`LintContext` that yields ``(line,
message)`` for each problem; :mod:`~pytest_dockerbuild.lint.checks` turns them into findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from pytest_dockerbuild.dockerfile import Dockerfile, Stage
from pytest_dockerbuild.dockerfile.text import shell_words

__all__ = ["TARGET_PRAGMA", "Check", "LintContext", "arg_names", "env_names"]

#: the comment that marks the stage whose FROM it is above as a build target (``--target``)
TARGET_PRAGMA = "# dockerbuild target"

_PRAGMA = re.compile(
    r"^#\s*(?P<tool>hadolint|dockerbuild)\s+(?P<scope>global\s+)?ignore\s*=\s*"
    r"(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)\s*(?:#.*)?$"
)
_TARGET = re.compile(r"^#\s*dockerbuild\s+target\s*(?:#.*)?$")


class LintContext:
    """The Dockerfile checked, the image map and the build targets, with the pragmas read from the
    Dockerfile's comments."""

    def __init__(self, dockerfile: Dockerfile, image_map: Mapping[str, str], targets: Iterable[str] = ()) -> None:
        self.dockerfile = dockerfile
        #: the base-image substitution map (normalized references as keys)
        self.image_map = image_map
        #: stage names built on purpose with ``--target`` (lower case, as Docker compares them)
        self.targets = {name.strip().lower() for name in targets if name.strip()}
        #: lines of the comments, and of the ``# dockerbuild target`` pragmas among them
        self._comment_lines = {line for line, _ in dockerfile.comments}
        self._target_pragmas = {line for line, text in dockerfile.comments if _TARGET.match(text)}
        #: line of a ``# ... ignore=`` comment -> the rule ids it silences
        self.pragmas: dict[int, set[str]] = {}
        #: rule ids silenced for the whole file (``# ... global ignore=``)
        self.global_ignores: set[str] = set()
        for line, text in dockerfile.comments:
            match = _PRAGMA.match(text)
            if match is None:
                continue
            codes = {code.strip() for code in match.group("codes").split(",")}
            if match.group("scope"):
                self.global_ignores |= codes
            else:
                self.pragmas[line] = codes

    def label(self, stage: Stage) -> str:
        """How messages name a stage: ``stage 'build'``, ``the final stage``, ``stage 1 (unnamed)``."""
        if stage.name is not None:
            return f"stage {stage.name!r}"
        return "the final stage" if stage is self.dockerfile.stages[-1] else f"stage {stage.index} (unnamed)"

    def ignored_at(self, line: int) -> set[str]:
        """Rules silenced for the instruction starting at ``line``: the pragma lines directly above it."""
        codes: set[str] = set()
        above = line - 1
        while above in self.pragmas:
            codes |= self.pragmas[above]
            above -= 1
        return codes

    def is_target(self, stage: Stage) -> bool:
        """True for a named stage built on purpose with ``--target``: listed in the targets, or
        marked by a ``# dockerbuild target`` line in the comments directly above its FROM."""
        if stage.name is None:
            return False
        if stage.name in self.targets:
            return True
        above = stage.instructions[0].line - 1
        while above in self._comment_lines:
            if above in self._target_pragmas:
                return True
            above -= 1
        return False

    def later_stage_hint(self, name: str, after: Stage) -> str:
        """A hint when ``name`` is the name of a stage defined after ``after``."""
        for later in self.dockerfile.stages[after.index + 1 :]:
            if later.name is not None and later.name == name.lower():
                line = later.instructions[0].line
                return f"; stage {later.name!r} is defined later (line {line}) and only earlier stages can be used"
        return ""


Check = Callable[[LintContext], Iterator[tuple[int, str]]]
"""A rule's check: ``(line, message)`` for each problem it finds."""


def arg_names(value: str) -> list[str]:
    """The names an ``ARG`` declares."""
    return [token.partition("=")[0] for token in shell_words(value)]


def env_names(value: str) -> list[str]:
    """The names an ``ENV`` sets (``ENV A=1 B=2``, or the legacy ``ENV NAME value``)."""
    tokens = shell_words(value)
    if tokens and "=" not in tokens[0]:
        return tokens[:1]  # legacy form: ENV NAME value
    return [token.partition("=")[0] for token in tokens if "=" in token]
