"""The pytest side of pytest-dockerbuild: options, fixtures, report sections, summary.

Glue only: building, inspecting and running live in the library modules.
"""

from __future__ import annotations

import fnmatch
import os
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
import pytest
import requests

from pytest_dockerbuild.build.builder import Builder, BuildResult
from pytest_dockerbuild.dockerfile.model import parse_image_map
from pytest_dockerbuild.engine.client import LABEL_RUN, Engine, endpoint
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.errors import BuildFailed, DockerbuildError, EngineUnavailable
from pytest_dockerbuild.image.image import human_size
from pytest_dockerbuild.plugin.lint_items import DockerfileFile
from pytest_dockerbuild.runtime.containers import Container, Network, Runtime

# Image contracts (container-structure-test files) bring their own hooks and options.
pytest_plugins = ["pytest_dockerbuild.plugin.contract_items"]

BACKEND_CHOICES = ("auto", "classic", "buildkit")
TRUTHY = {"1", "true", "yes", "y", "on"}
REPORT_LOG_LINES = 200  #: lines of a build log attached to a failing test's report


@dataclass
class _State:
    """Per-process plugin state, kept in ``config.stash``."""

    engine: Engine | None = None
    builder: Builder | None = None
    runtime: Runtime | None = None
    engine_error: EngineUnavailable | None = None
    current: pytest.Item | None = None
    #: labels this run's containers and networks; pytest-xdist workers get the controller's
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    workers: bool = False  #: this process is a pytest-xdist controller with workers


STATE = pytest.StashKey[_State]()
ITEM_BUILDS = pytest.StashKey[list["BuildResult | DockerbuildError"]]()
ITEM_CONTAINERS = pytest.StashKey[list[Container]]()


@dataclass
class _Options:
    backend: str
    image_map: dict[str, str]
    reuse: bool
    log_lines: int
    require_engine: bool
    lint_ignore: list[str] = field(default_factory=list)
    keep_images: int = 3


# -- options ---------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dockerbuild", "Docker builds (pytest-dockerbuild)")
    group.addoption(
        "--dockerbuild-backend",
        choices=BACKEND_CHOICES,
        default=None,
        help="Builder to use: auto (BuildKit where docker buildx works, else classic), classic or buildkit.",
    )
    group.addoption(
        "--dockerbuild-base-image",
        action="append",
        default=[],
        metavar="IMAGE=REPLACEMENT",
        help="Build FROM REPLACEMENT wherever a Dockerfile says FROM IMAGE (repeatable; adds to the ini list).",
    )
    group.addoption(
        "--dockerbuild-rebuild",
        action="store_true",
        default=False,
        help="Build through the engine even when an earlier run built the same content "
        "(the layer cache still applies).",
    )
    group.addoption(
        "--dockerbuild-prune",
        nargs="?",
        const="*",
        default=None,
        metavar="PROJECT",
        help="Remove what pytest-dockerbuild made and no run in progress uses, then exit: the containers and "
        "networks of ended runs, and the images built from folders under the rootdir (or from folders that are "
        "gone); with PROJECT (a context folder, or a project id as the summary shows it), that project's images.",
    )
    parser.addini("dockerbuild_backend", "Default builder: auto, classic or buildkit.", default="auto")
    parser.addini(
        "dockerbuild_base_images",
        "FROM substitutions, one IMAGE=REPLACEMENT per line (for air-gapped CI and registry mirrors).",
        type="linelist",
        default=[],
    )
    group.addoption(
        "--dockerbuild-lint",
        action="store_true",
        default=False,
        help="Collect Dockerfiles (dockerbuild_lint_files) as test items that run the static checks.",
    )
    parser.addini(
        "dockerbuild_lint", "Collect Dockerfiles as static-check items (like --dockerbuild-lint).", type="bool"
    )
    parser.addini(
        "dockerbuild_lint_files",
        "File name patterns of the Dockerfiles collected by --dockerbuild-lint.",
        type="linelist",
        default=["Dockerfile", "Dockerfile.*", "*.Dockerfile"],
    )
    parser.addini("dockerbuild_lint_ignore", "Rule ids the static checks skip (e.g. DL3006 DB001).", type="args")
    parser.addini("dockerbuild_log_lines", "Lines of build log shown in a build failure.", default="20")
    parser.addini(
        "dockerbuild_keep_images",
        "How many images per project and stage the plugin keeps tagged (for reuse and the layer cache); "
        "older ones are untagged at the end of a run that builds the project.",
        default="3",
    )
    parser.addini(
        "dockerbuild_require_engine",
        "Fail (instead of skip) tests that need Docker when no engine answers; on by default when CI is set.",
        type="bool",
        default=False,
    )


