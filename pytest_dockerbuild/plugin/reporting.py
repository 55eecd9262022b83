"""What the plugin adds to pytest's reports: the header line, the build logs and
container logs of a failing test, one clear error when the engine goes away,
and the summary table of the run's builds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

from pytest_dockerbuild.build import Builder, BuildResult
from pytest_dockerbuild.compose import Stacks
from pytest_dockerbuild.engine.client import builder_driver, endpoint
from pytest_dockerbuild.engine.naming import LABEL_RUN
from pytest_dockerbuild.errors import BuildFailed, DockerbuildError, EngineUnavailable
from pytest_dockerbuild.image import human_size
from pytest_dockerbuild.plugin.session import ITEM, ItemRecord, Session
from pytest_dockerbuild.report import attach_baselines, build_entry, collect, merge, size_bars, write_report
from pytest_dockerbuild.runtime import Container, Network

__all__ = [
    "CONTRACTS",
    "ContractOutcomes",
    "REPORT",
    "REPORT_LOG_LINES",
    "annotate",
    "builds_of",
    "build_report",
    "gathered_rows",
    "hand_over_rows",
    "header",
    "report_line",
    "rows",
    "summary",
]

REPORT_LOG_LINES = 200  #: lines of a build log attached to a failing test's report
Rows = dict[str, list[Any]]  #: the summary of one process: "builds" and "failures" (rows), "warnings"
REPORT = pytest.StashKey[str]()  #: the path of the build report written (or why it was not)
#: the outcomes of the contract items of the run, by image id (a pytest-xdist controller sees its workers')
CONTRACTS = pytest.StashKey[dict[str, list[dict[str, str]]]]()


def header(session: Session) -> str:
    try:
        engine = session.engine()
    except EngineUnavailable as error:
        return f"dockerbuild: no Docker Engine: {error}"
    push = session.options.push
    pushing = f"; pushes images whose tests pass to {push}" if push else ""
    builder = session.options.buildx_builder
    pushing += f"; buildx builder {builder} (driver {builder_driver(builder)})" if builder else ""
    engines = session.options.engines
    if len(engines) > 1:
        pushing += f"; {len(engines)} engines (xdist worker i uses engine i mod {len(engines)}), shared via "
        pushing += f"{session.options.share_via}"
    return f"{engine.info().header()} at {endpoint()}; run {engine.run_id} (label {LABEL_RUN}){pushing}"


def annotate(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """A failing test's report: one clear error if the engine went away (and the run stops), else
    the logs of the containers and builds it used."""
    if not report.failed:
        return
    session = Session.of(item.config)
    if call.excinfo is not None and session.engine_went_away(call.excinfo.value):
        assert session.lost is not None
        report.longrepr = (
            f"dockerbuild: the Docker Engine at {session.lost.endpoint} went away; stopping the run\n"
            f"{session.lost.reason}"
        )
        item.session.shouldfail = "the Docker Engine went away"
        return
    record = item.stash.get(ITEM, ItemRecord())
    for container in _containers(item, record):
        aliases = f" ({', '.join(container.aliases)})" if container.aliases else ""
        report.sections.append((f"dockerbuild container {container.name}{aliases}", container.logs(tail=200)))
    for build in builds_of(item, record):
        if isinstance(build, BuildResult) and build.log and session.options.build_logs == "all":
            title = f"dockerbuild log: {build.request.describe()}"
            report.sections.append((title, _log_section(build.log, build.log_file)))
        elif isinstance(build, BuildFailed) and build.log:
            title = f"dockerbuild log: {build.dockerfile} (failed)"
            report.sections.append((title, _log_section(build.log, build.log_file, build.log_lines)))


def _containers(item: pytest.Item, record: ItemRecord) -> list[Container]:
    """The containers the test started, and those of its arguments (a network's too)."""
    containers = list(record.containers)
    for value in getattr(item, "funcargs", {}).values():
        candidates = value.containers if isinstance(value, (Network, Stacks)) else [value]
        containers += [c for c in candidates if isinstance(c, Container) and c not in containers]
    return containers


def builds_of(item: pytest.Item, record: ItemRecord) -> list[BuildResult | DockerbuildError]:
    """The builds the test asked for, and those of its arguments (a session fixture's build)."""
    builds = list(record.builds)
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, BuildResult) and not any(value is seen for seen in builds):
            builds.append(value)
    return builds


def _log_section(log: Sequence[str], path: Path | None, total: int | None = None) -> str:
    """The last lines of a build log, and where the whole of it is."""
    total = total if total is not None else getattr(log, "total", len(log))
    shown = list(log)[-REPORT_LOG_LINES:]
    if path is None:
        return "\n".join(shown)
    where = f"({total - len(shown)} earlier lines in {path})" if total > len(shown) else f"(the whole log: {path})"
    return "\n".join([where, *shown])


def rows(builder: Builder | None, bars: bool = False) -> Rows:
    """The summary's rows of one process's builds, as plain data (a pytest-xdist worker hands them
    to the controller, which prints one table); with ``bars``, each build's size bars (``-v``)."""
    if builder is None:
        return {"builds": [], "failures": [], "warnings": []}
    builds = []
    for result in builder.results:
        cached = f"{result.cache_hits}/{result.cacheable_steps}"
        if result.reused or result.shared:
            cached = "reused" if result.reused else "shared"
        stages = [[stage.ref, stage.seconds, f"{stage.cache_hits}/{stage.cacheable_steps}"]
                  for stage in result.stages if stage.steps]  # fmt: skip
        builds.append({"backend": result.backend, "size": result.image.size, "seconds": result.seconds,
                       "cached": cached, "what": result.request.describe(), "stages": stages,
                       "bars": _bars(result) if bars else []})  # fmt: skip
    failures = [{"backend": failure.backend, "expected": builder.is_expected(failure), "what": _where(failure)}
                for failure in builder.failures]  # fmt: skip
    return {"builds": builds, "failures": failures, "warnings": list(builder.warnings)}


