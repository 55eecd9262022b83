"""Docker Compose v2, driven as a command: where it is (``docker compose``, or a v2
``docker-compose``), the command line of one project, and its files as YAML (with line
numbers for errors) and as Compose resolves them (``config --format json``).

The plugin drives the real Compose rather than reading the files itself: profiles, env
files, override files, interpolation, ``extends`` and ``x-`` fields mean what Compose
says they mean.  testcontainers' ``DockerCompose`` runs the same commands but has no way
to build through the plugin's builder or to rewrite ports, so it is not used here.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_dockerbuild.errors import ComposeError, shown_path

__all__ = ["ComposeCli", "compose_command", "service_line"]

INSTALL = "install it with scripts/install_cli_plugins, or Debian 13's docker-compose package (2.x)"


@functools.lru_cache(maxsize=1)
def compose_command() -> tuple[str, ...]:
    """``docker compose`` (the CLI plugin), else a ``docker-compose`` of version 2."""
    for command in (("docker", "compose"), ("docker-compose",)):
        if shutil.which(command[0]) is None:
            continue
        try:
            found = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0 and found.stdout.strip().lstrip("v").startswith("2"):
            return command
    raise ComposeError(f"Docker Compose v2 is not installed (`docker compose version` does not answer); {INSTALL}")


@dataclass
class ComposeCli:
    """The command line of one Compose project: its name, files, profiles and env files."""

    project: str
    files: list[Path]
    project_dir: Path
    profiles: Sequence[str] = ()
    env_files: Sequence[Path] = ()
    environment: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``compose ARGS`` for the project."""
        command = [*compose_command(), "--project-name", self.project, "--project-directory", str(self.project_dir)]
        for path in self.files:
            command += ["--file", str(path)]
        for profile in self.profiles:
            command += ["--profile", profile]
        for env_file in self.env_files:
            command += ["--env-file", str(env_file)]
        try:
            return subprocess.run(
                [*command, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                env={**os.environ, **self.environment}, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ComposeError(f"docker compose {args[0]} did not finish within {timeout:g} s", self.files) from None

    def check_files(self) -> None:
        """Each file exists and parses as YAML with a mapping at the top (else the file and line)."""
        for path in [*self.files, *self.env_files]:
            if not path.is_file():
                raise ComposeError(f"{shown_path(path)}: no such file", self.files)
        for path in self.files:
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.MarkedYAMLError as error:
                mark = error.problem_mark
                where = f"{shown_path(path)}:{mark.line + 1}" if mark is not None else shown_path(path)
                raise ComposeError(f"{where}: not a Compose file: {error.problem or error}", self.files) from None
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                raise ComposeError(f"{shown_path(path)}: not a Compose file: {error}", self.files) from None
            if not isinstance(loaded, dict):
                raise ComposeError(f"{shown_path(path)}: not a Compose file (no mapping at the top)", self.files)

    def config(self) -> dict[str, Any]:
        """The project as Compose resolves it (files merged, profiles, env files, interpolation)."""
        done = self.run("config", "--format", "json")
        if done.returncode != 0:
            raise ComposeError(self.explain(done.stderr), self.files)
        resolved: dict[str, Any] = json.loads(done.stdout)
        return resolved

    def explain(self, stderr: str) -> str:
        """Compose's error, with the file and line of the service it names where one is found."""
        message = " ".join(line.strip() for line in stderr.strip().splitlines()[-3:]) or "docker compose failed"
        named = re.search(r'service "?([\w.-]+)"?', message)
        where = service_line(self.files, named.group(1)) if named else None
        files = ", ".join(shown_path(path) for path in self.files)
        return f"{where or files}: {message}"


def service_line(files: Sequence[Path], service: str) -> str | None:
    """``file:line`` of ``service`` under ``services:`` in the last of ``files`` that has it."""
    for path in reversed(list(files)):
        try:
            root = yaml.compose(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if not isinstance(root, yaml.MappingNode):
            continue
        for key, value in root.value:
            if key.value == "services" and isinstance(value, yaml.MappingNode):
                for name, _ in value.value:
                    if name.value == service:
                        return f"{shown_path(path)}:{name.start_mark.line + 1}"
    return None
