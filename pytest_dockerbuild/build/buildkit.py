"""The BuildKit backend: ``docker buildx build --progress=rawjson``, loaded into the engine.

BuildKit builds only the stages the target needs, in parallel; its progress is
parsed by :class:`~pytest_dockerbuild.build.buildkit_stream.BuildkitStream`, the
image id read from ``--iidfile``.  Builds go to the ``default`` builder (the
engine's own BuildKit, which sees the engine's images) unless ``BUILDX_BUILDER``
says otherwise. A builder that builds outside the engine the tests use (a ``docker``-driver
builder of another Docker context) pushes to the job's transit registry (:attr:`BuildJob.transit`),
and the image is pulled from there by digest; so do builders of the other drivers when a registry is
named (else they ``--load``, a tarball through the client).
"""

from __future__ import annotations

import codecs
import ctypes
import dataclasses
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from docker.utils import parse_repository_tag

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
from pytest_dockerbuild.build.buildkit_stream import BuildkitStream, locate, stage_results
from pytest_dockerbuild.build.model import BuildRequest
from pytest_dockerbuild.build.options import BuildOptions
from pytest_dockerbuild.dockerfile import Dockerfile, normalize_image
from pytest_dockerbuild.engine.client import buildx_version, endpoint
from pytest_dockerbuild.engine.pool import SHARED_REPOSITORY, buildx_builder
from pytest_dockerbuild.engine.registry import pull
from pytest_dockerbuild.errors import (
    BackendUnavailable,
    BaseImageMissing,
    BuildOptionError,
    DockerfileError,
    DockerfileSyntaxError,
    RegistryError,
    UnknownStage,
    shown_path,
)

__all__ = ["MIN_BUILDX", "BuildkitBackend", "buildx_supports_rawjson"]

_EXIT = re.compile(r"exit code: (\d+)")
_METADATA = re.compile(r"^\[internal\] load metadata for (?P<ref>\S+)$")
MIN_BUILDX = (0, 12)  # --progress=rawjson
_PR_SET_PDEATHSIG = 1
_OUTSIDE = ("docker-container", "kubernetes", "remote")  #: drivers whose BuildKit runs outside any engine
CACHE_ARG = "PYTEST_DOCKERBUILD_OPTIONS"  #: the ARG after each FROM that carries the cache salt
_ENVIRONMENT = ("BUILDX_", "BUILDKIT_", "DOCKER_", "SOURCE_DATE_EPOCH")


def buildx_supports_rawjson(version: str | None) -> bool:
    if not version:
        return False
    numbers = [int(n) for n in re.findall(r"\d+", version.lstrip("v"))[:2]]
    return len(numbers) == 2 and (numbers[0], numbers[1]) >= MIN_BUILDX


