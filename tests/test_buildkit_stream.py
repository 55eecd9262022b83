"""BuildkitStream and the vertex-name mapping on BuildKit's real ``rawjson`` progress.

The recordings (tests/data/buildkit/*.rawjson) are the bytes ``docker buildx build
--progress=rawjson`` wrote to stderr: buildx 0.13 against the engine's own BuildKit
(Docker 20.10), indented multi-line JSON with a plain ``ERROR: ...`` line after a failure.
``tests/data/buildkit/record.py`` re-records them; its Dockerfiles are the ones parsed here.
No engine is needed.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pytest_dockerbuild import Dockerfile
from pytest_dockerbuild.build.buildkit import _METADATA, buildx_supports_rawjson
from pytest_dockerbuild.build.buildkit_stream import BuildkitStream, Vertex, _counted, _time
from pytest_dockerbuild.build.buildkit_stream import locate as _locate
from pytest_dockerbuild.dockerfile import normalize_image

DATA = Path(__file__).parent / "data" / "buildkit"
RECORDINGS = [
    "three_stage_cold",
    "three_stage_cached",
    "run_fails",
    "copy_missing",
    "missing_base",
    "single_stage",
    "canceled",
]
FROM_BASE = "FROM docker.io/dockerbuild-offline/base:bookworm"
STEP = re.compile(r"^\[[^\]]*\d+/\d+\] ")  # "[build 2/3] RUN ...", "[2/3] RUN ...": a Dockerfile step


def _load_recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("buildkit_record", DATA / "record.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORDER = _load_recorder()


def raw(name: str) -> str:
    return (DATA / f"{name}.rawjson").read_text(encoding="utf-8")


def pieces(text: str, size: int | None) -> list[str]:
    return [text] if size is None else [text[i : i + size] for i in range(0, len(text), size)]


def parse(text: str, size: int | None = None) -> BuildkitStream:
    stream = BuildkitStream()
    for piece in pieces(text, size):
        stream.feed(piece)
    stream.finish()
    return stream


def recorded(name: str) -> BuildkitStream:
    return parse(raw(name))


def dockerfile(text: str) -> Dockerfile:
    return Dockerfile(Path("/recorded/Dockerfile"), text)


def ordered(stream: BuildkitStream) -> list[Vertex]:
    return sorted(stream.vertices.values(), key=lambda v: v.order)


def steps(stream: BuildkitStream) -> list[Vertex]:
    """The vertices of Dockerfile steps, in the order BuildKit announced them."""
    return [v for v in ordered(stream) if STEP.match(v.name)]


def vertex(stream: BuildkitStream, prefix: str) -> Vertex:
    (found,) = [v for v in stream.vertices.values() if v.name.startswith(prefix)]
    return found


def summary(stream: BuildkitStream) -> tuple[Any, ...]:
    vertices = [
        (v.digest, v.name, v.started, v.completed, v.cached, v.error, list(v.logs), v.order) for v in ordered(stream)
    ]
    return vertices, list(stream.log), list(stream.text)


def statuses(text: str) -> list[dict[str, Any]]:
    decoder, found, rest = json.JSONDecoder(), [], text.lstrip()
    while rest.startswith("{"):
        status, end = decoder.raw_decode(rest)
        found.append(status)
        rest = rest[end:].lstrip()
    return found


def located(text: str, name: str) -> tuple[str, int, str] | None:
    """Where ``_locate`` puts a vertex: (stage ref, 1-based step in the stage, instruction)."""
    parsed = dockerfile(text)
    found = _locate(parsed, name)
    if found is None:
        return None
    stage, instruction = found
    return stage.ref, stage.instructions.index(instruction) + 1, instruction.text


def logs(digest: str, *chunks: str) -> str:
    entries = [{"vertex": digest, "stream": 1, "data": base64.b64encode(c.encode()).decode()} for c in chunks]
    return json.dumps({"logs": entries}, indent=2) + "\n"


# -- the shape of the output and how it is cut ----------------------------------------------------------
@pytest.mark.parametrize("name", RECORDINGS)
def test_recordings_are_indented_multi_line_json(name: str) -> None:
    text = raw(name)
    assert text.startswith('{\n  "vertexes": [\n    {\n      "digest": "sha256:')
    assert text.count("\n") > 5 * len(statuses(text))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
@pytest.mark.parametrize("name", RECORDINGS)
def test_split_at_any_chunk_boundary_parses_the_same(name: str, size: int) -> None:
    whole = recorded(name)
    assert len(pieces(raw(name), size)) > 1
    assert summary(parse(raw(name), size)) == summary(whole)


@pytest.mark.parametrize("name", ["three_stage_cold", "run_fails"])
def test_one_object_a_line_parses_the_same(name: str) -> None:
    text = raw(name)
    trailing = text[text.rindex("}") + 1 :].lstrip("\n")  # the ERROR line of a failure
    compact = "".join(json.dumps(status) + "\n" for status in statuses(text)) + trailing
    assert compact.count("\n") == len(statuses(text)) + trailing.count("\n")  # one line an object
    assert summary(parse(compact, 5)) == summary(recorded(name))


def test_text_before_and_between_objects_is_kept_as_text() -> None:
    text = raw("single_stage")
    middle = text.index('{\n  "vertexes"', 200)
    mixed = "WARNING: first\n" + text[:middle] + "note: in between\n" + text[middle:]
    stream = parse(mixed, 11)
    assert list(stream.text) == ["WARNING: first", "note: in between"]
    assert summary(stream)[0] == summary(recorded("single_stage"))[0]


def test_finish_keeps_unterminated_text() -> None:
    stream = BuildkitStream()
    stream.feed(raw("missing_base").rstrip("\n"))
    assert list(stream.text) == []  # the ERROR line has no newline yet
    stream.finish()
    assert len(stream.text) == 1
    assert stream.text[0].startswith("ERROR: failed to solve: rpc error")


# -- a cold multi-stage build -----------------------------------------------------------------------------
THREE_STAGE_STEPS = [
    f"[build 1/2] {FROM_BASE}",
    '[build 2/2] RUN env > /out.txt && echo built >> /out.txt && echo "buildkit-stream: compiling" >&2',
    "[test 2/3] COPY --from=build /out.txt /out.txt",
    "[test 3/3] RUN grep -q built /out.txt",
    "[stage-2 2/2] COPY --from=test /out.txt /app/out.txt",
]


def test_cold_build_vertices_in_order() -> None:
    stream = recorded("three_stage_cold")
    assert [v.name for v in ordered(stream)] == [
        "[internal] load build definition from Dockerfile",
        "[internal] load .dockerignore",
        "[internal] load metadata for docker.io/dockerbuild-offline/base:bookworm",
        *THREE_STAGE_STEPS,
        "exporting to image",
    ]
    assert [v.order for v in ordered(stream)] == list(range(9))


def test_cold_build_runs_every_step_but_the_from() -> None:
    stream = recorded("three_stage_cold")
    assert [(v.name, v.cached) for v in steps(stream)] == [(n, n.endswith(FROM_BASE)) for n in THREE_STAGE_STEPS]
    assert all(v.started and v.completed and v.error is None for v in stream.vertices.values())


def test_vertex_seconds_come_from_its_timestamps() -> None:
    run = vertex(recorded("three_stage_cold"), "[build 2/2] RUN")
    # started 17:28:35.154515209Z, completed 17:28:35.382009806Z (microseconds kept)
    assert run.seconds == pytest.approx(0.227494, abs=1e-6)
    assert run.started == datetime(2026, 11, 27, 17, 28, 35, 154515, tzinfo=timezone.utc).timestamp()


def test_cold_build_keeps_the_stderr_of_a_run_with_its_vertex() -> None:
    stream = recorded("three_stage_cold")
    assert list(vertex(stream, "[build 2/2] RUN").logs) == ["buildkit-stream: compiling"]
    assert [v.name for v in stream.vertices.values() if v.logs] == [THREE_STAGE_STEPS[1]]


def test_log_is_a_plain_rendering_of_the_build() -> None:
    assert recorded("three_stage_cold").log == [
        "[internal] load build definition from Dockerfile",
        "[internal] load .dockerignore",
        "[internal] load metadata for docker.io/dockerbuild-offline/base:bookworm",
        THREE_STAGE_STEPS[0],
        f"{THREE_STAGE_STEPS[0]}: CACHED",
        THREE_STAGE_STEPS[1],
        "buildkit-stream: compiling",
        *THREE_STAGE_STEPS[2:],
        "exporting to image",
    ]


def test_successful_build_has_no_failure_or_error() -> None:
    stream = recorded("three_stage_cold")
    assert (stream.failure, stream.error, list(stream.text)) == (None, None, [])


def test_identical_from_vertices_are_one_vertex_shared_by_the_stages() -> None:
    """Three stages FROM the same image share one FROM vertex, named after one of them (not
    necessarily the first: in the canceled build it carries the second stage's name)."""
    cases = [
        ("three_stage_cold", RECORDER.THREE_STAGES, "build"),
        ("run_fails", RECORDER.RUN_FAILS, "build"),
        ("canceled", RECORDER.CANCELED, "broken"),
    ]
    for name, text, owner in cases:
        stream = recorded(name)
        (from_vertex,) = [v for v in stream.vertices.values() if FROM_BASE in v.name]
        assert from_vertex.name == f"[{owner} 1/2] {FROM_BASE}"
        assert from_vertex.digest == vertex(recorded("single_stage"), "[1/3] FROM").digest
        assert len(dockerfile(text).stages) == 3
        assert located(text, from_vertex.name) == (owner, 1, f"FROM dockerbuild-offline/base:bookworm AS {owner}")


def test_a_stage_without_its_own_from_vertex_still_counts_its_from() -> None:
    parsed = dockerfile(RECORDER.THREE_STAGES)
    test_stage = parsed.stage("test")
    assert [i.text for i in _counted(test_stage)] == [
        "FROM dockerbuild-offline/base:bookworm AS test",
        "COPY --from=build /out.txt /out.txt",
        "RUN grep -q built /out.txt",
    ]
    names = [v.name for v in steps(recorded("three_stage_cold")) if v.name.startswith("[test ")]
    assert names == ["[test 2/3] COPY --from=build /out.txt /out.txt", "[test 3/3] RUN grep -q built /out.txt"]
    assert [located(parsed.text, n) for n in names] == [
        ("test", 2, "COPY --from=build /out.txt /out.txt"),
        ("test", 3, "RUN grep -q built /out.txt"),
    ]


def test_every_step_vertex_maps_to_its_instruction() -> None:
    text = RECORDER.THREE_STAGES
    assert [located(text, v.name) for v in steps(recorded("three_stage_cold"))] == [
        ("build", 1, "FROM dockerbuild-offline/base:bookworm AS build"),
        ("build", 3, 'RUN env > /out.txt && echo built >> /out.txt && echo "buildkit-stream: compiling" >&2'),
        ("test", 2, "COPY --from=build /out.txt /out.txt"),
        ("test", 3, "RUN grep -q built /out.txt"),
        ("2", 2, "COPY --from=test /out.txt /app/out.txt"),  # "stage-2": the unnamed third stage
    ]


def test_unnamed_stage_is_stage_n_and_metadata_steps_do_not_count() -> None:
    parsed = dockerfile(RECORDER.THREE_STAGES)
    final = parsed.stages[2]
    assert [i.keyword for i in final.instructions] == ["FROM", "COPY", "CMD"]
    assert [i.keyword for i in _counted(final)] == ["FROM", "COPY"]
    assert located(parsed.text, "[stage-2 2/2] COPY --from=test /out.txt /app/out.txt") == (
        "2",
        2,
        "COPY --from=test /out.txt /app/out.txt",
    )


# -- the same build, fully cached ---------------------------------------------------------------------------
def test_cached_rebuild_marks_every_run_and_copy_cached() -> None:
    stream = recorded("three_stage_cached")
    assert [(v.name, v.cached) for v in steps(stream)[1:]] == [(name, True) for name in THREE_STAGE_STEPS[1:]]
    assert [line for line in stream.log if line.endswith(": CACHED")] == [f"{n}: CACHED" for n in THREE_STAGE_STEPS[1:]]
    assert [list(v.logs) for v in stream.vertices.values() if v.logs] == []  # nothing ran


def test_cached_rebuild_has_the_cold_build_vertices() -> None:
    cold, cached = recorded("three_stage_cold"), recorded("three_stage_cached")
    assert [(v.digest, v.name) for v in steps(cached)] == [(v.digest, v.name) for v in steps(cold)]


# -- a RUN failing in the middle stage -------------------------------------------------------------------------
RUN_FAILS_ERROR = (
    'executor failed running [/bin/sh -c echo "checking /out.txt" && echo "test failed: expected 2 lines" >&2 '
    "&& exit 3]: exit code: 3"
)


def test_failing_run_is_the_failure() -> None:
    failure = recorded("run_fails").failure
    assert failure is not None
    assert failure.name == (
        '[test 3/3] RUN echo "checking /out.txt" && echo "test failed: expected 2 lines" >&2 && exit 3'
    )
    assert failure.error == RUN_FAILS_ERROR
    assert failure.failed is True


def test_failing_run_error_is_the_final_error_line() -> None:
    stream = recorded("run_fails")
    assert list(stream.text) == [f"ERROR: failed to solve: {RUN_FAILS_ERROR}"]
    assert stream.error == f"failed to solve: {RUN_FAILS_ERROR}"


def test_failing_run_keeps_its_output_in_arrival_order() -> None:
    failure = recorded("run_fails").failure
    assert failure is not None
    assert list(failure.logs) == ["test failed: expected 2 lines", "checking /out.txt"]  # stderr came first


def test_failing_run_log_ends_with_both_errors() -> None:
    stream = recorded("run_fails")
    assert stream.failure is not None
    assert stream.log[-4:] == [
        "test failed: expected 2 lines",
        "checking /out.txt",
        f"{stream.failure.name}: ERROR: {RUN_FAILS_ERROR}",
        f"ERROR: failed to solve: {RUN_FAILS_ERROR}",
    ]


def test_steps_after_the_failure_are_announced_but_never_start() -> None:
    stream = recorded("run_fails")
    final_copy = vertex(stream, "[stage-2 2/2] COPY")
    assert (final_copy.started, final_copy.completed, final_copy.error, final_copy.seconds) == (None,) * 4


def test_failing_run_maps_to_the_stage_and_step() -> None:
    failure = recorded("run_fails").failure
    assert failure is not None
    assert located(RECORDER.RUN_FAILS, failure.name) == (
        "test",
        3,
        'RUN echo "checking /out.txt" && echo "test failed: expected 2 lines" >&2 && exit 3',
    )


def test_without_the_error_line_the_error_is_the_failing_vertex_error() -> None:
    text = raw("run_fails")
    stream = parse(text[: text.rindex("}") + 1])  # buildx killed before it printed ERROR
    assert list(stream.text) == []
    assert stream.error == RUN_FAILS_ERROR


# -- COPY --from of a missing file ---------------------------------------------------------------------------
def test_copy_of_a_missing_file() -> None:
    stream = recorded("copy_missing")
    assert stream.failure is not None
    assert stream.failure.name == "[stage-1 2/2] COPY --from=build /missing.txt /app/"
    assert stream.failure.error == '"/missing.txt" not found: not found'
    assert list(stream.failure.logs) == []
    assert stream.error == 'failed to solve: failed to compute cache key: "/missing.txt" not found: not found'
    assert located(RECORDER.COPY_MISSING, stream.failure.name) == ("1", 2, "COPY --from=build /missing.txt /app/")


# -- a missing base image --------------------------------------------------------------------------------------
def test_missing_base_fails_in_its_metadata_vertex() -> None:
    stream = recorded("missing_base")
    assert stream.failure is not None
    assert stream.failure.name == "[internal] load metadata for docker.io/dockerbuild-offline/missing-base:bookworm"
    assert stream.failure.error is not None
    assert stream.failure.error.startswith(
        'failed to do request: Head "https://registry-1.docker.io/v2/dockerbuild-offline/missing-base/manifests/'
    )
    assert steps(stream) == []  # the Dockerfile never became a build graph


def test_missing_base_names_the_image() -> None:
    stream = recorded("missing_base")
    assert stream.failure is not None
    match = _METADATA.match(stream.failure.name)
    assert match is not None
    assert normalize_image(match.group("ref")) == "dockerbuild-offline/missing-base:bookworm"
    assert _locate(dockerfile(RECORDER.MISSING_BASE), stream.failure.name) is None
    assert stream.error is not None
    assert stream.error.startswith("failed to solve: rpc error: code = Unknown desc = failed to solve with frontend")
    assert stream.error.endswith(stream.failure.error or "?")


# -- a single-stage file ---------------------------------------------------------------------------------------
def test_single_stage_vertices_have_no_stage_name() -> None:
    stream = recorded("single_stage")
    assert [(v.name, v.cached) for v in steps(stream)] == [
        (f"[1/3] {FROM_BASE}", False),
        ("[2/3] WORKDIR /app", True),  # a WORKDIR ignores ARGs: cached since the first recording
        ('[3/3] RUN echo "hello from a single stage" > greeting.txt && cat greeting.txt', False),  # $GREETING expanded
    ]
    assert list(vertex(stream, "[3/3] RUN").logs) == ["hello from a single stage"]


def test_single_stage_counts_from_workdir_and_run() -> None:
    (stage,) = dockerfile(RECORDER.SINGLE_STAGE).stages
    assert [i.keyword for i in stage.instructions] == ["FROM", "ARG", "ENV", "WORKDIR", "RUN", "CMD"]
    assert [i.keyword for i in _counted(stage)] == ["FROM", "WORKDIR", "RUN"]


def test_single_stage_vertices_map_by_number() -> None:
    text = RECORDER.SINGLE_STAGE
    assert [located(text, v.name) for v in steps(recorded("single_stage"))] == [
        ("0", 1, "FROM dockerbuild-offline/base:bookworm"),
        ("0", 4, "WORKDIR /app"),
        ("0", 5, 'RUN echo "$GREETING from a single stage" > greeting.txt && cat greeting.txt'),
    ]


def test_a_vertex_without_stage_name_is_not_placed_in_a_multi_stage_file() -> None:
    assert located(RECORDER.THREE_STAGES, "[2/2] COPY --from=test /out.txt /app/out.txt") is None


# -- a failure and the siblings it cancels ----------------------------------------------------------------------
def test_canceled_sibling_is_not_the_failure() -> None:
    stream = recorded("canceled")
    slow, broken = vertex(stream, "[slow 2/2] RUN"), vertex(stream, "[broken 2/2] RUN")
    assert slow.order < broken.order  # announced first, and it has an error too
    assert slow.error == (
        "executor failed running [/bin/sh -c sleep 5 && echo slow > /slow.txt]: exit code: 137: "
        "context canceled: context canceled"
    )
    assert (slow.failed, broken.failed) == (False, True)
    assert stream.failure is broken
    assert list(broken.logs) == ["broken: giving up"]


def test_canceled_sibling_has_no_error_line_in_the_log() -> None:
    stream = recorded("canceled")
    errors = [line for line in stream.log if "ERROR" in line]
    assert errors == [
        '[broken 2/2] RUN echo "broken: giving up" >&2 && exit 5: ERROR: executor failed running '
        '[/bin/sh -c echo "broken: giving up" >&2 && exit 5]: exit code: 5',
        'ERROR: failed to solve: executor failed running [/bin/sh -c echo "broken: giving up" >&2 && exit 5]: '
        "exit code: 5",
    ]


def test_without_the_error_line_a_canceled_sibling_is_not_the_error() -> None:
    text = raw("canceled")
    stream = parse(text[: text.rindex("}") + 1])
    assert stream.error == 'executor failed running [/bin/sh -c echo "broken: giving up" >&2 && exit 5]: exit code: 5'


def test_canceled_build_maps_the_failure_to_its_stage() -> None:
    failure = recorded("canceled").failure
    assert failure is not None
    assert located(RECORDER.CANCELED, failure.name) == ("broken", 3, 'RUN echo "broken: giving up" >&2 && exit 5')


# -- vertices and their logs --------------------------------------------------------------------------------------
def test_log_lines_are_joined_across_entries_per_vertex() -> None:
    announce = json.dumps({"vertexes": [{"digest": "sha256:a", "name": "[1/2] RUN a"}, {"digest": "sha256:b"}]})
    stream = BuildkitStream()
    for part in [announce, logs("sha256:a", "hel"), logs("sha256:b", "two\n"), logs("sha256:a", "lo\r\nwor", "ld")]:
        stream.feed(part)
    assert (list(stream.vertices["sha256:a"].logs), list(stream.vertices["sha256:b"].logs)) == (["hello"], ["two"])
    stream.finish()
    assert list(stream.vertices["sha256:a"].logs) == ["hello", "world"]  # the unterminated rest, at the end
    assert stream.log == ["two", "hello", "world"]


def test_log_of_an_unknown_vertex_goes_to_the_log_only() -> None:
    stream = parse(logs("sha256:nowhere", "orphan line\n"))
    assert stream.log == ["orphan line"] and stream.vertices == {}


def test_a_vertex_keeps_its_first_error() -> None:
    updates = [{"digest": "sha256:a", "name": "[1/1] RUN x", "error": "first"}, {"digest": "sha256:a", "error": "2nd"}]
    stream = parse("".join(json.dumps({"vertexes": [u]}) for u in updates))
    assert stream.vertices["sha256:a"].error == "first"
    assert stream.vertices["sha256:a"].name == "[1/1] RUN x"  # an update without a name keeps it


@pytest.mark.parametrize(
    ("error", "failed"),
    [
        (None, False),
        ("", False),
        ("exit code: 137: context canceled: context canceled", False),
        ("context canceled\n", False),
        ("executor failed running [/bin/sh -c false]: exit code: 1", True),
        ("context canceled by the user: exit code: 2", True),
    ],
)
def test_vertex_failed_only_by_an_error_of_its_own(error: str | None, failed: bool) -> None:
    assert Vertex("sha256:a", error=error).failed is failed


def test_vertex_seconds_need_both_times() -> None:
    assert Vertex("sha256:a", started=10.0).seconds is None
    assert Vertex("sha256:a", started=10.0, completed=12.5).seconds == 2.5


def test_time_keeps_microseconds_of_nanosecond_stamps() -> None:
    expected = datetime(2026, 11, 27, 17, 28, 35, 154515, tzinfo=timezone.utc).timestamp()
    assert _time("2026-11-27T17:28:35.154515209Z") == expected
    assert _time("2026-11-27T17:28:35Z") == datetime(2026, 11, 27, 17, 28, 35, tzinfo=timezone.utc).timestamp()
    assert (_time(None), _time("")) == (None, None)


@pytest.mark.xfail(
    sys.version_info < (3, 11),
    reason="BUG: _time hands datetime.fromisoformat a fraction of 1, 2, 4 or 5 digits (Go drops trailing zeros: "
    "'...:35.15Z'), which Python 3.10 rejects, so such a status crashes the parser; pad the fraction to 6 digits",
    raises=ValueError,
    strict=True,
)
@pytest.mark.parametrize(("stamp", "micro"), [("35.1Z", 100000), ("35.15Z", 150000), ("35.15451Z", 154510)])
def test_time_of_a_short_fraction(stamp: str, micro: int) -> None:
    expected = datetime(2026, 11, 27, 17, 28, 35, micro, tzinfo=timezone.utc).timestamp()
    assert _time(f"2026-11-27T17:28:{stamp}") == expected


# -- mapping vertex names to instructions ---------------------------------------------------------------------
MIXED = """\
FROM diamol/base AS build
ENV A=1
ARG B
WORKDIR /src
ADD a.tar /src/
COPY b /src/b
RUN make
LABEL x=y
EXPOSE 80
USER 1000
CMD ["x"]
FROM build AS test
RUN make test
FROM scratch
COPY --from=test /src /src
"""


def test_counted_are_from_of_an_image_and_filesystem_steps() -> None:
    build, test, final = dockerfile(MIXED).stages
    assert [i.keyword for i in _counted(build)] == ["FROM", "WORKDIR", "ADD", "COPY", "RUN"]
    assert [i.text for i in _counted(test)] == ["RUN make test"]  # FROM a stage: no FROM vertex
    assert [i.text for i in _counted(final)] == ["COPY --from=test /src /src"]  # FROM scratch: none either


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("[build 1/5] FROM docker.io/diamol/base:latest", ("build", 1, "FROM diamol/base AS build")),
        ("[build 2/5] WORKDIR /src", ("build", 4, "WORKDIR /src")),
        ("[build 5/5] RUN make", ("build", 7, "RUN make")),
        ("[test 1/1] RUN make test", ("test", 2, "RUN make test")),
        ("[stage-2 1/1] COPY --from=test /src /src", ("2", 2, "COPY --from=test /src /src")),
        ("[linux/amd64 build 3/5] ADD a.tar /src/", ("build", 5, "ADD a.tar /src/")),
    ],
)
def test_locate(name: str, where: tuple[str, int, str]) -> None:
    assert located(MIXED, name) == where


