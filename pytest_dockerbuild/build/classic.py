"""The classic builder, through the docker SDK's low-level streaming build API.

Works on every engine (no buildx needed); its output is parsed by
:class:`~pytest_dockerbuild.build.classic_stream.ClassicStream`.  The classic builder
runs every stage up to the target, in file order, whether the target needs it or
not, and commits an image per step: the backend tags the stage images it
commits (so none dangles), records every image it commits in the engine's
journal, and removes the step images of a failed or interrupted build.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import IO, ClassVar

import docker.errors
from docker.utils import parse_repository_tag
from docker.utils.build import tar

from pytest_dockerbuild.build.backend import (
    BuildJob,
    BuildOutput,
    dockerignore,
    failure_at,
    original_line,
    read_patterns,
    remote_sources,
    resolve_base,
)
from pytest_dockerbuild.build.classic_stream import ClassicStream
from pytest_dockerbuild.build.model import BuildRequest, StageResult, StepResult
from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.dockerfile.rewrite import added_after_from
from pytest_dockerbuild.engine.imagestore import find_leftovers, remove_leftovers
from pytest_dockerbuild.engine.naming import LABEL_MANAGED, LABEL_OPTIONS, image_labels, stage_tag
from pytest_dockerbuild.errors import (
    BaseImageMissing,
    BuildFailed,
    DockerbuildError,
    DockerfileSyntaxError,
    UnknownStage,
)

__all__ = ["ClassicBackend"]

_PARSE_ERROR = re.compile(r"(?:dockerfile parse error )?line (\d+): (.*)")
DOCKERFILE_NAME = ".pytest-dockerbuild.Dockerfile"


class ClassicBackend:
    """The engine's own builder (``POST /build``), streamed through the docker SDK."""

    name: ClassVar[str] = "classic"
    supported: ClassVar[frozenset[str]] = frozenset(
        {"platform", "no_cache", "pull", "cache_from", "network", "extra_hosts", "shm_size"}
    )

    def unavailable(self) -> str | None:
        return None  # every engine has it

    def environment(self) -> dict[str, str]:
        return {}  # the SDK reads nothing of it (no proxies from the CLI's config: use_config_proxy=False)

    def ignore_patterns(self, context: Path, dockerfile: Path) -> list[str]:
        return read_patterns(dockerignore(context))  # docker-py makes the context with exactly these

    def unrepeatable(self, request: BuildRequest, dockerfile: Dockerfile) -> list[str]:
        return remote_sources(dockerfile)

    def build(self, job: BuildJob) -> BuildOutput:
        """Build, tag the stage images the build committed, and return the image; raise the
        plugin's errors (and remove the step images of a failed build)."""
        multiline = [name for name, value in job.request.image_labels.items() if "\n" in value]
        if multiline:
            raise DockerbuildError(f"the classic builder cannot set a label value with a line break ({multiline[0]!r} "
                                   "of labels=): use the buildkit backend, or a value on one line")  # fmt: skip
        stream = ClassicStream(log=job.log)
        started = time.monotonic()
        try:
            _run(job, stream)
        finally:
            stream.log.close()
        seconds = time.monotonic() - started
        if stream.error is not None:
            _tag_stages(job, stream)  # first: a stage image is never a leftover
            _remove_leftovers(job, stream.created, [])
            raise _failure(job, stream)
        if stream.image_id is None:
            raise failure_at(job, "the engine reported no image id", log=stream.log)
        _tag_stages(job, stream)
        repository, tag = parse_repository_tag(job.pending_tag)
        job.engine.client.api.tag(stream.image_id, repository, tag)
        return BuildOutput(stream.image_id, _stage_results(job, stream), seconds)


