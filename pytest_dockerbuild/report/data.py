"""The report's data: every build of a run (built, reused, or failed) as plain JSON-able
dicts, so that pytest-xdist workers can hand theirs to the controller as JSON.

One image entry::

    {"title", "dockerfile", "kind": "built" | "reused" | "failed", "backend", "image_id", "size", "seconds",
     "target", "layers": [{"instruction", "size", "source", "stage"}],
     "sources": [{"source", "size"}], "stages": [{"ref", "built", "status", "from_stage",
     "base", "copies_from", "steps": [{"step", "instruction", "line", "cached", "seconds"}]}],
     "failure": None | {"stage", "step", "steps_in_stage", "instruction", "line", "exit_code", "reason"},
     "lint": [{"rule", "line", "severity", "message"}], "folders": [{"path", "size", "children"}],
     "efficiency": None | {"score", "wasted_bytes", "user_wasted_percent", "inefficient": [{"path", "count", "size"}]},
     "versus": [{"other", "other_image_id", "other_size", "ratio", "changed",
                 "added" | "removed": {"count", "size", "groups", "paths": [{"path", "count", "size"}]}}]
     (a final image against the other targets of its Dockerfile built in the same process),
     "contracts": [{"test", "outcome"}] (added by the plugin: the contract items that checked the image),
     "baseline": [{"name", "size", "layers", "tolerance", "budget", "history": [{"size", "layers", "time"}]}]
     (added by :func:`attach_baselines`: the size-baseline names whose newest point is this image)}

The layers of an image's history are matched to the Dockerfile's instructions from the newest
back (the history does not keep ``--from``); what is older than the target's first stage is its
base image.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_dockerbuild.build import Builder, BuildResult
from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.dockerfile.model import Instruction, Stage
from pytest_dockerbuild.errors import BuildFailed, DockerbuildError
from pytest_dockerbuild.image.efficiency import SizeBaseline, analyze
from pytest_dockerbuild.image.files import FileEntry
from pytest_dockerbuild.image.image import Layer
from pytest_dockerbuild.lint import check_dockerfile
from pytest_dockerbuild.report.treemap import folder_sizes

__all__ = [
    "REPORT_VERSION",
    "attach_baselines",
    "attribute_layers",
    "build_entry",
    "builders_of",
    "collect",
    "failure_entry",
    "lint_entries",
    "merge",
    "versus",
]

REPORT_VERSION = 1
VERSUS_TOP = 15  #: the biggest added (and removed) paths shown of a final image against a builder
VERSUS_BUILDERS = 3  #: the other targets of its Dockerfile a final image is compared with, at most
Entry = dict[str, Any]


def collect(builder: Builder | None) -> Entry:
    """The report data of one process's builds (every successful build once per image and
    target, then the failures)."""
    if builder is None:
        return {"version": REPORT_VERSION, "images": []}
    images: list[Entry] = []
    kept: list[BuildResult] = []
    seen: set[tuple[str, str]] = set()
    for result in builder.results:
        identity = (result.image.id, result.request.describe())
        if identity not in seen:
            seen.add(identity)
            kept.append(result)
            images.append({**build_entry(result, files=True), "lint": lint_entries(builder, result.dockerfile.path)})
    for result, entry in zip(kept, images, strict=True):  # the file trees are read by now: comparing is cheap
        entry["versus"] = [pair for other in builders_of(result, kept) if (pair := versus(result, other))]
    for failure in builder.failures:
        images.append({**failure_entry(failure), "lint": lint_entries(builder, failure.dockerfile)})
    return {"version": REPORT_VERSION, "images": images}


def lint_entries(builder: Builder, dockerfile: Path) -> list[Entry]:
    """The static checks' findings for a Dockerfile, with the session's substitutions and ignores
    (none if it is gone or does not parse)."""
    try:
        parsed = Dockerfile.load(dockerfile)
    except (DockerbuildError, OSError):
        return []
    findings = check_dockerfile(parsed, image_map=builder.image_map, ignore=builder.lint_ignore,
                                targets=builder.lint_targets)  # fmt: skip
    return [{"rule": f.rule, "line": f.line, "severity": f.severity, "message": f.message} for f in findings]


def merge(parts: Sequence[Entry]) -> Entry:
    """One report of the parts of several processes (a pytest-xdist controller's and its
    workers'); an image built by two workers, or a failure both saw, is shown once."""
    images: list[Entry] = []
    seen: set[tuple[str, str, str]] = set()
    for part in parts:
        for image in part.get("images", []):
            where = image.get("image_id") or str(sorted((image.get("failure") or {}).items()))
            identity = (image["kind"], where, image["title"])
            if identity not in seen:
                seen.add(identity)
                images.append(image)
    images.sort(key=lambda image: image["kind"] != "failed")  # the failures first
    return {"version": REPORT_VERSION, "images": images}


def build_entry(result: BuildResult, files: bool = False) -> Entry:
    """A successful (or reused) build; with ``files``, the folder sizes of its file tree too
    (one ``docker save`` of the image, unless an earlier run kept its index)."""
    parsed = result.dockerfile
    target = result.target_stage
    layers = attribute_layers(result.image.layers, parsed, parsed.stage(target.index))
    built = {stage.index: stage for stage in result.stages}
    stages = []
    for stage in parsed.stages:
        outcome = built.get(stage.index)
        status = "built" if outcome is not None and outcome.built else "skipped"
        if result.reused:
            status = "reused" if stage in parsed.reachable(target.index) else "skipped"
        steps = [
            {"step": s.step, "instruction": s.instruction, "line": s.line, "cached": s.cached, "seconds": s.seconds}
            for s in (outcome.steps if outcome is not None else [])
        ]
        stages.append({**_stage_shape(parsed, stage), "built": status != "skipped", "status": status, "steps": steps})
    return {
        "title": result.request.describe(),
        "dockerfile": str(result.request.dockerfile),
        "kind": "reused" if result.reused else "built",
        "backend": result.backend,
        "image_id": result.image.id,
        "size": result.image.size,
        "seconds": result.seconds,
        "target": target.ref,
        "layers": layers,
        "sources": _by_source(layers),
        "stages": stages,
        "failure": None,
        "folders": _folders(result) if files else [],
        "efficiency": _efficiency(result) if files else None,
        "versus": [],
    }


def _folders(result: BuildResult) -> list[Entry]:
    try:
        return folder_sizes(result.image.files)
    except DockerbuildError:
        return []  # the image can no longer be read: the report shows it without its treemap


def _efficiency(result: BuildResult) -> Entry | None:
    """dive's figures for the image (from the same export as its file tree)."""
    try:
        figures = analyze(result.image.filesystem_layers)
    except DockerbuildError:
        return None
    wasted = figures.user_wasted_percent
    return {
        "score": figures.score,
        "wasted_bytes": figures.wasted_bytes,
        "user_wasted_percent": wasted if math.isfinite(wasted) else None,  # dive's NaN / inf: not JSON
        "inefficient": [{"path": p.path, "count": p.count, "size": p.cumulative_size} for p in figures.inefficient[:5]],
    }


def failure_entry(failure: BuildFailed) -> Entry:
    """A failed build: its stage graph, with the failing stage, step and exit code."""
    stages: list[Entry] = []
    try:
        parsed = Dockerfile.load(failure.dockerfile)
        needed = {s.index for s in parsed.reachable(failure.target)}
        for stage in parsed.stages:
            status = "failed" if stage.ref == failure.stage else ("needed" if stage.index in needed else "skipped")
            stages.append({**_stage_shape(parsed, stage), "built": False, "status": status, "steps": []})
    except (DockerbuildError, OSError):
        pass  # the Dockerfile is gone or does not parse: the failure is shown without its graph
    try:
        shown = failure.dockerfile.relative_to(Path.cwd())
    except ValueError:
        shown = failure.dockerfile
    title = f"{shown}" + (f" --target {failure.target}" if failure.target else "")
    return {
        "title": title,
        "dockerfile": str(failure.dockerfile),
        "kind": "failed",
        "backend": failure.backend,
        "image_id": None,
        "size": 0,
        "seconds": 0.0,
        "target": failure.target,
        "layers": [],
        "sources": [],
        "stages": stages,
        "failure": {
            "stage": failure.stage, "step": failure.step, "steps_in_stage": failure.steps_in_stage,
            "instruction": failure.instruction, "line": failure.line, "exit_code": failure.exit_code,
            "reason": failure.reason.splitlines()[0][:300] if failure.reason else "",
        },
    }  # fmt: skip


def _stage_shape(parsed: Dockerfile, stage: Stage) -> Entry:
    """A stage's place in the graph: what it is built FROM and what it copies from."""
    copies = []
    for source in stage.copies_from:
        found = parsed.resolve_source(source, stage.index)
        copies.append({"stage": found.ref if found is not None else None, "image": None if found else source})
    return {
        "ref": stage.ref,
        "index": stage.index,
        "base": stage.base,
        "from_stage": stage.base_stage.ref if stage.base_stage is not None else None,
        "copies_from": copies,
    }


def attribute_layers(layers: Sequence[Layer], parsed: Dockerfile, target: Stage) -> list[Entry]:
    """Each layer of the history with the Dockerfile instruction that made it, where it came
    from (``base image X``, ``COPY --from=stage``, ``COPY from the context``, ``RUN`` ...)
    and its stage; metadata-only layers (no bytes) are left out."""
    chain = [target]
    while chain[0].base_stage is not None:
        chain.insert(0, chain[0].base_stage)
    root = chain[0].base
    pending: list[tuple[Stage, Instruction]] = [
        (stage, instruction) for stage in chain for instruction in stage.instructions if instruction.keyword != "FROM"
    ]
    attributed: list[Entry] = []
    in_base = False
    for layer in reversed(layers):
        keyword = layer.instruction.split(" ", 1)[0].upper()
        match = None if in_base else _match(pending, keyword)
        if match is None:
            if layer.empty:
                continue
            in_base = True  # a layer no instruction made: this and everything older is the base
            attributed.append({"instruction": layer.instruction or "(base layer)", "size": layer.size,
                               "source": f"base image {root}", "stage": None})  # fmt: skip
            continue
        stage, instruction = match
        if not layer.empty:
            attributed.append({"instruction": instruction.text, "size": layer.size,
                               "source": _source(parsed, stage, instruction), "stage": stage.ref})  # fmt: skip
    return list(reversed(attributed))


def _match(pending: list[tuple[Stage, Instruction]], keyword: str) -> tuple[Stage, Instruction] | None:
    """The newest pending instruction with ``keyword`` (it and the ones after it are used up)."""
    for position in range(len(pending) - 1, -1, -1):
        if pending[position][1].keyword == keyword:
            found = pending[position]
            del pending[position:]
            return found
    return None


def _source(parsed: Dockerfile, stage: Stage, instruction: Instruction) -> str:
    if instruction.keyword in ("COPY", "ADD"):
        source = instruction.flags.get("from")
        if source:
            found = parsed.resolve_source(source, stage.index)
            return f"{instruction.keyword} --from={found.ref if found is not None else source}"
        return f"{instruction.keyword} from the context"
    return instruction.keyword


def _by_source(layers: Sequence[Entry]) -> list[Entry]:
    totals: dict[str, int] = {}
    for layer in layers:
        totals[layer["source"]] = totals.get(layer["source"], 0) + int(layer["size"])
    return [{"source": source, "size": size} for source, size in sorted(totals.items(), key=lambda kv: -kv[1])]


def builders_of(final: BuildResult, results: Sequence[BuildResult]) -> list[BuildResult]:
    """The other targets of ``final``'s Dockerfile among ``results`` (its builder stages), when
    ``final`` is of the Dockerfile's last stage: one image per target, at most :data:`VERSUS_BUILDERS`."""
    if final.target_stage.index != len(final.dockerfile.stages) - 1:
        return []
    found: dict[int, BuildResult] = {}
    for other in results:
        index = other.target_stage.index
        if other.request.dockerfile == final.request.dockerfile and index != final.target_stage.index:
            found.setdefault(index, other)
    return [found[index] for index in sorted(found)][:VERSUS_BUILDERS]


def versus(final: BuildResult, other: BuildResult, top: int = VERSUS_TOP) -> Entry | None:
    """What ``final``'s image added and removed against ``other``'s (e.g. its builder stage): the
    paths in one only, grouped under the topmost folder the other image lacks, the ``top``
    biggest of each with their counts and bytes (None if either image can no longer be read)."""
    try:
        comparison = final.image.compare(other.image)
        mine, theirs = final.image.files, other.image.files
    except DockerbuildError:
        return None
    return {
        "other": other.request.describe(),
        "other_image_id": other.image.id,
        "other_size": other.image.size,
        "ratio": other.image.size / max(final.image.size, 1),
        "changed": len(comparison.changed),
        "added": _grouped(comparison.added, mine, top),
        "removed": _grouped(comparison.removed, theirs, top),
    }


def _grouped(paths: Sequence[str], tree: Mapping[str, FileEntry], top: int) -> Entry:
    """``{"count", "size", "groups", "paths": [{"path", "count", "size"}]}``: every path that is not
    a folder counted (the bytes of regular files summed) under the topmost folder above it that the
    other image lacks (or alone); the ``top`` biggest of these ``groups``."""
    root_of: dict[str, str] = {}
    rows: dict[str, list[int]] = {}
    count = size = 0
    for path in sorted(paths, key=lambda p: p.count("/")):  # a folder before what it holds
        root = root_of.get(posixpath.dirname(path), path)
        root_of[path] = root
        entry = tree[path]
        row = rows.setdefault(root, [0, 0])
        if entry.type != "dir":
            size_here = entry.size if entry.type == "file" else 0
            row[0] += 1
            row[1] += size_here
            count += 1
            size += size_here
    ranked = sorted((kv for kv in rows.items() if kv[1][0]), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
    shown = [{"path": p, "count": c, "size": b} for p, (c, b) in ranked[:top]]
    return {"count": count, "size": size, "groups": len(ranked), "paths": shown}


def attach_baselines(data: Entry, baseline: SizeBaseline | None) -> None:
    """Give each image of the report (``data["images"]``) its size-baseline records: the names whose
    newest history point is this image, with their record, tolerance and history (as the run
    will save it); nothing if the baseline file cannot be read."""
    if baseline is None:
        return
    try:
        trends = baseline.trends()
    except (OSError, ValueError):
        return
    by_image: dict[str, list[Entry]] = {}
    for name, record in sorted(trends.items()):
        history = record.get("history") or []
        if not history or not history[-1].get("image"):
            continue
        by_image.setdefault(history[-1]["image"], []).append({
            "name": name, "size": record["size"], "layers": record["layers"], "tolerance": baseline.tolerance,
            "budget": int(record["size"] * (1 + baseline.tolerance)),
            "history": [{"size": p["size"], "layers": p["layers"], "time": p.get("time")} for p in history],
        })  # fmt: skip
    for image in data.get("images", []):
        image["baseline"] = by_image.get(image.get("image_id") or "", [])
