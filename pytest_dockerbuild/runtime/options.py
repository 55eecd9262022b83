"""What a run is given, made ready for the docker SDK: the run options people use
(:class:`RunOptions`: user, workdir, volumes, tmpfs, read-only root, capabilities, resource
limits, healthcheck, env files) translated, checked, into ``containers.create`` arguments;
and the image a run names (its reference, a readable name, the container's name hint).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import docker.errors
import docker.utils

from pytest_dockerbuild.errors import RunOptionError

if TYPE_CHECKING:
    from pytest_dockerbuild.build import BuildResult
    from pytest_dockerbuild.image import Image

__all__ = ["EnvFiles", "RunOptions", "Tmpfs", "Volumes", "image_name", "image_reference", "name_hint", "read_env_file"]

PathArg: TypeAlias = str | os.PathLike[str]
#: ``{host path or volume name: container path}`` (a value may end in ``:ro``), or ``"src:dst[:ro]"`` strings
Volumes: TypeAlias = Mapping[str | os.PathLike[str], str] | Sequence[str]
#: ``{container path: mount options}``, or container paths
Tmpfs: TypeAlias = Mapping[str, str] | Sequence[str]
#: one env file or several (later files win)
EnvFiles: TypeAlias = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

HEALTHCHECK_TIMES = ("interval", "timeout", "start_period")
HEALTHCHECK_KEYS = ("test", *HEALTHCHECK_TIMES, "retries")
MOUNT_MODES = {"ro", "rw", "z", "Z", "nocopy", "shared", "slave", "private", "rshared", "rslave", "rprivate"}
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
IMAGE_ID = re.compile(r"(sha256:)?[0-9a-f]{12,64}")


def option_error(option: str, problem: str) -> RunOptionError:
    """The error of a run option that cannot be used as given."""
    return RunOptionError(option, problem)


@dataclass(frozen=True)
class RunOptions:
    """The run options of ``run()`` and ``run_once()``, as they are given."""

    user: str | int | None = None  #: ``"1000"``, ``"app"``, ``"1000:1000"`` or a uid
    workdir: str | None = None  #: an absolute path in the container
    #: ``{host path or volume name: container path}`` or ``"src:dst[:ro]"``; host paths must exist
    volumes: Volumes | None = None
    tmpfs: Tmpfs | None = None  #: ``{container path: options such as "size=64m"}`` or paths
    read_only: bool = False  #: a read-only root filesystem
    cap_drop: Sequence[str] | None = None  #: capabilities, e.g. ``["ALL"]`` or ``["NET_RAW"]``
    cap_add: Sequence[str] | None = None
    mem_limit: int | str | None = None  #: bytes, or ``"256m"``, ``"1g"``
    cpus: float | None = None  #: CPUs, e.g. ``0.5``
    pids_limit: int | None = None  #: processes at most (``-1``: no limit)
    #: ``{"test": [...] or "shell command", "interval": s, "timeout": s, "start_period": s,
    #: "retries": n}`` (seconds, floats), or ``"none"`` to disable the image's HEALTHCHECK
    healthcheck: Mapping[str, Any] | str | None = None
    #: files of ``KEY=VALUE`` lines, read as ``docker run --env-file`` reads them; ``env`` wins
    env_file: EnvFiles | None = None

    def create_kwargs(self, env: Mapping[str, str] | None, *, local_paths: bool = True) -> dict[str, Any]:
        """``containers.create`` arguments, environment included (``env`` wins over the env
        files); ``local_paths``: the engine sees this machine's files, so bind mounts are checked."""
        create: dict[str, Any] = {"environment": {**self._env_files(), **dict(env or {})}}
        if self.user is not None:
            create["user"] = str(self.user)
        if self.workdir is not None:
            create["working_dir"] = _absolute("workdir", self.workdir)
        if self.volumes is not None:
            create["volumes"] = volume_binds(self.volumes, local_paths)
        if self.tmpfs is not None:
            create["tmpfs"] = tmpfs_mounts(self.tmpfs)
        if self.read_only:
            create["read_only"] = True
        if self.cap_drop is not None:
            create["cap_drop"] = _names("cap_drop", self.cap_drop)
        if self.cap_add is not None:
            create["cap_add"] = _names("cap_add", self.cap_add)
        create.update(self._limits())
        if self.healthcheck is not None:
            create["healthcheck"] = healthcheck_config(self.healthcheck)
        return create

    def _limits(self) -> dict[str, int]:
        limits: dict[str, int] = {}
        if self.mem_limit is not None:
            limits["mem_limit"] = memory_bytes(self.mem_limit)
        if self.cpus is not None:
            if isinstance(self.cpus, bool) or not isinstance(self.cpus, (int, float)) or self.cpus <= 0:
                raise option_error("cpus", f"{self.cpus!r}: give a number of CPUs above 0, e.g. 0.5")
            limits["nano_cpus"] = round(self.cpus * 1e9)
        if self.pids_limit is not None:
            if isinstance(self.pids_limit, bool) or not isinstance(self.pids_limit, int):
                raise option_error("pids_limit", f"{self.pids_limit!r}: give a number of processes (-1: no limit)")
            limits["pids_limit"] = self.pids_limit
        return limits

    def _env_files(self) -> dict[str, str]:
        if self.env_file is None:
            return {}
        files = [self.env_file] if isinstance(self.env_file, (str, os.PathLike)) else list(self.env_file)
        merged: dict[str, str] = {}
        for file in files:
            merged.update(read_env_file(file))
        return merged


