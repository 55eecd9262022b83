#!/usr/bin/env python3
"""The figures of the README's "Scaling out": example projects run with pytest-xdist ``-n 2``
on one engine, then on two (the first engine and a second dockerd on this machine, one worker
each), with a real registry in between. Starts and stops the registry and the second engine
itself (the test suite's own helpers, tests/registry.py and tests/engines.py).

    python3 benchmarks/scale_out.py [example_projects/multistage-demo ...]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from engines import second_engine  # noqa: E402
from registry import running_registry  # noqa: E402

DEFAULT = ["example_projects/multistage-demo"]
#: the base images each example builds FROM (loaded into the second engine)
BASES = {
    "multistage-demo": ["dockerbuild-offline/base:bookworm"],
    "python-ext": ["dockerbuild-offline/python-build:bookworm", "dockerbuild-offline/python-slim:bookworm"],
    "access-log": ["dockerbuild-offline/node:bookworm"],
    "image-gallery": ["dockerbuild-offline/golang:bookworm", "dockerbuild-offline/base:bookworm"],
    "image-of-the-day": ["dockerbuild-offline/maven:bookworm", "dockerbuild-offline/openjdk:bookworm"],
}
FIRST = "unix:///var/run/docker.sock"


def run(label: str, projects: list[str], *extra: str) -> tuple[str, float, str]:
    command = [sys.executable, "-m", "pytest", *projects, "-n", "2", "-q", "-p", "no:cacheprovider",
               "--dockerbuild-rebuild", *extra]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    seconds = time.monotonic() - started
    tail = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    print(f"{label}: {seconds:.1f} s, {tail[-1] if tail else done.stdout[-2000:]}", flush=True)
    return label, seconds, tail[-1] if tail else "?"


def main() -> None:
    projects = sys.argv[1:] or DEFAULT
    bases = sorted({image for project in projects for image in BASES.get(Path(project).name, [])})
    rows = [run("one engine, -n 2 (layer cache as found)", projects), run("one engine, -n 2 (warm)", projects)]
    with running_registry(Path(tempfile.mkdtemp(prefix="scale-reg-"))) as registry:
        started = time.monotonic()
        with second_engine(bases, timeout=120) as second:
            print(f"second engine up with {len(bases)} base images in {time.monotonic() - started:.1f} s", flush=True)
            engines = [f"--dockerbuild-engines={FIRST},{second}", f"--dockerbuild-share-via={registry}"]
            rows.append(run("two engines, -n 2 (second engine cold)", projects, *engines))
            rows.append(run("two engines, -n 2 (both warm)", projects, *engines))
    print("\n| set-up | wall time | outcome |\n|---|---:|---|")
    for label, seconds, outcome in rows:
        print(f"| {label} | {seconds:.1f} s | {outcome.strip('= ')} |")


if __name__ == "__main__":
    main()
