"""The ``dockerbuild`` fixture's face: build a context (or a stage of it), assert
that a build fails, parse or check a Dockerfile, inspect an image.

A :class:`Builder` turns its arguments into a
:class:`~pytest_dockerbuild.build.model.BuildRequest`, computes the content key
(:mod:`~pytest_dockerbuild.build.key`), looks for the outcome where it may be
found again (:mod:`~pytest_dockerbuild.build.cache`), and otherwise hands the
build to the backend the :mod:`~pytest_dockerbuild.build.registry` picks.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors
from docker.utils import parse_repository_tag

from pytest_dockerbuild.build.backend import BuildJob, resolve_base
from pytest_dockerbuild.build.cache import BuildCache, Outcome
from pytest_dockerbuild.build.key import content_key
from pytest_dockerbuild.build.log import BuildLog
from pytest_dockerbuild.build.model import BuildRequest, BuildResult, StageResult
from pytest_dockerbuild.build.registry import AUTO, select
from pytest_dockerbuild.dockerfile import Dockerfile, normalize_image
from pytest_dockerbuild.engine.naming import key_tag, project_id
from pytest_dockerbuild.errors import BuildFailed, DockerbuildError
from pytest_dockerbuild.image import Image
from pytest_dockerbuild.lint import Finding, check_dockerfile

if TYPE_CHECKING:
    from pytest_dockerbuild.engine.client import Engine

__all__ = ["Builder"]


class Builder:
    """Builds requests with a backend, once per content key per session (see the README's *Reuse*)."""

    def __init__(
        self,
        engine: Engine,
        image_map: Mapping[str, str] | None = None,
        backend: str = AUTO,
        reuse: bool = True,
        log_tail: int = 20,
        shared_dir: Path | None = None,
        lint_ignore: Sequence[str] = (),
        log_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.lint_ignore = list(lint_ignore)
        self.image_map = {normalize_image(k): v for k, v in (image_map or {}).items()}
        self.default_backend = backend
        #: take an image an earlier run built for the same content (``--dockerbuild-rebuild`` turns it off)
        self.reuse = reuse
        self.log_tail = log_tail
        self.log_dir = log_dir  #: where whole build logs are written (a temporary folder if None)
        self.cache = BuildCache(engine, shared_dir)
        self.results: list[BuildResult] = []  #: every build of the session, in order
        self.failures: list[BuildFailed] = []  #: every failed build of the session, once per content key
        self.projects: dict[str, Path] = {}  #: the projects built in this session: id -> context folder
        self._expected: set[int] = set()
        self._unexpected: set[int] = set()
        self._expecting = 0
        self._logs = itertools.count(1)
        self._listeners: list[Callable[[Outcome], None]] = []

    # -- public ----------------------------------------------------------------
    def build(
        self,
        context: str | os.PathLike[str],
        dockerfile: str | os.PathLike[str] | None = None,
        *,
        target: str | None = None,
        build_args: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        image_map: Mapping[str, str] | None = None,
        backend: str | None = None,
        tag: str | None = None,
        reuse: bool | None = None,
    ) -> BuildResult:
        """Build ``context`` (or its stage ``target``) and return the result.

        :param dockerfile: path relative to the context (default ``Dockerfile``), or absolute.
        :param image_map: extra FROM substitutions for this build (``{"diamol/base": "local/base"}``).
        :param backend: ``"classic"``, ``"buildkit"`` or ``"auto"`` (default: the session's).
        :param tag: an extra tag for the image (applied whether it is built or reused).
        :param reuse: ``False`` builds through the engine, whatever this session or an earlier run
            built (the layer cache still applies); the default takes the session's result for the
            same content, or an image an earlier run built for it (unless ``--dockerbuild-rebuild``).
        :raises BuildFailed: a step failed (with the stage, step, instruction, exit code and log tail).
        :raises DockerfileError: the Dockerfile is missing, empty, malformed or has no such target.
        """
        __tracebackhide__ = True
        request, parsed = self.prepare(
            context, dockerfile, target=target, build_args=build_args, labels=labels,
            image_map=image_map, backend=backend, tag=tag,
        )  # fmt: skip
        key = self.content_key(request, parsed)
        if project_id(request.context) not in self.projects:  # the ledger knows where it is, even if the run is killed
            self.projects[project_id(request.context)] = request.context
            self.engine.ledger.remember_projects({project_id(request.context): request.context})
        outcome = self.cache.in_session(key) if reuse is not False else None
        if outcome is None:
            outcome = self.cache.shared(
                key, reuse is not False, lambda: self._outcome(request, parsed, key, reuse),
                lambda record: self._adopt(request, parsed, key, record),
            )  # fmt: skip
            self.cache.remember(key, outcome)
        for listener in self._listeners:
            listener(outcome)
        if isinstance(outcome, DockerbuildError):
            self._count(outcome)
            raise copy.copy(outcome).with_traceback(None)
        if request.tag:
            self._tag(outcome.image.id, request.tag)
        self.engine.use(outcome.image.id)
        return outcome

    def expect_failure(
        self,
        context: str | os.PathLike[str],
        dockerfile: str | os.PathLike[str] | None = None,
        *,
        stage: str | None = None,
        exit_code: int | None = None,
        match: str | None = None,
        **options: Any,
    ) -> BuildFailed:
        """Build and assert that it fails (in ``stage``, with ``exit_code``, with a
        reason or log matching the regex ``match``); returns the failure."""
        __tracebackhide__ = True
        self._expecting += 1
        try:
            result = self.build(context, dockerfile, **options)
        except BuildFailed as failure:
            problems = []
            if stage is not None and failure.stage != stage:
                problems.append(f"it failed in stage {failure.stage!r}, not {stage!r}")
            if exit_code is not None and failure.exit_code != exit_code:
                problems.append(f"it failed with exit code {failure.exit_code}, not {exit_code}")
            if match is not None and not re.search(match, failure.reason + "\n" + "\n".join(failure.log)):
                problems.append(f"neither its error nor its log matches {match!r}")
            if problems:
                raise AssertionError("The build failed, but " + "; ".join(problems) + f".\n\n{failure}") from None
            return failure
        finally:
            self._expecting -= 1
        where = f" in stage {stage!r}" if stage else ""
        raise AssertionError(f"Expected the build of {result.request.describe()} to fail{where}, "
                             f"but it succeeded: {result.summary()}")  # fmt: skip

    def is_expected(self, failure: BuildFailed) -> bool:
        """True if ``failure`` was only ever raised to :meth:`expect_failure`, which accepted it."""
        return id(failure) in self._expected

    def dockerfile(
        self, context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> Dockerfile:  # fmt: skip
        """The parsed Dockerfile of a context (stages, stage graph), without building."""
        context_path = Path(context).resolve()
        path = Path(dockerfile) if dockerfile is not None else Path("Dockerfile")
        return Dockerfile.load((path if path.is_absolute() else context_path / path).resolve(), context_path,
                               build_args)  # fmt: skip

    def lint(
        self, context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None,
        *, ignore: Sequence[str] = (),
    ) -> list[Finding]:  # fmt: skip
        """The static checks' findings for a Dockerfile (with the session's substitutions and ignores)."""
        parsed = self.dockerfile(context, dockerfile)
        return check_dockerfile(parsed, image_map=self.image_map, ignore=[*self.lint_ignore, *ignore])

    def image(self, reference: str) -> Image:
        """Inspect any image of the engine by reference or id (e.g. a stage's ``base_image``)."""
        return self.engine.image(reference)

    def add_listener(self, listener: Callable[[Outcome], None]) -> None:
        """Call ``listener`` with every result or error handed out (for report sections)."""
        self._listeners.append(listener)

    # -- internals ---------------------------------------------------------------
    def prepare(
        self,
        context: str | os.PathLike[str],
        dockerfile: str | os.PathLike[str] | None,
        *,
        target: str | None,
        build_args: Mapping[str, str] | None,
        labels: Mapping[str, str] | None,
        image_map: Mapping[str, str] | None,
        backend: str | None,
        tag: str | None,
    ) -> tuple[BuildRequest, Dockerfile]:
        """The request a call describes, and its parsed Dockerfile (refused if it cannot build)."""
        args = {str(k): str(v) for k, v in (build_args or {}).items()}
        parsed = self.dockerfile(context, dockerfile, args)
        parsed.check_buildable()
        if target is not None:
            target = parsed.stage(target).ref  # UnknownStage lists the stages
        mapping = {**self.image_map, **{normalize_image(k): v for k, v in (image_map or {}).items()}}
        chosen = select(backend or self.default_backend)
        return BuildRequest(Path(context).resolve(), parsed.path, target, args, dict(labels or {}), mapping,
                            chosen.name, tag), parsed  # fmt: skip

    def content_key(self, request: BuildRequest, parsed: Dockerfile) -> str:
        """The content key of a prepared request (see :mod:`~pytest_dockerbuild.build.key`)."""
        return content_key(request, parsed, select(request.backend), self._image_id)

    def _outcome(self, request: BuildRequest, parsed: Dockerfile, key: str, reuse: bool | None) -> Outcome:
        """An earlier run's image for the key (unless reuse is off, or the build reads what no key
        holds), else a build by the backend, tagged by its key if the inputs did not change."""
        backend = select(request.backend)
        if reuse is not False and (reuse or self.reuse) and not backend.unrepeatable(request, parsed):
            previous = self.cache.earlier_image(key_tag(request.context, request.target, key))
            if previous is not None:
                return self._result(self._reused(request, parsed, key, previous))
        job = BuildJob(request, parsed, key, self._new_log(request, key), self.engine, self.log_tail)
        try:
            output = backend.build(job)
        except DockerbuildError as error:
            if isinstance(error, BuildFailed):
                self.failures.append(error)
            return error
        self.engine.use(output.image_id)
        if self.content_key(request, parsed) == key:  # else a file or base changed during the build:
            self._tag(output.image_id, key_tag(request.context, request.target, key))  # the image is no key's
            self._untag(job.pending_tag)
        image = self.engine.image(output.image_id)
        return self._result(BuildResult(request, key, image, request.backend, parsed, output.stages, job.log,
                                        output.seconds))  # fmt: skip

    def _adopt(self, request: BuildRequest, parsed: Dockerfile, key: str, record: dict[str, Any]) -> Outcome:
        """The outcome another pytest-xdist worker of this run left."""
        if "error" in record:
            error: DockerbuildError = record["error"]
            if isinstance(error, BuildFailed):
                self.failures.append(error)
            return error
        if not self.engine.use(record["image"]):  # gone since (removed by hand): build it again
            return self._outcome(request, parsed, key, reuse=False)
        return self._result(BuildResult(request, key, self.engine.image(record["image"]), record["backend"], parsed,
                                        record["stages"], record["log"], record["seconds"],
                                        reused=record["reused"], shared=True))  # fmt: skip

    def _reused(self, request: BuildRequest, parsed: Dockerfile, key: str, image_id: str) -> BuildResult:
        reachable = {s.index for s in parsed.reachable(request.target)}
        stages = [StageResult(s.ref, s.index, s.base, resolve_base(request, s.base, s.is_external_base),
                              s.index in reachable) for s in parsed.stages]  # fmt: skip
        return BuildResult(request, key, self.engine.image(image_id), request.backend, parsed, stages, [], 0.0,
                           reused=True)  # fmt: skip

    def _result(self, result: BuildResult) -> BuildResult:
        self.results.append(result)
        return result

    def _count(self, error: DockerbuildError) -> None:
        """An expected failure is one only ever raised to :meth:`expect_failure`."""
        if self._expecting == 0:
            self._unexpected.add(id(error))
            self._expected.discard(id(error))
        elif id(error) not in self._unexpected:
            self._expected.add(id(error))

    def _image_id(self, reference: str) -> str | None:
        try:
            return str(self.engine.client.api.inspect_image(reference)["Id"])
        except docker.errors.APIError:
            return None

    def _tag(self, image_id: str, tag: str) -> None:
        repository, name = parse_repository_tag(tag)
        try:
            self.engine.client.api.tag(image_id, repository, name or "latest")
        except docker.errors.APIError as error:
            raise DockerbuildError(f"cannot tag the image {image_id[:19]} as {tag!r}: {error.explanation}") from None

    def _untag(self, tag: str) -> None:
        try:
            self.engine.client.api.remove_image(tag, noprune=True)
        except docker.errors.APIError:
            pass  # a pending tag left on an image retention takes care of

    def _new_log(self, request: BuildRequest, key: str) -> BuildLog:
        """A log for one build: its tail in memory, all of it in a file under :attr:`log_dir`."""
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="pytest-dockerbuild-logs-"))
        name = f"{next(self._logs):03d}-{project_id(request.context)}-{request.target or 'final'}-{key[:12]}.log"
        return BuildLog(self.log_dir / name)
