"""Dockerfiles as data: instructions, stages, the stage graph.

Parsing is dockerfile-parse's, once per file; this module adds the multi-stage view a
test needs (which stages exist, what each copies from, which a target reaches), keeps
what the static checks read besides the stages (the comment lines, the global ARGs).
It knows nothing of the engine. Reading the text and taking arguments apart is
:mod:`~pytest_dockerbuild.dockerfile.text`'s, image references are
:mod:`~pytest_dockerbuild.dockerfile.references`', the text a backend sends (base images
substituted) :mod:`~pytest_dockerbuild.dockerfile.rewrite`'s.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from pytest_dockerbuild.dockerfile import rewrite
from pytest_dockerbuild.dockerfile.references import is_blank_reference
from pytest_dockerbuild.dockerfile.text import (
    BOM,
    arg_definitions,
    decode_dockerfile,
    empty_variables,
    expand_variables,
    from_words,
    mount_options,
    shell_words,
    shortened,
)
from pytest_dockerbuild.errors import (
    DockerfileEmpty,
    DockerfileError,
    DockerfileNotFound,
    DockerfileSyntaxError,
    UnknownStage,
)

__all__ = ["Dockerfile", "Instruction", "Stage"]

_DIRECTIVE = re.compile(r"^\s*#\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(\S+)\s*$")  # a parser directive line

KNOWN_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL "
    "STOPSIGNAL USER VOLUME WORKDIR".split()
)


@dataclass(frozen=True)
class Instruction:
    """One instruction of a Dockerfile."""

    keyword: str  #: upper-case instruction, e.g. ``RUN``
    value: str  #: arguments as written (continuations joined)
    line: int  #: 1-based first line
    end_line: int  #: 1-based last line
    stage_index: int  #: index of the stage it belongs to (-1 for global ARGs)

    @property
    def text(self) -> str:
        """The instruction as one line, e.g. ``RUN make test``."""
        return f"{self.keyword} {self.value}".rstrip()

    @cached_property
    def flags(self) -> dict[str, str]:
        """``--name=value`` flags at the start of the arguments (``--from`` ...)."""
        found: dict[str, str] = {}
        for token in self.value.split():
            if not token.startswith("--"):
                break
            name, _, flag_value = token[2:].partition("=")
            found[name] = flag_value
        return found

    @property
    def argument_text(self) -> str:
        """The arguments after the flags, as written (words joined by one space)."""
        rest = self.value.split()
        while rest and rest[0].startswith("--"):
            rest.pop(0)
        return " ".join(rest)

    @property
    def arguments(self) -> list[str]:
        """The arguments after the flags, split like a shell would."""
        return shell_words(self.argument_text)


@dataclass
class Stage:
    """One ``FROM`` stage of a Dockerfile."""

    index: int  #: 0-based position in the file
    name: str | None  #: the ``AS`` name, if any
    base: str  #: the FROM image as written (ARGs expanded), or the name of an earlier stage
    instructions: list[Instruction] = field(default_factory=list)  #: FROM first
    base_stage: Stage | None = None  #: the earlier stage it is built FROM, if any

    @property
    def ref(self) -> str:
        """How builds and messages name it: its name, or its index for an unnamed stage."""
        return self.name if self.name is not None else str(self.index)

    @property
    def copies_from(self) -> list[str]:
        """The ``COPY --from`` / ``RUN --mount=from=`` sources, as written, in order."""
        sources: list[str] = []
        for instruction in self.instructions:
            found = [instruction.flags.get("from", "")] if instruction.keyword in ("COPY", "ADD") else []
            if instruction.keyword == "RUN":
                found += [mount.get("from", "") for mount in mount_options(instruction.value)]
            sources += [source for source in found if source and source not in sources]
        return sources

    @property
    def is_external_base(self) -> bool:
        """True if the stage starts from an image rather than an earlier stage."""
        return self.base_stage is None and self.base.lower() != "scratch"

    def __repr__(self) -> str:
        return f"<Stage {self.ref!r} FROM {self.base!r}>"


class Dockerfile:
    """A parsed Dockerfile: its stages and the relations between them."""

    def __init__(self, path: Path, text: str, build_args: Mapping[str, str] | None = None) -> None:
        self.path = path
        #: the text as Docker parses it: as given, without a leading BOM (which Docker drops)
        self.text = text.removeprefix(BOM)
        self._build_args = dict(build_args or {})
        structure = DockerfileParser(fileobj=io.BytesIO(self.text.encode())).structure
        #: (line, text) of each comment line in file order, the text as written (``#`` included, stripped)
        self.comments: list[tuple[int, str]] = sorted(
            (item["startline"] + 1, item["content"].strip()) for item in structure if item["instruction"] == "COMMENT"
        )
        #: name -> value of the global ARGs: the build arg, or else the default (expanded)
        self.meta_args: dict[str, str] = {}
        #: the ARG instructions before the first FROM (``stage_index`` -1)
        self.global_args: list[Instruction] = []
        self.stages: list[Stage] = []
        #: (line, name) of stages named like an earlier one
        self.duplicates: list[tuple[int, str]] = []
        self._parse([item for item in structure if item["instruction"] != "COMMENT"])

    @classmethod
    def load(cls, path: Path, context: Path | None = None, build_args: Mapping[str, str] | None = None) -> Dockerfile:
        """Read (as Docker does, see :func:`decode_dockerfile`) and parse a Dockerfile, raising
        the plugin's errors for bad input."""
        if not path.is_file():
            raise DockerfileNotFound(path, context if context is not None else path.parent)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise DockerfileError(f"Dockerfile {str(path)!r} cannot be read: {error.strerror or error}", path) from None
        return cls(path, decode_dockerfile(data), build_args)

    # -- parsing -------------------------------------------------------------
    def _parse(self, items: list[dict[str, Any]]) -> None:
        if not items:
            raise DockerfileEmpty(self.path)
        by_name: dict[str, Stage] = {}
        for item in items:
            keyword = item["instruction"].upper()
            line = item["startline"] + 1
            if keyword not in KNOWN_INSTRUCTIONS:
                raise self._syntax_error(line, f"unknown instruction {shortened(item['instruction'])}")
            value = item["value"].strip()
            if not value:
                raise self._syntax_error(line, f"{keyword} needs arguments")
            if keyword == "FROM":
                stage = self._new_stage(value, line, by_name)
                self.stages.append(stage)
            instruction = Instruction(keyword, value, line, item["endline"] + 1, len(self.stages) - 1)
            if not self.stages:
                if keyword != "ARG":
                    raise self._syntax_error(line, f"{keyword} before the first FROM (only ARG may come before FROM)")
                self._global_arg(instruction)
                continue
            self.stages[-1].instructions.append(instruction)
            if keyword in ("COPY", "ADD") and len(instruction.arguments) < 2:
                raise self._syntax_error(line, f"{keyword} needs a source and a destination")
        if not self.stages:
            raise self._syntax_error(None, "no FROM instruction")

    def _syntax_error(self, line: int | None, problem: str) -> DockerfileSyntaxError:
        if "\x00" in self.text:  # a binary file, or UTF-16 text
            problem += "; the file contains NUL bytes: it does not look like a text file (Docker reads UTF-8 text)"
        return DockerfileSyntaxError(self.path, line, problem)

    def _global_arg(self, instruction: Instruction) -> None:
        try:
            definitions = arg_definitions(instruction.value)
        except ValueError as error:  # the classic builder refuses it too
            problem = f"ARG {shortened(instruction.value)}: {str(error).lower()}"
            raise self._syntax_error(instruction.line, problem) from None
        self.global_args.append(instruction)
        for name, default in definitions:  # a default may use earlier ARGs
            self.meta_args[name] = self._build_args.get(name, self.expand(default or ""))

    def _new_stage(self, value: str, line: int, by_name: dict[str, Stage]) -> Stage:
        words = from_words(value)
        name: str | None = None
        if len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
        elif len(words) != 1:
            raise self._syntax_error(line, f"FROM takes an image and an optional 'AS name', got {shortened(value, 80)}")
        base = self.expand(words[0])  # may be blank or no reference: check_buildable() says so
        stage = Stage(index=len(self.stages), name=name, base=base, base_stage=by_name.get(base.lower()))
        if name is not None and name in by_name:
            self.duplicates.append((line, name))  # a build refuses it; the checks report it
        elif name is not None:
            by_name[name] = stage
        return stage

    def expand(self, text: str) -> str:
        """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${VAR:+alternative}`` with
        the global ARGs (their defaults overridden by build args), as the engine expands FROM."""
        return expand_variables(text, self.meta_args)

    # -- the stage graph -----------------------------------------------------
    @property
    def stage_refs(self) -> list[str]:
        """Names (or indices of unnamed stages) of all stages, in file order."""
        return [stage.ref for stage in self.stages]

    @property
    def syntax(self) -> tuple[int, str] | None:
        """The ``# syntax=`` parser directive as (line, frontend image), if the file has one:
        BuildKit fetches and runs that image instead of its built-in frontend."""
        for number, line in enumerate(self.text.splitlines(), 1):
            directive = _DIRECTIVE.match(line)
            if directive is None:
                return None  # directives end at the first line that is not one
            if directive.group(1).lower() == "syntax":
                return number, directive.group(2)
        return None

    def declared_args(self) -> set[str]:
        """The names every ARG of the file declares (before the first FROM and in any stage)."""
        names = set(self.meta_args)
        for stage in self.stages:
            for instruction in stage.instructions:
                if instruction.keyword == "ARG":
                    with contextlib.suppress(ValueError):  # a build refuses it: not this method's business
                        names.update(name for name, _ in arg_definitions(instruction.value))
        return names

    def check_buildable(self) -> None:
        """Raise :class:`DockerfileSyntaxError` for what parses but cannot be built."""
        if self.duplicates:
            line, name = self.duplicates[0]
            raise DockerfileSyntaxError(self.path, line, f"duplicate stage name {name!r}")
        for stage in self.stages:  # the engine checks every stage, whatever the target
            self._check_base(stage)

    def _check_base(self, stage: Stage) -> None:
        """Refuse a FROM that expands to no image reference ('', 'img:', '/img'), as the engine
        does ("base name ($BASE) should not be blank", "invalid reference format"), naming the
        empty or undeclared ARGs."""
        if stage.base_stage is not None or not is_blank_reference(stage.base):
            return
        origin = stage.instructions[0]
        written = from_words(origin.value)[0]
        where = f"stage {stage.name!r}" if stage.name is not None else f"stage {stage.index} (unnamed)"
        expanded = f" expands to {stage.base!r}, which" if written != stage.base else ""
        problem = f"FROM {written} in {where}{expanded} is not an image reference"
        names = empty_variables(written, self.meta_args)
        empty = [name for name in names if name in self.meta_args]
        undeclared = [name for name in names if name not in self.meta_args]
        if empty:
            problem += (
                f"; ARG {', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty: pass a value in build_args "
                f"(e.g. build_args={{{empty[0]!r}: '<value>'}}) or give the ARG a default (ARG {empty[0]}=<value>)"
            )
        if undeclared:
            problem += (
                f"; {', '.join(undeclared)} {'is' if len(undeclared) == 1 else 'are'} not declared: only an ARG before "
                f"the first FROM reaches FROM; declare it there with a default (ARG {undeclared[0]}=<value>), or "
                "without one and pass a value in build_args"
            )
        raise DockerfileSyntaxError(self.path, origin.line, problem)

    def stage(self, ref: str | int) -> Stage:
        """The stage named ``ref`` (or at index ``ref``); :class:`UnknownStage` if none."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            index = int(ref)
            if 0 <= index < len(self.stages):
                return self.stages[index]
        else:
            for stage in self.stages:
                if stage.name == ref.lower():
                    return stage
        raise UnknownStage(self.path, str(ref), self.stage_refs)

    def resolve_source(self, source: str, before: int) -> Stage | None:
        """The stage a ``--from`` names (by name or index, earlier than ``before``), or None for an image."""
        for stage in self.stages[:before]:
            if stage.name == source.lower() or (source.isdigit() and stage.index == int(source)):
                return stage
        return None

    def dependencies(self, stage: Stage) -> list[Stage]:
        """The stages ``stage`` needs directly: its base stage and its ``--from`` stages."""
        needed = [stage.base_stage] if stage.base_stage else []
        for source in stage.copies_from:
            found = self.resolve_source(source, stage.index)
            if found is not None and found not in needed:
                needed.append(found)
        return needed

    def reachable(self, target: str | int | None = None) -> list[Stage]:
        """The stages a build of ``target`` (default: the last stage) needs, in file order."""
        goal = self.stage(target) if target is not None else self.stages[-1]
        seen: set[int] = set()
        pending = [goal]
        while pending:
            stage = pending.pop()
            if stage.index not in seen:
                seen.add(stage.index)
                pending.extend(self.dependencies(stage))
        return [s for s in self.stages if s.index in seen]

    def external_images(self, target: str | int | None = None) -> dict[str, list[Stage]]:
        """Images (not stages, not scratch) the stages ``target`` reaches build FROM or copy from."""
        images: dict[str, list[Stage]] = {}
        for stage in self.reachable(target):
            if stage.is_external_base:
                images.setdefault(stage.base, []).append(stage)
            for image in self.copied_images(stage):
                images.setdefault(image, []).append(stage)
        return images

    def copied_images(self, stage: Stage) -> list[str]:
        """The images (not earlier stages) a stage's ``COPY --from`` / ``RUN --mount=from=`` name."""
        return [s for s in stage.copies_from if self.resolve_source(s, stage.index) is None and not s.isdigit()]

    # -- rewriting -----------------------------------------------------------
    def substituted(
        self, image_map: Mapping[str, str], labels: Mapping[str, str] | None = None, target: str | None = None,
        after_from: str | None = None, labels_after_from: bool = False, joining: Mapping[str, str] | None = None,
    ) -> str:  # fmt: skip
        """The text a backend sends: see :func:`~pytest_dockerbuild.dockerfile.rewrite.substituted`."""
        return rewrite.substituted(self, image_map, labels, target, after_from, labels_after_from, joining)

    def __repr__(self) -> str:
        return f"<Dockerfile {str(self.path)!r} stages={self.stage_refs}>"
