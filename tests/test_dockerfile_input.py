"""Odd Dockerfile input behaves as Docker does (real engine, both backends): a BOM is dropped,
invalid UTF-8 becomes U+FFFD byte by byte, a FROM variable without value is refused before
the engine is asked; under ``--dockerbuild-lint`` a file that cannot be parsed fails briefly."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import NoReturn

import pytest
from helpers import MakeContext

from pytest_dockerbuild import Builder, DockerfileSyntaxError


def write_dockerfile(folder: Path, data: bytes) -> Path:
    (folder / "Dockerfile").write_bytes(data)
    return folder


def test_a_bom_is_dropped(builder: Builder, make_context: MakeContext) -> None:
    marker = uuid.uuid4().hex.encode()
    context = write_dockerfile(make_context(None), b"\xef\xbb\xbfFROM diamol/base\nRUN echo " + marker + b" > /x\n")
    result = builder.build(context)
    assert result.image.read_bytes("/x") == marker + b"\n"
    assert [(step.keyword, step.line) for step in result.steps] == [("FROM", 1), ("RUN", 2)]


def test_invalid_utf8_becomes_one_replacement_character_per_byte(builder: Builder, make_context: MakeContext) -> None:
    """What the engine makes of the raw bytes (measured with ``docker build`` and ``docker buildx
    build`` on these bytes): each invalid byte becomes U+FFFD, a truncated sequence one per byte."""
    marker = uuid.uuid4().hex.encode()
    data = (
        b"# caf\xe9 cr\xe8me (Latin-1)\nFROM diamol/base\nENV MARKER=" + marker + b"\n"
        b"RUN echo caf\xe9 > /x\nRUN printf 'a\xe9\x80b' > /y\n"
    )
    result = builder.build(write_dockerfile(make_context(None), data))
    assert result.image.read_bytes("/x") == b"caf\xef\xbf\xbd\n"
    assert result.image.read_bytes("/y") == b"a\xef\xbf\xbd\xef\xbf\xbdb"
    assert [(step.instruction, step.line) for step in result.steps if step.keyword == "RUN"] == [
        ("RUN echo caf\ufffd > /x", 4),
        ("RUN printf 'a\ufffd\ufffdb' > /y", 5),
    ]


class Unreachable:
    """Stands in for the engine: any use of it fails the test."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the engine was asked for {name!r}")


@pytest.mark.parametrize(
    ("dockerfile", "build_args", "problem"),
    [
        ("ARG BASE\nFROM $BASE\nRUN true\n", {}, "FROM $BASE in stage 0 (unnamed) expands to ''"),
        ("ARG TAG\nFROM diamol/base:$TAG AS app\n", {"TAG": ""}, "FROM diamol/base:$TAG in stage 'app' expands to"),
    ],
)
def test_a_from_variable_without_value_is_refused_before_the_engine(
    builder: Builder, make_context: MakeContext, monkeypatch: pytest.MonkeyPatch, dockerfile: str,
    build_args: dict[str, str], problem: str,
) -> None:  # fmt: skip
    context = make_context(dockerfile)
    monkeypatch.setattr(builder, "engine", Unreachable())
    with pytest.raises(DockerfileSyntaxError) as error:
        builder.build(context, build_args=build_args)
    assert (error.value.dockerfile, error.value.line) == (context / "Dockerfile", 2)
    assert error.value.problem.startswith(problem)
    assert "is empty: pass a value in build_args" in error.value.problem


def test_a_from_variable_with_a_value_builds(builder: Builder, make_context: MakeContext) -> None:
    marker = uuid.uuid4().hex
    context = make_context(f"ARG BASE\nFROM $BASE\nRUN echo {marker} > /x\n")
    result = builder.build(context, build_args={"BASE": "diamol/base"})
    assert result.image.read_text("/x") == f"{marker}\n"


# -- under --dockerbuild-lint ------------------------------------------------------------------
def failure_sections(lines: list[str]) -> list[list[str]]:
    """The report of each failing test: the ``___ title ___`` sections under FAILURES."""
    start = lines.index(next(line for line in lines if "= FAILURES =" in line)) + 1
    sections: list[list[str]] = []
    for line in lines[start:]:
        if line.startswith("="):
            break
        if line.startswith("_"):
            sections.append([])
        sections[-1].append(line)
    return sections


def test_lint_items_of_unparsable_dockerfiles_fail_briefly(pytester: pytest.Pytester) -> None:
    files = {
        "binary": Path(sys.executable).resolve().read_bytes()[:300],  # an ELF header
        "typo": b"FROM diamol/base:1\n\nFORM diamol/base:1\n",
        "quote": b'ARG A="x\nFROM diamol/base:1\n',
        "bom": b'\xef\xbb\xbfFROM diamol/base:1\nCMD ["app"]\n',
        "latin1": b'# caf\xe9\nFROM diamol/base:1\nRUN echo caf\xe9 > /x\nCMD ["app"]\n',
    }
    for folder, data in files.items():
        pytester.mkdir(folder)
        (pytester.path / folder / "Dockerfile").write_bytes(data)
    result = pytester.runpytest_subprocess("--dockerbuild-lint", "-v")
    result.assert_outcomes(passed=2, failed=3)
    output = "\n".join(result.outlines)
    assert "UnicodeDecodeError" not in output and "Traceback" not in output
    problems = {
        "binary": "Dockerfile:1: unknown instruction '\\x7fELF",
        "typo": "Dockerfile:3: unknown instruction 'FORM'",
        "quote": "Dockerfile:1: ARG 'A=\"x': no closing quotation",
    }
    sections = ["\n".join(section) for section in failure_sections(result.outlines)]
    assert len(sections) == len(problems)
    for section, (folder, problem) in zip(sections, sorted(problems.items()), strict=True):
        assert len(section.splitlines()) < 40, section
        assert f"Dockerfile syntax error at {pytester.path / folder}/{problem}" in section, section
        assert max(len(line.replace(str(pytester.path), "")) for line in section.splitlines()) < 250, section
    assert "it does not look like a text file" in sections[0]
