"""The classic builder, through the docker SDK's low-level streaming build API.

Works on every engine (no buildx needed).  The engine's JSON stream is parsed
into steps (``Step k/M : INSTRUCTION``), cache hits (`` ---> Using cache``),
stage images (``aux.ID`` at the end of each stage) and errors
(``errorDetail``).  The classic builder runs every stage up to the target, in
file order, whether the target needs it or not.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import docker.errors
from docker.utils import parse_repository_tag
from docker.utils.build import tar

from pytest_dockerbuild.build.builder import StageResult, StepResult, ignore_file, ignore_patterns
from pytest_dockerbuild.build.log import LINE_LIMIT, BuildLog
from pytest_dockerbuild.engine.cleanup import ImageIndex, remove_leftovers
from pytest_dockerbuild.errors import BaseImageMissing, BuildFailed, DockerfileSyntaxError, UnknownStage

if TYPE_CHECKING:
    from pytest_dockerbuild.build.builder import Builder, BuildRequest, BuildResult
    from pytest_dockerbuild.dockerfile.model import Dockerfile

__all__ = ["ClassicStream", "build_classic"]

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_RUNNING = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXIT = re.compile(r"returned a non-zero code: (\d+)")
_PARSE_ERROR = re.compile(r"(?:dockerfile parse error )?line (\d+): (.*)")
DOCKERFILE_NAME = ".pytest-dockerbuild.Dockerfile"


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

    @property
    def committed(self) -> bool:
        """True if the step made a new image (not a FROM, not from the cache)."""
        return self.image is not None and not self.cached and self.text.split(" ", 1)[0].upper() != "FROM"


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
            self.exit_code = int(code) if code is not None else int(match.group(1)) if match else None
            self.log.append(f"ERROR: {self.error}")
        elif "status" in chunk:
            status = " ".join(str(chunk.get(k, "")) for k in ("id", "status", "progress") if chunk.get(k))
            if status and (not self.log or self.log[-1] != status):
                self.log.append(status)

    def _line(self, line: str, now: float) -> None:
        step = _STEP.match(line)
        if step:
            text = step.group(3).strip()
            if self.steps:
                self.steps[-1].finished = now
            if text.split(" ", 1)[0].upper() == "FROM":
                self._stage += 1
                self._step_in_stage = 0
            if self._stage >= 0:
                self._step_in_stage += 1
            self.steps.append(ParsedStep(int(step.group(1)), self._stage, self._step_in_stage, text, now))
        elif line.strip() == "---> Using cache" and self.steps:
            self.steps[-1].cached = True
        elif _RUNNING.match(line):
            self.containers.append(_RUNNING.match(line).group(1))  # type: ignore[union-attr]
        else:
            image = _IMAGE.match(line)
            if image and self.steps:
                self.steps[-1].image = image.group(1)
        if line.strip():
            self.log.append(line)

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


def build_classic(builder: Builder, request: BuildRequest, parsed: Dockerfile, key: str) -> BuildResult:
    """Build ``request`` with the classic builder; raise the plugin's errors on failure."""
    from pytest_dockerbuild.build.builder import BuildResult

    stream = ClassicStream(log=builder.new_log(request, key))
    started = time.monotonic()
    try:
        _run(builder, request, parsed, stream)
    finally:
        stream.log.close()
    seconds = time.monotonic() - started
    if stream.error is not None:
        _tag_stages(builder, request, parsed, stream)  # first: a stage image is never a leftover
        remove_leftovers(builder.engine.client, stream.created, [])
        raise _failure(builder, request, parsed, stream)
    if stream.image_id is None:
        raise builder.failure(
            request, parsed, reason="the engine reported no image id", stage_index=None, step=None,
            exit_code=None, log=stream.log,
        )  # fmt: skip
    _tag_stages(builder, request, parsed, stream)
    repository, tag = parse_repository_tag(builder.key_tag(request, key))
    builder.engine.client.api.tag(stream.image_id, repository, tag)
    return BuildResult(
        request=request,
        key=key,
        image=builder.engine.image(stream.image_id),
        backend="classic",
        dockerfile=parsed,
        stages=_stage_results(builder, request, parsed, stream),
        log=stream.log,
        seconds=seconds,
    )


def _run(builder: Builder, request: BuildRequest, parsed: Dockerfile, stream: ClassicStream) -> None:
    """Send the context and read the stream, writing what the build commits to the journal."""
    text = parsed.substituted(request.image_map, labels=builder.labels(request), target=request.target)
    ignore = ignore_file(request.context, request.dockerfile, "classic")
    context = tar(str(request.context), exclude=ignore_patterns(ignore), dockerfile=(DOCKERFILE_NAME, text))
    journal = builder.engine.journal
    # A connection of its own: closing it (on an interrupt) makes the engine cancel the build.
    connection = builder.engine.connection()
    try:
        for chunk in connection.build(
            fileobj=context, custom_context=True, dockerfile=DOCKERFILE_NAME, target=request.target,
            buildargs=dict(request.build_args), rm=True, forcerm=True, pull=False, decode=True,
            use_config_proxy=False,
        ):  # fmt: skip
            known = (len(stream.containers), len(stream.created))
            stream.feed(chunk)
            for container in stream.containers[known[0] :]:
                journal.step_container(container)
            for image in stream.created[known[1] :]:
                journal.created_image(image)
    except docker.errors.APIError as error:
        raise _request_error(request, parsed, error) from None
    except BaseException:  # interrupted (Ctrl-C): cancel, and leave no dangling step image
        connection.close()
        _tag_stages(builder, request, parsed, stream)
        _remove_when_cancelled(builder, stream)
        raise
    finally:
        connection.close()
        context.close()
    stream.finish()
    if stream.image_id is not None and stream.steps and stream.steps[-1].committed:
        journal.created_image(stream.image_id)


