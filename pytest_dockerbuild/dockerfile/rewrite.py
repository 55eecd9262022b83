"""The Dockerfile text a backend sends: base images substituted, and the lines a backend adds.

FROM lines (and ``COPY --from=<image>``, the ``# syntax=`` frontend) get the images of the
base-image map; a backend may add an instruction after each FROM (the classic backend's
``LABEL pytest-dockerbuild.managed=true``, BuildKit's cache-salt ``ARG``) and labels to the
target stage.  Every other line keeps its number, so that a backend can map the lines and
steps the engine names back to the user's file (:func:`added_after_from`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pytest_dockerbuild.dockerfile.references import normalize_image

if TYPE_CHECKING:
    from pytest_dockerbuild.dockerfile.model import Dockerfile, Stage

__all__ = ["added_after_from", "joins_label", "substituted"]

_LABEL_KEYWORD = re.compile(r"^(\s*label)(\s+)", re.IGNORECASE)


def joins_label(stage: Stage) -> bool:
    """The stage's first instruction after FROM is a ``LABEL key=value ...`` (not the legacy
    ``LABEL key value`` form): a LABEL a backend adds after FROM joins it, its pairs first, and
    costs no step of its own (the classic builder commits a container per LABEL)."""
    if len(stage.instructions) < 2 or stage.instructions[1].keyword != "LABEL":
        return False
    first = stage.instructions[1].value.split(maxsplit=1)
    return bool(first) and "=" in first[0]


def added_after_from(dockerfile: Dockerfile, after_from: str | None) -> set[int]:
    """The indices of the stages that get ``after_from`` as a line (and a step) of its own: every
    stage, but for a LABEL the stages whose first LABEL it joins."""
    if not after_from:
        return set()
    joining = after_from.startswith("LABEL ")
    return {stage.index for stage in dockerfile.stages if not (joining and joins_label(stage))}


def substituted(
    dockerfile: Dockerfile, image_map: Mapping[str, str], labels: Mapping[str, str] | None = None,
    target: str | None = None, after_from: str | None = None, labels_after_from: bool = False,
    joining: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """The Dockerfile text with FROM images replaced per ``image_map`` (normalized keys).

    FROM lines keep their flags, stage names and line numbers.  With ``labels``, one ``LABEL`` line
    follows the last instruction of the ``target`` stage (default: the last): one step.  With
    ``after_from`` (an instruction: ``LABEL k=v``, ``ARG K=v``), it follows each FROM (one line more per
    stage above a line of the text), except that a LABEL joins a stage's own first LABEL
    (:func:`joins_label`) as the pairs ``joining`` (default: its own), the same in every stage, so that
    stages whose first LABEL is the same still share that step; with ``labels_after_from`` and an
    ``after_from`` LABEL, the ``labels`` join the target stage's pairs instead: no step more.
    """
    lines = re.findall(r"[^\n]*\n|[^\n]+\Z", dockerfile.text)  # as the parser counts: not at \r, \f, \u2028 ...
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    _substitute_images(dockerfile, lines, image_map)
    labelled = dockerfile.stage(target if target is not None else len(dockerfile.stages) - 1)
    joined = bool(labels) and labels_after_from and (after_from or "").startswith("LABEL ")
    own_pairs = (after_from or "").split()[1:]
    joined_pairs = _pairs(joining) if joining is not None else own_pairs
    own_line = added_after_from(dockerfile, after_from)
    added: list[tuple[int, int, str]] = []  # (line index to insert at, order there, text)
    for stage in dockerfile.stages if after_from else []:
        given = own_pairs if stage.index in own_line else joined_pairs
        extra = [pair for pair in _pairs(labels) if pair not in given] if joined and stage is labelled else []
        if stage.index in own_line:
            added.append((stage.instructions[0].end_line, 0, " ".join([str(after_from), *extra]) + "\n"))
        else:  # into the stage's first LABEL, after its keyword: the pairs come first, the user's win
            first = stage.instructions[1].line - 1
            keyword = _LABEL_KEYWORD.match(lines[first])
            end = keyword.end(1) if keyword else len(lines[first]) - len(lines[first].lstrip()) + len("LABEL")
            lines[first] = f"{lines[first][:end]} {' '.join([*given, *extra])}{lines[first][end:]}"
    if labels and not joined:
        added.append((labelled.instructions[-1].end_line, 1, f"LABEL {' '.join(_pairs(labels))}\n"))
    for index, _, text in sorted(added, reverse=True):  # from the end: earlier indices stay right
        lines.insert(index, text)
    return "".join(lines)


def _pairs(labels: Mapping[str, str] | None) -> list[str]:
    """``key=value`` words of a LABEL, sorted, values quoted as the shell would read them."""
    return [f"{k}={shlex.quote(v)}" for k, v in sorted((labels or {}).items())]


def _substitute_images(dockerfile: Dockerfile, lines: list[str], image_map: Mapping[str, str]) -> None:
    """Replace, in ``lines``, the images of FROM lines, of ``COPY --from=`` and of the syntax directive."""
    for stage in dockerfile.stages:
        origin = stage.instructions[0] if stage.instructions else None
        replacement = image_map.get(normalize_image(stage.base)) if stage.base_stage is None else None
        if origin is None or replacement is None:
            continue
        head = lines[origin.line - 1]
        indent = head[: len(head) - len(head.lstrip())]
        flags = [w for w in origin.value.split() if w.startswith("--")]
        new = " ".join(["FROM", *flags, replacement] + (["AS", stage.name] if stage.name else []))
        lines[origin.line - 1] = indent + new + "\n"
        for number in range(origin.line, origin.end_line):  # keep the line count
            lines[number] = "\n"
    syntax = dockerfile.syntax
    if syntax is not None and normalize_image(syntax[1]) in image_map:
        lines[syntax[0] - 1] = f"# syntax={image_map[normalize_image(syntax[1])]}\n"
    for stage in dockerfile.stages:  # COPY --from=<image> reaches an image too
        for image in dockerfile.copied_images(stage):
            replacement = image_map.get(normalize_image(image))
            if replacement is None:
                continue
            for instruction in stage.instructions[1:]:
                for number in range(instruction.line - 1, instruction.end_line):
                    lines[number] = re.sub(
                        rf"(--from=|from=){re.escape(image)}(?=[\s,]|$)", rf"\g<1>{replacement}", lines[number]
                    )
