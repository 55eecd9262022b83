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
import dataclasses
import itertools
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors

from pytest_dockerbuild.build.backend import BuildJob, resolve_base
from pytest_dockerbuild.build.cache import BuildCache, Outcome
from pytest_dockerbuild.build.inputs import resolve_path, unused_build_args
from pytest_dockerbuild.build.key import content_key
from pytest_dockerbuild.build.log import BuildLog
from pytest_dockerbuild.build.model import BuildRequest, BuildResult, StageResult
from pytest_dockerbuild.build.options import BuildOptions, Secret, build_options, engine_platform, unsupported_platform
from pytest_dockerbuild.build.registry import AUTO, select
from pytest_dockerbuild.dockerfile import Dockerfile, normalize_image
from pytest_dockerbuild.engine.naming import key_tag, project_id
from pytest_dockerbuild.engine.podman import NO_BUILDKIT, backend_for
from pytest_dockerbuild.engine.registry import push_request
from pytest_dockerbuild.errors import (
    BaseImageMissing,
    BuildFailed,
    BuildOptionError,
    DockerbuildError,
)
from pytest_dockerbuild.image import Image
from pytest_dockerbuild.lint import Finding, check_dockerfile

if TYPE_CHECKING:
    from pytest_dockerbuild.engine.client import Engine

__all__ = ["Builder"]

