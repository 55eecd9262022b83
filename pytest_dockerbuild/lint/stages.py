"""The rules on the stage graph: DL3022 (COPY --from no earlier stage), DL3023 (COPY --from the
stage itself), DL3024 (duplicate stage names), DB001 (a stage nothing uses and no one builds
with ``--target`` on purpose)."""

from __future__ import annotations

from collections.abc import Iterator

from pytest_dockerbuild.dockerfile import Stage
from pytest_dockerbuild.lint.context import TARGET_PRAGMA, LintContext

__all__ = ["copy_from_own_stage", "duplicate_stage_name", "unknown_copy_source", "unused_stage"]


# -- DL3022 / DL3023: COPY --from ----------------------------------------------------------------
def unknown_copy_source(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DL3022: COPY --from naming neither an earlier stage nor a tagged image."""
    return ((line, message) for rule, line, message in _copy_sources(lint) if rule == "DL3022")


def copy_from_own_stage(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DL3023: COPY --from naming the stage it is in."""
    return ((line, message) for rule, line, message in _copy_sources(lint) if rule == "DL3023")


def _copy_sources(lint: LintContext) -> Iterator[tuple[str, int, str]]:
    """``(rule, line, message)`` for every bad ``COPY --from``."""
    for stage in lint.dockerfile.stages:
        for instruction in stage.instructions:
            source = instruction.flags.get("from")
            if instruction.keyword != "COPY" or not source or ":" in source:
                continue  # no --from (or one without a value, which Docker refuses), or an image
            problem = _source_problem(lint, stage, source)
            if problem is not None:
                yield problem[0], instruction.line, problem[1]


def _source_problem(lint: LintContext, stage: Stage, source: str) -> tuple[str, str] | None:
    """``(rule, message)`` if ``COPY --from=source`` in ``stage`` names no earlier stage."""
    earlier = lint.dockerfile.stages[: stage.index]
    if source.isdigit():
        number = int(source)
        if number < stage.index:
            return None
        if number == stage.index:
            return "DL3023", _own_stage(lint.label(stage), source)
    elif any(s.name == source.lower() for s in earlier):
        return None
    elif stage.name == source.lower():
        return "DL3023", _own_stage(lint.label(stage), source)
    names = ", ".join(repr(s.ref) for s in earlier) or "none"
    if source.isdigit():
        hint = f"; index {source} is not an earlier stage"
    else:
        hint = (
            lint.later_stage_hint(source, stage) or f"; to copy from an image give its tag, e.g. '{source}:<version>'"
        )
    return (
        "DL3022",
        f"COPY --from={source} in {lint.label(stage)} names no earlier stage (earlier stages: {names})" + hint,
    )


def _own_stage(where: str, source: str) -> str:
    return f"COPY --from={source} in {where} copies from the stage it is in; copy from an earlier stage or an image"


# -- DL3024: duplicate stage names ---------------------------------------------------------------
def duplicate_stage_name(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DL3024: a stage named like an earlier one (case-insensitively)."""
    for line, name in lint.dockerfile.duplicates:
        first = next(s for s in lint.dockerfile.stages if s.name == name)
        yield (
            line,
            f"stage name {name!r} is already used by the stage at line {first.instructions[0].line} "
            "(stage names are case-insensitive); a build refuses duplicate stage names: rename one",
        )


# -- DB001: stages nothing uses ------------------------------------------------------------------
def unused_stage(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DB001: a stage that is not the last, not a build target, and that no stage builds FROM,
    copies or mounts from."""
    stages = lint.dockerfile.stages
    used = {needed.index for stage in stages for needed in lint.dockerfile.dependencies(stage)}
    for stage in stages[:-1]:
        if stage.index not in used and not lint.is_target(stage):
            if stage.name is not None:
                outcome = (
                    f"only a build with --target {stage.name} builds it (if that is on purpose, put "
                    f"'{TARGET_PRAGMA}' above its FROM or list {stage.name} in dockerbuild_lint_targets)"
                )
            else:
                outcome = "without a name it cannot even be a --target: remove it, or name it with AS"
            yield (
                stage.instructions[0].line,
                f"{lint.label(stage)} is not used: it is not the last stage and no stage builds FROM it, "
                f"copies from it or mounts it; {outcome}",
            )
