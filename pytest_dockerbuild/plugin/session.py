"""The plugin's state in one pytest process (:class:`Session`, kept in
``config.stash``): the run id, the engine, builder and runtime (made when first
needed), the test running and what it used, and the end of the run.

Under pytest-xdist, the controller gives its run id to the workers, so that
everything the run creates carries it; each worker builds and starts its own
containers, and the controller removes at the end what killed workers left.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
import pytest
import requests

from pytest_dockerbuild.build import Builder, BuildResult
from pytest_dockerbuild.build.prebuild import Prebuilds, PrebuildSpec
from pytest_dockerbuild.engine.cleanup import Cleanup
from pytest_dockerbuild.engine.client import Engine, endpoint
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.engine.pool import EnginePool, RegistryShare, docker_host
from pytest_dockerbuild.errors import DockerbuildError, EngineUnavailable
from pytest_dockerbuild.plugin.options import Options
from pytest_dockerbuild.runtime import Container, Runtime

__all__ = ["ItemRecord", "Session", "prune_command"]


@dataclass
class ItemRecord:
    """What one test used: the build outcomes and containers its report shows."""

    builds: list[BuildResult | DockerbuildError] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)


ITEM = pytest.StashKey[ItemRecord]()


class Session:
    """The plugin's state for one pytest process."""

    KEY = pytest.StashKey["Session"]()

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        workerinput = getattr(config, "workerinput", None)
        #: ``gw0``... in a pytest-xdist worker (read from its config: a pytest started by a test
        #: inherits the environment), else None
        self.worker: str | None = None if workerinput is None else str(workerinput.get("workerid", "gw"))
        #: labels this run's containers and networks; pytest-xdist workers get the controller's
        self.run_id: str = (workerinput or {}).get("dockerbuild_run_id") or uuid.uuid4().hex[:12]
        if options.baseline is not None:  # the size and layers items of a name on two workers: one point
            options.baseline.run = self.run_id
        if options.engines:  # before anything connects: the engine (and the docker CLI) of this process
            os.environ["DOCKER_HOST"] = EnginePool(options.engines).for_worker(self.worker)
        if options.buildx_builder:  # docker buildx build --builder NAME, for every BuildKit build
            os.environ["BUILDX_BUILDER"] = options.buildx_builder
        self.has_workers = False  #: this process is a pytest-xdist controller with workers
        self.current: pytest.Item | None = None
        self.lost: EngineUnavailable | None = None  #: why the engine cannot be used (set once)
        self._engine: Engine | None = None
        self._builder: Builder | None = None
        self._runtime: Runtime | None = None
        self.prebuilds: Prebuilds | None = None  #: the declared builds started before the first test

    @classmethod
    def start(cls, config: pytest.Config) -> Session:
        session = config.stash[cls.KEY] = cls(config, Options.read(config))
        return session

    @classmethod
    def of(cls, config: pytest.Config) -> Session:
        return config.stash[cls.KEY]

    def configure_node(self, node: object) -> None:
        """pytest-xdist: a worker labels what it creates with the controller's run id."""
        self.has_workers = True
        node.workerinput["dockerbuild_run_id"] = self.run_id  # type: ignore[attr-defined]

    # -- what tests use ------------------------------------------------------------
    def engine(self) -> Engine:
        """The engine (connected, and what dead runs left swept, on first use)."""
        if self._engine is None:
            if self.lost is not None:
                raise self.lost
            basetemp = self._basetemp()
            exports = basetemp / "dockerbuild-exports" if basetemp is not None else None
            try:
                self._engine = Engine(run_id=self.run_id, worker=self.worker or "main", export_dir=exports)
            except EngineUnavailable as error:
                self.lost = error
                raise
            Cleanup(self._engine).sweep()
        return self._engine

    def engine_or_skip(self) -> Engine:
        """The engine; without one, skip the test, or fail it when an engine is required (CI)."""
        try:
            return self.engine()
        except EngineUnavailable as error:  # the header says why and what to do; each test, one line
            line = f"dockerbuild: no Docker Engine at {error.endpoint} (the report header says why)"
        if self.options.require_engine:
            pytest.fail(line, pytrace=False)
        pytest.skip(line)

    def builder(self) -> Builder:
        if self._builder is None:
            basetemp = self._basetemp()
            shared = self.shared_dir() if self.worker is not None else None
            options = self.options
            self._builder = Builder(
                self.engine(), options.image_map, options.backend, reuse=options.reuse, log_tail=options.log_lines,
                shared_dir=shared, lint_ignore=options.lint_ignore,
                log_dir=basetemp / "dockerbuild-logs" if basetemp is not None else None,
                asking=lambda: self.current.path.parent if self.current is not None else None,
                strict_build_args=options.strict_build_args, lint_targets=options.lint_targets,
                push_registry=options.push, transit_registry=options.share_via or options.push,
            )  # fmt: skip
            self._builder.add_listener(lambda outcome: self._record(builds=outcome))
            if len(options.engines) > 1 and options.share_via is not None:
                self._builder.cache.share = RegistryShare(self.engine().client, options.share_via)
        return self._builder

    def prebuild(self, specs: list[PrebuildSpec]) -> None:
        """Start the declared builds (none without an engine: the tests say why)."""
        try:
            builder = self.builder()
        except EngineUnavailable:
            return
        self.prebuilds = Prebuilds(builder)
        self.prebuilds.start(specs)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime(self.engine())
            self._runtime.add_listener(lambda container: self._record(container=container))
        return self._runtime

    @property
    def built(self) -> Builder | None:
        """The builder, if a test used one."""
        return self._builder

    # -- the test running ------------------------------------------------------------
    @contextmanager
    def running(self, item: pytest.Item) -> Iterator[None]:
        self.current = item
        try:
            yield
        finally:
            self.current = None

    def _record(self, builds: BuildResult | DockerbuildError | None = None, container: Container | None = None) -> None:
        if self.current is None:
            return
        record = self.current.stash.setdefault(ITEM, ItemRecord())
        if builds is not None and not any(existing is builds for existing in record.builds):
            record.builds.append(builds)
        if container is not None:
            record.containers.append(container)

    def engine_went_away(self, error: BaseException) -> bool:
        """True if ``error`` is a lost connection and the engine no longer answers."""
        if not isinstance(error, (requests.ConnectionError, docker.errors.DockerException, DockerbuildError)):
            return False
        if self._engine is None:
            return False
        try:
            self._engine.client.ping()
        except (requests.RequestException, docker.errors.DockerException) as lost:
            self.lost = EngineUnavailable(endpoint(), str(lost).splitlines()[0][:300])
            return True
        return False

    # -- the end ------------------------------------------------------------------------
    def finish(self, interrupted: bool = False) -> None:
        """Remove this process's containers and networks and its builds' leftovers; in the last
        process of the run (not an xdist worker) untag old images, for the projects the run
        built, and remove what killed workers left, on every engine of the run."""
        if self.options.baseline is not None:
            self.options.baseline.save()
        if self.prebuilds is not None and not interrupted:
            self.prebuilds.wait()  # declared builds no test got to: journalled and tagged before the clean-up
        self._finish_on(self._engine)
        self._engine = None
        if self.has_workers:  # the other engines of --dockerbuild-engines: what their killed workers left
            for url in EnginePool(self.options.engines).others() if self.options.engines else []:
                with docker_host(url):
                    self._finish_on(None)

    def _finish_on(self, engine: Engine | None) -> None:
        """The end of the run on one engine (``engine``, else ``DOCKER_HOST``'s, in a controller)."""
        if engine is None and self.has_workers:
            try:
                engine = Engine(run_id=self.run_id)
            except EngineUnavailable:
                return
        if engine is None:
            return
        try:
            cleanup = Cleanup(engine)
            cleanup.remove_run_resources(own_only=self.worker is not None)
            if self.worker is not None:
                self._hand_over(engine)
            projects, used = self._gathered()
            cleanup.finish(projects, keep=self.options.keep_images, retain=self.worker is None, used=used)
        except (requests.RequestException, docker.errors.DockerException):
            pass  # the engine went away: the next run sweeps what is left
        engine.close()

    def _basetemp(self) -> Path | None:
        """The run's temporary folder (pytest's ``tmp_path_factory``, also where no fixture asks)."""
        factory = getattr(self.config, "_tmp_path_factory", None)
        return factory.getbasetemp() if factory is not None else None

    def shared_dir(self) -> Path | None:
        """Where the pytest-xdist workers of this run share builds (the controller's basetemp)."""
        basetemp = self._basetemp()
        if basetemp is None:
            return None
        return (basetemp.parent if self.worker is not None else basetemp) / f"dockerbuild-builds-{self.run_id}"

    def _hand_over(self, engine: Engine) -> None:
        """A worker leaves the projects it built, and the images it used, to the controller's
        clean-up (which keeps them: the run used them)."""
        shared = self.shared_dir()
        journal = engine.open_journal
        if shared is None or self._builder is None or journal is None:
            return
        shared.mkdir(parents=True, exist_ok=True)
        projects = {name: str(folder) for name, folder in self._builder.projects.items()}
        (shared / f"handover-{self.worker}.json").write_text(
            json.dumps({"projects": projects, "used": sorted(journal.used)})
        )

    def _gathered(self) -> tuple[dict[str, Path], set[str]]:
        """The projects this process built (with the workers', in a controller), and the images its
        workers used."""
        projects = dict(self._builder.projects) if self._builder is not None else {}
        used: set[str] = set()
        shared = self.shared_dir()
        if self.has_workers and shared is not None:
            for handed in shared.glob("handover-*.json"):
                record = json.loads(handed.read_text())
                projects.update({name: Path(folder) for name, folder in record["projects"].items()})
                used.update(record["used"])
        return projects, used


def prune_command(config: pytest.Config) -> int | None:
    """``--dockerbuild-prune[=PROJECT]``: remove, report, and give the exit code (None: not asked)."""
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
        report = Cleanup(engine).prune(name, root=config.rootpath)
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
