"""What the plugin adds to pytest's reports: the header line, the build logs and
container logs of a failing test, one clear error when the engine goes away,
and the summary table of the run's builds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_dockerbuild.build import Builder, BuildResult
from pytest_dockerbuild.engine.naming import LABEL_RUN
from pytest_dockerbuild.errors import BuildFailed, DockerbuildError, EngineUnavailable
from pytest_dockerbuild.image import human_size
from pytest_dockerbuild.plugin.session import ITEM, ItemRecord, Session
from pytest_dockerbuild.runtime import Container, Network

__all__ = ["REPORT_LOG_LINES", "annotate", "header", "summary"]

REPORT_LOG_LINES = 200  #: lines of a build log attached to a failing test's report


def header(session: Session) -> str:
    try:
        engine = session.engine()
    except EngineUnavailable as error:
        return f"dockerbuild: no Docker Engine ({error.reason})"
    return f"{engine.info().header()}; run {engine.run_id} (label {LABEL_RUN})"


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
    for build in _builds(item, record):
        if isinstance(build, BuildResult) and build.log:
            title = f"dockerbuild log: {build.request.describe()}"
            report.sections.append((title, _log_section(build.log, build.log_file)))
        elif isinstance(build, BuildFailed) and build.log:
            title = f"dockerbuild log: {build.dockerfile} (failed)"
            report.sections.append((title, _log_section(build.log, build.log_file, build.log_lines)))


def _containers(item: pytest.Item, record: ItemRecord) -> list[Container]:
    """The containers the test started, and those of its arguments (a network's too)."""
    containers = list(record.containers)
    for value in getattr(item, "funcargs", {}).values():
        candidates = value.containers if isinstance(value, Network) else [value]
        containers += [c for c in candidates if isinstance(c, Container) and c not in containers]
    return containers


def _builds(item: pytest.Item, record: ItemRecord) -> list[BuildResult | DockerbuildError]:
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


def summary(reporter: pytest.TerminalReporter, builder: Builder | None, verbose: int) -> None:
    """The table of the run's builds: built or reused, size, time, cache, failures."""
    if builder is None or not (builder.results or builder.failures) or verbose < 0:
        return
    reused = sum(1 for r in builder.results if r.reused or r.shared)
    expected = [f for f in builder.failures if builder.is_expected(f)]
    failed = len(builder.failures) - len(expected)
    title = f"dockerbuild: {len(builder.results) - reused} images built, {reused} reused, {failed} failed builds"
    reporter.write_sep("=", title + (f", {len(expected)} expected failures" if expected else ""))
    write = reporter.write_line
    write(f"{'backend':8} {'size':>10} {'time':>9} {'cached':>8}  image / stage")
    for result in builder.results:
        cached = f"{result.cache_hits}/{result.cacheable_steps}"
        if result.reused or result.shared:
            cached = "reused" if result.reused else "shared"
        write(f"{result.backend:8} {human_size(result.image.size):>10} {result.seconds:7.1f} s {cached:>8}  "
              f"{result.request.describe()}")  # fmt: skip
        for stage in result.stages if verbose > 0 else []:
            if stage.steps:
                cached = f"{stage.cache_hits}/{stage.cacheable_steps}"
                write(f"{'':8} {'':>10} {stage.seconds:7.1f} s {cached:>8}    stage {stage.ref}")
    for failure in builder.failures:
        state = "expected" if builder.is_expected(failure) else "FAILED"
        write(f"{failure.backend:8} {state:>10} {'':>9} {'':>8}  {failure.dockerfile}"
              f" (stage {failure.stage!r}, step {failure.step})")  # fmt: skip
