"""BuildKit's progress, parsed: ``docker buildx build --progress=rawjson``.

BuildKit reports progress as a stream of ``SolveStatus`` JSON objects on stderr
(one-line or indented): vertices (``[stage k/n] INSTRUCTION``, announced,
started, completed, cached or failed, merged by digest), their logs (base64)
and statuses.  The same vertex may serve several stages (identical steps are
deduplicated and named after the first).  :func:`locate` maps a vertex to the
Dockerfile instruction it runs.
"""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pytest_dockerbuild.build.backend import resolve_base
from pytest_dockerbuild.build.log import LINE_LIMIT, BuildLog
from pytest_dockerbuild.build.model import BuildRequest, StageResult, StepResult
from pytest_dockerbuild.dockerfile import Dockerfile, Instruction, Stage

__all__ = ["BuildkitStream", "Vertex", "locate", "stage_results"]

_NAME = re.compile(
    r"^\[(?:(?P<platform>[^\s\]]+/[^\s\]]+) )?(?:(?P<stage>[^\s\]]+) )?\s*(?P<k>\d+)/(?P<n>\d+)\] (?P<cmd>.*)$", re.S
)
_FILESYSTEM = frozenset({"ADD", "COPY", "RUN", "WORKDIR"})


def _time(text: str | None) -> float | None:
    if not text:
        return None
    # Go writes up to 9 fraction digits and drops trailing zeros; datetime wants exactly 6
    trimmed = re.sub(r"\.(\d+)", lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.replace("Z", "+00:00"), count=1)
    return datetime.fromisoformat(trimmed).timestamp()


@dataclass
class Vertex:
    """One node of the build graph, merged from its updates (latest wins)."""

    digest: str
    name: str = ""
    started: float | None = None
    completed: float | None = None
    cached: bool = False
    error: str | None = None
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=200))  #: its last lines of output
    order: int = 0  #: when it was first announced

    @property
    def seconds(self) -> float | None:
        return (self.completed - self.started) if self.started and self.completed else None

    @property
    def failed(self) -> bool:
        """An error of its own (siblings of a failure end with 'context canceled')."""
        return bool(self.error) and not str(self.error).rstrip().endswith("context canceled")


@dataclass
class BuildkitStream:
    """Parses buildx's ``rawjson`` progress (one-line or indented JSON, with text between)."""

    vertices: dict[str, Vertex] = field(default_factory=dict)
    log: BuildLog = field(default_factory=BuildLog)  #: a plain rendering, for reports
    text: deque[str] = field(default_factory=lambda: deque(maxlen=200))  #: non-JSON lines (e.g. the final ERROR)
    _buffer: str = ""
    _partial: dict[str, str] = field(default_factory=dict)  # unfinished log lines per vertex

    def feed(self, data: str) -> None:
        self._buffer += data
        decoder = json.JSONDecoder()
        while True:
            stripped = self._buffer.lstrip()
            if not stripped:
                self._buffer = ""
                return
            if stripped[0] != "{":
                line, sep, rest = stripped.partition("\n")
                if not sep:
                    self._buffer = stripped
                    return
                if line.strip():
                    self.text.append(line.strip())
                    self.log.append(line.strip())
                self._buffer = rest
                continue
            try:
                status, end = decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                self._buffer = stripped  # incomplete object: wait for more
                return
            self._buffer = stripped[end:]
            self._status(status)

    def finish(self) -> None:
        if self._buffer.strip():
            self.text.append(self._buffer.strip())
            self.log.append(self._buffer.strip())
            self._buffer = ""
        for digest, rest in self._partial.items():
            if rest:
                self._line(digest, rest)
        self._partial.clear()

    def _status(self, status: dict[str, Any]) -> None:
        for update in status.get("vertexes") or []:
            vertex = self.vertices.get(update["digest"])
            if vertex is None:
                vertex = self.vertices[update["digest"]] = Vertex(update["digest"], order=len(self.vertices))
            vertex.name = update.get("name") or vertex.name
            new_start = vertex.started is None and update.get("started")
            vertex.started = _time(update.get("started")) or vertex.started
            vertex.completed = _time(update.get("completed")) or vertex.completed
            vertex.cached = bool(update.get("cached")) or vertex.cached
            if new_start:
                self.log.append(vertex.name)
            if update.get("completed") and update.get("cached"):
                self.log.append(f"{vertex.name}: CACHED")
            if update.get("error") and not vertex.error:
                vertex.error = str(update["error"])
                if vertex.failed:
                    self.log.append(f"{vertex.name}: ERROR: {vertex.error}")
        for entry in status.get("logs") or []:
            digest = entry.get("vertex", "")
            text = self._partial.get(digest, "") + base64.b64decode(entry.get("data") or "").decode(
                "utf-8", errors="replace"
            )
            *lines, self._partial[digest] = text.replace("\r\n", "\n").split("\n")
            if len(self._partial[digest]) > 4 * LINE_LIMIT:  # a line without end: its start is a line
                lines.append(self._partial[digest])
                self._partial[digest] = ""
            for line in lines:
                self._line(digest, line)

    def _line(self, digest: str, line: str) -> None:
        vertex = self.vertices.get(digest)
        if vertex is not None:
            vertex.logs.append(line)
        self.log.append(line)

    @property
    def failure(self) -> Vertex | None:
        """The vertex that failed (not one cancelled because of it)."""
        failed = [v for v in self.vertices.values() if v.failed]
        return min(failed, key=lambda v: v.order) if failed else None

    @property
    def error(self) -> str | None:
        """The overall error: ``ERROR: failed to solve: ...`` or the failing vertex's."""
        for line in reversed(self.text):
            if line.startswith("ERROR:"):
                return line[len("ERROR:") :].strip()
        failing = self.failure
        return failing.error if failing else None


