"""Measurements of the plugin's library in a process of their own, one JSON line on stdout each.

python3 extras.py overhead --context DIR --calls 50 --backend classic [--profile DIR]
python3 extras.py listing --image REF
python3 extras.py memory --image REF --path /big.bin
python3 extras.py inspection --image REF --tool gcc --path /etc/os-release   (XDG_CACHE_HOME: the index)
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pytest_dockerbuild import Builder, Image
from pytest_dockerbuild.build.cache import BuildCache
from pytest_dockerbuild.engine.client import Engine


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def per_call(calls: int, action: Callable[[], object], profile: Path | None = None) -> float:
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for _ in range(calls):
        action()
    if profiler:
        profiler.disable()
    seconds = (time.perf_counter() - started) / calls
    if profiler and profile:
        with open(profile, "w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return seconds


def overhead(options: argparse.Namespace) -> dict[str, float]:
    """Seconds per build() call of an already-built context, and the floors."""
    engine = Engine()
    builder = Builder(engine, backend=options.backend)
    context = Path(options.context)
    builder.build(context, reuse=False)  # built (and tagged by content key) before timing

    def fresh(reuse: bool) -> None:
        builder.cache = BuildCache(builder.engine)  # forget the session's results: as in a new run, same process
        builder.build(context, reuse=reuse)

    profile = Path(options.profile) if options.profile else None
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if options.backend == "buildkit" else "0"}
    figures = {
        "session_cache": per_call(options.calls, lambda: builder.build(context)),
        "reuse_true": per_call(
            options.calls, lambda: fresh(True), profile and profile / f"reuse-{options.backend}.txt"
        ),
        "reuse_false": per_call(
            options.calls, lambda: fresh(False), profile and profile / f"rebuild-{options.backend}.txt"
        ),
        "cli_build": per_call(
            options.calls,
            lambda: subprocess.run(["docker", "build", "-q", str(context)], env=env, capture_output=True, check=True),
        ),
    }
    if options.backend == "classic":
        figures["docker_py_build"] = per_call(
            options.calls, lambda: engine.client.images.build(path=str(context), rm=True)
        )
    engine.close()
    return figures


def listing(options: argparse.Namespace) -> dict[str, float]:
    """Listing every entry of an image: first (with the export), on a fresh Image sharing
    the export, and again on the first object."""
    engine = Engine()

    def walk(image: Image) -> int:
        files = image.files
        count = len(files)
        for _path, entry in files.items():
            assert entry.type
        return count

    figures: dict[str, float] = {}
    started = time.perf_counter()
    first = engine.image(options.image)
    figures["entries"] = walk(first)
    figures["first"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["entries_fresh"] = walk(Image(engine.client, options.image, engine._cache_dir))
    figures["fresh_shared_export"] = time.perf_counter() - started
    started = time.perf_counter()
    walk(first)
    figures["same_object"] = time.perf_counter() - started
    figures["peak_rss_mb"] = peak_rss_mb()
    engine.close()
    return figures


def memory(options: argparse.Namespace) -> dict[str, float]:
    """Peak memory of this process while it exports and inspects an image."""
    engine = Engine()
    baseline = peak_rss_mb()
    started = time.perf_counter()
    image = engine.image(options.image)
    entries = len(image.files)
    size = image.file(options.path).size
    image.read_text("/etc/passwd")
    seconds = time.perf_counter() - started
    archive = image._archive.stat().st_size
    engine.close()
    return {"baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb(), "seconds": seconds,
            "entries": entries, "file_size": size, "archive_bytes": archive}  # fmt: skip


def inspection(options: argparse.Namespace) -> dict[str, float]:
    """A run's questions to a big image, each timed: which(), every entry of files, and one file's
    contents. Run twice with one XDG_CACHE_HOME: the first run as a new machine's, the second as a
    later run's (the file index kept on disk by image id)."""
    engine = Engine()
    image = engine.image(options.image)
    figures: dict[str, float] = {"image_bytes": image.size}
    started = time.perf_counter()
    figures["found"] = float(image.which(options.tool) is not None)
    figures["which"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["entries"] = len(image.files)
    figures["files"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["read_bytes"] = len(image.read_text(options.path))
    figures["read_text"] = time.perf_counter() - started
    figures["exported"] = float(any(engine._cache_dir.glob("*.tar")))
    engine.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("overhead")
    one.add_argument("--context", required=True)
    one.add_argument("--calls", type=int, default=50)
    one.add_argument("--backend", default="classic")
    one.add_argument("--profile")
    sub.add_parser("listing").add_argument("--image", required=True)
    mem = sub.add_parser("memory")
    mem.add_argument("--image", required=True)
    mem.add_argument("--path", required=True)
    look = sub.add_parser("inspection")
    look.add_argument("--image", required=True)
    look.add_argument("--tool", required=True)
    look.add_argument("--path", required=True)
    options = parser.parse_args()
    what = {"overhead": overhead, "listing": listing, "memory": memory, "inspection": inspection}[options.what]
    print(json.dumps(what(options)))


if __name__ == "__main__":
    main()
