"""The build options beyond context, target and args (:class:`BuildOptions`): secrets and
ssh forwarding, the platform, cache control, extra named contexts, and the network, hosts
and ``/dev/shm`` of the build's ``RUN`` steps.

A :class:`Secret`'s value never leaves the build: the content key holds its id and a
digest, the log shows ``***`` where a step printed it, and its ``repr`` hides it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from docker.utils import parse_bytes

from pytest_dockerbuild.errors import BuildOptionError, DockerbuildError

__all__ = ["BuildOptions", "Secret", "build_options", "engine_platform", "unsupported_platform"]

#: options that make every step run again, or write outside the image: never served from a cache
FORCE_BUILD = ("no_cache", "no_cache_filter", "pull", "cache_to")
_REMOTE = re.compile(r"^(https?://|git@|git://|ssh://)")
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}
_QEMU = {"arm64": "aarch64", "arm": "arm", "386": "i386", "amd64": "x86_64", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip


@dataclass(frozen=True, repr=False)
class Secret:
    """A build secret (``RUN --mount=type=secret,id=...``): from a ``file``, an ``env`` variable
    of this process, or a literal ``value`` (for tests). Exactly one of them."""

    file: str | os.PathLike[str] | None = None
    env: str | None = None
    value: str | bytes | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("file", "env", "value") if getattr(self, name) is not None]
        if len(given) != 1:
            raise DockerbuildError(f"a Secret takes exactly one of file=, env= or value=, got {given or 'none'}")

    def read(self, name: str, base: Path) -> bytes:
        """The secret's bytes (a relative file is read from ``base``)."""
        if self.value is not None:
            return self.value.encode() if isinstance(self.value, str) else self.value
        if self.env is not None:
            if self.env not in os.environ:
                raise BuildOptionError("secrets", f"secret {name!r} comes from ${self.env}, which is not set")
            return os.environ[self.env].encode()
        path = base / Path(self.file or "")
        if not path.is_file():
            raise BuildOptionError("secrets", f"secret {name!r}: the file {path} does not exist")
        return path.read_bytes()

    def __repr__(self) -> str:
        shown = f"file={str(self.file)!r}" if self.file is not None else f"env={self.env!r}"
        return f"Secret({'value=<hidden>' if self.value is not None else shown})"


@dataclass(frozen=True)
class BuildOptions:
    """What ``build()`` passes to the backend besides context, target, args and labels."""

    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)  #: id -> value (never shown)
    ssh: tuple[str, ...] = ()  #: ``default`` or ``id=path`` (an agent socket or key files)
    platform: str | None = None
    no_cache: bool = False
    no_cache_filter: tuple[str, ...] = ()  #: stages built without the layer cache (BuildKit)
    pull: bool = False  #: ask the registry for newer base images
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    build_contexts: Mapping[str, str] = field(default_factory=dict)  #: name -> absolute folder or ``scheme://ref``
    network: str | None = None  #: the network of ``RUN`` steps (``default``, ``none``, ``host``)
    extra_hosts: Mapping[str, str] = field(default_factory=dict)  #: host name -> address, for ``RUN`` steps
    shm_size: int | None = None  #: bytes of ``/dev/shm`` for ``RUN`` steps

    def given(self) -> list[str]:
        """The names of the options set (not at their defaults)."""
        return [f.name for f in fields(self) if getattr(self, f.name) not in (None, False, (), {})]

    def forces_build(self) -> list[str]:
        """The options set that make a build go through the engine, whatever a cache holds."""
        return [name for name in FORCE_BUILD if name in self.given()]

    def unrepeatable(self) -> list[str]:
        """Inputs these options bring that no key holds."""
        reasons = [f"ssh={list(self.ssh)} forwards an agent or keys (what a step fetches with them is in no key)"]
        reasons = reasons if self.ssh else []
        reasons += [f"build context {name}={value} is fetched from the network"
                    for name, value in self.build_contexts.items() if _REMOTE.match(value)]  # fmt: skip
        return reasons + (["pull=True asks the registry for newer base images"] if self.pull else [])

    def cache_salt(self) -> str | None:
        """A digest of the options the engine's layer cache does not see (secrets' values, ssh, the
        network, hosts and ``/dev/shm`` of ``RUN`` steps), or None when none is set.  The backends
        put it into every stage (a ``LABEL`` or an ``ARG`` after each FROM), so that a step never
        comes from the cache of a build with other such options, nor a plain build from theirs."""
        salted = {name: value for name, value in self.key().items()
                  if name in ("secrets", "ssh", "network", "extra_hosts", "shm_size") and value}  # fmt: skip
        return hashlib.sha256(repr(sorted(salted.items())).encode()).hexdigest()[:16] if salted else None

    def redactions(self) -> list[str]:
        """The secrets' values as text, for the log to hide (none shorter than 4 characters)."""
        values = (value.decode(errors="replace").strip() for value in self.secrets.values())
        return sorted({value for value in values if len(value) >= 4}, key=len, reverse=True)

    def key(self) -> dict[str, object]:
        """What the content key holds of them: all of them (an outcome, a failure included, is
        found again only for the same options), secrets by id and digest, never their values;
        the folders of named contexts are hashed by :mod:`~pytest_dockerbuild.build.key`."""
        shown: dict[str, object] = {name: getattr(self, name) for name in self.given()}
        shown["secrets"] = sorted((name, hashlib.sha256(value).hexdigest()) for name, value in self.secrets.items())
        for name in ("build_contexts", "extra_hosts"):
            shown[name] = sorted(getattr(self, name).items())
        return shown


