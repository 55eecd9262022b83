"""The report as one self-contained HTML page: inline CSS and SVG, no script, and a
Content-Security-Policy that forbids every network load.

Each image is a ``<section class="image">``; its bars carry ``data-bytes`` (or
``data-seconds``) and a width proportional to it within their chart (a chart of steps is at
least :data:`STEP_SCALE` seconds wide), the stages of its
graph a ``data-status`` (``built``, ``reused``, ``skipped``, ``needed``, ``failed``).
A size baseline's trend is a ``<div class="trend">`` (one ``circle.point`` per run, a
``line.baseline`` and a ``line.budget``); a final image against a builder stage a
``<div class="versus">`` whose rows (``tr.added``, ``tr.removed``) carry ``data-path``,
``data-count`` and ``data-bytes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from pytest_dockerbuild.image.sizes import human_size
from pytest_dockerbuild.report.treemap import treemap

__all__ = ["BAR_WIDTH", "CSP", "render"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'"
BAR_WIDTH = 480  #: pixels of the largest bar of a chart
LABEL_WIDTH = 420
ROW = 20
STEP_SCALE = 1.0  #: seconds: the smallest scale of a chart of steps
STAGE_W, STAGE_H, STAGE_GAP = 190, 64, 60
TREND_W, TREND_H = 260, 56

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px}h2{font-size:17px;margin:0 0 4px}h3{font-size:14px;margin:14px 0 4px;color:#555}
section.image{background:#fff;border:1px solid #ddd;border-radius:6px;padding:14px 18px;margin:0 0 18px}
section.image.failed{border-color:#d33}
.meta{color:#666;font-size:12px}.none{color:#999;font-style:italic}
svg text{font:12px system-ui,sans-serif;fill:#222}
rect.bar{fill:#4a7fd6}rect.bar.src{fill:#6aa84f}rect.step{fill:#e69138}rect.step.cached{fill:#bbb}
g.stage rect{fill:#e8f0fc;stroke:#4a7fd6;stroke-width:1.5}
g.stage[data-status=skipped] rect{fill:#eee;stroke:#bbb}g.stage[data-status=skipped] text{fill:#999}
g.stage[data-status=failed] rect{fill:#fde0e0;stroke:#d33;stroke-width:2.5}
g.stage[data-status=failed] text.detail{fill:#b00}
line.from{stroke:#555;stroke-width:1.5}line.copy{stroke:#6aa84f;stroke-width:1.5;stroke-dasharray:5 3}
.failure{color:#b00;font-family:monospace;white-space:pre-wrap}
g.folder rect{fill:#cfdcf3;stroke:#fff}g.entry rect{fill:#e8f0fc;stroke:#fff}svg.treemap text{font-size:11px}
table.lint{border-collapse:collapse;font-size:12px}table.lint td{padding:2px 8px;border-top:1px solid #eee}
tr.error td,tr.failed td{color:#b00}
svg.trend{background:#f4f6fa;vertical-align:middle;margin-right:10px}
polyline.trend{fill:none;stroke:#4a7fd6;stroke-width:1.5}circle.point{fill:#4a7fd6}
line.baseline{stroke:#6aa84f;stroke-dasharray:4 2}line.budget{stroke:#d33;stroke-dasharray:2 2}
div.versus table{margin:0 0 6px}tr.added td:last-child{color:#6aa84f}tr.removed td:last-child{color:#b00}
"""


