"""The BuildKit backend: ``docker buildx build --progress=rawjson``, loaded into the engine.

BuildKit builds only the stages the target needs, in parallel, and reports
progress as a stream of ``SolveStatus`` JSON objects on stderr: vertices
(``[stage k/n] INSTRUCTION``, announced, started, completed, cached or failed,
merged by digest), their logs (base64) and statuses.  The same vertex may serve
several stages (identical steps are deduplicated and named after the first).
"""

from __future__ import annotations

import base64
import codecs
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_dockerbuild.build.builder import StageResult, StepResult, ignore_file
from pytest_dockerbuild.build.log import LINE_LIMIT, BuildLog
from pytest_dockerbuild.dockerfile.model import Dockerfile, Instruction, Stage, normalize_image
from pytest_dockerbuild.errors import BaseImageMissing, DockerbuildError, DockerfileSyntaxError, UnknownStage

if TYPE_CHECKING:
    from pytest_dockerbuild.build.builder import Builder, BuildRequest, BuildResult

__all__ = ["BuildkitStream", "Vertex", "build_buildkit", "buildx_supports_rawjson"]

_NAME = re.compile(
    r"^\[(?:(?P<platform>[^\s\]]+/[^\s\]]+) )?(?:(?P<stage>[^\s\]]+) )?\s*(?P<k>\d+)/(?P<n>\d+)\] (?P<cmd>.*)$", re.S
)
_EXIT = re.compile(r"exit code: (\d+)")
_METADATA = re.compile(r"^\[internal\] load metadata for (?P<ref>\S+)$")
_FILESYSTEM = frozenset({"ADD", "COPY", "RUN", "WORKDIR"})
MIN_BUILDX = (0, 12)  # --progress=rawjson


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


def buildx_supports_rawjson(version: str | None) -> bool:
    if not version:
        return False
    numbers = [int(n) for n in re.findall(r"\d+", version.lstrip("v"))[:2]]
    return len(numbers) == 2 and (numbers[0], numbers[1]) >= MIN_BUILDX


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


def _locate(parsed: Dockerfile, name: str) -> tuple[Stage, Instruction] | None:
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


def _results(builder: Builder, request: BuildRequest, parsed: Dockerfile, stream: BuildkitStream) -> list[StageResult]:
    reachable = {s.index for s in parsed.reachable(request.target)}
    steps: dict[int, list[StepResult]] = {s.index: [] for s in parsed.stages}
    for vertex in sorted(stream.vertices.values(), key=lambda v: v.order):
        located = _locate(parsed, vertex.name)
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
            base_image=builder.resolve_base(request, stage.base, stage.is_external_base),
            built=stage.index in reachable,
            steps=sorted(steps[stage.index], key=lambda s: s.step),
        )
        for stage in parsed.stages
    ]


