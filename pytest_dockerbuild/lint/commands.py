"""The rules on commands and image hygiene: DL3025 (shell-form CMD, ENTRYPOINT, HEALTHCHECK CMD),
DB003 (the whole context copied before a dependency install), DB004 (package-manager caches
left in the final image)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pytest_dockerbuild.dockerfile import Instruction, Stage
from pytest_dockerbuild.dockerfile.text import mount_options, shell_words
from pytest_dockerbuild.lint.context import LintContext, env_names

__all__ = ["context_before_install", "package_cache_in_image", "shell_form_command"]


def _json_array(text: str) -> list[Any] | None:
    """``text`` parsed as a JSON array (the exec form), or None if it is not one."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def _commands(instruction: Instruction) -> list[str]:
    """The simple commands of a RUN (split at ``&&``, ``||``, ``;``, ``|``), flags dropped."""
    text = " ".join(w for w in instruction.value.split() if not w.startswith("--mount="))
    parsed = _json_array(text)
    if parsed is not None:
        text = " ".join(str(part) for part in parsed)
    return [part.strip() for part in re.split(r"&&|\|\||;|\||\n", text) if part.strip()]


# -- DL3025: shell-form commands -----------------------------------------------------------------
_HEALTHCHECK_CMD = re.compile(r"^(?:--\S+\s+)*CMD\s+(.*)$", re.IGNORECASE | re.DOTALL)
_SHELL_SYNTAX = re.compile(r"[|&;<>$`*?(){}]|\\")
_SIGNALS = "runs under /bin/sh -c, which does not pass signals (docker stop) on to the process"
#: what the shell form does, per command
_EFFECTS = {
    "CMD": _SIGNALS,
    "ENTRYPOINT": f"{_SIGNALS}, and ignores CMD and docker run arguments",
    "HEALTHCHECK CMD": "runs under /bin/sh -c, so the image needs a shell",
}