def _options(config: pytest.Config) -> _Options:
    backend = config.getoption("dockerbuild_backend") or str(config.getini("dockerbuild_backend")).strip()
    if backend not in BACKEND_CHOICES:
        raise pytest.UsageError(f"dockerbuild_backend = {backend!r}: use one of {', '.join(BACKEND_CHOICES)}")
    try:
        image_map = parse_image_map(config.getini("dockerbuild_base_images"), "dockerbuild_base_images (ini)")
        image_map.update(parse_image_map(config.getoption("dockerbuild_base_image"), "--dockerbuild-base-image"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    log_lines, keep = (_whole_number(config, name) for name in ("dockerbuild_log_lines", "dockerbuild_keep_images"))
    require = bool(config.getini("dockerbuild_require_engine")) or os.environ.get("CI", "").lower() in TRUTHY
    return _Options(
        backend, image_map, not config.getoption("dockerbuild_rebuild"), log_lines, require,
        lint_ignore=list(config.getini("dockerbuild_lint_ignore")), keep_images=keep,
    )  # fmt: skip


def _whole_number(config: pytest.Config, name: str) -> int:
    try:
        value = int(str(config.getini(name)))
    except ValueError:
        raise pytest.UsageError(f"{name} must be a whole number") from None
    if value < 0:
        raise pytest.UsageError(f"{name} must not be negative")
    return value


def pytest_configure(config: pytest.Config) -> None:
    _options(config)  # bad values are usage errors at once
    config.addinivalue_line("markers", "dockerbuild_lint: a Dockerfile collected for the static checks")
    state = _State()
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "dockerbuild_run_id" in workerinput:
        state.run_id = workerinput["dockerbuild_run_id"]
    config.stash[STATE] = state


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """pytest-xdist: workers label what they create with the controller's run id."""
    config = node.config  # type: ignore[attr-defined]
    state = config.stash[STATE]
    state.workers = True
    node.workerinput["dockerbuild_run_id"] = state.run_id  # type: ignore[attr-defined]


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    project = config.getoption("dockerbuild_prune")
    if project is None:
        return None
    try:
        engine = Engine()
    except EngineUnavailable as error:
        print(f"dockerbuild: {error}")
        return 1
    try:
        name = None if project == "*" else _project_named(engine, project)
        report = engine.prune(name, root=config.rootpath)
    except DockerbuildError as error:
        print(f"dockerbuild: {error}")
        return 4
    finally:
        engine.close()
    print(f"dockerbuild: {report}")
    return 0


def _project_named(engine: Engine, given: str) -> str:
    """The project id of ``--dockerbuild-prune=PROJECT``: a context folder, or a project id."""
    if Path(given).is_dir():
        return project_id(Path(given))
    known = engine.project_ids()
    if given in known:
        return given
    alike = sorted(p for p in known if p.rpartition("-")[0] == given)
    hint = f"; projects of that folder name: {', '.join(alike)}" if alike else ""
    raise DockerbuildError(f"--dockerbuild-prune={given}: no such folder, and no project has that id{hint}")


def pytest_report_header(config: pytest.Config) -> str:
    try:
        engine = _engine(config)
    except EngineUnavailable as error:
        return f"dockerbuild: no Docker Engine ({error.reason})"
    return f"{engine.info().header()}; run {engine.run_id} (label {LABEL_RUN})"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if not (config.getoption("dockerbuild_lint") or config.getini("dockerbuild_lint")):
        return None
    if not any(fnmatch.fnmatchcase(file_path.name, p) for p in config.getini("dockerbuild_lint_files")):
        return None
    options = _options(config)
    return DockerfileFile.from_parent(parent, path=file_path, image_map=options.image_map, ignore=options.lint_ignore)


# -- engine and builder ------------------------------------------------------------
def _engine(config: pytest.Config) -> Engine:
    state = config.stash[STATE]
    if state.engine is None:
        if state.engine_error is not None:
            raise state.engine_error
        try:
            state.engine = Engine(run_id=state.run_id, worker=_worker_id(config) or "main")
        except EngineUnavailable as error:
            state.engine_error = error
            raise
        state.engine.sweep()
    return state.engine


def _builder(config: pytest.Config) -> Builder:
    state = config.stash[STATE]
    if state.builder is None:
        options = _options(config)
        factory = getattr(config, "_tmp_path_factory", None)  # pytest's tmp_path_factory, also without a fixture
        basetemp = factory.getbasetemp() if factory is not None else None
        shared = None
        if _worker_id(config) is not None and basetemp is not None:  # workers' basetemps share the controller's
            shared = basetemp.parent / f"dockerbuild-builds-{state.run_id}"
        state.builder = Builder(
            _engine(config),
            options.image_map,
            options.backend,
            reuse=options.reuse,
            log_tail=options.log_lines,
            shared_dir=shared,
            lint_ignore=options.lint_ignore,
            log_dir=basetemp / "dockerbuild-logs" if basetemp is not None else None,
        )
        state.builder.add_listener(lambda outcome: _record(state, outcome))
    return state.builder


def _worker_id(config: pytest.Config) -> str | None:
    """``gw0``... in a pytest-xdist worker, else None (not read from the environment, which
    a pytest started by a test inherits)."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput.get("workerid", "gw"))


def _runtime(config: pytest.Config) -> Runtime:
    state = config.stash[STATE]
    if state.runtime is None:
        state.runtime = Runtime(_engine(config))
        state.runtime.add_listener(lambda container: _record_container(state, container))
    return state.runtime


def _record_container(state: _State, container: Container) -> None:
    if state.current is not None:
        state.current.stash.setdefault(ITEM_CONTAINERS, []).append(container)


def _record(state: _State, outcome: BuildResult | DockerbuildError) -> None:
    if state.current is not None:
        builds = state.current.stash.setdefault(ITEM_BUILDS, [])
        if not any(existing is outcome for existing in builds):
            builds.append(outcome)


# -- fixtures ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def dockerbuild_engine(pytestconfig: pytest.Config) -> Engine:
    """The Docker Engine connection of this run (docker SDK client as ``.client``).

    Skips the test when no engine answers, or fails it when ``CI`` is set or
    ``dockerbuild_require_engine = true``.
    """
    return engine_or_skip(pytestconfig)


def engine_or_skip(config: pytest.Config) -> Engine:
    """The engine; without one, skip the test, or fail it when an engine is required (CI)."""
    try:
        return _engine(config)
    except EngineUnavailable as error:
        if _options(config).require_engine:
            pytest.fail(str(error), pytrace=False)
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def dockerbuild(pytestconfig: pytest.Config, dockerbuild_engine: Engine) -> Builder:
    """Build Dockerfiles and their stages: ``dockerbuild.build(context, target=...)``.

    Results are cached per content key for the session; ``expect_failure``
    asserts that a build fails (in a given stage); ``image(ref)`` inspects any image.
    Under pytest-xdist, each image is built once per run, by the first worker that needs it.
    """
    return _builder(pytestconfig)


@pytest.fixture(scope="session")
def dockerbuild_runtime(pytestconfig: pytest.Config, dockerbuild_engine: Engine) -> Runtime:
    """Start containers and networks: ``dockerbuild_runtime.network("app")``,
    ``dockerbuild_runtime.run(image, ports=[80], wait=HttpReady("/health"))``.

    Everything it creates is labelled with the run id and removed at the end of
    the run at the latest (or by the next run, if this one is killed).
    """
    return _runtime(pytestconfig)


def _network(request: pytest.FixtureRequest, runtime: Runtime) -> Iterator[Network]:
    network = runtime.network(request.node.name)
    try:
        yield network
    finally:
        network.remove()


@pytest.fixture
def dockerbuild_network(request: pytest.FixtureRequest, dockerbuild_runtime: Runtime) -> Iterator[Network]:
    """A user-defined bridge network for one test; its containers reach each other by alias:
    ``dockerbuild_network.run(image, aliases=["api"], ports=[80])``."""
    yield from _network(request, dockerbuild_runtime)


@pytest.fixture(scope="module")
def dockerbuild_module_network(request: pytest.FixtureRequest, dockerbuild_runtime: Runtime) -> Iterator[Network]:
    """Like ``dockerbuild_network``, shared by the tests of a module."""
    yield from _network(request, dockerbuild_runtime)


@pytest.fixture(scope="session")
def dockerbuild_session_network(request: pytest.FixtureRequest, dockerbuild_runtime: Runtime) -> Iterator[Network]:
    """Like ``dockerbuild_network``, shared by the whole run."""
    yield from _network(request, dockerbuild_runtime)


# -- reports -----------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    state = item.config.stash[STATE]
    state.current = item
    try:
        return (yield)
    finally:
        state.current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.excinfo is not None and _engine_went_away(item.config, call.excinfo.value):
        lost = item.config.stash[STATE].engine_error
        assert lost is not None
        report.longrepr = (
            f"dockerbuild: the Docker Engine at {lost.endpoint} went away; stopping the run\n{lost.reason}"
        )
        item.session.shouldfail = "the Docker Engine went away"
    elif report.failed:
        _attach_logs(item, report)
    return report


def _engine_went_away(config: pytest.Config, error: BaseException) -> bool:
    """True if ``error`` is a lost connection and the engine no longer answers."""
    if not isinstance(error, (requests.ConnectionError, docker.errors.DockerException, DockerbuildError)):
        return False
    state = config.stash[STATE]
    if state.engine is None:
        return False
    try:
        state.engine.client.ping()
    except (requests.RequestException, docker.errors.DockerException) as lost:
        reason = str(lost).splitlines()[0][:300]
        state.engine_error = EngineUnavailable(endpoint(), reason)
        return True
    return False


def _attach_logs(item: pytest.Item, report: pytest.TestReport) -> None:
    builds: list[BuildResult | DockerbuildError] = item.stash.get(ITEM_BUILDS, [])
    seen: list[object] = list(builds)
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, BuildResult) and not any(value is s for s in seen):
            seen.append(value)
    recorded: list[Container] = item.stash.get(ITEM_CONTAINERS, [])
    containers = list(recorded)
    for value in getattr(item, "funcargs", {}).values():
        candidates = value.containers if isinstance(value, Network) else [value]
        containers += [c for c in candidates if isinstance(c, Container) and c not in containers]
    for container in containers:
        aliases = f" ({', '.join(container.aliases)})" if container.aliases else ""
        report.sections.append((f"dockerbuild container {container.name}{aliases}", container.logs(tail=200)))
    for build in seen:
        if isinstance(build, BuildResult) and build.log:
            title = f"dockerbuild log: {build.request.describe()}"
            report.sections.append((title, _log_section(build.log, build.log_file)))
        elif isinstance(build, BuildFailed) and build.log:
            title = f"dockerbuild log: {build.dockerfile} (failed)"
            report.sections.append((title, _log_section(build.log, build.log_file, build.log_lines)))


def _log_section(log: Sequence[str], path: Path | None, total: int | None = None) -> str:
    """The last lines of a build log, and where the whole of it is."""
    total = total if total is not None else getattr(log, "total", len(log))
    shown = list(log)[-REPORT_LOG_LINES:]
    lines = [f"({total - len(shown)} earlier lines in {path})"] if path is not None and total > len(shown) else []
    if path is not None and total <= len(shown):
        lines.append(f"(the whole log: {path})")
    return "\n".join([*lines, *shown])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    builder = config.stash[STATE].builder
    if builder is None or not (builder.results or builder.failures) or config.option.verbose < 0:
        return
    reused = sum(1 for r in builder.results if r.reused or r.shared)
    expected = [f for f in builder.failures if builder.is_expected(f)]
    failed = [f for f in builder.failures if not builder.is_expected(f)]
    title = f"dockerbuild: {len(builder.results) - reused} images built, {reused} reused, {len(failed)} failed builds"
    title += f", {len(expected)} expected failures" if expected else ""
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", title)
    write(f"{'backend':8} {'size':>10} {'time':>9} {'cached':>8}  image / stage")
    for result in builder.results:
        if result.reused or result.shared:
            cached = "reused" if result.reused else "shared"
        else:
            cached = f"{result.cache_hits}/{result.cacheable_steps}"
        write(f"{result.backend:8} {human_size(result.image.size):>10} {result.seconds:7.1f} s {cached:>8}  "
              f"{result.request.describe()}")  # fmt: skip
        for stage in result.stages:
            if stage.steps and config.option.verbose > 0:
                cached = f"{stage.cache_hits}/{stage.cacheable_steps}"
                write(f"{'':8} {'':>10} {stage.seconds:7.1f} s {cached:>8}    stage {stage.ref}")
    for failure in builder.failures:
        state = "expected" if builder.is_expected(failure) else "FAILED"
        write(f"{failure.backend:8} {state:>10} {'':>9} {'':>8}  {failure.dockerfile}"
              f" (stage {failure.stage!r}, step {failure.step})")  # fmt: skip


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    if state.engine is None and state.workers:  # an xdist controller: sweep what killed workers left
        try:
            state.engine = Engine(run_id=state.run_id)
        except EngineUnavailable:
            return
    if state.engine is not None:
        projects = state.builder.projects if state.builder is not None else set()
        try:
            state.engine.remove_run_resources(own_only=_worker_id(session.config) is not None)
            state.engine.finish(projects, keep=_options(session.config).keep_images)
        except (requests.RequestException, docker.errors.DockerException):
            pass  # the engine went away: the next run sweeps what is left
        state.engine.close()
        state.engine = None
