"""The rules on the images a build fetches: DL3006 (no tag), DL3007 (``:latest``), DB002 (a FROM
name that looks like a typo of another image of the file, an earlier stage or the base-image
map), DB006 (a ``# syntax=`` frontend image that is not mapped to a local one)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pytest_dockerbuild.dockerfile import Stage
from pytest_dockerbuild.dockerfile.references import normalize_image, repository, split_reference
from pytest_dockerbuild.dockerfile.text import from_words
from pytest_dockerbuild.lint.context import LintContext

__all__ = ["image_name_typo", "latest_tag", "syntax_frontend", "untagged_image"]


# -- DL3006 / DL3007: FROM tags ------------------------------------------------------------------
def untagged_image(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DL3006: FROM an image without a tag or digest."""
    for stage in lint.dockerfile.stages:
        reference = from_words(stage.instructions[0].value)[0]
        if reference == "scratch" or "$" in reference or stage.base_stage is not None:
            continue
        name, tag, digest = split_reference(reference)
        if tag is None and digest is None:
            yield (
                stage.instructions[0].line,
                f"FROM {reference!r} in {lint.label(stage)} has no tag: it means {name + ':latest'!r}, which "
                f"changes whenever the image is pushed; pin a version, e.g. '{name}:<version>'"
                + lint.later_stage_hint(reference, stage),
            )


def latest_tag(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DL3007: FROM an image tagged ``:latest`` without a digest."""
    for stage in lint.dockerfile.stages:
        reference = from_words(stage.instructions[0].value)[0]
        name, tag, digest = split_reference(reference)
        if tag == "latest" and digest is None:
            yield (
                stage.instructions[0].line,
                f"FROM {reference!r} in {lint.label(stage)} uses the 'latest' tag, which changes whenever the "
                f"image is pushed; pin a release tag, e.g. '{name}:<version>'",
            )


# -- DB002: image-name typos ---------------------------------------------------------------------
def image_name_typo(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DB002: a FROM image name within edit distance 2 of a known-good name."""
    stages = [s for s in lint.dockerfile.stages if s.is_external_base and s.base]
    in_map = {repository(key): key for key in lint.image_map}
    uses: dict[str, list[Stage]] = {}
    for stage in stages:
        uses.setdefault(repository(stage.base), []).append(stage)
    for stage in stages:
        name = repository(stage.base)
        if name not in in_map:
            like = _look_alike(lint, stage, name, in_map, uses)
            if like is not None:
                yield (
                    stage.instructions[0].line,
                    f"FROM {stage.base!r} in {lint.label(stage)}: the image name {name!r} looks like a typo of {like}",
                )


def _look_alike(
    lint: LintContext, stage: Stage, name: str, in_map: Mapping[str, str], uses: Mapping[str, list[Stage]]
) -> str | None:
    """What ``name`` (the FROM image of ``stage``) is probably a typo of, described for a message."""
    for other, key in in_map.items():
        if _resembles(name, other):
            return f"{key!r} of the base-image map"
    for earlier in lint.dockerfile.stages[: stage.index]:
        if earlier.name is not None and _resembles(name, earlier.name):
            return f"the stage {earlier.name!r} (line {earlier.instructions[0].line})"
    mine = uses[name]
    for other, theirs in uses.items():
        # of two look-alikes in the file, the rarer one is the suspect; at a tie, the later one
        suspect = len(theirs) > len(mine) or (len(theirs) == len(mine) and theirs[0].index < mine[0].index)
        if suspect and _resembles(name, other):
            return f"{theirs[0].base!r} (line {theirs[0].instructions[0].line})"
    return None


def _resembles(a: str, b: str) -> bool:
    if a == b or len(a) < 5 or len(b) < 5:
        return False
    if re.sub(r"\d", "", a) == re.sub(r"\d", "", b):  # versioned siblings, not typos
        return False
    return _distance(a, b) <= 2


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (a swap of neighbours counts 1)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


# -- DB006: the frontend image of a # syntax= directive --------------------------------------------
def syntax_frontend(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DB006: a ``# syntax=`` parser directive whose frontend image the base-image map does not map."""
    syntax = lint.dockerfile.syntax
    if syntax is None or normalize_image(syntax[1]) in lint.image_map:
        return
    line, image = syntax
    yield (
        line,
        f"'# syntax={image}' makes BuildKit pull the frontend image {image!r} from its registry before the "
        f"first step, so the build fails offline (air-gapped CI, no registry); map it to a local image "
        f"(dockerbuild_base_images = {image}=<local image>, or image_map= in a test), or "
        "delete the line (BuildKit's built-in frontend then builds the file)",
    )