class BuildkitBackend:
    """BuildKit, through the buildx CLI plugin."""

    name: ClassVar[str] = "buildkit"
    supported: ClassVar[frozenset[str]] = frozenset(f.name for f in dataclasses.fields(BuildOptions))

    def unavailable(self) -> str | None:
        if shutil.which("docker") is None:
            return "it needs the docker CLI with the buildx plugin on PATH"
        if not buildx_supports_rawjson(buildx_version()):
            return (
                "it needs the docker buildx CLI plugin, version 0.12 or later (`docker buildx version`); "
                "install it (scripts/install_cli_plugins) or use the classic backend"
            )
        return None

    def environment(self) -> dict[str, str]:
        """The docker CLI and buildx read their settings from ``BUILDX_*``, ``BUILDKIT_*`` and
        ``DOCKER_*`` variables (the builder, the platform, git labels...) and ``SOURCE_DATE_EPOCH``;
        not ``DOCKER_HOST`` (which engine builds does not change the image: the engines of
        ``--dockerbuild-engines`` share one key per image)."""
        return {name: value for name, value in os.environ.items()
                if name.startswith(_ENVIRONMENT) and name != "DOCKER_HOST"}  # fmt: skip

    def ignore_file(self, context: Path, dockerfile: Path) -> Path | None:
        """``<Dockerfile name>.dockerignore`` beside the Dockerfile, else the context's ``.dockerignore``."""
        own = dockerfile.with_name(dockerfile.name + ".dockerignore")
        return own if own.is_file() else dockerignore(context)

    def ignore_patterns(self, context: Path, dockerfile: Path) -> list[str]:
        """BuildKit's matcher walks into an excluded folder for an exception (``!``) that may match
        below it, reads ``\\`` as an escape and ``[^...]`` as a negated class, where docker-py's
        does not: with any of them, the key hashes every file of the context."""
        patterns = read_patterns(self.ignore_file(context, dockerfile))
        return [] if any(p.startswith("!") or any(c in p for c in "\\[") for p in patterns) else patterns

    def unrepeatable(self, request: BuildRequest, dockerfile: Dockerfile) -> list[str]:
        reasons = remote_sources(dockerfile)
        if os.environ.get("BUILDX_GIT_LABELS"):
            reasons.append("BUILDX_GIT_LABELS labels the image with the git commit of the context")
        return reasons

    def build(self, job: BuildJob) -> BuildOutput:
        """Build with ``docker buildx build``; raise the plugin's errors on failure."""
        _refuse_old_engine(job)
        route = _route(job.transit)
        # The build lock until the journal holds the image: a clean-up removes no image meanwhile.
        with tempfile.TemporaryDirectory(prefix="pytest-dockerbuild-") as tmp, job.engine.ledger.building():
            folder = Path(tmp)
            command = self._command(job, folder, route)
            stream = BuildkitStream(log=job.log)
            started = time.monotonic()
            code = _run(command, stream)
            seconds = time.monotonic() - started
            image_id = _image_id(job, folder, route) if code == 0 else ""
            if code == 0 and image_id:
                job.engine.journal.created_image(image_id)
        if code != 0 or not image_id:
            raise _push_failure(job, stream, route) or _failure(job, stream, code)
        return BuildOutput(image_id, stage_results(job.request, job.dockerfile, stream), seconds)

    def _command(self, job: BuildJob, folder: Path, route: _Route) -> list[str]:
        """The buildx command line; the substituted Dockerfile (and its own ignore file) go in ``folder``;
        the image is loaded into the engine, or pushed along ``route`` and tagged for it."""
        request = job.request
        dockerfile = folder / "Dockerfile"
        salt = request.options.cache_salt()
        after_from = f"ARG {CACHE_ARG}={salt}" if salt else None
        dockerfile.write_text(job.dockerfile.substituted(request.image_map, after_from=after_from), encoding="utf-8")
        ignore = self.ignore_file(request.context, request.dockerfile)
        if ignore is not None and ignore.name != ".dockerignore":  # beside the Dockerfile it builds
            shutil.copy(ignore, folder / "Dockerfile.dockerignore")
        output = ["--load"] if route.push_to is None else ["--push", f"--metadata-file={folder / 'metadata.json'}"]
        command = [_docker(), *route.cli, "buildx", "build", "--progress=rawjson", *output,
                   f"--iidfile={folder / 'iid'}"]  # fmt: skip
        if not os.environ.get("BUILDX_BUILDER"):
            command.append("--builder=default")
        command += ["-f", str(dockerfile), "-t", job.pending_tag if route.push_to is None else route.reference(job.key)]
        if request.target:
            command += ["--target", request.target]
        for name, value in sorted(request.build_args.items()):
            command += ["--build-arg", f"{name}={value}"]
        for name, value in sorted(request.image_labels.items()):
            command += ["--label", f"{name}={value}"]
        return [*command, *_option_flags(request.options, folder), str(request.context)]


def _option_flags(options: BuildOptions, folder: Path) -> list[str]:
    """The command line of the build options; secrets go to files in ``folder`` (readable by
    this user only, removed with it), so that no value is on a command line."""
    flags = []
    for name, value in sorted(options.secrets.items()):
        secret = folder / f"secret-{name}"
        secret.touch(mode=0o600)
        secret.write_bytes(value)
        flags.append(f"--secret=id={name},src={secret}")
    flags += [f"--ssh={ssh}" for ssh in options.ssh]
    flags += [f"--platform={options.platform}"] if options.platform else []
    flags += ["--no-cache"] if options.no_cache else []
    flags += [f"--no-cache-filter={stage}" for stage in options.no_cache_filter]
    flags += ["--pull"] if options.pull else []
    flags += [f"--cache-from={source}" for source in options.cache_from]
    flags += [f"--cache-to={destination}" for destination in options.cache_to]
    flags += [f"--build-context={name}={where}" for name, where in sorted(options.build_contexts.items())]
    flags += [f"--network={options.network}"] if options.network else []
    flags += [f"--add-host={host}:{address}" for host, address in sorted(options.extra_hosts.items())]
    return flags + ([f"--shm-size={options.shm_size}"] if options.shm_size else [])


