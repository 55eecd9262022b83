"""The classic backend's own steps: its LABEL after each FROM, which joins a stage's own first
LABEL (no step of its own), and no label step at the end of an earlier stage built as the
target; steps, failures and lines still map back to the user's Dockerfile."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from helpers import BASE, MakeContext

from pytest_dockerbuild import Builder, BuildFailed
from pytest_dockerbuild.build.backend import original_line
from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.dockerfile.rewrite import added_after_from, joins_label
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.engine.naming import project_id

LABEL_FIRST = """\
FROM diamol/base AS builder
label org.example.marker={marker} \\
      org.example.team=qa
RUN echo built-{marker} > /built
RUN echo tested

FROM diamol/base
LABEL org.example.marker={marker} org.example.team=qa
COPY --from=builder /built /built
RUN {final}
"""


def parsed(text: str) -> Dockerfile:
    return Dockerfile(Path("/tmp/Dockerfile"), text)


def test_a_label_after_from_joins_the_stages_own_first_label() -> None:
    dockerfile = parsed("FROM a AS one\nlabel x=1 \\\n  y=2\nRUN true\nFROM one\nLABEL legacy value\nFROM b\nRUN x\n")
    assert [joins_label(stage) for stage in dockerfile.stages] == [True, False, False]
    assert added_after_from(dockerfile, "LABEL m=true") == {1, 2}
    assert added_after_from(dockerfile, "ARG SALT=1") == {0, 1, 2}  # only a LABEL joins
    text = dockerfile.substituted({}, labels={"p": "1"}, after_from="LABEL m=true", labels_after_from=True)
    assert text.splitlines() == [
        "FROM a AS one", "label m=true x=1 \\", "  y=2", "RUN true",
        "FROM one", "LABEL m=true", "LABEL legacy value",  # the legacy form takes no other pair
        "FROM b", "LABEL m=true p=1", "RUN x",
    ]  # fmt: skip
    assert parsed(text).stages[0].instructions[1].value.split() == ["m=true", "x=1", "y=2"]


def test_stages_that_start_with_the_same_label_still_share_it() -> None:
    """The pairs that join are the same in every stage, the target's labels included (the plugin's,
    constant per project): the engine takes the second stage's LABEL step from the first's."""
    dockerfile = parsed("FROM a AS one\nLABEL x=1\nRUN one\nFROM a\nLABEL x=1\nRUN two\n")
    joining = {"m": "true", "project": "p-1"}
    text = dockerfile.substituted({}, labels=joining, after_from="LABEL m=true", labels_after_from=True,
                                  joining=joining)  # fmt: skip
    assert text.splitlines()[1] == text.splitlines()[4] == "LABEL m=true project=p-1 x=1"
    with_own = dockerfile.substituted({}, labels={"own": "v", **joining}, after_from="LABEL m=true", joining=joining)
    assert with_own.splitlines()[-1] == "LABEL m=true own=v project=p-1"  # labels= given: a step at the end


def test_lines_map_back_past_the_added_lines_only() -> None:
    dockerfile = parsed("FROM a\nLABEL x=1\nRUN one\nFROM b\nRUN two\nRUN three\n")
    sent = dockerfile.substituted({}, after_from="LABEL m=true").splitlines()
    added = added_after_from(dockerfile, "LABEL m=true")
    assert added == {1}
    for number, line in enumerate(sent, start=1):
        if line != "LABEL m=true":
            assert dockerfile.text.splitlines()[original_line(dockerfile, number, added) - 1] == line.replace(
                "LABEL m=true x=1", "LABEL x=1"
            )
    assert original_line(dockerfile, 6, None) == 4  # every stage added a line (BuildKit's ARG)


@pytest.fixture
def classic(dockerbuild_engine: Engine) -> Builder:
    return Builder(dockerbuild_engine, {"diamol/base": BASE}, backend="classic")


def test_a_stage_that_starts_with_a_label_pays_no_step_for_the_plugins(
    classic: Builder, make_context: MakeContext
) -> None:
    marker = uuid.uuid4().hex
    context = make_context(LABEL_FIRST.format(marker=marker, final="true"))
    result = classic.build(context)
    base_entries = len(classic.engine.image(BASE).layers)
    assert len(result.image.layers) == base_entries + 3  # LABEL, COPY, RUN: none of the plugin's own
    labels = result.image.config.labels
    assert labels["org.example.team"] == "qa" and labels["pytest-dockerbuild.managed"] == "true"
    assert labels["pytest-dockerbuild.project"] == project_id(context)
    assert [(s.step, s.line) for s in result.stages[0].steps] == [(1, 1), (2, 2), (3, 4), (4, 5)]
    assert result.step("echo tested").step == 4 and result.step("COPY").line == 9
    assert not result.step(f"echo built-{marker}").cached
    assert result.step("LABEL", stage="1").cached  # the builder stage's own: the same pairs joined it
    builder = classic.build(context, target="builder")  # the final build made it: nothing to run again
    assert builder.cache_hits == len(builder.stages[0].steps) - 1, builder.stages[0].steps
    assert builder.image.id == result.stages[0].image_id  # no label step at its end
    assert builder.image.config.labels["pytest-dockerbuild.project"] == project_id(context)
    assert builder.image.read_text("/built") == f"built-{marker}\n"


def test_a_failing_step_after_a_joined_label_is_named_by_its_own_number(
    classic: Builder, make_context: MakeContext
) -> None:
    context = make_context(LABEL_FIRST.format(marker=uuid.uuid4().hex, final="exit 3"))
    with pytest.raises(BuildFailed) as failed:
        classic.build(context)
    error = failed.value
    assert (error.stage, error.step, error.steps_in_stage) == ("1", 4, 4)
    assert (error.instruction, error.line, error.exit_code) == ("RUN exit 3", 10, 3)