# -- mapping vertices to Dockerfile instructions --------------------------------------
def _counted(stage: Stage) -> list[Instruction]:
    """The instructions BuildKit numbers in ``[stage k/n]``: FROM of an image, ADD/COPY/RUN/WORKDIR."""
    counted = []
    for instruction in stage.instructions:
        if instruction.keyword == "FROM":
            if stage.is_external_base:
                counted.append(instruction)
        elif instruction.keyword in _FILESYSTEM:
            counted.append(instruction)
    return counted


def locate(parsed: Dockerfile, name: str) -> tuple[Stage, Instruction] | None:
    match = _NAME.match(name)
    if not match:
        return None
    ref = match.group("stage")
    if ref is None:
        stage = parsed.stages[-1] if len(parsed.stages) == 1 else None
    else:  # a stage named "stage-2" is that stage, not index 2
        stage = next((s for s in parsed.stages if s.name == ref), None)
        if stage is None and ref.startswith("stage-") and ref[6:].isdigit() and int(ref[6:]) < len(parsed.stages):
            stage = parsed.stages[int(ref[6:])]
    if stage is None:
        return None
    counted = _counted(stage)
    k = int(match.group("k"))
    if len(counted) == int(match.group("n")) and 0 < k <= len(counted):
        return stage, counted[k - 1]
    command = " ".join(match.group("cmd").split())
    for instruction in counted:  # numbering differs (a newer frontend?): match by text
        if " ".join(instruction.text.split()) == command:
            return stage, instruction
    return None


def stage_results(request: BuildRequest, parsed: Dockerfile, stream: BuildkitStream) -> list[StageResult]:
    """The stages and steps of a build, from the vertices that name a Dockerfile instruction."""
    reachable = {s.index for s in parsed.reachable(request.target)}
    steps: dict[int, list[StepResult]] = {s.index: [] for s in parsed.stages}
    for vertex in sorted(stream.vertices.values(), key=lambda v: v.order):
        located = locate(parsed, vertex.name)
        if located is None:
            continue
        stage, instruction = located
        steps[stage.index].append(
            StepResult(
                stage=stage.ref,
                step=stage.instructions.index(instruction) + 1,
                instruction=instruction.text,
                line=instruction.line,
                cached=None if instruction.keyword == "FROM" else vertex.cached,
                seconds=vertex.seconds,
            )
        )
    return [
        StageResult(
            ref=stage.ref,
            index=stage.index,
            base=stage.base,
            base_image=resolve_base(request, stage.base, stage.is_external_base),
            built=stage.index in reachable,
            steps=sorted(steps[stage.index], key=lambda s: s.step),
        )
        for stage in parsed.stages
    ]