@pytest.mark.parametrize(
    "name",
    [
        "[internal] load build definition from Dockerfile",
        "[internal] load metadata for docker.io/diamol/base:latest",
        "exporting to image",
        "[deploy 1/1] RUN make",  # no such stage
        "[stage-3 1/1] RUN make",  # no such index
    ],
)
def test_locate_returns_none_for_what_is_not_a_step(name: str) -> None:
    assert located(MIXED, name) is None


def test_locate_reads_padded_numbers() -> None:
    """BuildKit pads k to the width of n: ``[build  1/10]``, ``[ 3/10]``."""
    text = "FROM diamol/base AS build\n" + "".join(f"RUN echo {n}\n" for n in range(1, 10))
    assert located(text, "[build  1/10] FROM docker.io/diamol/base:latest") == (
        "build",
        1,
        "FROM diamol/base AS build",
    )
    assert located(text, "[build  5/10] RUN echo 4") == ("build", 5, "RUN echo 4")
    assert located(text, "[build 10/10] RUN echo 9") == ("build", 10, "RUN echo 9")
    single = text.replace(" AS build", "")
    assert located(single, "[ 3/10] RUN echo 2") == ("0", 3, "RUN echo 2")


def test_locate_prefers_a_stage_named_like_stage_n() -> None:
    text = "FROM diamol/base AS stage-1\nRUN one\nFROM diamol/base AS stage-2\nRUN two\n"
    assert located(text, "[stage-2 2/2] RUN two") == ("stage-2", 2, "RUN two")
    assert located(text, "[stage-1 2/2] RUN one") == ("stage-1", 2, "RUN one")


def test_locate_fallback_matches_the_command_not_just_the_keyword() -> None:
    text = "FROM diamol/base AS build\nRUN make\nRUN make test\n"
    assert located(text, "[build 3/3] RUN make test") == ("build", 3, "RUN make test")  # numbering as counted
    assert located(text, "[build 4/4] RUN make test") == ("build", 3, "RUN make test")  # one step more


# -- the buildx version ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("0.13.1+ds1", True),  # Debian's buildx here
        ("v0.12.0", True),
        ("v0.11.2", False),
        ("0.9", False),
        ("1.0.0", True),
        (None, False),
        ("", False),
        ("unknown", False),
    ],
)
def test_buildx_supports_rawjson(version: str | None, supported: bool) -> None:
    assert buildx_supports_rawjson(version) is supported
