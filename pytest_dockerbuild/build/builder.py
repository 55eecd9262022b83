"""Building images: requests, content keys, results, and the session's build cache.

A :class:`Builder` turns a :class:`BuildRequest` into a :class:`BuildResult`
(or raises :class:`BuildFailed`) with one of the backends, each of which
parses its own output into the same result model.  A request with the same
content key (context files, Dockerfile, args, target, substitutions, resolved
base images, backend) is built once per session; an image an earlier run
built for the same key is reused unless ``reuse=False``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import pickle
import re
import stat
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors
from docker.utils import parse_repository_tag
from docker.utils.build import exclude_paths
from filelock import FileLock

from pytest_dockerbuild.build.log import BuildLog
from pytest_dockerbuild.dockerfile.model import Dockerfile, normalize_image
from pytest_dockerbuild.errors import BuildFailed, DockerbuildError, DockerfileNotFound
from pytest_dockerbuild.image.image import Image, human_size
from pytest_dockerbuild.engine.naming import image_labels, key_tag, project_id, stage_tag

if TYPE_CHECKING:
    from pytest_dockerbuild.engine.client import Engine
    from pytest_dockerbuild.lint.checks import Finding

__all__ = ["BuildRequest", "BuildResult", "Builder", "StageResult", "StepResult"]

KEY_VERSION = "2"
#: what the docker CLI reads from the environment that changes a BuildKit build's output
BUILDKIT_ENVIRONMENT = ("BUILDX_BUILDER", "DOCKER_DEFAULT_PLATFORM", "SOURCE_DATE_EPOCH")
BACKENDS = ("classic", "buildkit")


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a context folder, a Dockerfile, a target stage and arguments."""

    context: Path
    dockerfile: Path  #: absolute
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    image_map: Mapping[str, str] = field(default_factory=dict)  #: normalized FROM image -> replacement
    backend: str = "classic"
    tag: str | None = None  #: an extra tag for the built image

    def describe(self) -> str:
        try:
            shown = self.dockerfile.relative_to(Path.cwd())
        except ValueError:
            shown = self.dockerfile
        return f"{shown}" + (f" --target {self.target}" if self.target else "")


@dataclass
class StepResult:
    """One instruction of a build."""

    stage: str  #: the stage's name (or index for an unnamed stage)
    step: int  #: 1-based position within the stage; the FROM is step 1
    instruction: str  #: as written in the Dockerfile, e.g. ``RUN mvn -B package``
    line: int | None  #: 1-based Dockerfile line
    cached: bool | None  #: True if the layer cache was used; None for FROM (nothing to cache)
    seconds: float | None = None  #: wall time of the step, if known

    @property
    def keyword(self) -> str:
        return self.instruction.split(" ", 1)[0].upper()

    def __str__(self) -> str:
        state = {True: "cached", False: "built", None: "-"}[self.cached]
        return f"[{self.stage} {self.step}] {self.instruction} ({state})"


@dataclass
class StageResult:
    """One stage of the Dockerfile in a build: built, or skipped by the backend."""

    ref: str  #: name, or index for an unnamed stage
    index: int
    base: str  #: FROM as written (ARGs expanded)
    base_image: str  #: FROM after base-image substitution
    built: bool  #: False if the backend did not build it (not needed for the target)
    steps: list[StepResult] = field(default_factory=list)
    image_id: str | None = None  #: the stage's image, where the backend keeps one (classic)

    @property
    def cache_hits(self) -> int:
        return sum(1 for s in self.steps if s.cached)

    @property
    def cacheable_steps(self) -> int:
        """Steps that can come from the cache (FROM lines cannot)."""
        return sum(1 for s in self.steps if s.cached is not None)

    @property
    def cached(self) -> bool:
        """True if every cacheable step of the stage came from the layer cache."""
        return self.built and all(s.cached for s in self.steps if s.cached is not None)

    @property
    def seconds(self) -> float:
        return sum(s.seconds or 0.0 for s in self.steps)


