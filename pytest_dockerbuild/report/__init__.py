"""The build report: every build of a run as JSON (:mod:`.data`), a self-contained HTML
page of it (:mod:`.html`), and size bars for the terminal (:mod:`.terminal`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_dockerbuild.report.data import (
    REPORT_VERSION,
    attach_baselines,
    attribute_layers,
    build_entry,
    builders_of,
    collect,
    failure_entry,
    lint_entries,
    merge,
    versus,
)
from pytest_dockerbuild.report.html import BAR_WIDTH, CSP, render
from pytest_dockerbuild.report.terminal import size_bars

__all__ = [
    "BAR_WIDTH",
    "CSP",
    "REPORT_VERSION",
    "attach_baselines",
    "attribute_layers",
    "build_entry",
    "builders_of",
    "collect",
    "failure_entry",
    "lint_entries",
    "merge",
    "render",
    "size_bars",
    "versus",
    "write_report",
]


def write_report(data: dict[str, Any], folder: Path) -> Path:
    """Write ``report.json`` and ``report.html`` into ``folder`` (made if missing); the HTML's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    page = folder / "report.html"
    page.write_text(render(data), encoding="utf-8")
    return page
