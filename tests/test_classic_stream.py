"""ClassicStream on the classic builder's real JSON stream (recorded in tests/data/classic/*.jsonl).

The recordings are what docker-py's ``client.api.build(..., decode=True)`` yielded
(Docker 20.10, classic builder); ``tests/data/classic/record.py`` re-records them.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from pytest_dockerbuild import Builder
from pytest_dockerbuild.build.classic_stream import ClassicStream
from pytest_dockerbuild.engine.naming import project_id

DATA = Path(__file__).parent / "data" / "classic"
CONTEXTS = Path(__file__).parent / "data" / "contexts"
BASE = "FROM dockerbuild-offline/base:bookworm"


def recorded(name: str) -> list[dict[str, Any]]:
    with open(DATA / f"{name}.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def parse(chunks: list[dict[str, Any]]) -> ClassicStream:
    stream = ClassicStream()
    for number, chunk in enumerate(chunks):
        stream.feed(chunk, now=float(number))
    stream.finish(now=float(len(chunks)))
    return stream


def steps(stream: ClassicStream) -> list[tuple[int, int, str, bool]]:
    return [(s.stage_index, s.step, s.text, s.cached) for s in stream.steps]


def aux_ids(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["aux"]["ID"] for c in chunks if "aux" in c]


def recorded_error(chunks: list[dict[str, Any]]) -> str:
    return next(str(c["errorDetail"]["message"]) for c in chunks if "errorDetail" in c)


def split_streams(chunks: list[dict[str, Any]], size: int, which: str = "all") -> list[dict[str, Any]]:
    """Each ``stream`` chunk cut into pieces of ``size`` characters (``which``: all, steps, others)."""
    result: list[dict[str, Any]] = []
    for chunk in chunks:
        text = chunk.get("stream")
        is_step = isinstance(text, str) and text.startswith("Step ")
        if text is None or (which == "steps" and not is_step) or (which == "others" and is_step):
            result.append(chunk)
            continue
        result.extend({"stream": text[i : i + size]} for i in range(0, len(text), size))
    return result


# -- a successful three-stage build ------------------------------------------------------------
THREE_STAGE_STEPS = [
    (0, 1, f"{BASE} AS build"),
    (0, 2, 'RUN echo built > /out.txt && echo "classic-stream: compiling" >&2'),
    (1, 1, f"{BASE} AS test"),
    (1, 2, "COPY --from=build /out.txt /out.txt"),
    (1, 3, "RUN grep -q built /out.txt"),
    (2, 1, BASE),
    (2, 2, "COPY --from=test /out.txt /app/out.txt"),
    (2, 3, 'CMD ["cat", "/app/out.txt"]'),
]


def test_cold_build_steps_per_stage() -> None:
    stream = parse(recorded("three_stage_cold"))
    assert steps(stream) == [(*step, False) for step in THREE_STAGE_STEPS]
    assert [s.number for s in stream.steps] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_cold_build_stage_images_and_image_id() -> None:
    chunks = recorded("three_stage_cold")
    stream = parse(chunks)
    first, second, last = aux_ids(chunks)
    assert stream.stage_images == {0: first, 1: second, 2: last}
    assert stream.image_id == last
    assert stream.steps[-1].image == last.removeprefix("sha256:")[:12]


def test_a_cold_build_created_every_image_but_its_bases() -> None:
    stream = parse(recorded("three_stage_cold"))
    assert stream.created == [step.image for step in stream.steps if not step.text.startswith("FROM")]
    assert stream.steps[0].image == "d67389e6249a" and "d67389e6249a" not in stream.created  # the base
    assert stream.containers == ["e0b40fd3da00", "f2dda7d172b3", "b07c9da4fc8c"]  # the RUN and CMD steps


def test_cold_build_has_no_error() -> None:
    stream = parse(recorded("three_stage_cold"))
    assert stream.error is None
    assert stream.exit_code is None


def test_log_is_the_stream_lines_with_ansi_codes_stripped() -> None:
    stream = parse(recorded("three_stage_cold"))
    assert stream.log[:5] == [
        f"Step 1/8 : {BASE} AS build",
        " ---> d67389e6249a",
        'Step 2/8 : RUN echo built > /out.txt && echo "classic-stream: compiling" >&2',
        " ---> Running in e0b40fd3da00",
        "classic-stream: compiling",
    ]
    assert not [line for line in stream.log if "\x1b" in line]
    assert stream.log[-1] == "Successfully built 5038e536dffd"


def test_step_times_run_from_its_complete_line_to_the_next_one() -> None:
    stream = parse(recorded("three_stage_cold"))
    first, second = stream.steps[:2]
    # chunk 0 is "Step 1/8 : FROM ...", chunk 1 its newline; chunks 3 and 4 the same for step 2
    assert (first.started, first.finished) == (1.0, 4.0)
    assert second.started == 4.0
    assert stream.steps[-1].finished == 35.0  # set by finish(), after the 35 chunks


# -- the same build, fully cached ------------------------------------------------------------
def test_cached_build_marks_every_step_but_from_cached() -> None:
    stream = parse(recorded("three_stage_cached"))
    assert steps(stream) == [(*step, step[1] != 1) for step in THREE_STAGE_STEPS]


def test_cached_build_reuses_the_cold_build_stage_images() -> None:
    cold = parse(recorded("three_stage_cold"))
    cached = parse(recorded("three_stage_cached"))
    assert cached.stage_images == cold.stage_images
    assert cached.image_id == cold.image_id
    assert (cached.created, cached.containers) == ([], [])  # nothing new: nothing of the build's own


# -- failures -----------------------------------------------------------------------------------
def test_failing_run_stops_in_the_middle_stage() -> None:
    stream = parse(recorded("run_fails"))
    assert steps(stream)[-2:] == [
        (1, 2, "COPY --from=build /failing-out.txt /out.txt", False),
        (1, 3, 'RUN echo "checking /out.txt" && echo "test failed: expected 2 lines" >&2 && exit 3', False),
    ]
    assert len(stream.steps) == 5


def test_failing_run_reports_error_and_exit_code() -> None:
    chunks = recorded("run_fails")
    stream = parse(chunks)
    assert stream.exit_code == 3
    assert stream.error == (
        'The command \'/bin/sh -c echo "checking /out.txt" && echo "test failed: expected 2 lines" >&2 '
        "&& exit 3' returned a non-zero code: 3"
    )
    assert stream.log[-1] == f"ERROR: {stream.error}"


def test_failing_run_keeps_stderr_in_the_log_without_colour_codes() -> None:
    stream = parse(recorded("run_fails"))
    assert stream.log[-5:-1] == [
        " ---> Running in 2661a94235af",
        "test failed: expected 2 lines",
        "checking /out.txt",
        "Removing intermediate container 2661a94235af",
    ]


def test_failing_run_has_images_of_the_finished_stages_only() -> None:
    chunks = recorded("run_fails")
    stream = parse(chunks)
    assert stream.stage_images == {0: aux_ids(chunks)[0]}
    assert stream.created[-1] == "d154158db1f5"  # the COPY step before the failing RUN
    assert stream.containers[-1] == "2661a94235af"  # the failing RUN's
    assert stream.steps[-1].finished == float(len(chunks) - 1)  # the error chunk ends it


def test_exit_code_is_read_from_the_message_without_an_error_code() -> None:
    stream = ClassicStream()
    stream.feed({"error": "The command '/bin/sh -c exit 7' returned a non-zero code: 7"})
    assert (stream.error, stream.exit_code) == ("The command '/bin/sh -c exit 7' returned a non-zero code: 7", 7)


def test_copy_of_a_missing_file_fails_without_exit_code() -> None:
    stream = parse(recorded("copy_missing"))
    assert steps(stream)[-1] == (1, 2, "COPY --from=build /missing.txt /app/", False)
    assert stream.error == "COPY failed: stat missing.txt: file does not exist"
    assert stream.exit_code is None


def test_missing_base_image_fails_at_its_from() -> None:
    chunks = recorded("missing_base")
    stream = parse(chunks)
    assert steps(stream) == [(0, 1, "FROM dockerbuild-offline/missing-base:bookworm", False)]
    assert stream.error == recorded_error(chunks)
    assert stream.exit_code is None
    assert stream.stage_images == {}
    assert stream.image_id is None
    assert stream.created == []


# -- ARGs and labels ----------------------------------------------------------------------------
def test_global_args_are_steps_outside_any_stage() -> None:
    stream = parse(recorded("global_arg"))
    assert steps(stream) == [
        (-1, 0, f"ARG BASE={BASE.split()[1]}", False),
        (-1, 0, "ARG GREETING=hello", False),
        (0, 1, "FROM ${BASE} AS build", False),
        (0, 2, "ARG GREETING", False),
        (0, 3, 'RUN echo "$GREETING" > /greeting.txt', False),
        (1, 1, "FROM ${BASE}", False),
        (1, 2, "COPY --from=build /greeting.txt /greeting.txt", False),
    ]
    assert [s.number for s in stream.steps] == [1, 2, 3, 4, 5, 6, 7]


def test_global_args_do_not_shift_stage_images() -> None:
    chunks = recorded("global_arg")
    stream = parse(chunks)
    assert stream.stage_images == dict(enumerate(aux_ids(chunks)))


def test_build_labels_are_extra_steps_of_the_last_stage() -> None:
    chunks = recorded("labels")
    stream = parse(chunks)
    assert steps(stream)[2:] == [
        (0, 3, 'CMD ["cat", "/labelled.txt"]', False),
        (0, 4, "LABEL org.example.team=qa", False),
        (0, 5, "LABEL org.example.tier=test", False),
    ]
    assert stream.stage_images == {0: aux_ids(chunks)[0]}


# -- how the chunks are cut -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["three_stage_cold", "run_fails", "global_arg"])
def test_many_lines_in_one_chunk_parse_the_same(name: str) -> None:
    chunks = recorded(name)
    merged: list[dict[str, Any]] = []
    for chunk in chunks:
        if "stream" in chunk and merged and "stream" in merged[-1]:
            merged[-1] = {"stream": merged[-1]["stream"] + chunk["stream"]}
        else:
            merged.append(chunk)
    whole, joined = parse(chunks), parse(merged)
    assert len(merged) < len(chunks) / 3
    assert steps(joined) == steps(whole)
    assert (joined.stage_images, joined.error, joined.exit_code) == (whole.stage_images, whole.error, whole.exit_code)
    assert joined.log == whole.log


@pytest.mark.parametrize("size", [1, 2, 5])
def test_lines_split_across_chunks_parse_the_same(size: int) -> None:
    chunks = recorded("three_stage_cached")
    whole, split = parse(chunks), parse(split_streams(chunks, size, which="others"))
    assert steps(split) == steps(whole)
    assert split.log == whole.log


@pytest.mark.parametrize("size", [3, 13])
def test_step_line_split_across_chunks_parses_the_same(size: int) -> None:
    chunks = recorded("three_stage_cold")
    split = parse(split_streams(chunks, size, which="steps"))
    assert steps(split) == steps(parse(chunks))  # "Step 2/8 : RU" is not taken for a step "RU"
    assert split.stage_images == parse(chunks).stage_images
    assert split.log == parse(chunks).log


def test_step_line_still_in_the_buffer_when_the_error_arrives() -> None:
    chunks = [c for c in recorded("missing_base") if c != {"stream": "\n"}]  # the error follows the bare line
    assert chunks[0] == {"stream": "Step 1/2 : FROM dockerbuild-offline/missing-base:bookworm"}
    stream = ClassicStream()
    for number, chunk in enumerate(chunks):
        stream.feed(chunk, now=float(number))
    assert steps(stream) == [(0, 1, "FROM dockerbuild-offline/missing-base:bookworm", False)]
    assert stream.log == [chunks[0]["stream"], f"ERROR: {recorded_error(chunks)}"]
    assert (stream.steps[0].started, stream.steps[0].finished) == (1.0, 1.0)  # both when the error came


def test_step_text_arriving_with_its_newline_later_is_one_step() -> None:
    stream = ClassicStream()
    for piece in ["Step 1/2 : FROM base AS one", "\n", " ---> 0123456789ab\n", "Step 2/2 : RUN true\n"]:
        stream.feed({"stream": piece})
    assert [(s.stage_index, s.step, s.text) for s in stream.steps] == [(0, 1, "FROM base AS one"), (0, 2, "RUN true")]
    assert stream.log == ["Step 1/2 : FROM base AS one", " ---> 0123456789ab", "Step 2/2 : RUN true"]


def test_finish_keeps_an_unterminated_last_line() -> None:
    stream = ClassicStream()
    stream.feed({"stream": "Successfully built 0123456789ab"})
    stream.finish()
    assert stream.log == ["Successfully built 0123456789ab"]


# -- the stream in a real build -------------------------------------------------------------------
def test_failed_stage_keeps_the_image_of_the_stage_it_builds_from(builders: dict[str, Builder]) -> None:
    classic = builders["classic"]
    context = CONTEXTS / "classic-failed-stage"
    token = uuid.uuid4().hex  # a fresh build every run: the stage image is new and untagged
    failure = classic.expect_failure(context, stage="test", exit_code=4, build_args={"TOKEN": token})
    from_build = re.compile(r"Step \d+/\d+ : FROM build AS test")
    announced = next(n for n, line in enumerate(failure.log) if from_build.fullmatch(line))
    match = re.fullmatch(r" ---> ([0-9a-f]{12})", failure.log[announced + 1])
    assert match is not None
    client = classic.engine.client
    try:
        image = client.images.get(match.group(1))
    except docker.errors.ImageNotFound:
        pytest.fail(f"the image {match.group(1)} of stage 'build' was removed by the failed build")
    try:
        project = project_id(context)
        assert image.tags == [f"pytest-dockerbuild/{project}:build-{image.id[7:19]}"]  # tagged, kept
    finally:
        for tag in image.tags:
            client.images.remove(tag)  # a fresh image every run: do not pile them up