def _run(job: BuildJob, stream: ClassicStream) -> None:
    """Send the context and read the stream, writing what the build commits (and the images it
    takes from the cache, which a failed build of another run must not remove) to the journal."""
    request = job.request
    stage_label = _stage_label(job)
    # The plugin's labels join the LABEL after the last stage's FROM when that stage is the target
    # and labels= gave none (a labels= value overrides the Dockerfile's: it stays a step at the
    # end): one container and commit fewer.  An earlier stage's steps stay the ones a build of the
    # last stage takes from the cache.
    last = request.target is None or job.dockerfile.stage(request.target).index == len(job.dockerfile.stages) - 1
    joined = last and not request.labels
    # An earlier stage as the target, without labels=, gets no label step at its end (the plugin's
    # project label would cost a container and commit): it carries the LABEL after FROM only.
    labels = request.image_labels if last or request.labels else {}
    text = job.dockerfile.substituted(request.image_map, labels=labels, target=request.target,
                                      after_from=stage_label, labels_after_from=joined,
                                      joining=_joining_pairs(job))  # fmt: skip
    exclude = read_patterns(dockerignore(request.context))
    context = tar(str(request.context), exclude=exclude, dockerfile=(DOCKERFILE_NAME, text))
    # A connection of its own: closing it (on an interrupt) makes the engine cancel the build.
    connection = job.engine.connection()
    try:
        with job.engine.ledger.building():  # no image removed until the journal says what it took
            _stream(job, stream, connection, context)
    except docker.errors.APIError as error:
        raise _request_error(job, error) from None
    except BaseException:  # interrupted (Ctrl-C): cancel, and leave no dangling step image
        connection.close()
        _tag_stages(job, stream)
        _remove_when_cancelled(job, stream)
        raise
    finally:
        connection.close()
        context.close()


def _stream(job: BuildJob, stream: ClassicStream, connection: docker.APIClient, context: IO[bytes]) -> None:
    journal = job.engine.journal
    request, options = job.request, job.request.options
    for chunk in connection.build(
        fileobj=context, custom_context=True, dockerfile=DOCKERFILE_NAME, target=request.target,
        buildargs=dict(request.build_args), rm=True, forcerm=True, pull=options.pull, decode=True,
        use_config_proxy=False, nocache=options.no_cache, cache_from=list(options.cache_from) or None,
        network_mode=options.network, extra_hosts=dict(options.extra_hosts) or None, shmsize=options.shm_size,
        platform=options.platform,
    ):  # fmt: skip
        known = (len(stream.containers), len(stream.created), len(stream.steps))
        stream.feed(chunk)
        for container in stream.containers[known[0] :]:
            journal.step_container(container)
        for image in stream.created[known[1] :]:
            journal.created_image(image)
        for step in stream.steps[max(0, known[2] - 1) :]:
            if step.cached and step.image:
                journal.uses(step.image)
    stream.finish()
    if stream.image_id is not None and stream.steps and stream.steps[-1].committed:
        journal.created_image(stream.image_id)


def _failure(job: BuildJob, stream: ClassicStream) -> Exception:
    failed = stream.steps[-1] if stream.steps else None
    if failed is not None and failed.step == 1 and failed.stage_index >= 0:
        stage = job.dockerfile.stages[failed.stage_index]
        if stage.is_external_base:
            base = resolve_base(job.request, stage.base, True)
            return BaseImageMissing(job.request.dockerfile, stage.ref, base, str(stream.error))
    return failure_at(
        job, str(stream.error), stage_index=failed.stage_index if failed else None,
        step=_instruction_step(job, failed.stage_index, failed.step) if failed else None,
        exit_code=stream.exit_code, log=stream.log, engine_step=failed.label if failed else None,
    )  # fmt: skip


def _stage_label(job: BuildJob) -> str:
    """The LABEL after each FROM, which makes every later step image of the build the plugin's
    alone (a user's own build of the same lines makes other images), so its clean-up may remove
    them; it joins a stage's own first LABEL where there is one (no step of its own)."""
    salt = job.request.options.cache_salt()
    return f"LABEL {LABEL_MANAGED}=true" + (f" {LABEL_OPTIONS}={salt}" if salt else "")


def _joining_pairs(job: BuildJob) -> dict[str, str]:
    """What joins a stage's own first LABEL: the plugin's labels (constant per project: stages that
    start with the same LABEL still share that step) and the cache salt."""
    salt = job.request.options.cache_salt()
    return {**image_labels(job.request.context), **({LABEL_OPTIONS: salt} if salt else {})}