#: build args every build may take without an ARG (docker does not warn about them)


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
        strict_build_args: bool = False,
        lint_targets: Sequence[str] = (),
        asking: Callable[[], Path | None] | None = None,
        push_registry: str | None = None,
        transit_registry: str | None = None,
    ) -> None:
        self.engine = engine
        self.lint_ignore = list(lint_ignore)
        self.lint_targets = list(lint_targets)  #: stages built on purpose (``dockerbuild_lint_targets``)
        self.image_map = {normalize_image(k): v for k, v in (image_map or {}).items()}
        self.default_backend = backend
        #: take an image an earlier run built for the same content (``--dockerbuild-rebuild`` turns it off)
        self.reuse = reuse
        self.log_tail = log_tail
        self.log_dir = log_dir  #: where whole build logs are written (a temporary folder if None)
        self.strict_build_args = strict_build_args  #: a build arg no ARG declares is an error
        #: the folder relative paths are read from (the test file's that asks), None for the current directory
        self._asking_folder = asking or (lambda: None)
        self.cache = BuildCache(engine, shared_dir)
        self.results: list[BuildResult] = []  #: every build of the session, in order
        self.failures: list[BuildFailed] = []  #: every failed build of the session, once per content key
        self.warnings: list[str] = []  #: what the session's builds were given and did not use, once each
        self.projects: dict[str, Path] = {}  #: the projects built in this session: id -> context folder
        self.push_registry = push_registry  #: where ``push=True`` pushes (``--dockerbuild-push``), if anywhere
        #: where a buildx builder outside the engine hands its images over (:attr:`BuildJob.transit`)
        self.transit_registry = transit_registry
        #: image id -> what ``push=`` asked for (see :func:`~pytest_dockerbuild.engine.registry.push_request`)
        self.push_requests: dict[str, list[str]] = {}
        self._expected: set[int] = set()
        self._unexpected: set[int] = set()
        self._expecting = 0
        self._logs = itertools.count(1)
        self._listeners: list[Callable[[Outcome], None]] = []
        self._engine_platform: str | None = None

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
        strict_build_args: bool | None = None,
        secrets: Mapping[str, Secret | str | os.PathLike[str]] | None = None,
        ssh: str | Sequence[str] | None = None,
        platform: str | None = None,
        no_cache: bool = False,
        no_cache_filter: str | Sequence[str] | None = None,
        pull: bool = False,
        cache_from: str | Sequence[str] | None = None,
        cache_to: str | Sequence[str] | None = None,
        build_contexts: Mapping[str, str | os.PathLike[str]] | None = None,
        network: str | None = None,
        extra_hosts: Mapping[str, str] | None = None,
        shm_size: int | str | None = None,
        push: str | bool | None = None,
    ) -> BuildResult:
        """Build ``context`` (or its stage ``target``) and return the result; a relative ``context``
        is read from the folder of the test file that asks (see the README's *Build options*).

        :param reuse: ``False`` builds through the engine, whatever this session or an earlier run
            built (the layer cache still applies); so do ``no_cache``, ``no_cache_filter``,
            ``pull`` and ``cache_to``.
        :param strict_build_args: a build arg no ARG declares is an error, not a warning.
        :param push: ``registry/repository[:tag]``, or True for ``--dockerbuild-push``'s registry: pushed
            at the end of the run if every test that used the image passed (not part of the content key).
        :raises BuildFailed: a step failed (with the stage, step, instruction, exit code and log tail).
        :raises DockerfileError: the Dockerfile is missing, empty, malformed or has no such target.
        :raises BuildOptionError: an option is malformed, or the backend or engine cannot honour it.
        """
        __tracebackhide__ = True
        base = self._asking()
        options = build_options(
            base, secrets=secrets, ssh=ssh, platform=platform, no_cache=no_cache, no_cache_filter=no_cache_filter,
            pull=pull, cache_from=cache_from, cache_to=cache_to, build_contexts=build_contexts, network=network,
            extra_hosts=extra_hosts, shm_size=shm_size,
        )  # fmt: skip
        request, parsed = self.prepare(
            context, dockerfile, target=target, build_args=build_args, labels=labels,
            image_map=image_map, backend=backend, tag=tag, options=options,
        )  # fmt: skip
        pushing = push_request(push, self.push_registry, project_id(request.context))
        strict = self.strict_build_args if strict_build_args is None else strict_build_args
        unused = unused_build_args(request, parsed, strict)
        self.warnings += [warning for warning in unused if warning not in self.warnings]
        result = self._build(request, parsed, reuse, unused)
        if pushing is not None and pushing not in self.push_requests.setdefault(result.image.id, []):
            self.push_requests[result.image.id].append(pushing)
        return result

    def _build(self, request: BuildRequest, parsed: Dockerfile, reuse: bool | None, unused: list[str]) -> BuildResult:
        """The outcome of a prepared request: the session's, another worker's, an earlier run's, or a build."""
        __tracebackhide__ = True
        outcome = self.produce(request, parsed, reuse)
        for listener in self._listeners:
            listener(outcome)
        if isinstance(outcome, DockerbuildError):
            self._count(outcome)
            raise copy.copy(outcome).with_traceback(None)
        if request.tag:
            self.engine.tag(outcome.image.id, request.tag)
        self.engine.use(outcome.image.id)
        return _with_warnings(outcome, unused)

    def produce(self, request: BuildRequest, parsed: Dockerfile, reuse: bool | None = None) -> Outcome:
        """The outcome of a prepared request, found or built (once per key at a time, also from a
        prebuild's thread), without telling the listeners: a test's call tells them."""
        if request.options.forces_build():
            reuse = False
        key = self.content_key(request, parsed)
        if project_id(request.context) not in self.projects:  # the ledger knows where it is, even if the run is killed
            self.projects[project_id(request.context)] = request.context
            self.engine.ledger.remember_projects({project_id(request.context): request.context})
        with self.cache.producing(key):
            outcome = self.cache.in_session(key) if reuse is not False else None
            if outcome is None:
                outcome = self.cache.shared(
                    key, reuse is not False, lambda: self._outcome(request, parsed, key, reuse),
                    lambda record: self._adopt(request, parsed, key, record),
                )  # fmt: skip
                self.cache.remember(key, outcome)
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
        context_path = resolve_path(context, self._asking_folder())
        path = Path(dockerfile) if dockerfile is not None else Path("Dockerfile")
        return Dockerfile.load((path if path.is_absolute() else context_path / path).resolve(), context_path,
                               build_args)  # fmt: skip

    def lint(
        self, context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None,
        *, ignore: Sequence[str] = (),
    ) -> list[Finding]:  # fmt: skip
        """The static checks' findings for a Dockerfile (with the session's substitutions and ignores)."""
        parsed = self.dockerfile(context, dockerfile)
        return check_dockerfile(parsed, image_map=self.image_map, ignore=[*self.lint_ignore, *ignore],
                                targets=self.lint_targets)  # fmt: skip

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
        options: BuildOptions | None = None,
    ) -> tuple[BuildRequest, Dockerfile]:
        """The request a call describes, and its parsed Dockerfile (refused if it cannot build)."""
        args = {str(k): str(v) for k, v in (build_args or {}).items()}
        folder = resolve_path(context, self._asking_folder())
        parsed = self.dockerfile(folder, dockerfile, args)
        parsed.check_buildable()
        if target is not None:
            target = parsed.stage(target).ref  # UnknownStage lists the stages
        mapping = {**self.image_map, **{normalize_image(k): v for k, v in (image_map or {}).items()}}
        chosen = select(backend_for(backend or self.default_backend, self.engine.podman))
        options = options or BuildOptions()
        refused = [name for name in options.given() if name not in chosen.supported]
        if refused:
            advice = f" ({NO_BUILDKIT})" if self.engine.podman else ": use backend='buildkit'"
            raise BuildOptionError(refused[0], f"the {chosen.name} backend cannot use it"
                                   + (advice if chosen.name == "classic" else ""))  # fmt: skip
        if options.platform is not None:
            problem = unsupported_platform(options.platform, self._platform(), self.engine.local_binfmt())
            if problem:
                raise BuildOptionError("platform", problem)
        return BuildRequest(folder, parsed.path, target, args, dict(labels or {}), mapping, chosen.name, tag,
                            options), parsed  # fmt: skip

    def content_key(self, request: BuildRequest, parsed: Dockerfile) -> str:
        """The content key of a prepared request (see :mod:`~pytest_dockerbuild.build.key`)."""
        return content_key(request, parsed, select(request.backend), self._image_id)

    def _outcome(self, request: BuildRequest, parsed: Dockerfile, key: str, reuse: bool | None) -> Outcome:
        """An earlier run's image for the key (unless reuse is off, or the build reads what no key
        holds), else a build by the backend, tagged by its key if the inputs did not change."""
        backend = select(request.backend)
        unrepeatable = backend.unrepeatable(request, parsed) + request.options.unrepeatable()
        if reuse is not False and (reuse or self.reuse) and not unrepeatable:
            previous = self.cache.earlier_image(key_tag(request.context, request.target, key))
            if previous is not None:
                return self._result(self._reused(request, parsed, key, previous))
        job = BuildJob(
            request, parsed, key, self._new_log(request, key), self.engine, self.log_tail, self.transit_registry
        )
        try:
            output = backend.build(job)
        except DockerbuildError as error:
            if isinstance(error, BuildFailed):
                self.failures.append(error)
            if isinstance(error, BaseImageMissing) and request.options.pull:
                why = f"{error.image} (stage {error.stage!r}) could not be pulled: {error.reason}"
                return BuildOptionError("pull", f"{why}; build without pull=True to use the engine's own image")
            return error
        self.engine.use(output.image_id)
        if self.content_key(request, parsed) == key:  # else a file or base changed during the build:
            self.engine.tag(output.image_id, key_tag(request.context, request.target, key))  # the image is no key's
            self.engine.untag(job.pending_tag)
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
        if "pushed" in record:  # pulled onto this engine from the share registry: kept (and found) as if built here
            self.engine.tag(record["image"], key_tag(request.context, request.target, key))
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

    def _asking(self) -> Path:
        """The folder relative paths of a call are read from: the test file's, else the current directory."""
        return self._asking_folder() or Path.cwd()

    def _platform(self) -> str:
        if self._engine_platform is None:
            info = self.engine.client.info()
            self._engine_platform = engine_platform(str(info.get("OSType", "linux")), str(info.get("Architecture", "")))
        return self._engine_platform

    def _image_id(self, reference: str) -> str | None:
        try:
            return str(self.engine.client.api.inspect_image(reference)["Id"])
        except docker.errors.APIError:
            return None

    def _new_log(self, request: BuildRequest, key: str) -> BuildLog:
        """A log for one build: its tail in memory, all of it in a file under :attr:`log_dir`."""
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="pytest-dockerbuild-logs-"))
        name = f"{next(self._logs):03d}-{project_id(request.context)}-{request.target or 'final'}-{key[:12]}.log"
        return BuildLog(self.log_dir / name, hide=request.options.redactions())


def _with_warnings(result: BuildResult, warned: list[str]) -> BuildResult:
    """The result with this call's warnings (a copy when the session's result had others)."""
    if warned == result.warnings:
        return result
    return dataclasses.replace(result, warnings=list(warned))
