"""A running Compose project (:class:`Stack`): brought up from its files under a project
name unique to the run and worker, its images built by the plugin's builder, each
service ready (the file's healthchecks, and the plugin's waits), and taken down with
everything Compose made for it.

``stack["gallery"]`` is the service's :class:`~pytest_dockerbuild.runtime.Container`
(``.http``, ``.port()``, ``.exec()``, ``.logs()``); ``stack.run(service, command)`` is a
one-shot run of a service.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors

from pytest_dockerbuild.build.inputs import resolve_path
from pytest_dockerbuild.compose.cli import ComposeCli, service_line
from pytest_dockerbuild.compose.project import build_arguments, rewrite
from pytest_dockerbuild.dockerfile import normalize_image
from pytest_dockerbuild.engine.podman import explain_start, podman_healthcheck
from pytest_dockerbuild.errors import (
    BuildFailed,
    ComposeError,
    ContainerExited,
    ContainerNotReady,
    OptionError,
    shown_path,
)
from pytest_dockerbuild.runtime import CompletedRun, Container
from pytest_dockerbuild.runtime.runtime import conditions

if TYPE_CHECKING:
    from pytest_dockerbuild.build import Builder, BuildResult
    from pytest_dockerbuild.runtime import Readiness, Runtime

__all__ = ["PROJECT_LABEL", "Stack", "Stacks", "service_image"]

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"  #: "True" on the containers of ``compose run``


class Stack:
    """The services of Compose files, up (see :meth:`up`) until :meth:`down`."""

    def __init__(
        self,
        runtime: Runtime,
        builder: Builder,
        files: Sequence[Path],
        *,
        profiles: Sequence[str] = (),
        env_files: Sequence[Path] = (),
        waits: Mapping[str, Readiness | Sequence[Readiness]] | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.runtime = runtime
        self.builder = builder
        project = runtime.engine.resource_name("compose").lower()
        self.cli = ComposeCli(project, list(files), Path(files[0]).parent, profiles, env_files)
        self.files = [Path(path) for path in files]  #: the Compose files given
        self.waits = dict(waits or {})
        self.timeout = timeout
        self.builds: dict[str, Any] = {}  #: service -> its BuildResult
        self.containers: list[Container] = []  #: the services' containers, by service name
        self._services: dict[str, Container] = {}
        self._folder = Path(tempfile.mkdtemp(prefix="pytest-dockerbuild-compose-"))
        self._config: dict[str, Any] = {}
        self._run_images: dict[str, str] = {}  #: service -> the image it runs (built, or mapped)

    @property
    def project(self) -> str:
        """The Compose project name (unique to the run, worker and stack)."""
        return self.cli.project

    @property
    def services(self) -> list[str]:
        """The services the stack runs (after profiles), by name."""
        return list((self._config.get("services") or {}).keys())

    def up(self) -> Stack:
        """Check and resolve the files, build, start every service, and wait until each is ready."""
        self.cli.check_files()
        self._config = self.cli.config()
        unknown = sorted(set(self.waits) - set(self.services))
        if unknown:
            raise self.unknown(unknown[0])
        images = {name: self._build(name, service["build"])
                  for name, service in self._config["services"].items() if service.get("build")}  # fmt: skip
        engine = self.runtime.engine
        project = rewrite(self._config, images, self.builder.image_map, engine.labels(), self.runtime.publish_address)
        if engine.podman:
            for spec in project["services"].values():
                if "healthcheck" in spec:
                    spec["healthcheck"] = podman_healthcheck(spec["healthcheck"])
            engine.watch_health()  # before up: a service may wait for another's check
        resolved = self._folder / "compose.json"
        self._run_images = {name: str(spec.get("image") or name) for name, spec in project["services"].items()}
        resolved.write_text(json.dumps(project))
        self.cli.files = [resolved]
        self.cli.profiles = ()
        self.cli.env_files = ()
        try:
            waiting = ["--wait", "--wait-timeout", str(max(1, round(self.timeout)))]
            done = self.cli.run("up", "--detach", *waiting, "--no-build", "--pull", "never", "--remove-orphans",
                                timeout=self.timeout + 60)  # fmt: skip
        except ComposeError as timeout:
            self._adopt()
            raise self._failure(str(timeout)) from None
        self._adopt()
        if done.returncode != 0:
            raise self._failure(done.stderr)
        unready = self._unready(any_exit=False)  # whatever Compose's exit code says
        if unready is not None:
            raise unready
        for name, wait in self.waits.items():
            self[name].wait(*conditions(wait), timeout=self.timeout)
        return self

    def __getitem__(self, service: str) -> Container:
        if service not in self._services:
            raise self.unknown(service)
        return self._services[service]

    def unknown(self, service: str) -> ComposeError:
        """The error for a service the files do not have (after profiles)."""
        files = ", ".join(shown_path(path) for path in self.files)
        return ComposeError(f"no service {service!r} in {files}; its services: {', '.join(self.services) or 'none'}",
                            self.files)  # fmt: skip

    def run(self, service: str, command: Sequence[str], *, env: Mapping[str, str] | None = None,
            timeout: float = 120.0) -> CompletedRun:  # fmt: skip
        """Run ``command`` in a new container of ``service`` (not its dependencies), to its end."""
        if service not in self.services:
            raise self.unknown(service)
        flags = [item for name, value in (env or {}).items() for item in ("--env", f"{name}={value}")]
        try:
            done = self.cli.run("run", "--rm", "--no-deps", "-T", *flags, service, *command, timeout=timeout)
        except ComposeError as error:
            raise ComposeError(f"{error}: {self._one_off_state(service)}", self.files) from None
        image = str(self._run_images.get(service) or service)
        return CompletedRun(
            done.returncode, done.stdout, done.stderr, list(command), image, f"{self.project}-{service}"
        )

    def _one_off_state(self, service: str) -> str:
        """What became of the one-off containers of ``service`` (after ``compose run`` timed out)."""
        labels = [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={service}", f"{ONEOFF_LABEL}=True"]
        try:
            found = self.runtime.engine.client.containers.list(all=True, filters={"label": labels},
                                                               ignore_removed=True)  # fmt: skip
            states = [f"{c.name} is {c.status} ({c.attrs['State'].get('ExitCode')}), its log: {c.logs(tail=5)!r}"
                      for c in found]  # fmt: skip
        except docker.errors.DockerException as error:  # removed meanwhile (--rm), or the engine went away
            return f"its one-off container could not be read ({error})"
        return "; ".join(states) or "no container of it was created"

    def logs(self, service: str | None = None) -> str:
        """The logs of one service, or of all of them (each line prefixed with its service)."""
        args = ["logs", "--no-color", "--no-log-prefix"] if service else ["logs", "--no-color"]
        done = self.cli.run(*args, *([service] if service else []), timeout=60)
        return done.stdout + done.stderr

    def down(self) -> None:
        """Remove the containers, networks and volumes Compose made for the stack (quietly)."""
        if self.cli.files and self.cli.files[0] == self._folder / "compose.json":
            self.cli.run("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=120)
        for leftover in self.runtime.engine.client.containers.list(
            all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}"]}
        ):  # fmt: skip
            self.runtime.remove(leftover.id)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _build(self, service: str, spec: Mapping[str, Any]) -> str:
        result = _build_service(self.builder, self.files, service, spec, self._config.get("secrets") or {})
        self.builds[service] = result
        return result.image.id

    def _adopt(self) -> None:
        """The services' containers, as the runtime's (their logs go to a failing test's report)."""
        client = self.runtime.engine.client
        found = client.containers.list(all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}"]})
        by_service = {c.labels.get(SERVICE_LABEL, ""): c for c in found if c.labels.get(ONEOFF_LABEL) != "True"}
        for name in self.services:
            if name in by_service and name not in self._services:
                container = Container(by_service[name], None, [name], self.runtime.host)
                self._services[name] = container
                self.containers.append(container)
                self.runtime.track(container)

    def _failure(self, stderr: str) -> Exception:
        """Why ``up`` failed: the service that exited or is not healthy, with its logs."""
        reason = explain_start(stderr.strip()[-2000:], self.runtime.engine.podman)
        return self._unready(any_exit=True) or ComposeError(f"docker compose up failed: {reason}", self.files)

    def _unready(self, any_exit: bool) -> Exception | None:
        """The first service that exited (with an error code, unless ``any_exit``) or whose
        healthcheck does not pass, as an error with its logs; None when all are ready."""
        for name, container in self._services.items():
            container.reload()
            state = container.attrs.get("State", {})
            where = service_line(self.files, name) or name
            if state.get("Status") in ("exited", "dead") and (any_exit or state.get("ExitCode") != 0):
                return ContainerExited(f"{name} ({where})", state.get("ExitCode"), container.logs(200))
            health = (state.get("Health") or {}).get("Status")
            if health not in (None, "", "healthy") and state.get("Status") == "running":  # "": Podman, no check
                last = ((state.get("Health") or {}).get("Log") or [{}])[-1].get("Output", "").strip()[-300:]
                return ContainerNotReady(f"{name} ({where})", "its healthcheck", f"{health}: {last}",
                                         container.logs(200))  # fmt: skip
        return None

    def __repr__(self) -> str:
        return f"<Stack {self.project} services={self.services}>"


class Stacks:
    """What a Compose fixture gives: ``dockerbuild_compose("compose.yaml", ...)`` brings a stack
    up (relative paths are read from the folder of the test file that asks); every stack it
    brought up is taken down at the end of the fixture's scope."""

    DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

    def __init__(self, runtime: Runtime, builder: Builder, folder: Callable[[], Path | None]) -> None:
        self.runtime = runtime
        self.builder = builder
        self.folder = folder
        self.stacks: list[Stack] = []

    def __call__(
        self,
        *files: str | os.PathLike[str],
        profiles: Sequence[str] = (),
        env_files: Sequence[str | os.PathLike[str]] = (),
        waits: Mapping[str, Readiness | Sequence[Readiness]] | None = None,
        timeout: float = 120.0,
    ) -> Stack:
        """Bring up the stack of ``files`` (``-f a.yml -f b.yml``; default: the ``compose.yaml``
        beside the test file), with ``profiles`` and ``env_files``; ``waits`` are readiness
        conditions per service, on top of the files' own healthchecks."""
        folder = self.folder()
        paths = [resolve_path(path, folder) for path in files] or [self._default(folder or Path.cwd())]
        env = [resolve_path(path, folder) for path in env_files]
        stack = Stack(self.runtime, self.builder, paths, profiles=profiles, env_files=env, waits=waits, timeout=timeout)
        self.stacks.append(stack)  # before up(): what a failed up made is taken down too
        return stack.up()

    @property
    def containers(self) -> list[Container]:
        return [container for stack in self.stacks for container in stack.containers]

    def down(self) -> None:
        for stack in reversed(self.stacks):
            stack.down()
        self.stacks.clear()

    def _default(self, folder: Path) -> Path:
        for name in self.DEFAULT_FILES:
            if (folder / name).is_file():
                return folder / name
        raise ComposeError(f"no Compose file in {folder} ({', '.join(self.DEFAULT_FILES)}): name the files to use")


def service_image(builder: Builder, files: Sequence[Path], service: str) -> str:
    """The image of a Compose service (whatever its profiles), without starting anything: built
    by ``builder`` where the service has ``build:``, else its ``image:`` through the map."""
    cli = ComposeCli("pytest-dockerbuild-config", list(files), Path(files[0]).parent, profiles=["*"])
    cli.check_files()
    services = cli.config().get("services") or {}
    if service not in services:
        where = ", ".join(shown_path(path) for path in files)
        raise ComposeError(f"no service {service!r} in {where}; its services: {', '.join(services) or 'none'}", files)
    spec = services[service]
    if spec.get("build"):
        return _build_service(builder, files, service, spec["build"], cli.config().get("secrets") or {}).image.id
    if not spec.get("image"):
        raise ComposeError(f"service {service!r} has neither build: nor image:", files)
    return str(builder.image_map.get(normalize_image(spec["image"]), spec["image"]))


def _build_service(
    builder: Builder, files: Sequence[Path], service: str, spec: Mapping[str, Any], secrets: Mapping[str, Any]
) -> BuildResult:
    """The build of a service's ``build:`` section; its errors name the service (and its line)."""
    arguments = build_arguments(service, spec, secrets)
    try:
        return builder.build(arguments.pop("context"), arguments.pop("dockerfile"), **arguments)
    except BuildFailed as failure:
        raise failure.in_service(service) from None
    except OptionError as error:
        where = service_line(files, service) or ", ".join(shown_path(path) for path in files)
        raise type(error)(error.option, f"service {service!r} ({where}): {error.problem}") from None
