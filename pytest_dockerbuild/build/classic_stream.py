"""The classic builder's JSON stream, parsed.

The engine's stream (``client.api.build(..., decode=True)``) is cut anywhere; the
parser keeps whole lines and reads steps (``Step k/M : INSTRUCTION``), cache hits
(`` ---> Using cache``), the containers steps run in (`` ---> Running in``), the
image after each step (`` ---> <id>``), stage images (``aux.ID`` at the end of
each stage) and errors (``errorDetail``).

Podman's compat endpoint runs Buildah, whose lines differ: ``[k/N] STEP s/S: INSTRUCTION``
(stage k of N, step s of S in it; ``STEP s/S:`` alone in a one-stage file), ``--> Using
cache <id>``, ``--> <id>`` after each step, and ``exit status <code>`` in the error; the
parser reads both, and a stage's image is its last step's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_dockerbuild.build.log import LINE_LIMIT, BuildLog

__all__ = ["ClassicStream", "ParsedStep"]

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_BUILDAH_STEP = re.compile(r"^(?:\[(\d+)/\d+\] )?STEP (\d+)/(\d+): (.*)$")
_IMAGE = re.compile(r"^(?: ---> ([0-9a-f]{12,64})|--> ([0-9a-f]{11,64}))$")  # Buildah's short ids have 11
_BUILDAH_CACHED = re.compile(r"^--> Using cache [0-9a-f]{12,64}$")
_RUNNING = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXIT = re.compile(r"returned a non-zero code: (\d+)|while running runtime: exit status (\d+)")


@dataclass
class ParsedStep:
    """A step as the stream reports it."""

    number: int  #: k of ``Step k/M``
    stage_index: int  #: -1 for global ARGs
    step: int  #: 1-based within the stage
    text: str  #: the instruction as the engine echoes it
    started: float
    cached: bool = False
    finished: float | None = None
    image: str | None = None  #: the (short) id of the image after the step
    total: int = 0  #: M of ``Step k/M``
    triggered: bool = False  #: a FROM whose base's ONBUILD triggers ran (they commit an image)
    label: str = ""  #: the step as the engine's log names it (``Step 8/12``, ``[2/3] STEP 4/4``)

    @property
    def committed(self) -> bool:
        """True if the step made a new image (not a FROM, not from the cache)."""
        is_from = self.text.split(" ", 1)[0].upper() == "FROM"
        return self.image is not None and not self.cached and (not is_from or self.triggered)


@dataclass
class ClassicStream:
    """A stateful parser of the classic builder's JSON stream."""

    steps: list[ParsedStep] = field(default_factory=list)
    stage_images: dict[int, str] = field(default_factory=dict)  #: stage index -> image id at its end
    log: BuildLog = field(default_factory=BuildLog)
    image_id: str | None = None  #: the last ``aux.ID``: the built image
    containers: list[str] = field(default_factory=list)  #: the containers steps ran in (`` ---> Running in``)
    error: str | None = None
    exit_code: int | None = None
    _buffer: str = ""
    _stage: int = -1
    _step_in_stage: int = 0

    def feed(self, chunk: dict[str, Any], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if "stream" in chunk:
            self._buffer += _ANSI.sub("", str(chunk["stream"]))
            while "\n" in self._buffer:  # only whole lines: a chunk may end anywhere
                line, self._buffer = self._buffer.split("\n", 1)
                self._line(line, now)
            if len(self._buffer) > 4 * LINE_LIMIT:  # a line without end: its start is a line of the log
                self.log.append(self._buffer)
                self._buffer = ""
        if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
            self.image_id = str(chunk["aux"]["ID"])
            if self._stage >= 0:
                self.stage_images[self._stage] = self.image_id
        if "errorDetail" in chunk or "error" in chunk:
            detail = chunk.get("errorDetail") or {}
            self.finish(now)  # the failing step's line may still be in the buffer
            self.error = str(detail.get("message") or chunk.get("error") or "unknown error").strip()
            code = detail.get("code")
            match = _EXIT.search(self.error)
            self.exit_code = (
                int(code) if code is not None else int(match.group(match.lastindex or 1)) if match else None
            )
            self.log.append(f"ERROR: {self.error}")
        elif "status" in chunk:
            status = " ".join(str(chunk.get(k, "")) for k in ("id", "status", "progress") if chunk.get(k))
            if status and (not self.log or self.log[-1] != status):
                self.log.append(status)

    def _line(self, line: str, now: float) -> None:
        step = _STEP.match(line)
        buildah = None if step else _BUILDAH_STEP.match(line)
        if step:
            text = step.group(3).strip()
            if self.steps:
                self.steps[-1].finished = now
            if text.split(" ", 1)[0].upper() == "FROM":
                self._stage += 1
                self._step_in_stage = 0
            if self._stage >= 0:
                self._step_in_stage += 1
            number, total = int(step.group(1)), int(step.group(2))
            label = f"Step {number}/{total}"
            self.steps.append(ParsedStep(number, self._stage, self._step_in_stage, text, now, total=total, label=label))
        elif buildah:
            self._buildah_step(buildah, now)
        elif _BUILDAH_CACHED.match(line) and self.steps:
            self.steps[-1].cached = True
            self.steps[-1].image = line.rsplit(" ", 1)[1]
        elif line.startswith("# Executing ") and "build trigger" in line and self.steps:
            self.steps[-1].triggered = True
        elif line.strip() == "---> Using cache" and self.steps:
            self.steps[-1].cached = True
        elif running := _RUNNING.match(line):
            self.containers.append(running.group(1))
        elif (image := _IMAGE.match(line)) and self.steps:
            self.steps[-1].image = image.group(1) or image.group(2)
        if line.strip():
            self.log.append(line)

    def _buildah_step(self, match: re.Match[str], now: float) -> None:
        stage = int(match.group(1) or 1) - 1
        if self.steps:
            self.steps[-1].finished = now
            previous = self.steps[-1]
            if previous.stage_index != stage and previous.image is not None:  # the last step's image is the stage's
                self.stage_images[previous.stage_index] = previous.image
        self._stage = stage
        number, total = int(match.group(2)), int(match.group(3))
        label = match.group(0).split(":", 1)[0]
        self.steps.append(ParsedStep(number, stage, number, match.group(4).strip(), now, total=total, label=label))

    @property
    def created(self) -> list[str]:
        """The (short) ids of the images the build committed, in order (not found in the cache)."""
        return [step.image for step in self.steps if step.committed and step.image is not None]

    def finish(self, now: float | None = None) -> None:
        if self._buffer.strip():
            line, self._buffer = self._buffer, ""
            self._line(line, time.monotonic() if now is None else now)
        if self.steps and self.steps[-1].finished is None:
            self.steps[-1].finished = time.monotonic() if now is None else now
