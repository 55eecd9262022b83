"""A private Podman service for the tests: ``podman system service`` on a socket of its own,
with its storage, runtime folders, events and networks under one folder, so that it shares
nothing with the Docker Engine or with another Podman on the machine, and is gone after
:meth:`PodmanService.stop` (the process it started and the conmon monitors of its containers, its
mounts, the bridge and the CNI firewall rules it added).

The settings that make containers start on this kind of host (cgroups v1/hybrid, no
CAP_SYS_RESOURCE): the ``runc`` runtime (crun refuses hybrid cgroups), the ``cgroupfs``
manager (no systemd), and ``default_ulimits`` no higher than the service's own limits
(Podman asks for more by default, and the runtime may not raise a hard limit).
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker

from pytest_dockerbuild.engine.ledger import Ledger
from pytest_dockerbuild.engine.podman import stable_id

BRIDGE = "cni-podman0"  #: the bridge of Podman's default network (CNI)
SUBNET = "10.231.255.0/24"  #: its subnet here: none of the Docker Engines' pools
NETWORK_POOL = "10.231.0.0/16"  #: networks the tests create through the service


def _ulimits() -> list[str]:
    """Limits the service may give its containers: its own hard limits (nproc: at most 32768,
    which Podman sets for itself)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    return [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]


def _links() -> set[str]:
    return {path.name for path in Path("/sys/class/net").iterdir()}


def _firewall() -> dict[str, list[str]]:
    """The iptables rules and chains of Podman's CNI plugins, by table (``iptables -S`` lines)."""
    rules = {}
    for table in ("filter", "nat"):
        done = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False)
        rules[table] = [line for line in done.stdout.splitlines() if "CNI" in line or "cni-podman" in line]
    return rules


def restore_firewall(before: dict[str, list[str]]) -> None:
    """Delete the CNI rules and chains that were not there ``before`` (rules first, then chains)."""
    for table, lines in _firewall().items():
        new = [line for line in lines if line not in before.get(table, [])]
        for line in new:
            if line.startswith("-A "):
                subprocess.run(["iptables", "-t", table, "-D", *shlex.split(line[3:])], capture_output=True)
        for line in new:
            if line.startswith("-N "):
                subprocess.run(["iptables", "-t", table, "-F", line[3:]], capture_output=True)
                subprocess.run(["iptables", "-t", table, "-X", line[3:]], capture_output=True)


def _processes_using(folder: Path) -> list[int]:
    """The processes whose command line names ``folder`` (the service's conmon monitors)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(folder).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@dataclass
class PodmanService:
    """A running ``podman system service`` (see the module's docstring)."""

    folder: Path
    ulimits: Sequence[str] | None = field(default_factory=_ulimits)  #: None: Podman's defaults
    process: subprocess.Popen[bytes] | None = None
    _bridge_existed: bool = True
    _firewall: dict[str, list[str]] = field(default_factory=dict)  #: the CNI rules before the start
    ledger_folder: Path | None = None  #: the plugin's journals for this service's store, gone with it

    @property
    def socket(self) -> Path:
        return self.folder / "api.sock"

    @property
    def url(self) -> str:
        """``DOCKER_HOST`` for this service."""
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of the ``podman`` commands that use this service's storage and settings."""
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.folder / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.folder / "storage.conf"),
        }

    def start(self) -> PodmanService:
        podman = shutil.which("podman")
        if podman is None:
            raise RuntimeError("podman is not installed: scripts/setup installs Debian's podman")
        self.folder.mkdir(parents=True, exist_ok=True)
        quoted = ", ".join(f'"{limit}"' for limit in self.ulimits or [])
        (self.folder / "containers.conf").write_text(
            "[containers]\n"
            + (f"default_ulimits = [{quoted}]\n" if self.ulimits is not None else "")
            + f'[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\ntmp_dir = "{self.folder}/tmp"\n'
            f'events_logger = "file"\nevents_logfile_path = "{self.folder}/events.log"\nexit_command_delay = 1\n'
            f'lock_type = "file"\nimage_copy_tmp_dir = "{self.folder}/tmp"\n'
            f'[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "{self.folder}/networks"\n'
            f'default_subnet = "{SUBNET}"\n'
            f'default_subnet_pools = [{{"base" = "{NETWORK_POOL}", "size" = 24}}]\n'
        )
        (self.folder / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{self.folder}/run"\ngraphroot = "{self.folder}/root"\n'
            '[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n'
        )
        self._bridge_existed = BRIDGE in _links()
        self._firewall = _firewall()
        log = (self.folder / "service.log").open("wb")
        self.process = subprocess.Popen(
            [podman, "system", "service", "--time=0", self.url], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                client = docker.DockerClient(base_url=self.url, timeout=5)
                try:
                    client.ping()
                    self.ledger_folder = Ledger.for_engine(stable_id(client.info())).folder
                finally:
                    client.close()
                return self
            except docker.errors.DockerException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    text = (self.folder / "service.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"podman system service did not answer at {self.url}:\n{text}") from None
                time.sleep(0.2)

    def podman(self, *args: str, stdin: int | None = None) -> str:
        """Run ``podman ARGS`` on this service's storage; its stdout."""
        done = subprocess.run(["podman", *args], env=self.env, stdin=stdin, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode()

    def load(self, image: str) -> str:
        """Copy ``image`` from the Docker Engine (``docker save | podman load``, so ``DOCKER_HOST`` must
        not name this service yet): ``localhost/<image>``."""
        name = f"localhost/{image}"
        if subprocess.run(["podman", "image", "exists", name], env=self.env, check=False).returncode != 0:
            save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
            assert save.stdout is not None
            try:
                self.podman("load", stdin=save.stdout.fileno())
            finally:
                save.stdout.close()
                save.wait()
        return name

    def stop(self) -> None:
        """Stop the service (the process this object started), remove its containers, networks,
        mounts and folder, and the default network's bridge if it was not there before."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if (self.folder / "storage.conf").exists():
            subprocess.run(["podman", "rm", "--all", "--force"], env=self.env, capture_output=True, check=False)
            for network in self.podman("network", "ls", "--format", "{{.Name}}").split():
                if network != "podman":
                    subprocess.run(["podman", "network", "rm", "-f", network], env=self.env, capture_output=True)
        for pid in _processes_using(self.folder):  # conmon of exec sessions outlives its session and the service
            os.kill(pid, signal.SIGTERM)
        if not self._bridge_existed and BRIDGE in _links():
            subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
        if self.process is not None:
            restore_firewall(self._firewall)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(f"{self.folder}/")), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.ledger_folder is not None:
            shutil.rmtree(self.ledger_folder, ignore_errors=True)
