"""The benchmark's scenario app, shared by the four ways of testing it.

run.py writes the app into a fresh folder per cold run, with a nonce in every
stage (in an ENV that the RUN steps see and in a file the builder writes), so
neither the classic builder's cache nor BuildKit's can hit; the warm run builds
the same folder again.  Every image the app makes carries the label
``dockerbuild-bench.nonce=<nonce>``, and so do the containers made from those
images: that is how containers left behind are counted and how run.py removes
what the scenario built, and nothing else.

The test files read the folder and the nonce from BENCH_CONTEXT / BENCH_NONCE.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE = "dockerbuild-offline/base:bookworm"  # busybox, already in the engine: nothing is pulled
LABEL = "dockerbuild-bench.nonce"
PAGE = "hello from the builder\n"  # /www/index.html in the final image
SIZE_BUDGET = 10_000_000  # bytes (10 MB); the image is ~2 MB
CLIENT_GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80"  # busybox wget may crash here; nc does not

DOCKERFILE = """\
# The dockerbuild benchmark app (nonce {nonce}): a builder, a test stage, a web server.
FROM {base} AS builder
LABEL {label}={nonce}
ENV BENCH_NONCE={nonce}
RUN mkdir -p /out && echo 'hello from the builder' > /out/index.html && echo "$BENCH_NONCE" > /out/nonce.txt

FROM {base} AS test
LABEL {label}={nonce}
ENV BENCH_NONCE={nonce}
COPY --from=builder /out /out
RUN test "$(cat /out/index.html)" = 'hello from the builder' && test "$(cat /out/nonce.txt)" = "$BENCH_NONCE"{fail}

FROM {base}
LABEL {label}={nonce}
COPY --from=test /out /www
EXPOSE 80
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
"""


def write_app(folder: Path, nonce: str) -> Path:
    """Write ``Dockerfile`` and ``Dockerfile.failing`` (its test stage exits 1) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    fields = {"base": BASE, "label": LABEL, "nonce": nonce}
    (folder / "Dockerfile").write_text(DOCKERFILE.format(fail="", **fields))
    (folder / "Dockerfile.failing").write_text(DOCKERFILE.format(fail=" && exit 1", **fields))
    return folder


def context() -> Path:
    return Path(os.environ["BENCH_CONTEXT"])


def nonce() -> str:
    return os.environ["BENCH_NONCE"]


def tag(tool: str, stage: str) -> str:
    """An image tag for the peers and the CLI, unique to the run."""
    return f"dockerbuild-bench/{tool}-{nonce()}:{stage}"


def served(response: str) -> bool:
    """True if a raw or decoded HTTP answer carries the page."""
    return PAGE.strip() in response
