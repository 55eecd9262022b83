#!/usr/bin/env python3
"""One command for the benchmark: the same scenario written four ways (pytest-dockerbuild,
testcontainers-python, pytest-docker-tools, the docker CLI), each run cold and warm, side by
side with ratios; then a container-structure-test contract, the plugin's per-build overhead,
listing 10,000 files and peak memory on a ~1 GB image.  Prints the tables and writes
benchmarks/results.md.

    python3 benchmarks/run.py [--rounds 3] [--quick] [--only plugin,cli] [--no-extras] [--profile]

Everything the benchmark builds carries the label dockerbuild-bench.nonce=<nonce> and is
removed at the end; nothing else is touched (no pulls, no prune of other images).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import scenario  # noqa: E402

STEPS = [
    "test_1_build_final_and_stage",
    "test_2_read_file",
    "test_3_size_budget",
    "test_4_failing_build_detected",
    "test_5_published_port",
    "test_6_network_alias",
]
STEP_NAMES = ["1 build final + stage", "2 read a file", "3 size budget", "4 failing build", "5 published port",
              "6 alias from a container"]  # fmt: skip


@dataclass
class Tool:
    name: str
    command: list[str]  #: run in the repository root with BENCH_CONTEXT / BENCH_NONCE set
    floor: str  #: the CLI row it is compared to (same builder)
    test_file: str | None = None  #: a pytest run (junit report) if set, else the CLI script (JSON report)
    peer: bool = False
    rebuild: bool = False  #: also a warm run with --dockerbuild-rebuild
    env: dict[str, str] = field(default_factory=dict)


PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-c", str(HERE / "pytest.ini")]
CLI_CLASSIC, CLI_BUILDKIT = "docker CLI (classic)", "docker CLI (buildkit)"
TOOLS = [
    Tool("pytest-dockerbuild (classic)", [*PYTEST, "-p", "no:docker_tools", "--dockerbuild-backend=classic"],
         CLI_CLASSIC, "bench_plugin.py", rebuild=True),
    Tool("pytest-dockerbuild (buildkit)", [*PYTEST, "-p", "no:docker_tools", "--dockerbuild-backend=buildkit"],
         CLI_BUILDKIT, "bench_plugin.py", rebuild=True),
    Tool("testcontainers", [*PYTEST, "-p", "no:dockerbuild", "-p", "no:docker_tools"], CLI_CLASSIC,
         "bench_testcontainers.py", peer=True, env={"TESTCONTAINERS_RYUK_DISABLED": "true"}),
    Tool("pytest-docker-tools", [*PYTEST, "-p", "no:dockerbuild"], CLI_CLASSIC, "bench_docker_tools.py", peer=True),
    Tool(CLI_CLASSIC, [sys.executable, str(HERE / "bench_cli.py"), "--builder", "classic"], CLI_CLASSIC),
    Tool(CLI_BUILDKIT, [sys.executable, str(HERE / "bench_cli.py"), "--builder", "buildkit"], CLI_BUILDKIT),
]  # fmt: skip


@dataclass
class Run:
    seconds: float
    steps: dict[str, float]
    left: int  #: containers of the scenario's images still there after the run
    load: float  #: 1-minute load average before the run


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout


def labelled(kind: str, nonce: str) -> list[str]:
    """Ids of the containers (``ps``) or images (``image ls``) the scenario made with ``nonce``."""
    listing = ["ps", "-aq"] if kind == "ps" else ["image", "ls", "-aq"]
    return docker(*listing, "--filter", f"label={scenario.LABEL}={nonce}").split()


def remove_containers(nonce: str) -> int:
    """Count the containers left by the scenario's run, then remove them."""
    ids = labelled("ps", nonce)
    if ids:
        docker("rm", "-f", *ids, check=False)
    return len(ids)