# -- running buildx ---------------------------------------------------------------------
def build_buildkit(builder: Builder, request: BuildRequest, parsed: Dockerfile, key: str) -> BuildResult:
    """Build ``request`` with ``docker buildx build``; raise the plugin's errors on failure."""
    from pytest_dockerbuild.build.builder import BuildResult

    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise DockerbuildError("the BuildKit backend needs the docker CLI with the buildx plugin on PATH")
    with tempfile.TemporaryDirectory(prefix="pytest-dockerbuild-") as tmp:
        folder = Path(tmp)
        dockerfile = folder / "Dockerfile"
        dockerfile.write_text(parsed.substituted(request.image_map), encoding="utf-8")
        ignore = ignore_file(request.context, request.dockerfile, "buildkit")
        if ignore is not None and ignore.name != ".dockerignore":  # beside the Dockerfile it builds
            shutil.copy(ignore, folder / "Dockerfile.dockerignore")
        iidfile = folder / "iid"
        command = [docker_cli, "buildx", "build", "--progress=rawjson", "--load", f"--iidfile={iidfile}"]
        if not os.environ.get("BUILDX_BUILDER"):
            command.append("--builder=default")
        command += ["-f", str(dockerfile), "-t", builder.key_tag(request, key)]
        if request.tag:
            command += ["-t", request.tag]
        if request.target:
            command += ["--target", request.target]
        for name, value in sorted(request.build_args.items()):
            command += ["--build-arg", f"{name}={value}"]
        for name, value in sorted(builder.labels(request).items()):
            command += ["--label", f"{name}={value}"]
        command.append(str(request.context))
        stream = BuildkitStream(log=builder.new_log(request, key))
        started = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"},
        )  # fmt: skip
        assert process.stderr is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a read may split a character
        try:
            descriptor = process.stderr.fileno()
            for chunk in iter(lambda: os.read(descriptor, 65536), b""):
                stream.feed(decoder.decode(chunk))
            code = process.wait()
        finally:
            if process.poll() is None:  # interrupted: stop buildx, which cancels the build
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            stream.finish()
            stream.log.close()
        seconds = time.monotonic() - started
        image_id = iidfile.read_text().strip() if iidfile.exists() else ""
    if code != 0 or not image_id:
        raise _failure(builder, request, parsed, stream, code)
    builder.engine.journal.created_image(image_id)
    return BuildResult(
        request=request,
        key=key,
        image=builder.engine.image(image_id),
        backend="buildkit",
        dockerfile=parsed,
        stages=_results(builder, request, parsed, stream),
        log=stream.log,
        seconds=seconds,
    )


def _failure(
    builder: Builder, request: BuildRequest, parsed: Dockerfile, stream: BuildkitStream, code: int
) -> Exception:
    reason = stream.error or _exit_reason(code)
    if code < 0:  # killed: what it printed is about being cut off, not about the Dockerfile
        killed = _exit_reason(code) + (f" ({stream.error})" if stream.error else "")
        return builder.failure(request, parsed, reason=killed, stage_index=None, step=None, exit_code=None,
                               log=stream.log)  # fmt: skip
    failing = stream.failure
    if failing is not None:
        metadata = _METADATA.match(failing.name)
        if metadata:
            return _missing_base(builder, request, parsed, metadata.group("ref"), failing.error or reason)
        located = _locate(parsed, failing.name)
        if located is not None:
            stage, instruction = located
            exit_code = _EXIT.search(failing.error or "")
            if instruction.keyword == "FROM" and stage.is_external_base:
                return _missing_base(builder, request, parsed, stage.base, failing.error or reason)
            return builder.failure(
                request, parsed, reason=failing.error or reason, stage_index=stage.index,
                step=stage.instructions.index(instruction) + 1,
                exit_code=int(exit_code.group(1)) if exit_code else None, log=stream.log,
            )  # fmt: skip
    parse = re.search(r"dockerfile parse error (?:on )?line (\d+): (.*)", reason)
    if parse:
        return DockerfileSyntaxError(request.dockerfile, int(parse.group(1)), parse.group(2))
    if "target stage" in reason and request.target:
        return UnknownStage(request.dockerfile, request.target, parsed.stage_refs)
    return builder.failure(request, parsed, reason=reason, stage_index=None, step=None, exit_code=None, log=stream.log)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"docker buildx build was killed by {name} (exit {code}); the build did not finish"
    return f"docker buildx build exited with {code}"


def _missing_base(builder: Builder, request: BuildRequest, parsed: Dockerfile, ref: str, reason: str) -> Exception:
    wanted = normalize_image(ref)
    for stage in parsed.reachable(request.target):
        if stage.is_external_base:
            resolved = builder.resolve_base(request, stage.base, True)
            if wanted in (normalize_image(resolved), normalize_image(stage.base)):
                return BaseImageMissing(request.dockerfile, stage.ref, resolved, reason)
    return BaseImageMissing(request.dockerfile, "?", ref, reason)
