"""Dockerfiles as data: stages, the stage graph, ARGs in FROM, substitution, errors (no engine)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pytest_dockerbuild import (
    Dockerfile,
    DockerfileEmpty,
    DockerfileError,
    DockerfileNotFound,
    DockerfileSyntaxError,
    UnknownStage,
)
from pytest_dockerbuild.dockerfile import normalize_image, parse_image_map

PATH = Path("/project/Dockerfile")

THREE_STAGES = """\
FROM diamol/base AS build
RUN echo built > /out.txt

FROM diamol/base AS test
COPY --from=build /out.txt /out.txt
RUN grep built /out.txt

FROM diamol/base
COPY --from=test /out.txt /app/out.txt
CMD ["cat", "/app/out.txt"]
"""


def parse(text: str, build_args: dict[str, str] | None = None) -> Dockerfile:
    return Dockerfile(PATH, textwrap.dedent(text), build_args)


def syntax_error(text: str) -> DockerfileSyntaxError:
    with pytest.raises(DockerfileSyntaxError) as error:
        parse(text)
    return error.value


# -- stages ----------------------------------------------------------------------------------
def test_stage_refs_are_names_or_indices_of_unnamed_stages() -> None:
    dockerfile = parse(THREE_STAGES)
    assert dockerfile.stage_refs == ["build", "test", "2"]
    assert [s.name for s in dockerfile.stages] == ["build", "test", None]
    assert [s.index for s in dockerfile.stages] == [0, 1, 2]


def test_stage_names_are_lowercased() -> None:
    dockerfile = parse("FROM diamol/base AS Builder\n")
    assert dockerfile.stage_refs == ["builder"]
    assert dockerfile.stage("BUILDER") is dockerfile.stages[0]


def test_stage_base_is_the_from_image_as_written() -> None:
    dockerfile = parse(THREE_STAGES)
    assert [s.base for s in dockerfile.stages] == ["diamol/base", "diamol/base", "diamol/base"]
    assert [s.is_external_base for s in dockerfile.stages] == [True, True, True]


def test_stage_instructions_start_with_its_from() -> None:
    stage = parse(THREE_STAGES).stage("test")
    assert [i.text for i in stage.instructions] == [
        "FROM diamol/base AS test",
        "COPY --from=build /out.txt /out.txt",
        "RUN grep built /out.txt",
    ]
    assert [i.line for i in stage.instructions] == [4, 5, 6]
    assert {i.stage_index for i in stage.instructions} == {1}


def test_from_an_earlier_stage_sets_base_stage() -> None:
    dockerfile = parse("""\
        FROM diamol/base AS build
        FROM build AS test
        FROM BUILD
    """)
    build, test, last = dockerfile.stages
    assert test.base_stage is build
    assert last.base_stage is build
    assert test.is_external_base is False
    assert build.base_stage is None


def test_from_scratch_is_not_an_external_base() -> None:
    stage = parse("FROM scratch\nCOPY a /a\n").stages[0]
    assert stage.base == "scratch"
    assert stage.base_stage is None
    assert stage.is_external_base is False


def test_copies_from_lists_sources_in_order_once() -> None:
    dockerfile = parse("""\
        FROM diamol/base AS one
        FROM diamol/base AS two
        FROM diamol/base
        COPY --from=two /b /b
        COPY --from=one /a /a
        COPY --from=two /c /c
        COPY local.txt /local.txt
    """)
    assert dockerfile.stages[2].copies_from == ["two", "one"]


def test_copies_from_keeps_a_numeric_index() -> None:
    dockerfile = parse("FROM diamol/base\nRUN touch /x\nFROM diamol/base\nCOPY --from=0 /x /x\n")
    assert dockerfile.stages[1].copies_from == ["0"]
    assert dockerfile.dependencies(dockerfile.stages[1]) == [dockerfile.stages[0]]


def test_copies_from_reads_run_mount_from() -> None:
    dockerfile = parse("""\
        FROM diamol/base AS build
        FROM diamol/base
        RUN --mount=type=bind,from=build,source=/out,target=/in cp -r /in /app
    """)
    assert dockerfile.stages[1].copies_from == ["build"]
    assert dockerfile.dependencies(dockerfile.stages[1]) == [dockerfile.stages[0]]


def test_copies_from_reads_every_run_mount() -> None:
    dockerfile = parse("""\
        FROM diamol/base AS sources
        FROM diamol/base AS cache
        FROM diamol/base
        RUN --mount=type=bind,from=sources,target=/src --mount=type=cache,from=cache,target=/c make
    """)
    sources, cache, last = dockerfile.stages
    assert last.copies_from == ["sources", "cache"]
    assert dockerfile.dependencies(last) == [sources, cache]


def test_copies_from_mixes_copy_and_mounts_in_order_once() -> None:
    dockerfile = parse("""\
        FROM diamol/base AS a
        FROM diamol/base AS b
        FROM diamol/base AS c
        FROM diamol/base
        COPY --from=b /b /b
        RUN --mount=from=a,target=/a --mount=type=bind,source=/x,target=/x --mount=from=b,target=/b \\
            --mount=type=cache,target=/cache,from=c make
        COPY --from=a /a2 /a2
    """)
    assert dockerfile.stages[3].copies_from == ["b", "a", "c"]


def test_copy_from_an_image_is_a_source_but_not_a_dependency() -> None:
    dockerfile = parse("FROM diamol/base\nCOPY --from=nginx:alpine /etc/nginx /etc/nginx\n")
    stage = dockerfile.stages[0]
    assert stage.copies_from == ["nginx:alpine"]
    assert dockerfile.dependencies(stage) == []


def test_dependencies_are_the_base_stage_then_copy_sources() -> None:
    dockerfile = parse("""\
        FROM diamol/base AS build
        FROM diamol/base AS assets
        FROM build AS final
        COPY --from=assets /a /a
        COPY --from=build /b /b
    """)
    build, assets, final = dockerfile.stages
    assert dockerfile.dependencies(final) == [build, assets]


def test_reachable_defaults_to_the_last_stage_and_skips_unused_stages() -> None:
    dockerfile = parse("""\
        FROM diamol/base AS build
        FROM diamol/base AS unused
        FROM diamol/base AS test
        COPY --from=build /x /x
        FROM test
    """)
    assert [s.ref for s in dockerfile.reachable()] == ["build", "test", "3"]


def test_reachable_of_a_target_by_name_or_index() -> None:
    dockerfile = parse(THREE_STAGES)
    assert [s.ref for s in dockerfile.reachable("test")] == ["build", "test"]
    assert [s.ref for s in dockerfile.reachable(0)] == ["build"]
    assert [s.ref for s in dockerfile.reachable("2")] == ["build", "test", "2"]


def test_external_images_maps_each_from_image_to_its_reachable_stages() -> None:
    dockerfile = parse("""\
        FROM diamol/golang AS build
        FROM diamol/base AS unused
        FROM build AS test
        FROM scratch
        COPY --from=test /app /app
    """)
    images = dockerfile.external_images()
    assert {image: [s.ref for s in stages] for image, stages in images.items()} == {"diamol/golang": ["build"]}
    assert list(dockerfile.external_images("unused")) == ["diamol/base"]


# -- stage lookup ----------------------------------------------------------------------------
@pytest.mark.parametrize(("ref", "index"), [("test", 1), ("TEST", 1), (2, 2), ("2", 2), (0, 0)])
def test_stage_by_name_or_index(ref: str | int, index: int) -> None:
    dockerfile = parse(THREE_STAGES)
    assert dockerfile.stage(ref) is dockerfile.stages[index]


def test_unknown_stage_lists_the_stages() -> None:
    with pytest.raises(UnknownStage) as error:
        parse(THREE_STAGES).stage("deploy")
    assert error.value.stage == "deploy"
    assert error.value.available == ["build", "test", "2"]
    assert error.value.dockerfile == PATH
    assert str(error.value) == (
        "Dockerfile '/project/Dockerfile' has no stage 'deploy'; its stages are: 'build', 'test', '2'."
    )


@pytest.mark.parametrize("ref", [3, "3", -1])
def test_stage_index_out_of_range_is_unknown(ref: str | int) -> None:
    with pytest.raises(UnknownStage) as error:
        parse(THREE_STAGES).stage(ref)
    assert error.value.stage == str(ref)


# -- ARG in FROM -----------------------------------------------------------------------------
VERSIONED = """\
ARG BASE=diamol/base
ARG TAG=bookworm
FROM ${BASE}:$TAG AS build
FROM build
"""


def test_global_arg_defaults_expand_in_from() -> None:
    dockerfile = parse(VERSIONED)
    assert dockerfile.meta_args == {"BASE": "diamol/base", "TAG": "bookworm"}
    assert dockerfile.stages[0].base == "diamol/base:bookworm"


def test_build_args_override_global_arg_defaults() -> None:
    dockerfile = parse(VERSIONED, build_args={"TAG": "trixie"})
    assert dockerfile.stages[0].base == "diamol/base:trixie"
    assert dockerfile.stages[1].base_stage is dockerfile.stages[0]


def test_global_arg_without_default_takes_the_build_arg() -> None:
    dockerfile = parse("ARG IMAGE\nFROM $IMAGE\n", build_args={"IMAGE": "diamol/node"})
    assert dockerfile.stages[0].base == "diamol/node"


def test_global_arg_without_default_or_build_arg_expands_to_nothing() -> None:
    dockerfile = parse("ARG TAG\nFROM diamol/base:${TAG}\n")
    assert dockerfile.meta_args == {"TAG": ""}
    assert dockerfile.stages[0].base == "diamol/base:"


def test_stage_arg_does_not_change_the_next_from() -> None:
    dockerfile = parse("ARG TAG=one\nFROM diamol/base:$TAG\nARG TAG=two\nFROM diamol/node:$TAG\n")
    assert [s.base for s in dockerfile.stages] == ["diamol/base:one", "diamol/node:one"]


@pytest.mark.parametrize(
    ("build_args", "base"),
    [
        ({}, "diamol/base:bookworm"),  # unset: the default
        ({"TAG": ""}, "diamol/base:bookworm"),  # empty counts as unset
        ({"TAG": "trixie"}, "diamol/base:trixie"),
    ],
)
def test_arg_default_modifier_in_from(build_args: dict[str, str], base: str) -> None:
    dockerfile = parse("ARG TAG\nFROM diamol/base:${TAG:-bookworm}\n", build_args)
    assert dockerfile.stages[0].base == base


@pytest.mark.parametrize(
    ("build_args", "base"),
    [
        ({}, "diamol/base"),
        ({"SLIM": ""}, "diamol/base"),
        ({"SLIM": "yes"}, "diamol/base:slim"),
    ],
)
def test_arg_alternative_modifier_in_from(build_args: dict[str, str], base: str) -> None:
    dockerfile = parse("ARG SLIM\nFROM diamol/base${SLIM:+:slim}\n", build_args)
    assert dockerfile.stages[0].base == base


def test_undeclared_build_arg_is_not_expanded_in_from() -> None:
    dockerfile = parse("FROM diamol/base:$TAG\n", build_args={"TAG": "bookworm"})
    assert dockerfile.meta_args == {}
    assert dockerfile.stages[0].base == "diamol/base:"


def test_undeclared_name_takes_the_default_of_a_modifier() -> None:
    dockerfile = parse("FROM diamol/base:${TAG:-bookworm}\n", build_args={"TAG": "trixie"})
    assert dockerfile.stages[0].base == "diamol/base:bookworm"


def test_variables_inside_a_modifier_word_are_expanded() -> None:
    dockerfile = parse("ARG FALLBACK=bookworm\nARG TAG\nFROM diamol/base:${TAG:-$FALLBACK}\n")
    assert dockerfile.stages[0].base == "diamol/base:bookworm"


def test_global_arg_default_sees_earlier_global_args() -> None:
    dockerfile = parse("ARG REPO=diamol\nARG IMAGE=$REPO/base\nFROM $IMAGE\n")
    assert dockerfile.meta_args["IMAGE"] == "diamol/base"
    assert dockerfile.stages[0].base == "diamol/base"


# -- instructions ----------------------------------------------------------------------------
def test_instruction_spans_its_continuation_lines() -> None:
    dockerfile = parse('FROM diamol/base\n\nRUN echo one \\\n    && echo two\nCMD ["sh"]\n')
    run = dockerfile.stages[0].instructions[1]
    assert (run.keyword, run.line, run.end_line) == ("RUN", 3, 4)
    assert run.text == "RUN echo one     && echo two"


def test_instruction_flags_and_arguments() -> None:
    copy = parse("FROM diamol/base\nCOPY --from=build --chown=1000:1000 '/a b' /c/\n").stages[0].instructions[1]
    assert copy.flags == {"from": "build", "chown": "1000:1000"}
    assert copy.arguments == ["/a b", "/c/"]


def test_line_numbers_count_comments_and_blank_lines() -> None:
    dockerfile = parse("# syntax comment\n\n# another\nFROM diamol/base AS a\n\n\nFROM a\n")
    assert [s.instructions[0].line for s in dockerfile.stages] == [4, 7]


def test_comment_lines_are_kept_with_their_line_numbers() -> None:
    dockerfile = parse("# syntax=docker/dockerfile:1\nFROM diamol/base\n  # hadolint ignore=DL3025  \nCMD app\n")
    assert dockerfile.comments == [(1, "# syntax=docker/dockerfile:1"), (3, "# hadolint ignore=DL3025")]
    assert parse("FROM diamol/base\n").comments == []


def test_global_args_are_kept_as_instructions_of_no_stage() -> None:
    dockerfile = parse("ARG REPO=diamol\n# a comment\nARG TAG=1 \\\n    SLIM\nFROM $REPO/base:$TAG\nARG LATE\n")
    assert [(i.keyword, i.value, i.line, i.end_line, i.stage_index) for i in dockerfile.global_args] == [
        ("ARG", "REPO=diamol", 1, 1, -1),
        ("ARG", "TAG=1     SLIM", 3, 4, -1),
    ]
    assert dockerfile.stages[0].instructions[1].text == "ARG LATE"


# -- image references ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "normalized"),
    [
        ("diamol/base", "diamol/base:latest"),
        ("diamol/base:bookworm", "diamol/base:bookworm"),
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox", "busybox:latest"),
        ("index.docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "busybox:latest"),
        ("docker.io/diamol/base", "diamol/base:latest"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        ("localhost:5000/team/app:v2", "localhost:5000/team/app:v2"),
        ("busybox@sha256:" + "a" * 64, "busybox@sha256:" + "a" * 64),
        ("  diamol/base  ", "diamol/base:latest"),
    ],
)
def test_normalize_image(reference: str, normalized: str) -> None:
    assert normalize_image(reference) == normalized


def test_parse_image_map_normalizes_keys_and_skips_blanks_and_comments() -> None:
    entries = ["diamol/base=local/base:1", "", "  # a comment", " docker.io/library/node = local/node "]
    assert parse_image_map(entries) == {"diamol/base:latest": "local/base:1", "node:latest": "local/node"}


@pytest.mark.parametrize("entry", ["diamol/base", "=local/base", "diamol/base=", "  =  "])
def test_parse_image_map_rejects_malformed_entries_naming_the_source(entry: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_image_map([entry], "--dockerbuild-base-image")
    assert str(error.value) == f"--dockerbuild-base-image: {entry.strip()!r} is not of the form IMAGE=REPLACEMENT"


# -- substitution ----------------------------------------------------------------------------
MAP = {"diamol/base:latest": "local/base:1"}

SUBSTITUTABLE = """\
# the build
FROM --platform=linux/amd64 diamol/base AS Build
RUN echo one \\
    && echo two