@dataclasses.dataclass(frozen=True)
class _Route:
    """How a build reaches the engine: ``--load``, or pushed as ``push_to`` and pulled by digest."""

    cli: tuple[str, ...] = ()  #: docker CLI flags before ``buildx`` (``--context=NAME``)
    push_to: str | None = None  #: the registry reference the builder pushes (None: ``--load``)
    builder: str = "default"

    def reference(self, key: str) -> str:
        """The reference the builder pushes the image of content key ``key`` as."""
        return f"{self.push_to}:k{key[:40]}"


def _route(transit: str | None) -> _Route:
    """The route of this process's builder (``BUILDX_BUILDER``), through the registry ``transit``
    where it builds outside the tests' engine.

    :raises BackendUnavailable: it builds in another engine and no registry is named.
    """
    name = os.environ.get("BUILDX_BUILDER")
    if not name:
        return _Route()
    builder = buildx_builder(name)
    cli = (f"--context={builder.context}",) if builder.driver == "docker" and builder.context else ()
    registry = transit.rstrip("/") if transit else None
    if builder.builds_elsewhere(endpoint()) and registry is None:
        raise BackendUnavailable("buildkit", f"the buildx builder {name!r} (docker driver, Docker context "
                                 f"{builder.context!r} at {builder.host}) builds in, and loads into, its own engine, "
                                 f"not the engine the tests use ({endpoint()}): pass --dockerbuild-share-via REGISTRY "
                                 "(or --dockerbuild-push REGISTRY); the builder pushes there and the image is pulled "
                                 "by digest")  # fmt: skip
    if registry is not None and (builder.builds_elsewhere(endpoint()) or builder.driver in _OUTSIDE):
        return _Route(cli, f"{registry}/{SHARED_REPOSITORY}", name)
    return _Route(cli, None, name)


def _image_id(job: BuildJob, folder: Path, route: _Route) -> str:
    """The built image's id in the engine: buildx's ``--iidfile``, or, where the builder pushed it,
    the image pulled by the digest buildx names (tagged with the job's pending tag)."""
    iidfile = folder / "iid"
    image_id = iidfile.read_text().strip() if iidfile.exists() else ""
    if route.push_to is None or not image_id:
        return image_id
    metadata = folder / "metadata.json"
    digest = json.loads(metadata.read_text()).get("containerimage.digest") if metadata.exists() else None
    reference = route.reference(job.key)
    if not digest:
        raise RegistryError(reference, f"the buildx builder {route.builder!r} pushed {reference} but named no digest")
    asked = f"the image the buildx builder {route.builder!r} pushed"
    image_id = pull(job.engine.client, f"{route.push_to}@{digest}", asked, {})
    repository, tag = parse_repository_tag(job.pending_tag)
    job.engine.client.api.tag(image_id, repository, tag)
    return image_id


def _push_failure(job: BuildJob, stream: BuildkitStream, route: _Route) -> Exception | None:
    """A build the builder could not push to the registry: a :class:`RegistryError` naming both."""
    reason = stream.error or ""
    failing = stream.failure.name if stream.failure is not None else ""
    if route.push_to is None or "push" not in f"{failing} {reason}".lower():
        return None
    reference = route.reference(job.key)
    return RegistryError(reference, f"the buildx builder {route.builder!r} built the image but could not push it "
                         f"to the registry {route.push_to.partition('/')[0]} as {reference}: {reason}")  # fmt: skip


def _refuse_old_engine(job: BuildJob) -> None:
    """Options the BuildKit of an engine before 23.0 (BuildKit 0.8) ignores or refuses."""
    wanted = [name for name in ("shm_size", "build_contexts") if name in job.request.options.given()]
    if not wanted:
        return
    version = job.engine.info().engine_version
    major = re.match(r"(\d+)", version)
    if major and int(major.group(1)) < 23:
        advice = "the classic backend, or a newer engine" if wanted[0] == "shm_size" else "a newer engine"
        raise BuildOptionError(wanted[0], f"the BuildKit of Docker Engine {version} cannot honour it (it needs "
                               f"Engine 23 or later); use {advice}")  # fmt: skip


@functools.lru_cache(maxsize=1)
def _docker() -> str:
    return shutil.which("docker") or "docker"