def read_env_file(path: PathArg) -> dict[str, str]:
    """The variables of an env file, read as ``docker run --env-file`` reads it: ``KEY=VALUE``
    lines (the value as written, quotes kept), leading whitespace, blank lines and ``#``
    comments skipped, a bare ``KEY`` taken from this process's environment when set there."""
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise option_error("env_file", f"{str(path)!r} does not exist (resolved: {file.absolute()})") from None
    except OSError as error:
        raise option_error("env_file", f"cannot read {str(path)!r}: {error.strerror}") from None
    variables: dict[str, str] = {}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.removesuffix(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            raise option_error("env_file", f"{path}:{number}: not valid UTF-8") from None
        line = (text.removeprefix("\ufeff") if number == 1 else text).lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        if not key:
            raise option_error("env_file", f"{path}:{number}: no variable name in {line!r}")
        if " " in key or "\t" in key:
            raise option_error("env_file", f"{path}:{number}: variable name {key!r} contains whitespace")
        if has_value:
            variables[key] = value
        elif key in os.environ:
            variables[key] = os.environ[key]
    return variables


def volume_binds(volumes: Volumes, local_paths: bool = True) -> list[str]:
    """``"source:target:mode"`` binds; a source with a ``/`` (or starting with ``.`` or ``~``)
    is a host path, made absolute and (on a local engine) required to exist; else a volume name."""
    if isinstance(volumes, Mapping):
        pairs = [(source, target) for source, target in volumes.items()]
    elif isinstance(volumes, str):
        pairs = [_split_volume(volumes)]
    else:
        pairs = [_split_volume(spec) for spec in volumes]
    binds = []
    for source, target in pairs:
        path, _, mode = str(target).partition(":")
        modes = mode.split(",") if mode else ["rw"]
        if not all(m in MOUNT_MODES for m in modes):
            raise option_error("volumes", f"{target!r}: unknown mount mode {mode!r} (use 'ro' or 'rw')")
        binds.append(f"{_volume_source(source, local_paths)}:{_absolute('volumes', path)}:{','.join(modes)}")
    return binds


def _split_volume(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or spec.count(":") not in (1, 2):
        raise option_error("volumes", f"{spec!r}: give 'source:target' or 'source:target:ro', or a mapping")
    source, _, target = spec.partition(":")
    return source, target


def _volume_source(source: str | os.PathLike[str], local_paths: bool) -> str:
    text = os.fspath(source)
    if isinstance(source, os.PathLike) or "/" in text or text.startswith((".", "~")):
        path = Path(text).expanduser().absolute()
        if local_paths and not path.exists():
            raise option_error("volumes", f"host path {text!r} does not exist (resolved: {path})")
        return str(path)
    if not VOLUME_NAME.fullmatch(text):
        raise option_error("volumes", f"{text!r} is neither a host path (with a '/') nor a volume name")
    return text


def tmpfs_mounts(tmpfs: Tmpfs) -> dict[str, str]:
    """``{container path: mount options}`` (``""``: the engine's defaults)."""
    if isinstance(tmpfs, Mapping):
        mounts = {str(path): str(options) for path, options in tmpfs.items()}
    else:
        mounts = {str(path): "" for path in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)}
    for path in mounts:
        _absolute("tmpfs", path)
    return mounts


def memory_bytes(limit: int | str) -> int:
    """Bytes of a memory limit given as bytes or as ``"256m"``, ``"1g"``..."""
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        return limit
    if isinstance(limit, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*[bkmgBKMG]?[bB]?\s*", limit):
        try:
            return int(docker.utils.parse_bytes(limit.strip().replace(" ", "")))
        except docker.errors.DockerException:
            pass
    raise option_error("mem_limit", f"{limit!r}: give bytes (an int above 0) or a size such as '256m' or '1g'")


def healthcheck_config(healthcheck: Mapping[str, Any] | str) -> dict[str, Any]:
    """The SDK's healthcheck: times in seconds become nanoseconds; ``"none"`` disables the image's."""
    if isinstance(healthcheck, str):
        if healthcheck.lower() == "none":
            return {"test": ["NONE"]}
        raise option_error("healthcheck", f"{healthcheck!r}: give a mapping (test, interval...) or 'none'")
    unknown = sorted(set(healthcheck) - set(HEALTHCHECK_KEYS))
    if unknown:
        raise option_error("healthcheck", f"unknown keys {unknown}; the keys are {', '.join(HEALTHCHECK_KEYS)}")
    config: dict[str, Any] = {}
    test = healthcheck.get("test")
    if test is not None:
        if not isinstance(test, str) and (not test or test[0] not in ("CMD", "CMD-SHELL", "NONE")):
            raise option_error("healthcheck", f"test {test!r}: a shell string, or a list starting with 'CMD'")
        config["test"] = ["CMD-SHELL", test] if isinstance(test, str) else list(test)
    for key in HEALTHCHECK_TIMES:
        if healthcheck.get(key) is not None:
            config[key] = _nanoseconds(key, healthcheck[key])
    retries = healthcheck.get("retries")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise option_error("healthcheck", f"retries {retries!r}: give a whole number, 0 or more")
        config["retries"] = retries
    return config


def _nanoseconds(key: str, seconds: Any) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise option_error("healthcheck", f"{key} {seconds!r}: give seconds, e.g. 0.5")
    if seconds >= 1e6:
        raise option_error("healthcheck", f"{key} {seconds!r}: give seconds ({seconds / 1e9:g}), not nanoseconds")
    if 0 < seconds < 0.001:
        raise option_error("healthcheck", f"{key} {seconds!r}: the engine needs at least 1 ms (0.001)")
    return round(seconds * 1e9)


def _absolute(option: str, path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise option_error(option, f"{path!r}: a path in the container must be absolute (start with '/')")
    return path


def _names(option: str, names: Iterable[str] | str) -> list[str]:
    listed = [names] if isinstance(names, str) else list(names)
    if not all(isinstance(name, str) and name for name in listed):
        raise option_error(option, f"{names!r}: give capability names, e.g. ['NET_RAW'] or ['ALL']")
    return listed


# -- the image a run names ---------------------------------------------------------------
def image_reference(image: str | Image | BuildResult) -> str:
    """What the engine is given: the reference as written, or the image id."""
    if isinstance(image, str):
        return image
    inner: Any = getattr(image, "image", image)
    return str(inner.id)


def image_name(image: str | Image | BuildResult) -> str:
    """The image as messages show it: the reference as written, else its first tag, else its id."""
    if isinstance(image, str):
        return image
    inner: Any = getattr(image, "image", image)
    reference = str(getattr(inner, "reference", ""))
    if reference and not IMAGE_ID.fullmatch(reference):
        return reference
    tags = list(getattr(inner, "tags", []) or [])
    return str(tags[0]) if tags else str(inner.id)


def name_hint(image: str | Image | BuildResult) -> str:
    """What a container of ``image`` is called when it has no name or alias: the image's
    repository (``web`` for ``myorg/web:1.2``); for a build, the context folder (and the
    target stage, when one was asked for); ``container`` for a bare id."""
    request: Any = getattr(image, "request", None)
    if request is not None:
        folder = Path(request.context).absolute().name or "container"
        return f"{folder}-{request.target}" if request.target else folder
    if isinstance(image, str):
        references = [image]
    else:
        references = [str(getattr(image, "reference", "")), *(getattr(image, "tags", []) or [])]
    for reference in references:
        if reference and not IMAGE_ID.fullmatch(reference):
            repository = reference.split("@", 1)[0].rsplit("/", 1)[-1]
            return repository.split(":", 1)[0] or "container"
    return "container"