FROM build AS test
RUN true

FROM scratch
COPY --from=test /x /x

FROM diamol/node
CMD ["node"]
"""


def test_substituted_replaces_from_image_keeping_flags_and_name() -> None:
    lines = parse(SUBSTITUTABLE).substituted(MAP).splitlines()
    assert lines[1] == "FROM --platform=linux/amd64 local/base:1 AS build"


def test_substituted_leaves_other_lines_and_the_line_count_alone() -> None:
    original = SUBSTITUTABLE.splitlines()
    lines = parse(SUBSTITUTABLE).substituted(MAP).splitlines()
    assert len(lines) == len(original)
    assert [n for n, (a, b) in enumerate(zip(original, lines, strict=True)) if a != b] == [1]


def test_substituted_keeps_from_of_a_stage_scratch_and_unmapped_images() -> None:
    lines = parse(SUBSTITUTABLE).substituted(MAP).splitlines()
    assert lines[5] == "FROM build AS test"
    assert lines[8] == "FROM scratch"
    assert lines[11] == "FROM diamol/node"


def test_substituted_from_over_continuation_lines_keeps_the_line_count() -> None:
    text = "FROM \\\n    diamol/base \\\n    AS build\nRUN true\n"
    assert parse(text).substituted(MAP) == "FROM local/base:1 AS build\n\n\nRUN true\n"


def test_substituted_uses_the_arg_expanded_image() -> None:
    text = "ARG BASE=diamol/base\nFROM $BASE\n"
    assert parse(text).substituted(MAP) == "ARG BASE=diamol/base\nFROM local/base:1\n"


def test_substituted_result_parses_to_the_same_stages() -> None:
    again = Dockerfile(PATH, parse(SUBSTITUTABLE).substituted(MAP))
    assert again.stage_refs == ["build", "test", "2", "3"]
    assert [s.base for s in again.stages] == ["local/base:1", "build", "scratch", "diamol/node"]


@pytest.mark.parametrize(
    ("target", "after"), [(None, 'CMD ["node"]'), ("test", "RUN true"), ("build", "    && echo two")]
)
def test_substituted_appends_labels_after_the_target_stage_only(target: str | None, after: str) -> None:
    text = parse(SUBSTITUTABLE).substituted({}, labels={"b.key": "two words", "a.key": "x"}, target=target)
    label = "LABEL a.key=x b.key='two words'"
    lines = text.splitlines()
    assert lines.count(label) == 1
    assert lines[lines.index(label) - 1] == after


@pytest.mark.parametrize("target", [None, "test", "build"])
def test_substituted_can_join_the_labels_to_the_target_stages_label_after_from(target: str | None) -> None:
    """No LABEL step of its own: the labels go with the plugin's line after the target stage's FROM."""
    plain = parse(SUBSTITUTABLE).substituted({}, after_from="LABEL m=true")
    text = parse(SUBSTITUTABLE).substituted({}, labels={"b.key": "two words", "a.key": "x"}, target=target,
                                            after_from="LABEL m=true", labels_after_from=True)  # fmt: skip
    lines = text.splitlines()
    label = "LABEL m=true a.key=x b.key='two words'"
    assert len(lines) == len(plain.splitlines()) and lines.count(label) == 1
    stage = parse(SUBSTITUTABLE).stage(target if target is not None else len(parse(SUBSTITUTABLE).stages) - 1)
    froms = [number for number, line in enumerate(lines) if line.startswith("FROM")]
    assert lines.index(label) == froms[stage.index] + 1
    assert lines.count("LABEL m=true") == len(parse(SUBSTITUTABLE).stages) - 1


def test_substituted_adds_a_final_newline_before_a_label() -> None:
    text = parse("FROM diamol/base\nRUN true").substituted(MAP, labels={"k": "v"})
    assert text == "FROM local/base:1\nRUN true\nLABEL k=v\n"


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n\n  \n", "# just a comment\n# and another\n"])
def test_dockerfile_without_instructions_is_empty(text: str) -> None:
    with pytest.raises(DockerfileEmpty) as error:
        parse(text)
    assert error.value.dockerfile == PATH
    assert str(error.value) == "Dockerfile '/project/Dockerfile' holds no instruction: it needs at least a FROM line."


def test_unknown_instruction_names_file_and_line() -> None:
    error = syntax_error("FROM diamol/base\n\n# typo below\nRUNN make\n")
    assert error.line == 4
    assert error.problem == "unknown instruction 'RUNN'"
    assert str(error) == "Dockerfile syntax error at /project/Dockerfile:4: unknown instruction 'RUNN'"


def test_instruction_before_from_is_an_error() -> None:
    error = syntax_error("# header\nARG TAG=1\nRUN make\nFROM diamol/base\n")
    assert error.line == 3
    assert error.problem == "RUN before the first FROM (only ARG may come before FROM)"


def test_instruction_without_arguments_is_an_error() -> None:
    error = syntax_error("FROM diamol/base\nWORKDIR\n")
    assert (error.line, error.problem) == (2, "WORKDIR needs arguments")


@pytest.mark.parametrize("keyword", ["COPY", "ADD"])
def test_copy_with_one_argument_is_an_error(keyword: str) -> None:
    error = syntax_error(f"FROM diamol/base\n\n{keyword} --from=build /only-source\n")
    assert error.line == 3
    assert error.problem == f"{keyword} needs a source and a destination"
    assert str(error).startswith("Dockerfile syntax error at /project/Dockerfile:3: ")


@pytest.mark.parametrize("value", ["diamol/base extra", "diamol/base AS", "diamol/base AS a b", "a FOR b"])
def test_from_with_junk_is_an_error(value: str) -> None:
    error = syntax_error(f"FROM diamol/base AS ok\nFROM {value}\n")
    assert error.line == 2
    assert error.problem == f"FROM takes an image and an optional 'AS name', got {value!r}"


def test_duplicate_stage_name_is_an_error_at_the_second_when_built() -> None:
    dockerfile = parse("FROM diamol/base AS build\nRUN true\n\nFROM diamol/node AS Build\n")
    assert dockerfile.duplicates == [(4, "build")]
    assert dockerfile.stage("build") is dockerfile.stages[0]
    with pytest.raises(DockerfileSyntaxError) as error:
        dockerfile.check_buildable()
    assert error.value.line == 4
    assert error.value.problem == "duplicate stage name 'build'"


def test_a_dockerfile_without_duplicates_is_buildable() -> None:
    dockerfile = parse(THREE_STAGES)
    assert dockerfile.duplicates == []
    dockerfile.check_buildable()


def test_only_args_is_an_error_without_a_line() -> None:
    error = syntax_error("ARG A=1\nARG B=2\n")
    assert error.line is None
    assert str(error) == "Dockerfile syntax error at /project/Dockerfile: no FROM instruction"


def test_dockerfile_errors_share_a_base_class() -> None:
    assert issubclass(DockerfileEmpty, DockerfileError)
    assert issubclass(DockerfileSyntaxError, DockerfileError)
    assert issubclass(UnknownStage, DockerfileError)
    assert issubclass(DockerfileNotFound, DockerfileError)


# -- loading ---------------------------------------------------------------------------------
def test_load_reads_the_file_with_build_args(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile.ci"
    path.write_text("ARG TAG=1\nFROM diamol/base:$TAG AS only\n")
    dockerfile = Dockerfile.load(path, tmp_path, {"TAG": "2"})
    assert dockerfile.path == path
    assert dockerfile.stage("only").base == "diamol/base:2"


def test_load_missing_file_is_not_found(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    with pytest.raises(DockerfileNotFound) as error:
        Dockerfile.load(path)
    assert error.value.dockerfile == path
    assert error.value.context == tmp_path
    assert str(error.value) == (
        f"Dockerfile not found: '{path}'.\nPass dockerfile= (a path relative to the context, or absolute) or create it."
    )


def test_load_missing_file_in_a_missing_context_says_so(tmp_path: Path) -> None:
    context = tmp_path / "nowhere"
    with pytest.raises(DockerfileNotFound) as error:
        Dockerfile.load(context / "Dockerfile", context)
    assert f"(and the build context '{context}' is not a directory)" in str(error.value)


def test_load_a_folder_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").mkdir()
    with pytest.raises(DockerfileNotFound):
        Dockerfile.load(tmp_path / "Dockerfile", tmp_path)


def test_syntax_error_names_the_loaded_file(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM diamol/base\nCOPY only-one\n")
    with pytest.raises(DockerfileSyntaxError) as error:
        Dockerfile.load(path)
    assert error.value.dockerfile == path
    assert str(error.value) == f"Dockerfile syntax error at {path}:2: COPY needs a source and a destination"


def test_substituted_maps_images_named_by_copy_from_and_mounts() -> None:
    text = (
        "FROM diamol/base AS a\nRUN true\nFROM diamol/base\n"
        "COPY --from=diamol/node /usr/bin/node /node\nCOPY --from=a /x /x\n"
        "RUN --mount=type=bind,from=diamol/node,target=/n true\n"
    )
    dockerfile = Dockerfile(PATH, text)
    lines = dockerfile.substituted({"diamol/node:latest": "local/node:2", **MAP}).splitlines()
    assert lines[3] == "COPY --from=local/node:2 /usr/bin/node /node"
    assert lines[4] == "COPY --from=a /x /x"
    assert lines[5] == "RUN --mount=type=bind,from=local/node:2,target=/n true"
    assert sorted(dockerfile.external_images()) == ["diamol/base", "diamol/node"]


# -- bad input, read as Docker reads it ------------------------------------------------------
def load_bytes(tmp_path: Path, data: bytes) -> Dockerfile:
    path = tmp_path / "Dockerfile"
    path.write_bytes(data)
    return Dockerfile.load(path)


def test_load_drops_a_utf8_bom(tmp_path: Path) -> None:
    dockerfile = load_bytes(tmp_path, b"\xef\xbb\xbfFROM diamol/base AS app\nRUN true\n")
    assert dockerfile.text == "FROM diamol/base AS app\nRUN true\n"
    assert [(i.keyword, i.line) for i in dockerfile.stage("app").instructions] == [("FROM", 1), ("RUN", 2)]


def test_a_bom_in_the_given_text_is_dropped() -> None:
    dockerfile = parse("\ufeffFROM diamol/base\n")
    assert dockerfile.text == "FROM diamol/base\n"
    assert dockerfile.substituted(MAP) == "FROM local/base:1\n"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (b"caf\xe9", "caf\ufffd"),  # Latin-1
        (b"a\xe9\x80b", "a\ufffd\ufffdb"),  # a truncated sequence: one U+FFFD per byte, as Docker does
        (b"\xf0\x9f\x98!", "\ufffd\ufffd\ufffd!"),
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # an encoded surrogate
        (b"\xc0\xaf", "\ufffd\ufffd"),  # overlong
        ("café ✓".encode(), "café ✓"),  # valid UTF-8 is kept
    ],
)
def test_load_replaces_each_invalid_byte_as_docker_does(tmp_path: Path, written: bytes, read: str) -> None:
    dockerfile = load_bytes(tmp_path, b"# " + written + b"\nFROM diamol/base\nRUN echo " + written + b" > /x\n")
    assert dockerfile.text == f"# {read}\nFROM diamol/base\nRUN echo {read} > /x\n"
    assert dockerfile.stages[0].instructions[1].value == f"echo {read} > /x"
    assert dockerfile.substituted(MAP).encode() == f"# {read}\nFROM local/base:1\nRUN echo {read} > /x\n".encode()


def test_substituted_counts_lines_as_the_parser_does() -> None:
    text = "# form\x0cfeed, \x1cseparator, \u2028line separator, \rreturn\nFROM diamol/base\nRUN true\n"
    dockerfile = parse(text)
    assert dockerfile.stages[0].instructions[0].line == 2
    assert dockerfile.substituted(MAP) == text.replace("diamol/base", "local/base:1")


def test_a_binary_file_is_a_short_syntax_error(tmp_path: Path) -> None:
    binary = Path(sys.executable).resolve().read_bytes()[:300]  # an ELF header
    path = tmp_path / "Dockerfile"
    path.write_bytes(binary)
    with pytest.raises(DockerfileSyntaxError) as error:
        Dockerfile.load(path)
    assert (error.value.dockerfile, error.value.line) == (path, 1)
    assert error.value.problem.startswith("unknown instruction '\\x7fELF")
    assert error.value.problem.endswith(
        "; the file contains NUL bytes: it does not look like a text file (Docker reads UTF-8 text)"
    )
    assert len(error.value.problem) < 200
    assert str(error.value).startswith(f"Dockerfile syntax error at {path}:1: unknown instruction ")


def test_a_long_unknown_word_is_cut() -> None:
    error = syntax_error("FROM diamol/base\n" + "X" * 500 + " make\n")
    assert error.line == 2
    assert error.problem == f"unknown instruction '{'X' * 38}'... (500 characters)"


def test_a_global_arg_with_an_open_quote_is_a_syntax_error() -> None:
    error = syntax_error('ARG A="x\nFROM diamol/base\n')
    assert (error.line, error.problem) == (1, "ARG 'A=\"x': no closing quotation")


def test_load_an_unreadable_file_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM diamol/base\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DockerfileError) as error:
        Dockerfile.load(path)
    assert error.value.dockerfile == path
    assert str(error.value) == f"Dockerfile '{path}' cannot be read: Permission denied"


# -- FROM variables that expand to no image (parsed, refused when built) ---------------------
@pytest.mark.parametrize(
    ("text", "build_args", "line", "problem"),
    [
        (
            "ARG BASE\nFROM $BASE\nRUN true\n",
            {},
            2,
            "FROM $BASE in stage 0 (unnamed) expands to '', which is not an image reference; ARG BASE is empty: "
            "pass a value in build_args (e.g. build_args={'BASE': '<value>'}) or give the ARG a default "
            "(ARG BASE=<value>)",
        ),
        (
            "ARG TAG\nFROM diamol/base AS ok\nFROM diamol/base:${TAG} AS build\n",
            {"TAG": ""},
            3,
            "FROM diamol/base:${TAG} in stage 'build' expands to 'diamol/base:', which is not an image reference; "
            "ARG TAG is empty: pass a value in build_args (e.g. build_args={'TAG': '<value>'}) or give the ARG "
            "a default (ARG TAG=<value>)",
        ),
        (
            "FROM $IMAGE AS unused\nFROM diamol/base\n",
            {"IMAGE": "diamol/base"},  # a build arg does not reach FROM without a global ARG
            1,
            "FROM $IMAGE in stage 'unused' expands to '', which is not an image reference; IMAGE is not declared: "
            "only an ARG before the first FROM reaches FROM; declare it there with a default "
            "(ARG IMAGE=<value>), or without one and pass a value in build_args",
        ),
    ],
)
def test_a_from_variable_without_value_is_refused_when_built(
    text: str, build_args: dict[str, str], line: int, problem: str
) -> None:
    dockerfile = parse(text, build_args)  # parsing (and so the static checks) takes it
    with pytest.raises(DockerfileSyntaxError) as error:
        dockerfile.check_buildable()
    assert (error.value.line, error.value.problem) == (line, problem)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("ARG REGISTRY\nFROM $REGISTRY/app:1\n", "ARG REGISTRY is empty"),
        ("ARG DIGEST\nFROM diamol/base@$DIGEST\n", "ARG DIGEST is empty"),
        ("ARG A\nFROM ${A:-$B}\n", "ARG A is empty: pass a value in build_args (e.g. build_args={'A': "),
        ("ARG A\nFROM ${A:-$B}\n", "; B is not declared: only an ARG before the first FROM reaches FROM"),
        ("ARG SLIM\nFROM diamol/base:${SLIM:+slim}\n", "ARG SLIM is empty"),
        ("ARG REPO\nARG TAG\nFROM $REPO:$TAG\n", "ARG REPO, TAG are empty"),
    ],
)
def test_refused_from_names_the_empty_variables(text: str, names: str) -> None:
    with pytest.raises(DockerfileSyntaxError) as error:
        parse(text).check_buildable()
    assert names in error.value.problem


def test_a_from_that_is_no_reference_as_written_is_refused() -> None:
    with pytest.raises(DockerfileSyntaxError) as error:
        parse("FROM diamol/base:\n").check_buildable()
    assert (error.value.line, error.value.problem) == (
        1,
        "FROM diamol/base: in stage 0 (unnamed) is not an image reference",
    )


@pytest.mark.parametrize(
    ("text", "build_args"),
    [
        ("ARG BASE\nFROM $BASE\n", {"BASE": "diamol/base"}),
        ("ARG BASE=diamol/base\nFROM $BASE\n", {}),
        ("ARG TAG\nFROM diamol/base:${TAG:-bookworm}\n", {}),
        ("ARG SLIM\nFROM diamol/base${SLIM:+:slim}\n", {}),
        ("ARG FROM_STAGE=build\nFROM diamol/base AS build\nFROM $FROM_STAGE\n", {}),  # names an earlier stage
        ("ARG REGISTRY=localhost:5000\nFROM $REGISTRY/app:1\n", {}),
        ("FROM scratch\n", {}),
    ],
)
def test_from_variables_with_values_are_buildable(text: str, build_args: dict[str, str]) -> None:
    parse(text, build_args).check_buildable()