def remove_images(nonces: list[str]) -> None:
    """Remove every image the scenario built (children before parents: in passes)."""
    for nonce in nonces:
        remove_containers(nonce)
        for _ in range(10):
            ids = list(dict.fromkeys(labelled("image", nonce)))
            if not ids:
                break
            docker("rmi", "-f", *ids, check=False)


def run_scenario(tool: Tool, folder: Path, nonce: str, *extra: str) -> Run:
    report = folder.parent / f"{folder.name}-report-{uuid.uuid4().hex[:6]}"  # not in the context: it is hashed
    if tool.test_file:
        command = [*tool.command, *extra, f"--junitxml={report}", str(HERE / tool.test_file)]
    else:
        command = [*tool.command, *extra, "--json", str(report)]
    env = {**os.environ, **tool.env, "BENCH_CONTEXT": str(folder), "BENCH_NONCE": nonce}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{tool.name} failed ({' '.join(command)}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if tool.test_file:  # junit times are setup + call + teardown of each test
        cases = ElementTree.parse(report).getroot().iter("testcase")
        steps = {case.get("name", ""): float(case.get("time", 0)) for case in cases}
    else:
        steps = json.loads(report.read_text())
    return Run(seconds, steps, remove_containers(nonce), load)


# -- the scenario, cold and warm ----------------------------------------------------------
def scenario_rounds(tools: list[Tool], rounds: int, workdir: Path, nonces: list[str]) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {}
    for round_number in range(rounds):
        order = tools[round_number % len(tools) :] + tools[: round_number % len(tools)]
        for tool in order:
            nonce = f"b{uuid.uuid4().hex[:10]}"
            nonces.append(nonce)
            folder = scenario.write_app(workdir / nonce, nonce)
            cold = run_scenario(tool, folder, nonce)
            warm = run_scenario(tool, folder, nonce)
            runs.setdefault(f"{tool.name}|cold", []).append(cold)
            runs.setdefault(f"{tool.name}|warm", []).append(warm)
            line = f"  round {round_number + 1}/{rounds} {tool.name:30} cold {cold.seconds:6.2f} s"
            line += f"  warm {warm.seconds:6.2f} s"
            if tool.rebuild:
                rebuild = run_scenario(tool, folder, nonce, "--dockerbuild-rebuild")
                runs.setdefault(f"{tool.name}|rebuild", []).append(rebuild)
                line += f"  warm --dockerbuild-rebuild {rebuild.seconds:6.2f} s"
            print(line, flush=True)
    return runs


def median(runs: list[Run], step: str | None = None) -> float:
    return statistics.median(r.seconds if step is None else r.steps.get(step, 0.0) for r in runs)


def median_of(runs: dict[str, list[Run]], name: str, kind: str) -> float | None:
    """The median wall time of a tool's cold, warm or rebuild runs (None if it did not run)."""
    return median(runs[f"{name}|{kind}"]) if f"{name}|{kind}" in runs else None


def ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "-"


def scenario_tables(tools: list[Tool], runs: dict[str, list[Run]]) -> list[str]:
    def get(name: str, kind: str) -> float | None:
        return median_of(runs, name, kind)

    peers = [t.name for t in tools if t.peer]
    fastest = {
        kind: min((v for v in (get(p, kind) for p in peers) if v is not None), default=None)
        for kind in ("cold", "warm")
    }
    lines = [
        "| tool | cold s | warm s | cold x CLI | warm x CLI | cold x fastest peer | warm x fastest peer "
        "| containers left (cold / warm) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for tool in tools:
        cold, warm = get(tool.name, "cold"), get(tool.name, "warm")
        floor_cold, floor_warm = get(tool.floor, "cold"), get(tool.floor, "warm")
        left = [max(r.left for r in runs[f"{tool.name}|{kind}"]) for kind in ("cold", "warm")]
        lines.append(
            f"| {tool.name} | {cold:.2f} | {warm:.2f} | {ratio(cold, floor_cold)} | {ratio(warm, floor_warm)} "
            f"| {ratio(cold, fastest['cold'])} | {ratio(warm, fastest['warm'])} | {left[0]} / {left[1]} |"
        )
        if tool.rebuild:
            rebuild = get(tool.name, "rebuild")
            lines.append(
                f"| {tool.name}, warm with `--dockerbuild-rebuild` | | {rebuild:.2f} | | {ratio(rebuild, floor_warm)} "
                f"| | {ratio(rebuild, fastest['warm'])} | {max(r.left for r in runs[f'{tool.name}|rebuild'])} |"
            )
    lines += ["", "Per step (median seconds, cold / warm; pytest's junit time of each test: setup + call + "
              "teardown, so a module fixture counts where it is first set up or last torn down):", ""]  # fmt: skip
    lines.append("| step | " + " | ".join(t.name for t in tools) + " |")
    lines.append("|---|" + "--:|" * len(tools))
    for step, label in zip(STEPS, STEP_NAMES, strict=True):
        cells = [f"{median(runs[f'{t.name}|cold'], step):.2f} / {median(runs[f'{t.name}|warm'], step):.2f}"
                 for t in tools]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    rest = []
    for t in tools:
        parts = [statistics.median(r.seconds - sum(r.steps.values()) for r in runs[f"{t.name}|{k}"])
                 for k in ("cold", "warm")]  # fmt: skip
        rest.append(f"{parts[0]:.2f} / {parts[1]:.2f}")
    lines.append("| rest of the process (interpreter, imports, collection, session set-up and end) | "
                 + " | ".join(rest) + " |")  # fmt: skip
    return lines


# -- the extra figures ----------------------------------------------------------------------
def build_image(folder: Path, dockerfile: str, tag: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(dockerfile)
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run(["docker", "build", "-q", "--force-rm", "-t", tag, str(folder)], env=env, check=True,
                   capture_output=True)  # fmt: skip


def extras_json(*args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    done = subprocess.run([sys.executable, str(HERE / "extras.py"), *args], capture_output=True, text=True,
                          cwd=HERE.parent, env=env)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"extras.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def contract_figures(final: str, nonce: str, rounds: int) -> list[str]:
    contract = HERE / "contract.cst.yaml"
    times, report = [], {}
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(["container-structure-test", "test", "--image", final, "--config", str(contract),
                               "-o", "json"], capture_output=True, text=True)  # fmt: skip
        times.append(time.perf_counter() - started)
        report = json.loads(done.stdout[done.stdout.index("{") :]) if "{" in done.stdout else {}
    left = remove_containers(nonce)
    cst = statistics.median(times)
    own = sum(r.get("Duration", 0) for r in report.get("Results", [])) / 1e9
    total = report.get("Total", 0)
    lines = [
        f"| container-structure-test {cst_version()} (docker driver) | {total} | {report.get('Pass', '?')} "
        f"| {cst:.2f} (its own count: {own:.2f}) | {cst / max(total, 1) * 1000:.0f} ms | {left} |"
    ]
    lines.append(plugin_contract_figure(final, nonce, rounds))
    return lines


def plugin_contract_figure(final: str, nonce: str, rounds: int) -> str:
    """The same file as pytest-dockerbuild items (``--dockerbuild-image contract=IMAGE``)."""
    times, summary = [], "?"
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(
            [
                *PYTEST,
                "-p",
                "no:docker_tools",
                f"--dockerbuild-image=contract={final}",
                str(HERE / "contract.cst.yaml"),
            ],
            capture_output=True,
            text=True,
            cwd=HERE.parent,
        )
        times.append(time.perf_counter() - started)
        summary = (done.stdout.strip().splitlines() or ["?"])[-1]
    seconds = statistics.median(times)
    passed = summary.split(" passed")[0].split()[-1] if " passed" in summary else "0"
    failed = summary.split(" failed")[0].split()[-1] if " failed" in summary else "0"
    note = ""
    return (f"| pytest-dockerbuild `*.cst.yaml` items{note} | {int(passed) + int(failed)} | {passed} "
            f"| {seconds:.2f} | {seconds / max(int(passed) + int(failed), 1) * 1000:.0f} ms "
            f"| {remove_containers(nonce)} |")  # fmt: skip


def cst_version() -> str:
    done = subprocess.run(["container-structure-test", "version"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def extra_figures(options: argparse.Namespace, workdir: Path, nonces: list[str]) -> list[str]:
    nonce = f"x{uuid.uuid4().hex[:10]}"
    nonces.append(nonce)
    folder = scenario.write_app(workdir / nonce, nonce)
    final = f"dockerbuild-bench/extras-{nonce}:final"
    subprocess.run(["docker", "build", "-q", "-t", final, str(folder)], check=True, capture_output=True,
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})  # fmt: skip
    lines = ["### An image contract of 30 tests against the final image (`benchmarks/contract.cst.yaml`)", "",
             "| runner | tests | passed | wall s | per test | containers left |",
             "|---|--:|--:|--:|--:|--:|"]  # fmt: skip
    print("  contract (container-structure-test)", flush=True)
    lines += contract_figures(final, nonce, 1 if options.quick else 2)

    print(f"  overhead per cached build ({options.calls} calls)", flush=True)
    lines += ["", f"### The plugin's own cost per cached build ({options.calls} calls in one process, ms per call)", "",
              "| backend | session cache (same key again) | reuse=True (an earlier run's image) | reuse=False "
              "(through the engine, all steps cached) | `docker build -q` (CLI, all cached) "
              "| docker-py `images.build` (all cached) |", "|---|--:|--:|--:|--:|--:|"]  # fmt: skip
    for backend in ("classic", "buildkit"):
        profile = ["--profile", str(options.profile_dir)] if options.profile_dir else []
        figures = extras_json("overhead", "--context", str(folder), "--calls", str(options.calls),
                              "--backend", backend, *profile)  # fmt: skip
        cells = [figures.get(k) for k in ("session_cache", "reuse_true", "reuse_false", "cli_build", "docker_py_build")]
        lines.append(f"| {backend} | " + " | ".join(f"{c * 1000:.1f}" if c is not None else "-" for c in cells) + " |")

    print("  10,000 files", flush=True)
    many = f"dockerbuild-bench/extras-{nonce}:many"
    build_image(workdir / f"{nonce}-many", f"FROM {scenario.BASE}\nLABEL {scenario.LABEL}={nonce}\n"
                "RUN mkdir /many && cd /many && i=0 && while [ $i -lt 10000 ]; do echo $i > f$i; i=$((i+1)); done\n",
                many)  # fmt: skip
    figures = extras_json("listing", "--image", many)
    started = time.perf_counter()
    subprocess.run(["docker", "save", "-o", str(workdir / "many.tar"), many], check=True)
    many_save = time.perf_counter() - started
    lines += ["", "### Listing an image of 10,000 small files (`len(image.files)` and every entry)", "",
              "| | seconds |", "|---|--:|",
              f"| first time on an `Image` (includes the `docker save` export; {figures['entries']:.0f} entries) "
              f"| {figures['first']:.3f} |",
              f"| a fresh `Image` of the same image (the export is on disk: parse only) "
              f"| {figures['fresh_shared_export']:.3f} |",
              f"| the first `Image` again (the tree is cached) | {figures['same_object']:.4f} |",
              f"| (`docker save -o` of that image alone, for reference) | {many_save:.3f} |",
              f"| peak memory of that process | {figures['peak_rss_mb']:.0f} MB |"]  # fmt: skip

    megabytes = 100 if options.quick else 1000
    print(f"  peak memory, {megabytes} MB image", flush=True)
    big = f"dockerbuild-bench/extras-{nonce}:big"
    build_image(workdir / f"{nonce}-big", f"FROM {scenario.BASE}\nLABEL {scenario.LABEL}={nonce}\n"
                f"RUN head -c {megabytes * 1000 * 1000} /dev/urandom > /big.bin\n", big)  # fmt: skip
    started = time.perf_counter()
    subprocess.run(["docker", "save", "-o", str(workdir / "big.tar"), big], check=True)
    save_seconds = time.perf_counter() - started
    (workdir / "big.tar").unlink()
    fresh = {**os.environ, "XDG_CACHE_HOME": str(workdir / "memory-cache")}  # no index: the export is measured
    small = extras_json("memory", "--image", final, "--path", "/www/index.html", env=fresh)
    large = extras_json("memory", "--image", big, "--path", "/big.bin", env=fresh)
    lines += ["", "### Peak memory exporting and inspecting an image (`files`, `file()`, `read_text`), "
              "in a child process (ru_maxrss)", "",
              "| image | size | export + inspect s | peak RSS | RSS before the export |", "|---|--:|--:|--:|--:|",
              f"| the scenario's final image | {small['archive_bytes'] / 1e6:.1f} MB | {small['seconds']:.2f} "
              f"| {small['peak_rss_mb']:.0f} MB | {small['baseline_rss_mb']:.0f} MB |",
              f"| one {megabytes / 1000:g} GB file | {large['archive_bytes'] / 1e6:.0f} MB | {large['seconds']:.2f} "
              f"| {large['peak_rss_mb']:.0f} MB | {large['baseline_rss_mb']:.0f} MB |",
              f"| (`docker save -o` of that image alone: {save_seconds:.2f} s) | | | | |"]  # fmt: skip
    return lines


BUILDER_IMAGES = ["dockerbuild-offline/golang:bookworm", "dockerbuild-offline/maven:bookworm",
                  "dockerbuild-offline/python-build:bookworm"]  # fmt: skip


def inspection_figures(workdir: Path, figures: dict[str, float]) -> list[str]:
    """which(), files and read_text() on the biggest builder image here: a new machine's first run
    (nothing on disk), then a later run (the file index kept by image id), each a process of its own."""
    present = [i for i in BUILDER_IMAGES if docker("image", "ls", "-q", i, check=False).strip()]
    if not present:
        return ["(no builder image here: run scripts/setup)"]
    image = max(present, key=lambda i: int(docker("image", "inspect", "-f", "{{.Size}}", i).strip()))
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / "inspection-cache")}  # a new machine's empty cache
    args = ("inspection", "--image", image, "--tool", "gcc", "--path", "/etc/os-release")
    runs = [extras_json(*args, env=env) for _ in range(2)]
    figures["inspection_later"] = max(runs[1][k] for k in ("which", "files", "read_text"))
    lines = [f"### Inspecting a builder image ({image}, {runs[0]['image_bytes'] / 1e6:.0f} MB, "
             f"{runs[0]['entries']:.0f} entries), a process per run", "",
             "| run | `which('gcc')` s | `files` (every entry) s | `read_text('/etc/os-release')` s | exported |",
             "|---|--:|--:|--:|---|"]  # fmt: skip
    for name, run in zip(("first (nothing on disk)", "later (the index on disk)"), runs, strict=True):
        lines.append(f"| {name} | {run['which']:.3f} | {run['files']:.3f} | {run['read_text']:.3f} "
                     f"| {'yes' if run['exported'] else 'no'} |")  # fmt: skip
    return lines


def xdist_figures(figures: dict[str, float], rounds: int) -> list[str]:
    """`pytest example_projects` warm, with -n 0 and -n 2 (after one run that warms both)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "example_projects"]
    subprocess.run([*command, "-n", "2"], cwd=HERE.parent, capture_output=True)  # warm
    seconds: dict[str, list[float]] = {"0": [], "2": []}
    for _ in range(rounds):
        for workers in ("0", "2"):
            started = time.perf_counter()
            done = subprocess.run([*command, "-n", workers], cwd=HERE.parent, capture_output=True, text=True)
            seconds[workers].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"pytest -n {workers} example_projects failed:\n{done.stdout[-3000:]}")
    serial, parallel = statistics.median(seconds["0"]), statistics.median(seconds["2"])
    figures["xdist"] = parallel / serial
    return ["### `pytest example_projects`, warm: one process vs two workers", "",
            "| | wall s |", "|---|--:|",
            f"| `-n 0` | {serial:.1f} |", f"| `-n 2` | {parallel:.1f} ({parallel / serial:.2f}x) |"]  # fmt: skip


def target_table(runs: dict[str, list[Run]], figures: dict[str, float]) -> list[str]:
    """The speed targets (issue 13), each figure against its target."""

    def get(name: str, kind: str) -> float | None:
        return median_of(runs, name, kind)

    def fastest(kind: str) -> float | None:
        return min((v for v in (get(t.name, kind) for t in TOOLS if t.peer) if v is not None), default=None)

    def figure(value: float | None, base: float | None) -> float | None:
        return value / base if value is not None and base else None

    rows = [
        ("warm, classic, x the fastest peer", figure(get(TOOLS[0].name, "warm"), fastest("warm")), 0.6, "x"),
        ("warm, BuildKit, x the fastest peer", figure(get(TOOLS[1].name, "warm"), fastest("warm")), 0.6, "x"),
        ("cold, classic, x the fastest peer", figure(get(TOOLS[0].name, "cold"), fastest("cold")), 1.0, "x"),
        ("cold, BuildKit, x the CLI script (BuildKit)", figure(get(TOOLS[1].name, "cold"), get(CLI_BUILDKIT, "cold")),
         0.8, "x"),
        ("a later run's which() / files / read_text() on a builder image (slowest)",
         figures.get("inspection_later"), 0.1, "s"),
        ("`-n 2` x `-n 0`, example_projects, warm", figures.get("xdist"), 0.7, "x"),
    ]  # fmt: skip
    lines = ["### Targets", "", "| figure | measured | target | met |", "|---|--:|--:|---|"]
    for name, value, target, unit in rows:
        shown = f"{value:.2f}{unit}" if value is not None else "-"
        met = "-" if value is None else ("yes" if value <= target else f"no ({value / target:.2f}x the target)")
        lines.append(f"| {name} | {shown} | {target:g}{unit} | {met} |")
    return lines


# -- machine notes, output ---------------------------------------------------------------------
def machine_notes(runs: dict[str, list[Run]], rounds: int) -> list[str]:
    def out(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except OSError:
            return "?"
        return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "?"

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for package in ("pytest", "docker", "testcontainers", "pytest-docker-tools", "pytest-dockerbuild"):
        try:
            from importlib.metadata import version

            versions.append(f"{package} {version(package)}")
        except Exception:
            versions.append(f"{package} ?")
    commit = out("git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD")
    dirty = out("git", "-C", str(HERE.parent), "status", "--porcelain", "--untracked-files=no", "pytest_dockerbuild")
    loads = [r.load for rs in runs.values() for r in rs] or [os.getloadavg()[0]]
    return [
        f"- machine: {os.cpu_count()} cores, {memory:.0f} GiB, {platform.platform()}; "
        f"Python {platform.python_version()}",
        f"- engine: Docker {out('docker', 'version', '-f', '{{.Server.Version}}')} "
        f"(storage {out('docker', 'info', '-f', '{{.Driver}}')}), "
        f"CLI {out('docker', 'version', '-f', '{{.Client.Version}}')}, {out('docker', 'buildx', 'version')}",
        f"- packages: {', '.join(versions)}; container-structure-test {cst_version()}",
        f"- pytest-dockerbuild at {commit}" + (" (with uncommitted changes)" if dirty and dirty != "?" else ""),
        f"- {rounds} round(s), medians; tools in rotating order; 1-minute load average before the runs: "
        f"{min(loads):.1f} to {max(loads):.1f} (the engine is shared with other work on this machine)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="cold + warm runs of each tool (medians; default 3)")
    parser.add_argument("--quick", action="store_true", help="1 round, 10 calls, a 100 MB image instead of 1 GB")
    parser.add_argument("--calls", type=int, default=50, help="build() calls per overhead figure (default 50)")
    parser.add_argument("--only", help="comma-separated words: run the tools whose names contain one")
    parser.add_argument("--no-extras", action="store_true", help="the scenario only")
    parser.add_argument("--no-xdist", action="store_true", help="without the example projects' -n 0 / -n 2 runs")
    parser.add_argument("--profile", action="store_true", help="cProfile the overhead calls into benchmarks/profiles/")
    parser.add_argument("--output", default=str(HERE / "results.md"))
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.calls = 1, 10
    options.profile_dir = HERE / "profiles" if options.profile else None
    if options.profile_dir:
        options.profile_dir.mkdir(exist_ok=True)
    words = [w.strip().lower() for w in (options.only or "").split(",") if w.strip()]
    tools = [t for t in TOOLS if not words or any(w in t.name.lower() for w in words)]
    if not tools:
        parser.error(f"--only {options.only!r} names no tool; tools: {', '.join(t.name for t in TOOLS)}")
    for tool in tools:  # a ratio needs its floor
        floor = next(t for t in TOOLS if t.name == tool.floor)
        if floor not in tools:
            tools.append(floor)
    if docker("image", "ls", "-q", scenario.BASE, check=False).strip() == "":
        raise SystemExit(f"{scenario.BASE} is not in the engine: run scripts/setup first")

    workdir = Path(tempfile.mkdtemp(prefix="dockerbuild-bench-"))
    nonces: list[str] = []
    runs: dict[str, list[Run]] = {}
    extras: list[str] = []
    figures: dict[str, float] = {}
    try:
        print(f"scenario: {len(tools)} tools x {options.rounds} round(s), cold then warm", flush=True)
        runs = scenario_rounds(tools, options.rounds, workdir, nonces)
        if not options.no_extras:
            print("extra figures", flush=True)
            extras = extra_figures(options, workdir, nonces)
            print("  inspecting a builder image, two runs", flush=True)
            extras += ["", *inspection_figures(workdir, figures)]
            if not options.no_xdist:
                print("  example_projects, -n 0 and -n 2", flush=True)
                extras += ["", *xdist_figures(figures, 1 if options.quick else 2)]
    finally:
        remove_images(nonces)
        shutil.rmtree(workdir, ignore_errors=True)
    text = [
        "## Benchmarks", "",
        "The same scenario written four ways (`benchmarks/bench_*.py`): build the final image and the `builder` "
        "stage, read a file of the final image, check a 10 MB size budget, detect a failing build (its test stage "
        "exits 1), GET a page through a published port, and from a second container by network alias (the "
        "plugin and the CLI script with a one-shot container, `run_once` and `docker run --rm`; the peers, which "
        "have no one-shot call, start a container and exec in it). "
        "**cold**: a Dockerfile with a new nonce in every stage (no layer cache can hit); **warm**: the same run "
        "again. Wall seconds of the whole command (interpreter and pytest start-up included). "
        "x CLI: against the docker CLI script with the same builder (the floor); x fastest peer: against the "
        "faster of testcontainers and pytest-docker-tools (both build through docker-py, i.e. the classic "
        "builder). Containers left: containers of the scenario's images still there after the run.",
        "", *target_table(runs, figures),
        "", *scenario_tables(tools, runs), "", *extras, "", "Machine:", "", *machine_notes(runs, options.rounds),
        "", "Reproduce: `pip install -r benchmarks/requirements.txt && python3 benchmarks/run.py` "
        "(`--quick` for one round and a 100 MB image).",
    ]  # fmt: skip
    Path(options.output).write_text("\n".join(text) + "\n")
    print("\n" + "\n".join(text))
    print(f"\nwritten to {options.output}")


if __name__ == "__main__":
    main()