def build_options(
    base: Path,
    *,
    secrets: Mapping[str, Secret | str | os.PathLike[str]] | None = None,
    ssh: str | Iterable[str] | None = None,
    platform: str | None = None,
    no_cache: bool = False,
    no_cache_filter: str | Iterable[str] | None = None,
    pull: bool = False,
    cache_from: str | Iterable[str] | None = None,
    cache_to: str | Iterable[str] | None = None,
    build_contexts: Mapping[str, str | os.PathLike[str]] | None = None,
    network: str | None = None,
    extra_hosts: Mapping[str, str] | None = None,
    shm_size: int | str | None = None,
) -> BuildOptions:
    """Check and normalize the options of one ``build()`` call; relative paths are read from ``base``."""
    values: dict[str, bytes] = {}
    for name, secret in (secrets or {}).items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise BuildOptionError("secrets", f"{name!r} is not a valid secret id (letters, digits, . _ -)")
        values[name] = (secret if isinstance(secret, Secret) else Secret(file=secret)).read(name, base)
    contexts = {}
    for name, where in (build_contexts or {}).items():
        text = os.fspath(where)
        if "://" not in text and not _REMOTE.match(text):
            folder = (base / text).resolve()
            if not folder.is_dir():
                raise BuildOptionError("build_contexts", f"context {name!r}: the folder {folder} does not exist")
            text = str(folder)
        contexts[name] = text
    if shm_size is not None:
        shm_size = _size("shm_size", shm_size)
    return BuildOptions(values, _strings(ssh), platform, bool(no_cache), _strings(no_cache_filter), bool(pull),
                        _strings(cache_from), _strings(cache_to), contexts, network,
                        {str(k): str(v) for k, v in (extra_hosts or {}).items()}, shm_size)  # fmt: skip


def _strings(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(item) for item in value)


def _size(option: str, value: int | str) -> int:
    try:
        size = int(parse_bytes(value)) if isinstance(value, str) else int(value)
    except Exception:  # the SDK raises its own DockerException, or ValueError
        raise BuildOptionError(option, f"{value!r} is not a size (bytes, or e.g. '128m', '1g')") from None
    if size <= 0:
        raise BuildOptionError(option, f"{value!r} is not a positive size")
    return size


def engine_platform(os_type: str, architecture: str) -> str:
    """The engine's platform as ``--platform`` names it (``linux/amd64``) from ``docker info``."""
    return f"{os_type}/{_ARCHITECTURES.get(architecture, architecture)}"


def unsupported_platform(wanted: str, engine: str, binfmt: Path | None) -> str | None:
    """Why the engine cannot build for ``wanted`` (not its platform, and no emulation registered
    in ``binfmt``, the local engine's binfmt_misc folder; None for a remote engine), or None."""
    os_name, _, rest = wanted.partition("/")
    architecture = rest.split("/")[0]
    if f"{os_name}/{architecture}" == engine or binfmt is None:
        return None
    emulator = _QEMU.get(architecture, architecture)
    if os_name == engine.split("/")[0] and binfmt.is_dir() and any(binfmt.glob(f"qemu-{emulator}*")):
        return None
    return (f"{wanted} is not the engine's platform ({engine}) and the engine's host has no emulation for it "
            f"(no qemu-{emulator} in {binfmt}): build for {engine}, or register emulation first "
            "(Debian's qemu-user-static and binfmt-support)")  # fmt: skip
