"""How a contract's command tests run: :class:`CommandRunner` runs each in a container of
the contract's image and returns what it did as a
:class:`~pytest_dockerbuild.contracts.checks.CommandResult`.

Its containers are created and removed by the run's
:class:`~pytest_dockerbuild.runtime.runtime.Runtime` (named and labelled with the run, never
pulled), and removed when the contract is done.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors
import requests.exceptions

from pytest_dockerbuild.contracts.checks import CommandResult
from pytest_dockerbuild.contracts.gocompat import go_expand
from pytest_dockerbuild.contracts.model import CommandTest, Contract
from pytest_dockerbuild.contracts.schema import default_name
from pytest_dockerbuild.engine.podman import explain_start
from pytest_dockerbuild.runtime import Runtime

if TYPE_CHECKING:
    from pytest_dockerbuild.engine.client import Engine
    from pytest_dockerbuild.image import Image

__all__ = ["CommandRunner"]

VOLUME_COMPARE_LIMIT = 8 * 1024 * 1024  # bytes of a volume's contents compared after each command
STATE_CHECK_LIMIT = 0.3  # seconds a container's diff may take for one container to serve many commands
NAIVE_DIFF_IMAGE_SIZE = 100 * 1000 * 1000  # bytes: bigger images get a container per command without overlay2


def _read_env_file(path: Path) -> dict[str, str]:
    """A dotenv file: ``KEY=value`` lines, ``export`` prefixes, quotes and ``#`` comments."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            end = value.find(quote, 1)
            value = value[1:end] if end > 0 else value[1:]
            if quote == '"':
                value = value.replace("\\n", "\n")
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip()] = value
    return values