def render(data: dict[str, Any]) -> str:
    """The HTML page of the report data (see :mod:`pytest_dockerbuild.report.data`)."""
    images = data.get("images", [])
    built = sum(1 for image in images if image["kind"] != "failed")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>pytest-dockerbuild report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>pytest-dockerbuild: the run's builds</h1>",
        f'<p class="meta">{built} images, {len(images) - built} failed builds</p>',
    ]
    parts += [_image(number, image, _compared(image, images)) for number, image in enumerate(images)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _compared(image: dict[str, Any], images: Sequence[dict[str, Any]]) -> str:
    """This image's size against the other builds of its Dockerfile (e.g. final vs builder)."""
    if image["kind"] == "failed" or not image["size"]:
        return ""
    rows = [
        f'<li data-other="{escape(other["title"])}">{escape(other["title"])}: {human_size(other["size"])}, '
        f"{_ratio(image['size'], other['size'])}</li>"
        for other in images
        if other is not image and other["kind"] != "failed" and other.get("dockerfile") == image.get("dockerfile")
    ]
    return f'<h3>Other builds of this Dockerfile</h3><ul class="compared">{"".join(rows)}</ul>' if rows else ""


def _efficiency(figures: dict[str, Any]) -> str:
    """dive's figures: efficiency, wasted bytes, and the paths that occur in several layers."""
    wasted = figures["user_wasted_percent"]
    line = (
        f'<p class="efficiency" data-score="{figures["score"]:.6f}" data-wasted="{figures["wasted_bytes"]}">'
        f"efficiency {figures['score']:.2%}, wasted {human_size(figures['wasted_bytes'])}"
        + (f", user wasted {wasted:.2%}" if wasted is not None else "")
        + "</p>"
    )
    rows = "".join(
        f"<tr><td>{escape(p['path'])}</td><td>{p['count']} layers</td><td>{human_size(p['size'])}</td></tr>"
        for p in figures["inefficient"]
    )
    return "<h3>Efficiency (dive)</h3>" + line + (f'<table class="lint">{rows}</table>' if rows else "")


def _ratio(size: int, other: int) -> str:
    if max(size, other) < 1.05 * max(min(size, other), 1):
        return "about the same size as this image"
    if other > size:
        return f"this image is {other / max(size, 1):.1f} times smaller"
    return f"this image is {size / max(other, 1):.1f} times larger"


def _contracts(outcomes: Sequence[dict[str, str]]) -> str:
    """The contract items that checked this image, and how they ended."""
    passed = sum(1 for o in outcomes if o["outcome"] == "passed")
    rows = "".join(
        f'<tr class="contract {escape(o["outcome"])}"><td>{escape(o["outcome"])}</td><td>{escape(o["test"])}</td></tr>'
        for o in outcomes
    )
    return f'<h3>Contracts: {passed} of {len(outcomes)} passed</h3><table class="lint">{rows}</table>'


def _lint(findings: Sequence[dict[str, Any]]) -> str:
    if not findings:
        return '<h3>Lint</h3><p class="none">no finding</p>'
    rows = "".join(
        f'<tr class="{escape(f["severity"])}"><td>{f["line"]}</td><td>{escape(f["rule"])}</td>'
        f"<td>{escape(f['severity'])}</td><td>{escape(f['message'])}</td></tr>"
        for f in findings
    )
    return f'<h3>Lint</h3><table class="lint"><tr><th>line</th><th>rule</th><th></th><th></th></tr>{rows}</table>'


def _image(number: int, image: dict[str, Any], compared: str = "") -> str:
    kind = image["kind"]
    size = f"{human_size(image['size'])}, " if kind != "failed" else ""
    out = [
        f'<section class="image {kind}" id="image-{number}" data-kind="{kind}" data-title="{escape(image["title"])}">',
        f"<h2>{escape(image['title'])}</h2>",
        f'<p class="meta">{kind}, {size}{escape(str(image["backend"]))} backend, {image["seconds"]:.1f} s'
        + (f", image {escape(image['image_id'][7:19])}" if image.get("image_id") else "")
        + "</p>",
    ]
    if image.get("failure"):
        out.append(_failure(image["failure"]))
    if kind != "failed":
        out.append("<h3>Size by layer</h3>")
        out.append(_bars([(layer["instruction"], layer["size"]) for layer in image["layers"]], "bar layer"))
        out.append("<h3>Size by source</h3>")
        out.append(_bars([(source["source"], source["size"]) for source in image["sources"]], "bar src"))
        if image.get("folders"):
            out.append("<h3>Folders of the final file tree</h3>")
            out.append(treemap(image["folders"]))
        if image.get("efficiency"):
            out.append(_efficiency(image["efficiency"]))
    if image["stages"]:
        out.append("<h3>Stages</h3>")
        out.append(_graph(image["stages"], image.get("failure")))
    out.append(_timeline(image))
    out.append(compared)
    out += [_versus(image["size"], pair) for pair in image.get("versus") or []]
    if image.get("baseline"):
        out.append("<h3>Size baseline: the last runs</h3>" + "".join(_trend(r) for r in image["baseline"]))
    if image.get("contracts"):
        out.append(_contracts(image["contracts"]))
    if "lint" in image:
        out.append(_lint(image["lint"]))
    out.append("</section>")
    return "\n".join(out)


def _failure(failure: dict[str, Any]) -> str:
    step = f", step {failure['step']}/{failure['steps_in_stage']}" if failure.get("step") is not None else ""
    lines = [f"failed in stage {failure['stage']!r}{step}" + (f" (line {failure['line']})" if failure["line"] else "")]
    if failure.get("instruction"):
        lines.append(f"  {failure['instruction']}")
    lines.append(f"exit code: {failure['exit_code']}" if failure["exit_code"] is not None else failure["reason"])
    return f'<p class="failure">{escape(chr(10).join(lines))}</p>'


def _bars(rows: Sequence[tuple[str, int]], kind: str) -> str:
    """A horizontal bar chart, each bar labelled; widths proportional to the values."""
    if not rows:
        return '<p class="none">no layer with bytes</p>'
    largest = max(size for _, size in rows) or 1
    height = ROW * len(rows) + 4
    out = [f'<svg class="chart" width="{LABEL_WIDTH + BAR_WIDTH + 90}" height="{height}" role="img">']
    for position, (label, size) in enumerate(rows):
        y = position * ROW + 2
        width = BAR_WIDTH * size / largest
        shown = label if len(label) <= 60 else label[:57] + "..."
        out.append(
            f'<text x="0" y="{y + 14}"><title>{escape(label)}</title>{escape(shown)}</text>'
            f'<rect class="{kind}" x="{LABEL_WIDTH}" y="{y}" width="{width:.3f}" height="{ROW - 4}" '
            f'data-bytes="{size}" data-label="{escape(label)}"></rect>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 14}">{human_size(size)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _graph(stages: Sequence[dict[str, Any]], failure: dict[str, Any] | None) -> str:
    """Stages as boxes in file order, FROM (solid) and COPY --from (dashed) as arrows."""
    where = {stage["ref"]: position for position, stage in enumerate(stages)}
    width = len(stages) * (STAGE_W + STAGE_GAP)
    out = [
        f'<svg class="graph" width="{width}" height="{STAGE_H + 60}" role="img">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0 0L10 5L0 10z" fill="#555"></path></marker></defs>',
    ]
    for position, stage in enumerate(stages):
        edges = [(stage["from_stage"], "from")] if stage["from_stage"] is not None else []
        edges += [(copy["stage"], "copy") for copy in stage["copies_from"] if copy["stage"] is not None]
        for source, kind in edges:
            if source not in where:
                continue
            x1 = where[source] * (STAGE_W + STAGE_GAP) + STAGE_W
            x2 = position * (STAGE_W + STAGE_GAP)
            y = 20 + STAGE_H // 2 + (10 if kind == "copy" else -10)
            if where[source] + 1 != position:  # around the stages in between, below them
                y = 20 + STAGE_H + 14 + (8 if kind == "copy" else 0)
            out.append(f'<line class="{kind}" data-from="{escape(source)}" data-to="{escape(stage["ref"])}" '
                       f'x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" marker-end="url(#arrow)"></line>')  # fmt: skip
    for position, stage in enumerate(stages):
        x = position * (STAGE_W + STAGE_GAP)
        detail = stage["status"]
        if stage["status"] == "failed" and failure is not None:
            detail = f"step {failure.get('step')}, exit code {failure.get('exit_code')}"
        elif stage["from_stage"] is None:
            detail = f"FROM {stage['base']} · {stage['status']}"
        out.append(
            f'<g class="stage" data-stage="{escape(stage["ref"])}" data-status="{stage["status"]}">'
            f'<rect x="{x}" y="20" width="{STAGE_W}" height="{STAGE_H}" rx="6"></rect>'
            f'<text x="{x + 8}" y="42" font-weight="bold">{escape(stage["ref"])}</text>'
            f'<text class="detail" x="{x + 8}" y="64">{escape(detail[:28])}<title>{escape(detail)}</title></text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _timeline(image: dict[str, Any]) -> str:
    """Seconds per step, per built stage; cached steps grey."""
    stages = [stage for stage in image["stages"] if stage["steps"]]
    if image["kind"] == "reused":
        return '<h3>Steps</h3><p class="none">reused from an earlier run: its steps are not known</p>'
    if not stages:
        return ""
    # at least a second wide: a build of a few milliseconds per step shows short bars, not full ones
    largest = max([STEP_SCALE, *((step["seconds"] or 0.0) for stage in stages for step in stage["steps"])])
    out = ["<h3>Steps (seconds; grey: from the layer cache)</h3>"]
    for stage in stages:
        out.append(f'<div class="timeline" data-stage="{escape(stage["ref"])}"><b>{escape(stage["ref"])}</b><br>')
        out.append(f'<svg width="{LABEL_WIDTH + BAR_WIDTH + 90}" height="{ROW * len(stage["steps"]) + 4}">')
        for position, step in enumerate(stage["steps"]):
            seconds = step["seconds"] or 0.0
            y = position * ROW + 2
            width = BAR_WIDTH * seconds / largest
            state = {True: "cached", False: "built", None: "from"}[step["cached"]]
            said = "base image" if state == "from" else state
            text = f"{step['step']}. {step['instruction']}"
            out.append(
                f'<text x="0" y="{y + 14}">{escape(text[:60])}<title>{escape(text)}</title></text>'
                f'<rect class="step {state}" x="{LABEL_WIDTH}" y="{y}" width="{width:.3f}" height="{ROW - 4}" '
                f'data-seconds="{seconds:.3f}"></rect>'
                f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 14}">{seconds:.2f} s {said}</text>'
            )
        out.append("</svg></div>")
    return "\n".join(out)


def _versus(size: int, pair: dict[str, Any]) -> str:
    """A final image against another target of its Dockerfile: the size ratio, and the biggest
    paths it added and removed."""
    out = [
        f'<div class="versus" data-other="{escape(pair["other"])}" data-ratio="{pair["ratio"]:.6f}">'
        f"<h3>Against {escape(pair['other'])} ({human_size(pair['other_size'])}): "
        f"{_ratio(size, pair['other_size'])}</h3>"
    ]
    for kind in ("added", "removed"):
        changes = pair[kind]
        groups = changes.get("groups", len(changes["paths"]))
        shown = f", the biggest {len(changes['paths'])} of {groups} groups" if groups > len(changes["paths"]) else ""
        out.append(
            f'<p class="meta {kind}" data-count="{changes["count"]}" data-bytes="{changes["size"]}">'
            f"{kind}: {changes['count']} paths, {human_size(changes['size'])}{shown}</p>"
        )
        rows = "".join(
            f'<tr class="{kind}" data-path="{escape(p["path"])}" data-count="{p["count"]}" data-bytes="{p["size"]}">'
            f"<td>{escape(p['path'])}</td><td>{p['count']} {'path' if p['count'] == 1 else 'paths'}</td>"
            f"<td>{human_size(p['size'])}</td></tr>"
            for p in changes["paths"]
        )
        out.append(f'<table class="lint">{rows}</table>' if rows else "")
    if pair["changed"]:
        out.append(f'<p class="meta">{pair["changed"]} paths in both changed</p>')
    return "".join(out) + "</div>"


def _trend(record: dict[str, Any]) -> str:
    """A size baseline's history as a sparkline (a point per run, oldest left) with the recorded
    size and the budget it allows, and the figures: first, last, min, max."""
    points = record["history"]
    sizes = [int(p["size"]) for p in points]
    low, high = min(*sizes, int(record["size"])), max(*sizes, int(record["budget"]))
    span = (high - low) or 1

    def y(value: int) -> float:
        return 4 + (TREND_H - 8) * (high - int(value)) / span

    step = (TREND_W - 8) / max(len(points) - 1, 1)
    xy = [(4 + n * step, y(value)) for n, value in enumerate(sizes)]
    out = [f'<div class="trend" data-name="{escape(record["name"])}" data-points="{len(points)}">',
           f'<svg class="trend" width="{TREND_W}" height="{TREND_H}" role="img">']  # fmt: skip
    for kind, value in (("budget", record["budget"]), ("baseline", record["size"])):
        out.append(f'<line class="{kind}" x1="0" x2="{TREND_W}" y1="{y(value):.2f}" y2="{y(value):.2f}" '
                   f'data-bytes="{value}"><title>{kind} {human_size(value)}</title></line>')  # fmt: skip
    out.append(f'<polyline class="trend" points="{" ".join(f"{x:.2f},{v:.2f}" for x, v in xy)}"></polyline>')
    for (x, v), point in zip(xy, points, strict=True):
        label = f"{point.get('time') or '?'}: {human_size(point['size'])}, {point['layers']} layers"
        out.append(f'<circle class="point" cx="{x:.2f}" cy="{v:.2f}" r="2.5" data-bytes="{point["size"]}" '
                   f'data-layers="{point["layers"]}"><title>{escape(label)}</title></circle>')  # fmt: skip
    first, last = sizes[0], sizes[-1]
    out.append(
        f'</svg><span class="trend-figures" data-first="{first}" data-last="{last}" data-min="{min(sizes)}" '
        f'data-max="{max(sizes)}"><b>{escape(record["name"])}</b>: {len(points)} runs, first {human_size(first)}, '
        f"last {human_size(last)}, min {human_size(min(sizes))}, max {human_size(max(sizes))}; baseline "
        f"{human_size(record['size'])} ({record['layers']} layers), budget {human_size(record['budget'])} "
        f"(+{record['tolerance']:.0%})</span></div>"
    )
    return "".join(out)