def _instruction_step(job: BuildJob, stage_index: int, step: int) -> int:
    """The Dockerfile step of a step the engine ran: the 2nd step of a stage is the plugin's LABEL
    after FROM, unless that LABEL joined the stage's own."""
    if stage_index not in added_after_from(job.dockerfile, _stage_label(job)):
        return step
    return step - 1 if step > 2 else 1


def _stage_results(job: BuildJob, stream: ClassicStream) -> list[StageResult]:
    request, parsed = job.request, job.dockerfile
    results = []
    ran = {step.stage_index for step in stream.steps}
    added = added_after_from(parsed, _stage_label(job))
    for stage in parsed.stages:
        steps = []
        for parsed_step in stream.steps:
            number = _instruction_step(job, stage.index, parsed_step.step)
            own_label = parsed_step.step == 2 and stage.index in added
            if parsed_step.stage_index != stage.index or own_label or number > len(stage.instructions):
                continue  # global ARGs, the plugin's LABEL after each FROM, the labels= step at the end
            instruction = stage.instructions[number - 1]
            steps.append(
                StepResult(
                    stage=stage.ref,
                    step=number,
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
                base_image=resolve_base(request, stage.base, stage.is_external_base),
                built=stage.index in ran,
                steps=steps,
                image_id=stream.stage_images.get(stage.index),
            )
        )
    return results


def _tag_stages(job: BuildJob, stream: ClassicStream) -> None:
    """Tag each stage image, so none is left dangling: every image after the plugin's LABEL is one
    a build of the plugin made (now, or earlier and found in the cache)."""
    client = job.engine.client
    last_step = {step.stage_index: step.step for step in stream.steps}
    for stage_index, image_id in stream.stage_images.items():
        if (image_id == stream.image_id and stream.error is None) or last_step.get(stage_index, 0) < 2:
            continue  # the built image (tagged by its content key), or a stage that got no further than FROM
        stage = job.dockerfile.stages[stage_index]
        repository, _, tag = stage_tag(job.request.context, stage.ref, image_id).rpartition(":")
        try:
            client.api.tag(image_id, repository, tag)
        except docker.errors.APIError:
            pass


def _remove_when_cancelled(job: BuildJob, stream: ClassicStream, patience: float = 10.0) -> None:
    """After an interrupt: remove the images the build committed that nothing keeps, and any
    image the engine committed from one of its step containers after the last line it sent,
    waiting up to ``patience`` seconds for the cancelled build to let go of them."""
    client = job.engine.client
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and any(_running(client, container) for container in stream.containers):
        time.sleep(0.5)  # the cancelled step is still stopping
    _remove_leftovers(job, stream.created, stream.containers)


def _remove_leftovers(job: BuildJob, created: list[str], containers: list[str]) -> None:
    """Remove what a failed or cancelled build left, unless a build is under way (it may be taking
    them from the cache): then hand them to the owned list, for the next clean-up under the lock."""
    ledger, client = job.engine.ledger, job.engine.client
    with ledger.removing() as free:
        if free:
            remove_leftovers(client, created, containers, ledger.protected(exclude=job.engine.open_journal))
            return
    found, _ = find_leftovers(client, created, containers)
    ledger.update_owned(found)
    job.engine.journal.abandon(created)


def _running(client: docker.DockerClient, container: str) -> bool:
    try:
        return bool(client.api.inspect_container(container).get("State", {}).get("Running"))
    except docker.errors.APIError:
        return False


def _request_error(job: BuildJob, error: docker.errors.APIError) -> Exception:
    """Errors the engine returns before any output: parse errors, a bad target."""
    request = job.request
    message = str(error.explanation or error)
    parse = _PARSE_ERROR.search(message)
    if "parse error" in message and parse:
        sent = int(parse.group(1))  # a line of the text sent, which has a LABEL line after each FROM
        line = original_line(job.dockerfile, sent, added_after_from(job.dockerfile, _stage_label(job)))
        return DockerfileSyntaxError(request.dockerfile, line, parse.group(2))
    if "target" in message and request.target:
        return UnknownStage(request.dockerfile, request.target, job.dockerfile.stage_refs)
    return BuildFailed(dockerfile=request.dockerfile, reason=message, target=request.target, backend="classic")