def _bars(result: BuildResult) -> list[str]:
    """The size bars of a build (none if its image can no longer be read)."""
    try:
        return size_bars(build_entry(result))
    except (DockerbuildError, docker.errors.DockerException, requests.RequestException):
        return []


def _where(failure: BuildFailed) -> str:
    """Where a build failed, as far as it is known (else the first line of the engine's error)."""
    if failure.stage is None:
        return f"{failure.dockerfile}: {failure.reason.splitlines()[0][:120] if failure.reason else 'failed'}"
    step = f", step {failure.step}/{failure.steps_in_stage}" if failure.step is not None else ""
    return f"{failure.dockerfile} (stage {failure.stage!r}{step})"


def hand_over_rows(session: Session) -> None:
    """A pytest-xdist worker leaves its summary rows for the controller."""
    shared = session.shared_dir()
    if session.worker is None or shared is None or session.built is None:
        return
    shared.mkdir(parents=True, exist_ok=True)
    (shared / f"summary-{session.worker}.json").write_text(json.dumps(rows(session.built, _verbose(session))))
    if session.options.report is not None:
        (shared / f"report-{session.worker}.json").write_text(json.dumps(collect(session.built)))


def gathered_rows(session: Session) -> list[Rows]:
    """This process's summary rows, and (in a pytest-xdist controller) its workers'."""
    gathered = [rows(session.built, _verbose(session))]
    shared = session.shared_dir()
    if session.has_workers and shared is not None:
        gathered += [json.loads(path.read_text()) for path in sorted(shared.glob("summary-*.json"))]
    return gathered


def summary(reporter: pytest.TerminalReporter, gathered: Sequence[Rows], verbose: int) -> None:
    """One table of the run's builds (of every pytest-xdist worker): built or reused, size, time,
    cache, failures, and what a build was given and did not use."""
    builds = [row for part in gathered for row in part["builds"]]
    failures = [row for part in gathered for row in part["failures"]]
    if not (builds or failures) or verbose < 0:
        return
    reused = sum(1 for row in builds if row["cached"] in ("reused", "shared"))
    expected = sum(1 for row in failures if row["expected"])
    title = (
        f"dockerbuild: {len(builds) - reused} images built, {reused} reused, {len(failures) - expected} failed builds"
    )
    reporter.write_sep("=", title + (f", {expected} expected failures" if expected else ""))
    write = reporter.write_line
    write(f"{'backend':8} {'size':>10} {'time':>9} {'cached':>8}  image / stage")
    for row in builds:
        size = human_size(row["size"])
        write(f"{row['backend']:8} {size:>10} {row['seconds']:7.1f} s {row['cached']:>8}  {row['what']}")
        for ref, seconds, cached in row["stages"] if verbose > 0 else []:
            write(f"{'':8} {'':>10} {seconds:7.1f} s {cached:>8}    stage {ref}")
        for bar in row.get("bars", []) if verbose > 0 else []:
            write(f"{'':8} {bar}")
    for row in failures:
        write(f"{row['backend']:8} {'expected' if row['expected'] else 'FAILED':>10} {'':>9} {'':>8}  {row['what']}")
    for warning in sorted({warning for part in gathered for warning in part["warnings"]}):
        write(f"warning: {warning}")


def _verbose(session: Session) -> bool:
    return int(session.config.option.verbose) > 0


def build_report(session: Session) -> None:
    """The controller (or a run without workers) writes the build report of the run's builds,
    its workers' included, into ``--dockerbuild-report``'s folder."""
    folder = session.options.report
    if folder is None or session.worker is not None:
        return
    try:
        parts = [collect(session.built)]
        shared = session.shared_dir()
        if session.has_workers and shared is not None:
            parts += [json.loads(path.read_text()) for path in sorted(shared.glob("report-*.json"))]
        data = merge(parts)
        attach_baselines(data, session.options.baseline)  # before the run saves its points: merged in
        contracts = session.config.stash.get(CONTRACTS, {})
        for image in data["images"]:
            image["contracts"] = contracts.get(image.get("image_id") or "", [])
        page = write_report(data, folder)
    except (DockerbuildError, OSError, ValueError) as error:
        session.config.stash[REPORT] = f"not written: {error}"
        return
    session.config.stash[REPORT] = str(page)


def report_line(reporter: pytest.TerminalReporter) -> None:
    """The build report's path, as the last line before pytest's own."""
    written = reporter.config.stash.get(REPORT, None)
    if written is not None:
        reporter.write_sep("-", f"dockerbuild report: {written}")


class ContractOutcomes:
    """Keeps the outcome of each contract item (its report names the image it checked) for the
    build report; in a pytest-xdist controller, the reports of its workers' items."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        image = next((value for name, value in report.user_properties if name == "image"), None)
        if report.when != "call" or not isinstance(image, str):
            return
        outcomes = self.config.stash.setdefault(CONTRACTS, {})
        outcomes.setdefault(image, []).append({"test": report.nodeid, "outcome": report.outcome})