def _ends_with_its_parent() -> None:
    """In the child, before buildx starts: on Linux, ask for SIGTERM when this process dies (a
    killed pytest), so that buildx cancels the build instead of finishing it for no one."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _run(command: list[str], stream: BuildkitStream) -> int:
    """Run buildx, feeding its stderr to ``stream``; interrupted, stop it (which cancels the build)."""
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}, preexec_fn=_ends_with_its_parent,
    )  # fmt: skip
    assert process.stderr is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a read may split a character
    try:
        descriptor = process.stderr.fileno()
        for chunk in iter(lambda: os.read(descriptor, 65536), b""):
            stream.feed(decoder.decode(chunk))
        return process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        process.stderr.close()
        stream.finish()
        stream.log.close()


def _failure(job: BuildJob, stream: BuildkitStream, code: int) -> Exception:
    request, parsed = job.request, job.dockerfile
    reason = stream.error or _exit_reason(code)
    refused = _refused_option(job, reason)
    if refused is not None:
        return refused
    if code < 0:  # killed: what it printed is about being cut off, not about the Dockerfile
        killed = _exit_reason(code) + (f" ({stream.error})" if stream.error else "")
        return failure_at(job, killed, log=stream.log)
    failing = stream.failure
    if failing is not None:
        metadata = _METADATA.match(failing.name)
        if metadata:
            return _missing_base(job, metadata.group("ref"), failing.error or reason)
        located = locate(parsed, failing.name)
        if located is not None:
            stage, instruction = located
            exit_code = _EXIT.search(failing.error or "")
            if instruction.keyword == "FROM" and stage.is_external_base:
                return _missing_base(job, stage.base, failing.error or reason)
            return failure_at(
                job, failing.error or reason, stage_index=stage.index, step=stage.instructions.index(instruction) + 1,
                exit_code=int(exit_code.group(1)) if exit_code else None, log=stream.log,
                engine_step=failing.name.split("]", 1)[0] + "]" if failing.name.startswith("[") else None,
            )  # fmt: skip
    parse = re.search(r"dockerfile parse error (?:on )?line (\d+): (.*)", reason)
    if parse:
        sent = int(parse.group(1))
        line = original_line(parsed, sent) if request.options.cache_salt() else sent
        return DockerfileSyntaxError(request.dockerfile, line, parse.group(2))
    if "target stage" in reason and request.target:
        return UnknownStage(request.dockerfile, request.target, parsed.stage_refs)
    return failure_at(job, reason, log=stream.log)


def _refused_option(job: BuildJob, reason: str) -> Exception | None:
    """The error for what buildx refused before building: the frontend image of a ``# syntax=``
    line it cannot fetch, a cache export the docker driver cannot do, named contexts an old
    BuildKit does not know."""
    syntax = job.dockerfile.syntax
    if syntax is not None and ("frontend gateway" in reason or "resolve image config for" in reason):
        line, image = syntax
        return DockerfileError(
            f"{shown_path(job.request.dockerfile)} line {line}: `# syntax={image}` makes BuildKit fetch the frontend "
            f"image {image}, and it cannot ({reason.splitlines()[-1][-160:]}); delete the line (BuildKit's built-in "
            f"frontend then builds the file), or map {image} to a local frontend image (dockerbuild_base_images)",
            job.request.dockerfile,
        )
    if "Cache export is not supported" in reason:
        return BuildOptionError("cache_to", "the builder (docker driver) cannot export a cache other than "
                                "type=inline: use cache_to='type=inline', or a builder of the docker-container "
                                "driver (BUILDX_BUILDER), or the engine's containerd image store")  # fmt: skip
    if "moby.buildkit.frontend.contexts" in reason:
        return BuildOptionError("build_contexts", "this engine's BuildKit does not know named contexts (Docker "
                                "Engine 23 or later does)")  # fmt: skip
    return None


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"docker buildx build was killed by {name} (exit {code}); the build did not finish"
    return f"docker buildx build exited with {code}"


def _missing_base(job: BuildJob, ref: str, reason: str) -> Exception:
    request, wanted = job.request, normalize_image(ref)
    for stage in job.dockerfile.reachable(request.target):
        if stage.is_external_base:
            resolved = resolve_base(request, stage.base, True)
            if wanted in (normalize_image(resolved), normalize_image(stage.base)):
                return BaseImageMissing(request.dockerfile, stage.ref, resolved, reason)
    return BaseImageMissing(request.dockerfile, "?", ref, reason)
