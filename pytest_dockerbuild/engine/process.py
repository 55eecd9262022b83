"""Which process made something, and whether it still runs.

A process is named by its host, its pid namespace, its pid and its start time
(``host:pidns:pid:start``): a pid alone is reused, and a pid of another
namespace (a CI job in a container that shares the host's engine and name) is
not this one's to look up.  Only a process of this host and namespace can be
found dead; any other counts as alive, so nothing of it is removed.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessId", "current", "mount_namespace"]


@dataclass(frozen=True)
class ProcessId:
    host: str
    namespace: str  #: the pid namespace's inode, "" where /proc cannot tell
    pid: int
    start: str  #: clock ticks since boot when it started, "" where /proc cannot tell

    def __str__(self) -> str:
        return f"{self.host}:{self.namespace}:{self.pid}:{self.start}"

    @classmethod
    def parse(cls, text: str) -> ProcessId | None:
        """The process a label or journal names (None for text that names none)."""
        host, _, rest = text.partition(":")
        namespace, _, rest = rest.partition(":")
        pid, _, start = rest.partition(":")
        return cls(host, namespace, int(pid), start) if host and pid.isdigit() else None

    @property
    def local(self) -> bool:
        """True if it is a process of this host and pid namespace (so its pid can be looked up)."""
        here = current()
        return (self.host, self.namespace) == (here.host, here.namespace)

    @property
    def alive(self) -> bool:
        """False only if it is provably gone: a local process whose pid is free, or taken by
        a process that started at another time."""
        if not self.local:
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return not self.start or _start_of(self.pid) in ("", self.start)


def _namespace(kind: str = "pid") -> str:
    try:
        return str(os.stat(f"/proc/self/ns/{kind}").st_ino)
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def mount_namespace() -> str:
    """This process's mount namespace ("" where /proc cannot tell): a folder another namespace
    cannot see may well exist."""
    return _namespace("mnt")


def _start_of(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def current() -> ProcessId:
    """This process."""
    return ProcessId(socket.gethostname(), _namespace(), os.getpid(), _start_of(os.getpid()))
