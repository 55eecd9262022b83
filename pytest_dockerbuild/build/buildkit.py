"""The BuildKit backend: ``docker buildx build --progress=rawjson``, loaded into the engine.

BuildKit builds only the stages the target needs, in parallel; its progress is
parsed by :class:`~pytest_dockerbuild.build.buildkit_stream.BuildkitStream`, the
image id read from ``--iidfile``.  Builds go to the ``default`` builder (the
engine's own BuildKit, which sees the engine's images) unless ``BUILDX_BUILDER``
says otherwise.
"""

from __future__ import annotations

import codecs
import ctypes
import functools
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

from pytest_dockerbuild.build.backend import (
    BuildJob,
    BuildOutput,
    dockerignore,
    failure_at,
    read_patterns,
    remote_sources,
    resolve_base,
)
from pytest_dockerbuild.build.buildkit_stream import BuildkitStream, locate, stage_results
from pytest_dockerbuild.build.model import BuildRequest
from pytest_dockerbuild.dockerfile import Dockerfile, normalize_image
from pytest_dockerbuild.engine.client import buildx_version
from pytest_dockerbuild.errors import BaseImageMissing, DockerfileSyntaxError, UnknownStage

__all__ = ["MIN_BUILDX", "BuildkitBackend", "buildx_supports_rawjson"]

_EXIT = re.compile(r"exit code: (\d+)")
_METADATA = re.compile(r"^\[internal\] load metadata for (?P<ref>\S+)$")
MIN_BUILDX = (0, 12)  # --progress=rawjson
_PR_SET_PDEATHSIG = 1
_ENVIRONMENT = ("BUILDX_", "BUILDKIT_", "DOCKER_", "SOURCE_DATE_EPOCH")


def buildx_supports_rawjson(version: str | None) -> bool:
    if not version:
        return False
    numbers = [int(n) for n in re.findall(r"\d+", version.lstrip("v"))[:2]]
    return len(numbers) == 2 and (numbers[0], numbers[1]) >= MIN_BUILDX


class BuildkitBackend:
    """BuildKit, through the buildx CLI plugin."""

    name: ClassVar[str] = "buildkit"

    def unavailable(self) -> str | None:
        if shutil.which("docker") is None:
            return "it needs the docker CLI with the buildx plugin on PATH"
        if not buildx_supports_rawjson(buildx_version()):
            return (
                "it needs the docker buildx CLI plugin, version 0.12 or later (`docker buildx version`); "
                "install it (scripts/install_buildx) or use the classic backend"
            )
        return None

    def environment(self) -> dict[str, str]:
        """The docker CLI and buildx read their settings from ``BUILDX_*``, ``BUILDKIT_*`` and
        ``DOCKER_*`` variables (the builder, the platform, git labels...) and ``SOURCE_DATE_EPOCH``."""
        return {name: value for name, value in os.environ.items() if name.startswith(_ENVIRONMENT)}

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
        with tempfile.TemporaryDirectory(prefix="pytest-dockerbuild-") as tmp:
            folder = Path(tmp)
            command = self._command(job, folder)
            stream = BuildkitStream(log=job.log)
            started = time.monotonic()
            code = _run(command, stream)
            seconds = time.monotonic() - started
            iidfile = folder / "iid"
            image_id = iidfile.read_text().strip() if iidfile.exists() else ""
        if code != 0 or not image_id:
            raise _failure(job, stream, code)
        job.engine.journal.created_image(image_id)
        return BuildOutput(image_id, stage_results(job.request, job.dockerfile, stream), seconds)

    def _command(self, job: BuildJob, folder: Path) -> list[str]:
        """The buildx command line; the substituted Dockerfile (and its own ignore file) go in ``folder``."""
        request = job.request
        dockerfile = folder / "Dockerfile"
        dockerfile.write_text(job.dockerfile.substituted(request.image_map), encoding="utf-8")
        ignore = self.ignore_file(request.context, request.dockerfile)
        if ignore is not None and ignore.name != ".dockerignore":  # beside the Dockerfile it builds
            shutil.copy(ignore, folder / "Dockerfile.dockerignore")
        command = [_docker(), "buildx", "build", "--progress=rawjson", "--load", f"--iidfile={folder / 'iid'}"]
        if not os.environ.get("BUILDX_BUILDER"):
            command.append("--builder=default")
        command += ["-f", str(dockerfile), "-t", job.pending_tag]
        if request.target:
            command += ["--target", request.target]
        for name, value in sorted(request.build_args.items()):
            command += ["--build-arg", f"{name}={value}"]
        for name, value in sorted(request.image_labels.items()):
            command += ["--label", f"{name}={value}"]
        return [*command, str(request.context)]


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
            )  # fmt: skip
    parse = re.search(r"dockerfile parse error (?:on )?line (\d+): (.*)", reason)
    if parse:
        return DockerfileSyntaxError(request.dockerfile, int(parse.group(1)), parse.group(2))
    if "target stage" in reason and request.target:
        return UnknownStage(request.dockerfile, request.target, parsed.stage_refs)
    return failure_at(job, reason, log=stream.log)


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
