"""Record the classic builder's JSON stream for ``tests/test_classic_stream.py``.

Each ``<case>.jsonl`` holds the chunks docker-py's
``client.api.build(..., decode=True)`` yielded for one build, one JSON object a
line, exactly as received from the engine (classic builder, Docker 20.10).

To re-record (needs the engine and the local base image that
``scripts/base_images.py`` makes)::

    python3 tests/data/classic/record.py

The script removes every image and container the recordings create; the cold
build is checked to be cold (no cache hit), so a re-recording fails loudly
rather than recording a cached build twice.  A missing base image is
recorded by asking for an image that is not in the engine: the engine tries to
pull it and fails (no registry is reachable), which is the error recorded.
After re-recording, update the few image and container ids that
``tests/test_classic_stream.py`` quotes from the log (``grep -- '--->'``).
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import docker
import docker.errors

HERE = Path(__file__).parent
BASE = "dockerbuild-offline/base:bookworm"

THREE_STAGES = f"""\
FROM {BASE} AS build
RUN echo built > /out.txt && echo "classic-stream: compiling" >&2
FROM {BASE} AS test
COPY --from=build /out.txt /out.txt
RUN grep -q built /out.txt
FROM {BASE}
COPY --from=test /out.txt /app/out.txt
CMD ["cat", "/app/out.txt"]
"""

RUN_FAILS = f"""\
FROM {BASE} AS build
RUN echo built > /failing-out.txt
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

GLOBAL_ARG = f"""\
ARG BASE={BASE}
ARG GREETING=hello
FROM ${{BASE}} AS build
ARG GREETING
RUN echo "$GREETING" > /greeting.txt
FROM ${{BASE}}
COPY --from=build /greeting.txt /greeting.txt
"""

LABELLED = f"""\
FROM {BASE}
RUN echo labelled > /labelled.txt
CMD ["cat", "/labelled.txt"]
"""

_IMAGE_LINE = re.compile(r"^ ---> ([0-9a-f]{12})$", re.MULTILINE)


def build(client: docker.DockerClient, dockerfile: str, **options: Any) -> list[dict[str, Any]]:
    chunks = []
    for chunk in client.api.build(
        fileobj=io.BytesIO(dockerfile.encode()), rm=True, forcerm=True, pull=False, decode=True, **options
    ):
        chunks.append(chunk)
    return chunks


def save(name: str, chunks: list[dict[str, Any]]) -> None:
    with open(HERE / f"{name}.jsonl", "w", encoding="utf-8") as out:
        for chunk in chunks:
            out.write(json.dumps(chunk) + "\n")
    print(f"{name}.jsonl: {len(chunks)} chunks")


def recorded_images(client: docker.DockerClient, chunks: list[dict[str, Any]]) -> list[str]:
    """Ids of the images a recorded build reports (`` ---> <id>`` lines, ``aux.ID``), in order."""
    ids = []
    for chunk in chunks:
        if isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
            ids.append(chunk["aux"]["ID"])
        for short in _IMAGE_LINE.findall(str(chunk.get("stream", ""))):
            try:
                ids.append(client.api.inspect_image(short)["Id"])
            except docker.errors.APIError:
                pass
    return ids


def remove_images(client: docker.DockerClient, ids: list[str], keep: set[str]) -> None:
    """Remove the recordings' images (children first), keeping those that existed before."""
    for image_id in reversed(dict.fromkeys(ids)):
        if image_id in keep:
            continue
        try:
            client.api.remove_image(image_id)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            print(f"could not remove {image_id[:19]}: {error.explanation}", file=sys.stderr)


def main() -> None:
    client = docker.from_env()
    client.api.inspect_image(BASE)  # fails early if the base image is missing
    before = {i.id for i in client.images.list(all=True)}
    made: list[str] = []

    def record(name: str, dockerfile: str, **options: Any) -> list[dict[str, Any]]:
        chunks = build(client, dockerfile, **options)
        made.extend(recorded_images(client, chunks))
        save(name, chunks)
        return chunks

    try:
        cold = build(client, THREE_STAGES)
        made.extend(recorded_images(client, cold))
        if any("Using cache" in str(c.get("stream", "")) for c in cold):
            sys.exit("the 'cold' build hit the cache: remove the images of an earlier recording first")
        save("three_stage_cold", cold)
        record("three_stage_cached", THREE_STAGES)
        record("run_fails", RUN_FAILS)
        record("copy_missing", COPY_MISSING)
        record("missing_base", MISSING_BASE)
        record("global_arg", GLOBAL_ARG)
        record("labels", LABELLED, labels={"org.example.team": "qa", "org.example.tier": "test"})
    finally:
        remove_images(client, made, keep=before)
        client.close()


if __name__ == "__main__":
    main()