class CommandRunner:
    """Runs the command tests of one contract in containers of one image.

    Each command runs with ``docker exec`` in a running container of the image
    (``sh`` reading an open stdin), so that no container has to start while a
    test waits.  Where ``docker diff`` is cheap, one container serves every
    command and is replaced only after a command that changed its filesystem
    or its volumes or left a process running; elsewhere (a big image on a
    storage driver whose diff walks the whole image, e.g. fuse-overlayfs) each
    command gets a fresh container, started ahead in the background.  Either
    way each command starts from the image's state, as in CST's container per
    test.  A test with ``setup`` gets a container of its own.  An image without
    ``sh`` (or whose ``sh`` does not stay up) gets a new container per command
    whose command is the test's, as in CST.
    """

    def __init__(self, engine: Engine | Runtime, image: Image, contract: Contract, reuse: bool | None = None) -> None:
        #: creates and removes its containers (one made for the engine when given an engine)
        self.runtime = engine if isinstance(engine, Runtime) else Runtime(engine)
        self.engine = self.runtime.engine
        self.api = self.engine.client.api
        self.image = image
        self.contract = contract
        self.timeout = contract.extension.timeout
        self.image_env = dict(image.config.env)
        self.global_env = {e.key: go_expand(e.value, self.image_env) for e in contract.global_env_vars}
        self.container_env = dict(self.global_env)
        options = contract.run_options
        if options.env_file:
            self.container_env.update(_read_env_file(contract.path.parent / options.env_file))
        for name in options.env_vars:
            if name in os.environ:
                self.container_env[name] = os.environ[name]
        self._shared: str | None = None  # the container serving the commands that change nothing
        self._baseline: tuple[object, ...] | None = None  # the state of a container just started
        self.reuse = reuse  #: one container for many commands (None: decided at the first command)
        self._decided = False
        self.exec_unavailable: str | None = None  #: why commands run one container each, CST's way
        self._created: list[str] = []
        self._spares: deque[Future[str | None]] = deque()  # containers starting ahead
        self._pool: ThreadPoolExecutor | None = None
        self.stats = {"exec": 0, "containers": 0, "replaced": 0}

    # containers
    def _create(self, image: str, command: list[str], env: Mapping[str, str], keepalive: bool) -> str:
        options = self.contract.run_options
        created = self.runtime.create(
            image,
            f"contract-{default_name(self.contract.path)}",
            command=command,
            entrypoint=[],
            environment=[f"{k}={v}" for k, v in env.items()],
            user=options.user or None,
            tty=options.allocate_tty,
            stdin_open=keepalive,
            healthcheck={"test": ["NONE"]},
            privileged=options.privileged,
            cap_add=options.capabilities or None,
            volumes=options.bind_mounts or None,  # binds, as "host:container[:mode]"
        )
        container = created.id
        self._created.append(container)
        self.stats["containers"] += 1
        return container

    def _remove(self, container: str | None) -> None:
        if container is None:
            return
        self.runtime.remove(container)
        if container in self._created:
            self._created.remove(container)

    def _discard(self, container: str) -> None:
        """Remove a used-up container, in the background when containers are started ahead."""
        if self._pool is not None:
            self._pool.submit(self._remove, container)
        else:
            self._remove(container)

    def _start_keepalive(self) -> str | None:
        """A running ``sh`` container, or None (and the reason) when the image cannot keep one."""
        if self.exec_unavailable is not None:
            return None
        try:
            container = self._create(self.image.id, ["sh"], self.container_env, keepalive=True)
        except docker.errors.APIError as error:
            self.exec_unavailable = f"cannot create a container: {error.explanation}"
            return None
        try:
            self.api.start(container)
            running = (self.api.inspect_container(container).get("State") or {}).get("Running")
        except docker.errors.APIError as error:
            self.exec_unavailable = f"sh does not start: {explain_start(str(error.explanation), self.engine.podman)}"
            running = False
        if not running:
            self.exec_unavailable = self.exec_unavailable or "sh does not keep running"
            self._remove(container)
            return None
        return container

    def _fresh(self) -> str | None:
        """A new running container (one started ahead, if any); then start the next ones ahead,
        since this contract uses containers up (setup, changes, or no reuse)."""
        container = self._spares.popleft().result() if self._spares else self._start_keepalive()
        if container is not None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="dockerbuild-spare")
            while len(self._spares) < (1 if self.reuse else 2):
                self._spares.append(self._pool.submit(self._start_keepalive))
        return container

    def _diff_is_cheap(self) -> bool | None:
        """True on overlay2 with its native diff (it reads the container's own layer); False for
        a big image elsewhere (a naive diff walks the whole image); None when only a try tells."""
        try:
            info = self.engine.client.info()
        except docker.errors.APIError:
            return None
        status = {str(k): str(v) for k, v in info.get("DriverStatus") or []}
        if info.get("Driver") == "overlay2" and status.get("Native Overlay Diff", "true") == "true":
            return True
        return False if self.image.size > NAIVE_DIFF_IMAGE_SIZE else None

    def _shared_container(self) -> str | None:
        if self._shared is None:
            if self._decided:
                self._shared = self._fresh()
                return self._shared
            self._decided = True
            if self.reuse is None:
                self.reuse = self._diff_is_cheap()
            self._shared = self._start_keepalive()
            if self._shared is not None and self.reuse is not False:
                started = time.monotonic()
                self._baseline = self._state(self._shared)
                if self.reuse is None:
                    self.reuse = time.monotonic() - started < STATE_CHECK_LIMIT
        return self._shared

    def _state(self, container: str) -> tuple[object, ...] | None:
        """What a command could change: the filesystem diff, and the contents of the image's
        volumes (which the diff does not show); None when a volume is too big to compare."""
        changes = frozenset((c["Path"], int(c["Kind"])) for c in self.api.diff(container) or [])
        volumes = []
        for volume in self.image.config.volumes:
            digest, size = hashlib.sha256(), 0
            try:
                stream, _ = self.api.get_archive(container, volume)
            except docker.errors.NotFound:
                volumes.append("")  # the command removed it
                continue
            for chunk in stream:
                digest.update(chunk)
                size += len(chunk)
                if size > VOLUME_COMPARE_LIMIT:
                    return None
            volumes.append(digest.hexdigest())
        return (changes, *volumes)

    def _still_clean(self, container: str) -> bool:
        """True if the container's filesystem and processes are as they were at start."""
        try:
            state = self._state(container)
            if state is None or state != self._baseline:
                return False
            return len(self.api.top(container).get("Processes") or []) <= 1
        except docker.errors.APIError:
            return False

    # running
    def run(self, test: CommandTest) -> CommandResult:
        deadline = time.monotonic() + self.timeout
        test_env = {e.key: go_expand(e.value, {**self.image_env, **self.global_env}) for e in test.env_vars}
        expansion = {**self.image_env, **self.global_env, **test_env}
        argv = [go_expand(arg, expansion) for arg in [test.command, *test.args]]
        if test.setup:
            return self._run_with_setup(test, argv, test_env, deadline)
        container = self._shared_container()
        if container is None:
            return self._run_once(self.image.id, argv, test_env, deadline)
        result = self._exec(container, argv, test_env, deadline)
        if not self.reuse or result.error is not None or not self._still_clean(container):
            self._discard(container)
            self._shared = None
            self.stats["replaced"] += bool(self.reuse)
        return result

    def _run_with_setup(
        self, test: CommandTest, argv: list[str], env: dict[str, str], deadline: float
    ) -> CommandResult:
        container = self._fresh()
        if container is None:
            return self._run_once_with_setup(test, argv, env, deadline)
        try:
            for command in test.setup:
                outcome = self._exec(container, command, env, deadline)
                if outcome.error is not None:
                    outcome.error = f"error in setup command {command!r}: {outcome.error}"
                    return outcome
            return self._exec(container, argv, env, deadline)
        finally:
            self._discard(container)

    def _exec(self, container: str, argv: list[str], env: Mapping[str, str], deadline: float) -> CommandResult:
        tty = self.contract.run_options.allocate_tty
        self.stats["exec"] += 1
        try:
            exec_id = self.api.exec_create(container, argv, environment=[f"{k}={v}" for k, v in env.items()], tty=tty)
        except docker.errors.APIError as error:
            return CommandResult(error=f"cannot run {argv!r}: {error.explanation}", container=container[:12])
        box: dict[str, Any] = {}

        def read() -> None:
            try:
                box["output"] = self.api.exec_start(exec_id, demux=True, tty=tty)
            except Exception as error:  # reported below
                box["error"] = error

        reader = threading.Thread(target=read, name="dockerbuild-exec", daemon=True)
        reader.start()
        exited_at: float | None = None
        timed_out = False
        pause = 0.02
        while True:
            reader.join(min(pause, max(0.0, deadline - time.monotonic())))
            if not reader.is_alive():
                break
            pause = min(pause * 2, 0.2)
            now = time.monotonic()
            timed_out = now > deadline
            if exited_at is None and not timed_out and not self.api.exec_inspect(exec_id).get("Running"):
                exited_at = now  # its output may still be draining
            if timed_out or (exited_at is not None and now - exited_at > 0.2):
                # A process it left in the background holds its output open (or it hangs): CST's
                # container would have ended with the command, so end this container.
                try:
                    self.api.kill(container)
                except docker.errors.APIError:
                    pass
                reader.join(10)
                break
        if "error" in box:
            return CommandResult(error=f"cannot run {argv!r}: {box['error']}", container=container[:12])
        out, err = box.get("output") or (None, None)
        stdout = (out or b"").decode("utf-8", errors="replace")
        stderr = (err or b"").decode("utf-8", errors="replace")
        if timed_out:
            return CommandResult(
                stdout, stderr, None, f"{argv!r} did not finish within {self.timeout:g} s", container[:12]
            )
        code = self.api.exec_inspect(exec_id).get("ExitCode")
        if code in (126, 127) and stdout.startswith("OCI runtime exec failed"):
            reason = stdout.strip().removeprefix("OCI runtime exec failed: ").removesuffix(": unknown")
            return CommandResult(error=f"cannot run {argv!r}: {reason}", container=container[:12])
        return CommandResult(stdout, stderr, code, None, container[:12])

    def _run_once(self, image: str, argv: list[str], env: Mapping[str, str], deadline: float) -> CommandResult:
        """CST's way: a new container whose command is the test's command."""
        try:
            container = self._create(image, argv, {**self.container_env, **env}, keepalive=False)
        except docker.errors.APIError as error:
            return CommandResult(error=f"cannot create a container for {argv!r}: {error.explanation}")
        try:
            try:
                self.api.start(container)
            except docker.errors.APIError as error:
                reason = explain_start(str(error.explanation), self.engine.podman)
                return CommandResult(error=f"cannot run {argv!r}: {reason}", container=container[:12])
            try:
                status = self.api.wait(container, timeout=max(1.0, deadline - time.monotonic()))
            except (requests.exceptions.RequestException, docker.errors.APIError):
                return CommandResult(
                    error=f"{argv!r} did not finish within {self.timeout:g} s", container=container[:12]
                )
            stdout = self.api.logs(container, stdout=True, stderr=False).decode("utf-8", errors="replace")
            stderr = self.api.logs(container, stdout=False, stderr=True).decode("utf-8", errors="replace")
            return CommandResult(stdout, stderr, int(status.get("StatusCode", -1)), None, container[:12])
        finally:
            self._remove(container)

    def _run_once_with_setup(
        self, test: CommandTest, argv: list[str], env: Mapping[str, str], deadline: float
    ) -> CommandResult:
        """CST's way: each setup command in a container committed as the next image."""
        current = self.image.id
        committed: list[str] = []
        try:
            for command in test.setup:
                try:
                    container = self._create(current, command, {**self.container_env, **env}, keepalive=False)
                except docker.errors.APIError as error:
                    return CommandResult(error=f"error in setup command {command!r}: {error.explanation}")
                try:
                    self.api.start(container)
                    self.api.wait(container, timeout=max(1.0, deadline - time.monotonic()))
                    current = str(self.api.commit(container)["Id"])
                    committed.append(current)
                except (docker.errors.APIError, requests.exceptions.RequestException) as error:
                    reason = getattr(error, "explanation", None) or str(error)
                    return CommandResult(error=f"error in setup command {command!r}: {reason}")
                finally:
                    self._remove(container)
            return self._run_once(current, argv, env, deadline)
        finally:
            for image in reversed(committed):
                try:
                    self.api.remove_image(image, force=True)
                except docker.errors.APIError:
                    pass

    def close(self) -> None:
        """Remove every container it made (also after failures)."""
        self._shared = None
        while self._spares:
            self._spares.popleft().result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        for container in list(self._created):
            self._remove(container)