def shell_form_command(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DL3025: a CMD, ENTRYPOINT or HEALTHCHECK CMD that is not a JSON array of strings."""
    for stage in lint.dockerfile.stages:
        for instruction in stage.instructions:
            found = _command(instruction)
            if found is None:
                continue
            keyword, command = found
            parsed = _json_array(command)
            if parsed is not None and all(isinstance(part, str) for part in parsed):
                continue
            yield (
                instruction.line,
                f"{keyword} {command} in {lint.label(stage)} {_shell_form_problem(keyword, command)}",
            )


def _command(instruction: Instruction) -> tuple[str, str] | None:
    """``(keyword, command)`` of a CMD, ENTRYPOINT or HEALTHCHECK CMD; None for other instructions."""
    if instruction.keyword == "HEALTHCHECK":
        match = _HEALTHCHECK_CMD.match(instruction.value)
        return None if match is None else ("HEALTHCHECK CMD", match.group(1).strip())  # None: HEALTHCHECK NONE
    if instruction.keyword in ("CMD", "ENTRYPOINT"):
        return instruction.keyword, instruction.value
    return None


def _shell_form_problem(keyword: str, command: str) -> str:
    """What is wrong with a command in shell form, what that does, and how to fix it."""
    if command.startswith("["):
        problem = "is not a JSON array of strings (JSON needs double quotes), so it is in shell form"
        fix = "write it as valid JSON"
    elif _SHELL_SYNTAX.search(command):
        problem = "is in shell form"
        fix = f"it uses shell syntax: run a script in JSON form, or {keyword} {json.dumps(['sh', '-c', command])}"
    else:
        problem = "is in shell form"
        words = shell_words(command)
        fix = f"use the JSON form, e.g. {keyword} {json.dumps(words[1:] if words[:1] == ['exec'] else words)}"
    return f"{problem}: it {_EFFECTS[keyword]}; {fix}"


# -- DB003: whole context copied before a dependency install -------------------------------------
_INSTALLS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bnpm\s+(?:-\S+\s+)*(?:install|ci|i)\b"), "package.json package-lock.json"),
    (re.compile(r"\byarn(?:\s+install\b|\s+--|\s*$)"), "package.json yarn.lock"),
    (re.compile(r"\bpnpm\s+(?:-\S+\s+)*(?:install|i)\b"), "package.json pnpm-lock.yaml"),
    (re.compile(r"\bpip[0-9.]*\s+install\b.*\s(?:-r|--requirement)"), "requirements.txt"),
    (re.compile(r"\bpoetry\s+install\b"), "pyproject.toml poetry.lock"),
    (re.compile(r"\bmvnw?\b"), "pom.xml"),
    (re.compile(r"\bgradlew?\b"), "build.gradle settings.gradle"),
    (re.compile(r"\bgo\s+mod\s+download\b"), "go.mod go.sum"),
    (re.compile(r"\bbundle\s+install\b"), "Gemfile Gemfile.lock"),
    (re.compile(r"\bcomposer\s+install\b"), "composer.json composer.lock"),
    (re.compile(r"\bcargo\s+(?:fetch|build)\b"), "Cargo.toml Cargo.lock"),
]
_WHOLE_CONTEXT = {".", "./", "./."}


def context_before_install(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DB003: COPY/ADD of the whole build context before a dependency install in the same stage."""
    for stage in lint.dockerfile.stages:
        for position, copy in enumerate(stage.instructions):
            if copy.keyword not in ("COPY", "ADD") or "from" in copy.flags:
                continue
            if not _WHOLE_CONTEXT.intersection(_sources(copy)):
                continue
            found = _first_install(stage.instructions[position + 1 :])
            if found is None:
                continue
            run, command, manifests = found
            yield (
                copy.line,
                f"{copy.text} in {lint.label(stage)} copies the whole build context before the dependency install "
                f"{command!r} (line {run.line}): any change to any file re-runs the install. Copy the "
                f"manifests first ({manifests}), install, then copy the rest",
            )


def _sources(instruction: Instruction) -> list[str]:
    """The sources of a COPY or ADD, in shell or JSON form."""
    text = instruction.argument_text
    parsed = _json_array(text) if text.startswith("[") else None
    if parsed is not None:
        return [str(part) for part in parsed[:-1]]
    return instruction.arguments[:-1]


def _first_install(instructions: list[Instruction]) -> tuple[Instruction, str, str] | None:
    """``(RUN, the install command, the manifests to copy first)`` of the first install among ``instructions``."""
    for run in instructions:
        if run.keyword != "RUN":
            continue
        for command in _commands(run):
            for pattern, manifests in _INSTALLS:
                if pattern.search(command):
                    return run, command if len(command) <= 60 else command[:57] + "...", manifests
    return None


# -- DB004: package-manager caches left in the final image ---------------------------------------
@dataclass(frozen=True)
class _Manager:
    name: str
    install: re.Pattern[str]
    #: cleanup anywhere in the same RUN
    run_cleanup: re.Pattern[str] | None
    #: cleanup in the same command (a flag)
    command_cleanup: re.Pattern[str] | None
    #: a cache/tmpfs mount on a folder starting with one of these counts as cleanup
    cache_dirs: tuple[str, ...]
    advice: str


_MANAGERS = [
    _Manager(
        "apt-get install",
        re.compile(r"\bapt(?:-get)?(?:\s+-\S+)*\s+install\b"),
        re.compile(r"\brm\s[^;&|]*/var/lib/apt/lists"),
        None,
        ("/var/lib/apt",),
        "leaves the package lists (/var/lib/apt/lists) in the layer; end the same RUN with "
        "'&& rm -rf /var/lib/apt/lists/*'",
    ),
    _Manager(
        "apk add",
        re.compile(r"\bapk(?:\s+-\S+)*\s+add\b"),
        re.compile(r"\brm\s[^;&|]*/var/cache/apk"),
        re.compile(r"\s--no-cache\b"),
        ("/var/cache/apk", "/etc/apk/cache"),
        "leaves the package index (/var/cache/apk) in the layer; use 'apk add --no-cache'",
    ),
    _Manager(
        "yum/dnf install",
        re.compile(r"\b(?:yum|dnf|microdnf)(?:\s+-\S+)*\s+install\b"),
        re.compile(r"\b(?:yum|dnf|microdnf)(?:\s+-\S+)*\s+clean\s+all\b|\brm\s[^;&|]*/var/cache/(?:yum|dnf)"),
        None,
        ("/var/cache/yum", "/var/cache/dnf"),
        "leaves the package cache in the layer; end the same RUN with '&& yum clean all' (or 'dnf clean all')",
    ),
    _Manager(
        "pip install",
        re.compile(r"(?<!uv )\bpip[0-9.]*(?:\s+-\S+)*\s+install\b"),
        None,
        re.compile(r"\s--no-cache-dir\b|\bPIP_NO_CACHE_DIR="),
        ("/root/.cache", "~/.cache"),
        "leaves pip's download cache in the layer; use 'pip install --no-cache-dir' (or ENV PIP_NO_CACHE_DIR=1)",
    ),
]


def package_cache_in_image(lint: LintContext) -> Iterator[tuple[int, str]]:
    """DB004: an install that leaves its package manager's cache in the final image's layers."""
    chain = _final_image_stages(lint)
    pip_env = any(
        i.keyword == "ENV" and "PIP_NO_CACHE_DIR" in env_names(i.value) for s in chain for i in s.instructions
    )
    for stage in chain:
        where = "" if stage is chain[0] else " (the final image is built FROM it)"
        for run in stage.instructions:
            if run.keyword != "RUN":
                continue
            for manager in _MANAGERS:
                if manager.name == "pip install" and pip_env:
                    continue
                if _leaves_cache(manager, run):
                    yield run.line, f"{manager.name} in {lint.label(stage)}{where} {manager.advice}"


def _leaves_cache(manager: _Manager, run: Instruction) -> bool:
    """True if ``run`` installs with ``manager`` and neither cleans up nor mounts a cache on its folder."""
    commands = _commands(run)
    installs = [c for c in commands if manager.install.search(c)]
    if not installs:
        return False
    targets = [
        mount.get("target") or mount.get("dst") or mount.get("destination") or "" for mount in _cache_mounts(run)
    ]
    if any(target.startswith(folder) for target in targets for folder in manager.cache_dirs):
        return False
    if manager.run_cleanup is not None and manager.run_cleanup.search(" && ".join(commands)):
        return False
    return manager.command_cleanup is None or not all(manager.command_cleanup.search(c) for c in installs)


def _cache_mounts(run: Instruction) -> list[dict[str, str]]:
    """The cache and tmpfs mounts of a RUN."""
    return [mount for mount in mount_options(run.value) if mount.get("type") in ("cache", "tmpfs")]


def _final_image_stages(lint: LintContext) -> list[Stage]:
    """The last stage and the stages it is built FROM, last first."""
    chain: list[Stage] = []
    stage: Stage | None = lint.dockerfile.stages[-1]
    while stage is not None and stage not in chain:
        chain.append(stage)
        stage = stage.base_stage
    return chain