@dataclass
class BuildResult:
    """A successful build: the image, its stages and steps, and the log."""

    request: BuildRequest
    key: str  #: the content key
    image: Image
    backend: str
    dockerfile: Dockerfile
    stages: list[StageResult]
    log: Sequence[str]  #: the last lines of the build log (all of them are in :attr:`log_file`)
    seconds: float
    reused: bool = False  #: True when an earlier run's image was reused (no steps known)
    shared: bool = False  #: True when another pytest-xdist worker of this run built it

    @property
    def steps(self) -> list[StepResult]:
        """All steps of the built stages, in the order the backend reported them."""
        return [step for stage in self.stages for step in stage.steps]

    @property
    def built_stages(self) -> list[str]:
        return [s.ref for s in self.stages if s.built]

    @property
    def skipped_stages(self) -> list[str]:
        return [s.ref for s in self.stages if not s.built]

    @property
    def target_stage(self) -> StageResult:
        """The stage that was built as the target (the last stage by default)."""
        return self.stage(self.request.target if self.request.target is not None else len(self.stages) - 1)

    def stage(self, ref: str | int) -> StageResult:
        """The result of stage ``ref`` (name or index)."""
        wanted = self.dockerfile.stage(ref).index
        return next(s for s in self.stages if s.index == wanted)

    def step(self, pattern: str, stage: str | None = None) -> StepResult:
        """The first step whose instruction contains ``pattern`` (a regex searched in it)."""
        self._require_steps()
        for step in self.steps:
            if (stage is None or step.stage == stage) and re.search(pattern, step.instruction):
                return step
        listing = "\n".join(f"  {s}" for s in self.steps)
        raise LookupError(f"no step matches {pattern!r} in the build of {self.request.describe()}:\n{listing}")

    @property
    def cache_hits(self) -> int:
        return sum(stage.cache_hits for stage in self.stages)

    @property
    def cacheable_steps(self) -> int:
        return sum(stage.cacheable_steps for stage in self.stages)

    @property
    def cache_ratio(self) -> float:
        """Cached steps / cacheable steps (FROM lines do not count); 1.0 when there is none."""
        self._require_steps()
        return self.cache_hits / self.cacheable_steps if self.cacheable_steps else 1.0

    def _require_steps(self) -> None:
        if self.reused:
            raise DockerbuildError(
                f"the build of {self.request.describe()} was reused from an earlier run, so its steps are "
                "unknown; build with reuse=False (or run with --dockerbuild-rebuild) to inspect steps and the cache"
            )

    @property
    def log_file(self) -> Path | None:
        """The file holding the whole build log (None for a reused image)."""
        return getattr(self.log, "path", None)

    def summary(self) -> str:
        state = "reused" if self.reused else f"{self.cache_hits}/{self.cacheable_steps} steps cached"
        state += ", built by another worker" if self.shared else ""
        return f"{self.request.describe()}: {human_size(self.image.size)}, {self.seconds:.1f} s, {state}"

    def __repr__(self) -> str:
        return f"<BuildResult {self.request.describe()} {self.image!r} {self.backend}>"