def _failure(builder: Builder, request: BuildRequest, parsed: Dockerfile, stream: ClassicStream) -> Exception:
    failed = stream.steps[-1] if stream.steps else None
    if failed is not None and failed.step == 1 and failed.stage_index >= 0:
        stage = parsed.stages[failed.stage_index]
        if stage.is_external_base:
            base = builder.resolve_base(request, stage.base, True)
            return BaseImageMissing(request.dockerfile, stage.ref, base, str(stream.error))
    return builder.failure(
        request,
        parsed,
        reason=str(stream.error),
        stage_index=failed.stage_index if failed else None,
        step=failed.step if failed else None,
        exit_code=stream.exit_code,
        log=stream.log,
    )


def _stage_results(
    builder: Builder, request: BuildRequest, parsed: Dockerfile, stream: ClassicStream
) -> list[StageResult]:
    results = []
    ran = {step.stage_index for step in stream.steps}
    for stage in parsed.stages:
        steps = []
        for parsed_step in stream.steps:
            if parsed_step.stage_index != stage.index or parsed_step.step > len(stage.instructions):
                continue  # global ARGs, the injected stage label, the labels= step
            instruction = stage.instructions[parsed_step.step - 1]
            steps.append(
                StepResult(
                    stage=stage.ref,
                    step=parsed_step.step,
                    instruction=instruction.text,
                    line=instruction.line,
                    cached=None if instruction.keyword == "FROM" else parsed_step.cached,
                    seconds=(parsed_step.finished - parsed_step.started) if parsed_step.finished else None,
                )
            )
        results.append(
            StageResult(
                ref=stage.ref,
                index=stage.index,
                base=stage.base,
                base_image=builder.resolve_base(request, stage.base, stage.is_external_base),
                built=stage.index in ran,
                steps=steps,
                image_id=stream.stage_images.get(stage.index),
            )
        )
    return results


def _tag_stages(builder: Builder, request: BuildRequest, parsed: Dockerfile, stream: ClassicStream) -> None:
    """Tag each stage image the build committed, or found in the cache, so none is left
    dangling; but not the image a stage is FROM, nor a cached image nothing else keeps that the
    plugin did not commit (someone's untagged image: the plugin's tag would later take it away)."""
    client = builder.engine.client
    last_step = {step.stage_index: step for step in stream.steps}
    ours: set[str] | None = None
    index: ImageIndex | None = None
    for stage_index, image_id in stream.stage_images.items():
        step = last_step.get(stage_index)
        if (image_id == stream.image_id and stream.error is None) or step is None or step.step == 1:
            continue  # the built image (tagged by its content key), or a stage that is only its FROM
        if not step.committed:
            index = ImageIndex.read(client) if index is None else index
            ours = builder.engine.owned_images() if ours is None else ours
            if index.dangling(image_id) and image_id not in ours:
                continue
        stage = parsed.stages[stage_index]
        repository, _, tag = builder.tag_for(request, stage.ref, image_id).rpartition(":")
        try:
            client.api.tag(image_id, repository, tag)
        except docker.errors.APIError:
            pass


def _remove_when_cancelled(builder: Builder, stream: ClassicStream, patience: float = 10.0) -> None:
    """After an interrupt: remove the images the build committed that nothing keeps, and any
    image the engine committed from one of its step containers after the last line it sent,
    waiting up to ``patience`` seconds for the cancelled build to let go of them."""
    client = builder.engine.client
    deadline = time.monotonic() + patience
    while True:
        for container in stream.containers:
            try:
                if client.api.inspect_container(container).get("State", {}).get("Running"):
                    break  # the cancelled step is still stopping
            except docker.errors.APIError:
                pass
        else:
            remove_leftovers(client, stream.created, stream.containers)
            return
        if time.monotonic() > deadline:
            remove_leftovers(client, stream.created, stream.containers)
            return
        time.sleep(0.5)


def _request_error(request: BuildRequest, parsed: Dockerfile, error: docker.errors.APIError) -> Exception:
    """Errors the engine returns before any output: parse errors, a bad target."""
    message = str(error.explanation or error)
    parse = _PARSE_ERROR.search(message)
    if "parse error" in message and parse:
        return DockerfileSyntaxError(request.dockerfile, int(parse.group(1)), parse.group(2))
    if "target" in message and request.target:
        return UnknownStage(request.dockerfile, request.target, parsed.stage_refs)
    return BuildFailed(dockerfile=request.dockerfile, reason=message, target=request.target, backend="classic")
