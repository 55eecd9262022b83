"""Record BuildKit's ``rawjson`` progress for ``tests/test_buildkit_stream.py``.

Each ``<case>.rawjson`` holds the bytes ``docker buildx build --progress=rawjson``
wrote to stderr for one build, exactly as received: buildx 0.13 prints every
``SolveStatus`` as indented, multi-line JSON, and a failed build ends with a
plain ``ERROR: ...`` line.  The builds ran on the ``default`` builder (the
engine's own BuildKit, Docker 20.10) with ``--load``, against the local base
image that ``scripts/base_images.py`` makes, as ``build_buildkit`` runs them.

To re-record (needs the engine, the buildx plugin and that base image)::

    python3 tests/data/buildkit/record.py

Builds that must run their steps (cold builds, failures) get a fresh
``--build-arg NONCE=...``: a stage that declares ``ARG NONCE`` misses the layer
cache, so earlier recordings cannot turn a cold build into a cached one (the
script checks it and fails loudly).  A RUN reads the nonce with ``env``,
never as ``$NONCE``: this BuildKit expands variables in vertex names, and the
recordings should read the same every time.  A missing base image
is recorded by asking for one that is not in the engine: BuildKit tries to
resolve it from the registry (none is reachable), which is the error recorded.

The script removes the images it loads (its builds leave a few small entries in
the builder's cache, as any build does).  After re-recording, check what
``tests/test_buildkit_stream.py`` quotes that may change: the timestamps of one
RUN, and the stage whose name the shared FROM vertex carries (BuildKit names a
vertex that several stages share after whichever stage reached it first).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
BASE = "dockerbuild-offline/base:bookworm"
TAG = "pytest-dockerbuild-tests/record-buildkit"

THREE_STAGES = f"""\
FROM {BASE} AS build
ARG NONCE
RUN env > /out.txt && echo built >> /out.txt && echo "buildkit-stream: compiling" >&2
FROM {BASE} AS test
COPY --from=build /out.txt /out.txt
RUN grep -q built /out.txt
FROM {BASE}
COPY --from=test /out.txt /app/out.txt
CMD ["cat", "/app/out.txt"]
"""

RUN_FAILS = f"""\
FROM {BASE} AS build
ARG NONCE
RUN env > /failing-out.txt && echo built >> /failing-out.txt
FROM {BASE} AS test
COPY --from=build /failing-out.txt /out.txt
RUN echo "checking /out.txt" && echo "test failed: expected 2 lines" >&2 && exit 3
FROM {BASE}
COPY --from=test /out.txt /app/out.txt
"""

COPY_MISSING = f"""\
FROM {BASE} AS build
RUN echo built > /copy-out.txt
FROM {BASE}
COPY --from=build /missing.txt /app/
"""

MISSING_BASE = """\
FROM dockerbuild-offline/missing-base:bookworm
RUN true
"""

SINGLE_STAGE = f"""\
FROM {BASE}
ARG NONCE
ENV GREETING=hello
WORKDIR /app
RUN echo "$GREETING from a single stage" > greeting.txt && cat greeting.txt
CMD ["cat", "/app/greeting.txt"]
"""

# "slow" is announced first and is still sleeping when "broken" fails: BuildKit
# cancels it, and its vertex ends with a "context canceled" error of its own.
CANCELED = f"""\
FROM {BASE} AS slow
ARG NONCE
RUN sleep 5 && echo slow > /slow.txt
FROM {BASE} AS broken
ARG NONCE
RUN echo "broken: giving up" >&2 && exit 5
FROM {BASE}
COPY --from=slow /slow.txt /slow.txt
COPY --from=broken /broken.txt /broken.txt
"""

_NAMED_STEP = re.compile(r"^\[[^\]]*\d+/\d+\] (RUN|COPY|ADD) ")


def statuses(raw: str) -> list[dict[str, Any]]:
    """The JSON objects of a recording (the trailing text, if any, is skipped)."""
    decoder, found, rest = json.JSONDecoder(), [], raw.lstrip()
    while rest.startswith("{"):
        status, end = decoder.raw_decode(rest)
        found.append(status)
        rest = rest[end:].lstrip()
    return found


def cached_steps(raw: str) -> set[str]:
    """Names of the RUN/COPY/ADD vertices the recording reports as cached (a WORKDIR
    ignores ARGs, so it is cached after the first recording)."""
    return {
        str(vertex["name"])
        for status in statuses(raw)
        for vertex in status.get("vertexes") or []
        if vertex.get("cached") and _NAMED_STEP.match(str(vertex.get("name")))
    }


def build(dockerfile: str, nonce: str | None, tag: str | None) -> tuple[int, str, str | None]:
    """Run the build; return buildx's exit code, its stderr, and the image id (if any)."""
    with tempfile.TemporaryDirectory(prefix="record-buildkit-") as folder:
        context = Path(folder)
        (context / "Dockerfile").write_text(dockerfile)
        iidfile = context.parent / f"{context.name}.iid"
        command = ["docker", "buildx", "build", "--builder=default", "--progress=rawjson", "--load"]
        command += [f"--iidfile={iidfile}", "-f", str(context / "Dockerfile")]
        if tag:
            command += ["-t", tag]
        if nonce:
            command += ["--build-arg", f"NONCE={nonce}"]
        command.append(str(context))
        process = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"},
            check=False,
        )
        image_id = iidfile.read_text().strip() if iidfile.exists() else None
        iidfile.unlink(missing_ok=True)
    return process.returncode, process.stderr.decode("utf-8"), image_id


def save(name: str, raw: str, code: int) -> None:
    (HERE / f"{name}.rawjson").write_text(raw, encoding="utf-8")
    print(f"{name}.rawjson: {len(statuses(raw))} statuses, exit code {code}")


def main() -> None:
    subprocess.run(["docker", "image", "inspect", BASE], stdout=subprocess.DEVNULL, check=True)
    tags: list[str] = []

    def record(name: str, dockerfile: str, *, fails: bool, nonce: str | None = None, cold: bool = False) -> None:
        tag = None if fails else f"{TAG}:{name.replace('_', '-')}"
        code, raw, _ = build(dockerfile, nonce, tag)
        if tag:
            tags.append(tag)
        if (code != 0) != fails:
            sys.exit(f"{name}: buildx exited with {code}, expected {'a failure' if fails else 'success'}:\n{raw}")
        if cold and cached_steps(raw):
            sys.exit(f"{name}: the cold build hit the cache: {sorted(cached_steps(raw))}")
        save(name, raw, code)

    try:
        nonce = uuid.uuid4().hex
        record("three_stage_cold", THREE_STAGES, fails=False, nonce=nonce, cold=True)
        record("three_stage_cached", THREE_STAGES, fails=False, nonce=nonce)
        record("run_fails", RUN_FAILS, fails=True, nonce=uuid.uuid4().hex, cold=True)
        record("copy_missing", COPY_MISSING, fails=True)
        record("missing_base", MISSING_BASE, fails=True)
        record("single_stage", SINGLE_STAGE, fails=False, nonce=uuid.uuid4().hex, cold=True)
        record("canceled", CANCELED, fails=True, nonce=uuid.uuid4().hex, cold=True)
    finally:
        for tag in dict.fromkeys(tags):
            subprocess.run(["docker", "image", "rm", tag], stdout=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    main()