class Builder:
    """Builds requests with a backend, once per content key per session."""

    def __init__(
        self,
        engine: Engine,
        image_map: Mapping[str, str] | None = None,
        backend: str = "auto",
        reuse: bool = True,
        log_tail: int = 20,
        shared_dir: Path | None = None,
        lint_ignore: Sequence[str] = (),
        log_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.lint_ignore = list(lint_ignore)
        #: where pytest-xdist workers of one run share builds (a lock and a record per content key)
        self.shared_dir = shared_dir
        self.image_map = {normalize_image(k): v for k, v in (image_map or {}).items()}
        self.default_backend = backend
        #: take an image an earlier run built for the same content (``--dockerbuild-rebuild`` turns it off)
        self.reuse = reuse
        self.log_tail = log_tail
        self.log_dir = log_dir  #: where whole build logs are written (a temporary folder if None)
        self.results: list[BuildResult] = []  #: every build of the session, in order
        self.failures: list[BuildFailed] = []  #: every failed build of the session, once per content key
        self.expected: set[int] = set()  #: ids of the failures only ever raised to ``expect_failure``
        self.projects: set[str] = set()  #: the project ids built in this session
        self._unexpected: set[int] = set()
        self._expecting = 0
        self._logs = itertools.count(1)
        self._cache: dict[str, BuildResult | DockerbuildError] = {}
        self._listeners: list[Callable[[BuildResult | DockerbuildError], None]] = []

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
        self.projects.add(project_id(request.context))
        cached = self._cache.get(key) if reuse is not False else None
        if cached is None:
            cached = self._build_shared(request, parsed, key, reuse)
            self._cache[key] = cached
        for listener in self._listeners:
            listener(cached)
        if isinstance(cached, DockerbuildError):
            if self._expecting == 0:
                self._unexpected.add(id(cached))
                self.expected.discard(id(cached))
            elif id(cached) not in self._unexpected:
                self.expected.add(id(cached))
            error = copy.copy(cached)
            raise error.with_traceback(None)
        if request.tag:
            self._tag(cached.image.id, request.tag)
        self.engine.journal.uses(cached.image.id)
        return cached

    def expect_failure(
        self,
        context: str | os.PathLike[str],
        dockerfile: str | os.PathLike[str] | None = None,
        *,
        stage: str | None = None,
        exit_code: int | None = None,
        match: str | None = None,
        **options: object,
    ) -> BuildFailed:
        """Build and assert that it fails (in ``stage``, with ``exit_code``, with a
        reason or log matching the regex ``match``); returns the failure."""
        __tracebackhide__ = True
        self._expecting += 1
        try:
            result = self.build(context, dockerfile, **options)  # type: ignore[arg-type]
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
        raise AssertionError(
            f"Expected the build of {result.request.describe()} to fail"
            + (f" in stage {stage!r}" if stage else "")
            + f", but it succeeded: {result.summary()}"
        )

    def is_expected(self, failure: BuildFailed) -> bool:
        """True if ``failure`` was only ever raised to :meth:`expect_failure`, which accepted it."""
        return id(failure) in self.expected

    def dockerfile(
        self, context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> Dockerfile:  # fmt: skip
        """The parsed Dockerfile of a context (stages, stage graph), without building."""
        context_path = Path(context).resolve()
        path = _dockerfile_path(context_path, dockerfile)
        return Dockerfile.load(path, context_path, build_args)

    def lint(
        self, context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None,
        *, ignore: Sequence[str] = (),
    ) -> list[Finding]:  # fmt: skip
        """The static checks' findings for a Dockerfile (with the session's substitutions and ignores)."""
        from pytest_dockerbuild.lint.checks import check_dockerfile

        parsed = self.dockerfile(context, dockerfile)
        return check_dockerfile(parsed, image_map=self.image_map, ignore=[*self.lint_ignore, *ignore])

    def image(self, reference: str) -> Image:
        """Inspect any image of the engine by reference or id (e.g. a stage's ``base_image``)."""
        return self.engine.image(reference)

    def add_listener(self, listener: Callable[[BuildResult | DockerbuildError], None]) -> None:
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
        args = {str(k): str(v) for k, v in (build_args or {}).items()}
        parsed = self.dockerfile(context, dockerfile, args)
        parsed.check_buildable()
        if target is not None:
            target = parsed.stage(target).ref  # UnknownStage lists the stages
        mapping = dict(self.image_map)
        mapping.update({normalize_image(k): v for k, v in (image_map or {}).items()})
        request = BuildRequest(
            context=Path(context).resolve(),
            dockerfile=parsed.path,
            target=target,
            build_args=args,
            labels=dict(labels or {}),
            image_map=mapping,
            backend=self._backend(backend),
            tag=tag,
        )
        return request, parsed

    def _backend(self, wanted: str | None) -> str:
        choice = wanted or self.default_backend
        if choice not in (*BACKENDS, "auto"):
            raise ValueError(f"unknown backend {choice!r}; use one of {', '.join(BACKENDS)} or 'auto'")
        if choice == "classic":
            return choice
        from pytest_dockerbuild.build.buildkit import buildx_supports_rawjson
        from pytest_dockerbuild.engine.client import buildx_version  # asked once per process

        buildkit = buildx_supports_rawjson(buildx_version())
        if choice == "auto":
            return "buildkit" if buildkit else "classic"
        if not buildkit:
            raise DockerbuildError(
                "the BuildKit backend needs the docker buildx CLI plugin, version 0.12 or later "
                "(`docker buildx version`); install it (scripts/install_buildx) or use the classic backend"
            )
        return choice

    def content_key(self, request: BuildRequest, parsed: Dockerfile) -> str:
        """A hash of everything the backend reads: the context files it sends (after the ignore
        file it honours), the Dockerfile, args, target, labels, substitutions, the ids of every
        image a stage builds FROM or copies from (the classic builder runs stages the target does
        not need), the backend, and the environment the BuildKit CLI reads."""
        digest = hashlib.sha256()
        bases = {}
        for image in _all_external_images(parsed):
            replacement = request.image_map.get(normalize_image(image), image)
            try:
                bases[image] = self.engine.client.api.inspect_image(replacement)["Id"]
            except docker.errors.APIError:
                bases[image] = f"missing:{replacement}"
        environment = BUILDKIT_ENVIRONMENT if request.backend == "buildkit" else ()
        header = {
            "version": KEY_VERSION,
            "backend": request.backend,
            "dockerfile": parsed.text,
            "target": request.target,
            "args": sorted(request.build_args.items()),
            "labels": sorted(self.labels(request).items()),
            "map": sorted(request.image_map.items()),
            "bases": sorted(bases.items()),
            "environment": [(name, os.environ.get(name)) for name in environment],
        }
        digest.update(json.dumps(header, sort_keys=True).encode())
        ignore = ignore_file(request.context, request.dockerfile, request.backend)
        digest.update(context_digest(request.context, request.dockerfile, ignore).encode())
        return digest.hexdigest()

    def _build_shared(
        self, request: BuildRequest, parsed: Dockerfile, key: str, reuse: bool | None
    ) -> BuildResult | DockerbuildError:
        """Build once per run across pytest-xdist workers: the first worker builds under a
        file lock and leaves a record; the others wait for the lock and read the record
        (``reuse=False`` builds anyway, and leaves its record)."""
        if self.shared_dir is None:
            return self._build_once(request, parsed, key, reuse)
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        record = self.shared_dir / f"{key}.pickle"
        with FileLock(str(self.shared_dir / f"{key}.lock")):
            if record.exists() and reuse is not False:
                return self._from_record(request, parsed, key, pickle.loads(record.read_bytes()))
            outcome = self._build_once(request, parsed, key, reuse)
            if isinstance(outcome, BuildResult):
                shared = {"image": outcome.image.id, "backend": outcome.backend, "stages": outcome.stages,
                          "log": outcome.log, "seconds": outcome.seconds, "reused": outcome.reused}  # fmt: skip
            else:
                shared = {"error": outcome}
            partial = record.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(pickle.dumps(shared))
            partial.replace(record)
            return outcome

    def _from_record(
        self, request: BuildRequest, parsed: Dockerfile, key: str, record: dict[str, Any]
    ) -> BuildResult | DockerbuildError:
        if "error" in record:
            error: DockerbuildError = record["error"]
            if isinstance(error, BuildFailed):
                self.failures.append(error)
            return error
        self.engine.journal.uses(record["image"])
        result = BuildResult(
            request, key, self.engine.image(record["image"]), record["backend"], parsed, record["stages"],
            record["log"], record["seconds"], reused=record["reused"], shared=True,
        )  # fmt: skip
        self.results.append(result)
        return result

    def _build_once(
        self, request: BuildRequest, parsed: Dockerfile, key: str, reuse: bool | None
    ) -> BuildResult | DockerbuildError:
        if reuse is not False and (reuse or self.reuse):
            previous = self._previous(request, key)
            if previous is not None:
                result = self._reused(request, parsed, key, previous)
                self.results.append(result)
                return result
        try:
            if request.backend == "buildkit":
                from pytest_dockerbuild.build.buildkit import build_buildkit as run
            else:
                from pytest_dockerbuild.build.classic import build_classic as run
            result = run(self, request, parsed, key)
        except DockerbuildError as error:
            if isinstance(error, BuildFailed):
                self.failures.append(error)
            return error
        self.results.append(result)
        return result

    def _previous(self, request: BuildRequest, key: str) -> str | None:
        """The id of the image an earlier run built for this content key, if it is still there."""
        tag = self.key_tag(request, key)
        self.engine.journal.uses(tag)  # before the look-up: a prune by a run in parallel keeps it
        try:
            return str(self.engine.client.api.inspect_image(tag)["Id"])
        except docker.errors.APIError:
            return None

    def _reused(self, request: BuildRequest, parsed: Dockerfile, key: str, image_id: str) -> BuildResult:
        reachable = {s.index for s in parsed.reachable(request.target)}
        stages = [
            StageResult(
                s.ref, s.index, s.base, self.resolve_base(request, s.base, s.is_external_base), s.index in reachable
            )
            for s in parsed.stages
        ]
        return BuildResult(
            request, key, self.engine.image(image_id), request.backend, parsed, stages, [], 0.0, reused=True
        )

    def _tag(self, image_id: str, tag: str) -> None:
        repository, name = parse_repository_tag(tag)
        try:
            self.engine.client.api.tag(image_id, repository, name or "latest")
        except docker.errors.APIError as error:
            raise DockerbuildError(f"cannot tag the image {image_id[:19]} as {tag!r}: {error.explanation}") from None

    # -- helpers shared by the backends ---------------------------------------------
    def resolve_base(self, request: BuildRequest, base: str, external: bool) -> str:
        return request.image_map.get(normalize_image(base), base) if external else base

    def labels(self, request: BuildRequest) -> dict[str, str]:
        """The labels of the built image: the request's and the plugin's (constant per
        context, so the layer cache is not disturbed)."""
        return {**request.labels, **image_labels(request.context)}

    def tag_for(self, request: BuildRequest, stage_ref: str, image_id: str) -> str:
        return stage_tag(request.context, stage_ref, image_id)

    def key_tag(self, request: BuildRequest, key: str) -> str:
        return key_tag(request.context, request.target, key)

    def new_log(self, request: BuildRequest, key: str) -> BuildLog:
        """A log for one build: its tail in memory, all of it in a file under :attr:`log_dir`."""
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="pytest-dockerbuild-logs-"))
        name = f"{next(self._logs):03d}-{project_id(request.context)}-{request.target or 'final'}-{key[:12]}.log"
        return BuildLog(self.log_dir / name)

    def failure(
        self,
        request: BuildRequest,
        parsed: Dockerfile,
        *,
        reason: str,
        stage_index: int | None,
        step: int | None,
        exit_code: int | None,
        log: Sequence[str],
    ) -> BuildFailed:
        """A :class:`BuildFailed` for a failure located at ``step`` of stage ``stage_index``."""
        stage = (
            parsed.stages[stage_index] if stage_index is not None and 0 <= stage_index < len(parsed.stages) else None
        )
        instruction = None
        if stage is not None and step is not None and 0 < step <= len(stage.instructions):
            instruction = stage.instructions[step - 1]
        return BuildFailed(
            dockerfile=request.dockerfile,
            reason=reason,
            stage=stage.ref if stage else None,
            step=step,
            steps_in_stage=len(stage.instructions) if stage else None,
            instruction=instruction.text if instruction else None,
            line=instruction.line if instruction else None,
            exit_code=exit_code,
            log=log,
            tail=self.log_tail,
            target=request.target,
            backend=request.backend,
        )


def _all_external_images(parsed: Dockerfile) -> list[str]:
    """Every image any stage builds FROM or copies from, in file order."""
    images: list[str] = []
    for stage in parsed.stages:
        found = ([stage.base] if stage.is_external_base else []) + parsed.copied_images(stage)
        images += [image for image in found if image not in images]
    return images


def _dockerfile_path(context: Path, dockerfile: str | os.PathLike[str] | None) -> Path:
    path = Path(dockerfile) if dockerfile is not None else Path("Dockerfile")
    return (path if path.is_absolute() else context / path).resolve()


def ignore_file(context: Path, dockerfile: Path, backend: str) -> Path | None:
    """The ignore file a backend honours: BuildKit prefers ``<Dockerfile name>.dockerignore``
    beside the Dockerfile; both read ``.dockerignore`` at the root of the context."""
    if backend == "buildkit":
        own = dockerfile.with_name(dockerfile.name + ".dockerignore")
        if own.is_file():
            return own
    default = context / ".dockerignore"
    return default if default.is_file() else None


def ignore_patterns(ignore: Path | None) -> list[str]:
    """The patterns of an ignore file (as docker-py reads them)."""
    if ignore is None:
        return []
    lines = [line.strip() for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def context_digest(context: Path, dockerfile: Path, ignore: Path | None) -> str:
    """A hash of the files the build context sends (after the ``ignore`` file): paths, types,
    permission bits and contents; not timestamps."""
    if not context.is_dir():
        raise DockerfileNotFound(dockerfile, context)
    try:
        relative_dockerfile = str(dockerfile.relative_to(context))
    except ValueError:
        relative_dockerfile = "Dockerfile"
    digest = hashlib.sha256()
    for relative in sorted(exclude_paths(str(context), ignore_patterns(ignore), relative_dockerfile)):
        path = context / relative
        info = path.lstat()
        digest.update(f"{relative}\0{stat.S_IFMT(info.st_mode)}\0{info.st_mode & 0o7777}\0".encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path).encode())
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
