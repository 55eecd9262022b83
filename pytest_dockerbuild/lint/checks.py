"""Static checks of a parsed Dockerfile: the stage graph, base images, cache and image hygiene.

Rules that hadolint also has keep hadolint's id and its semantics (a differential
test runs the real hadolint on the test Dockerfiles); the plugin's own rules are
``DB001``...  Findings can be silenced per instruction with a comment directly
above it, ``# hadolint ignore=DL3006`` or ``# dockerbuild ignore=DB002``, for
the whole file with ``# dockerbuild global ignore=DB001`` (or ``# hadolint global
ignore=...``), or by passing ``ignore=``.  Nothing here needs an engine.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser

from pytest_dockerbuild.dockerfile.model import Dockerfile, Instruction, Stage, normalize_image

__all__ = ["RULES", "Finding", "Rule", "check_dockerfile"]


@dataclass(frozen=True)
class Finding:
    """One problem found in a Dockerfile."""

    rule: str  #: rule id, e.g. ``DL3006`` or ``DB002``
    line: int  #: 1-based first line of the offending instruction
    message: str  #: what is wrong, naming the stage / image / variable, and what to do
    severity: str  #: ``"error"``, ``"warning"`` or ``"info"``
    dockerfile: Path  #: the Dockerfile checked

    def __str__(self) -> str:
        return f"{self.dockerfile}:{self.line}: {self.rule} {self.severity}: {self.message}"


@dataclass(frozen=True)
class Rule:
    """A check :func:`check_dockerfile` runs."""

    id: str  #: ``DL....`` (hadolint's id and semantics) or ``DB...`` (the plugin's own)
    name: str  #: short kebab-case name
    severity: str  #: severity of its findings
    summary: str  #: what it reports, its exemptions, and its closest hadolint/BuildKit analogue
    hadolint: str | None  #: the hadolint rule with the same id and semantics, if any


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in [
        Rule(
            "DL3006",
            "untagged-image",
            "warning",
            "FROM an image without a tag or digest (it means ':latest', which moves). Exempt: 'scratch', "
            "an earlier stage's name, and references containing '$' (hadolint exempts only those starting "
            "with '$'). A registry port ('localhost:5000/app') is not a tag (hadolint takes it for one).",
            "DL3006",
        ),
        Rule(
            "DL3007",
            "latest-tag",
            "warning",
            "FROM an image tagged ':latest' without a digest: pin a release tag.",
            "DL3007",
        ),
        Rule(
            "DL3022",
            "unknown-copy-source",
            "error",
            "COPY --from=X where X is neither the name of an earlier stage nor the index of an earlier stage; "
            "a value containing ':' is an image and allowed, an image without a tag is not. Stage names "
            "compare case-insensitively, as Docker does (hadolint compares them case-sensitively).",
            "DL3022",
        ),
        Rule(
            "DL3023",
            "copy-from-own-stage",
            "error",
            "COPY --from naming the stage it is in, by name or by index (hadolint misses the index).",
            "DL3023",
        ),
        Rule(
            "DL3024",
            "duplicate-stage-name",
            "error",
            "Two stages with the same name (case-insensitive, as Docker compares them; hadolint is "
            "case-sensitive); a build refuses the file. BuildKit: DuplicateStageName.",
            "DL3024",
        ),
        Rule(
            "DL3025",
            "shell-form-command",
            "warning",
            "Shell-form (non-JSON) CMD, ENTRYPOINT or HEALTHCHECK CMD: the process runs under /bin/sh -c "
            "and does not receive signals. BuildKit: JSONArgsRecommended.",
            "DL3025",
        ),
        Rule(
            "DB001",
            "unused-stage",
            "info",
            "A stage that is not the last one and that no other stage builds FROM, copies from or mounts "
            "from: only a build with --target builds it. No hadolint rule; BuildKit silently skips such "
            "stages, the classic builder builds them.",
            None,
        ),
        Rule(
            "DB002",
            "image-name-typo",
            "warning",
            "A FROM image whose repository name (without registry, tag or digest) is within edit distance 2 "
            "of another FROM image of the file, an earlier stage name, or an image of the base-image map, "
            "for names of at least 5 characters. Not flagged: identical names, stage references, images in "
            "the map, names differing only in digits (java17/java21); of two images in the file the rarer "
            "(then the later) one is the suspect. No hadolint or BuildKit analogue (BuildKit's "
            "UndefinedArgInFrom/UndefinedVar give 'did you mean' hints for variables only).",
            None,
        ),
        Rule(
            "DB003",
            "context-before-install",
            "warning",
            "COPY/ADD of the whole build context ('.') before a dependency install (npm install/ci, yarn, "
            "pnpm install, pip install -r, poetry install, mvn, gradle, go mod download, bundle install, "
            "composer install, cargo fetch/build) in the same stage: any change to any file re-runs the "
            "install. Copy the manifests first. No hadolint or BuildKit analogue.",
            None,
        ),
        Rule(
            "DB004",
            "package-cache-in-image",
            "warning",
            "In the stages whose layers make the final image (the last stage and the stages it builds "
            "FROM): apt-get/apt install without 'rm -rf /var/lib/apt/lists' in the same RUN, apk add "
            "without --no-cache, yum/dnf/microdnf install without 'clean all', pip install without "
            "--no-cache-dir (or PIP_NO_CACHE_DIR). A cache or tmpfs mount on the cache folder counts as "
            "cleanup. hadolint checks every stage: DL3009, DL3019, DL3032, DL3040, DL3042.",
            None,
        ),
        Rule(
            "DB005",
            "secret-in-arg-env",
            "warning",
            "An ARG or ENV whose name looks like a secret (a word such as password, passwd, pass, pwd, secret, "
            "token, credentials, auth, apikey, or api/access/private/secret/ssh/signing key): ARG values "
            "land in the image history, ENV values in its config. Not flagged: names containing PUBLIC, "
            "and names whose last word says they point at or describe the secret rather than hold it "
            "(..._FILE, _PATH, _DIR, _URL, _HOST, _ID, _USER, _ENABLED, ...; e.g. POSTGRES_PASSWORD_FILE, "
            "the Docker-secrets convention). hadolint DL3064, BuildKit SecretsUsedInArgOrEnv (both flag "
            "..._FILE names).",
            None,
        ),
    ]
}

_PRAGMA = re.compile(
    r"^#\s*(?P<tool>hadolint|dockerbuild)\s+(?P<scope>global\s+)?ignore\s*=\s*"
    r"(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)\s*(?:#.*)?$"
)


def check_dockerfile(
    dockerfile: Dockerfile, *, image_map: Mapping[str, str] | None = None, ignore: Iterable[str] = ()
) -> list[Finding]:
    """All findings, sorted by line then rule id; rules in ``ignore`` are skipped; inline pragmas honoured.

    :param image_map: the base-image substitution map (normalized references such as
        ``diamol/base:latest`` as keys); its images are the known-good names DB002 compares with.
    :param ignore: rule ids to skip (ids of rules that do not exist are accepted and do nothing,
        so a list shared with hadolint works).
    """
    skipped = {rule.strip().upper() for rule in ignore}
    lint = _Lint(dockerfile, image_map or {})
    findings: list[Finding] = []
    for rule_id, check in _CHECKS.items():
        if rule_id in skipped or rule_id in lint.global_ignores:
            continue
        for line, message in check(lint):
            if rule_id in lint.ignored_at(line):
                continue
            rule = RULES[rule_id]
            findings.append(Finding(rule.id, line, message, rule.severity, dockerfile.path))
    return sorted(findings, key=lambda f: (f.line, f.rule, f.message))


# -- shared state --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Item:
    keyword: str
    value: str
    line: int
    content: str


class _Lint:
    """The Dockerfile plus what the checks need that the model drops: comments, global ARG lines."""

    def __init__(self, dockerfile: Dockerfile, image_map: Mapping[str, str]) -> None:
        self.dockerfile = dockerfile
        self.image_map = image_map
        parser = DockerfileParser(fileobj=io.BytesIO(dockerfile.text.encode()))
        items = [
            _Item(item["instruction"].upper(), item["value"], item["startline"] + 1, item["content"])
            for item in parser.structure
        ]
        self.pragmas: dict[int, set[str]] = {}
        self.global_ignores: set[str] = set()
        for item in items:
            match = _PRAGMA.match(item.content.strip()) if item.keyword == "COMMENT" else None
            if match is None:
                continue
            codes = {code.strip() for code in match.group("codes").split(",")}
            if match.group("scope"):
                self.global_ignores |= codes
            else:
                self.pragmas[item.line] = codes
        self.global_args: list[_Item] = []
        for item in items:
            if item.keyword == "FROM":
                break
            if item.keyword == "ARG":
                self.global_args.append(item)

    def label(self, stage: Stage) -> str:
        """How messages name a stage: ``stage 'build'``, ``the final stage``, ``stage 1 (unnamed)``."""
        if stage.name is not None:
            return f"stage {stage.name!r}"
        return "the final stage" if stage is self.dockerfile.stages[-1] else f"stage {stage.index} (unnamed)"

    def ignored_at(self, line: int) -> set[str]:
        """Rules silenced for the instruction starting at ``line``: the pragma lines directly above it."""
        codes: set[str] = set()
        above = line - 1
        while above in self.pragmas:
            codes |= self.pragmas[above]
            above -= 1
        return codes


_Check = Callable[[_Lint], Iterator[tuple[int, str]]]


def _from_reference(stage: Stage) -> str:
    """The FROM image as written (variables not expanded, flags dropped)."""
    words = [w for w in stage.instructions[0].value.split() if not w.startswith("--")]
    return words[0]


def _split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """``(name, tag, digest)`` of an image reference; a registry port is not a tag."""
    name, _, digest = reference.partition("@")
    head, slash, last = name.rpartition("/")
    tag: str | None = None
    if ":" in last:
        last, _, tag = last.partition(":")
    return f"{head}{slash}{last}", tag, digest or None


def _repository(reference: str) -> str:
    """The repository name of an image without registry, tag and digest: ``diamol/base``."""
    name = _split_reference(normalize_image(reference))[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def _later_stage_hint(lint: _Lint, name: str, after: Stage) -> str:
    """A hint when ``name`` is the name of a stage defined after ``after``."""
    for later in lint.dockerfile.stages[after.index + 1 :]:
        if later.name is not None and later.name == name.lower():
            line = later.instructions[0].line
            return f"; stage {later.name!r} is defined later (line {line}) and only earlier stages can be used"
    return ""


# -- DL3006 / DL3007: FROM tags ------------------------------------------------------------------
def _untagged(lint: _Lint) -> Iterator[tuple[int, str]]:
    for stage in lint.dockerfile.stages:
        reference = _from_reference(stage)
        if reference == "scratch" or "$" in reference or stage.base_stage is not None:
            continue
        name, tag, digest = _split_reference(reference)
        if tag is None and digest is None:
            yield (
                stage.instructions[0].line,
                f"FROM {reference!r} in {lint.label(stage)} has no tag: it means {name + ':latest'!r}, which "
                f"changes whenever the image is pushed; pin a version, e.g. '{name}:<version>'"
                + _later_stage_hint(lint, reference, stage),
            )


def _latest(lint: _Lint) -> Iterator[tuple[int, str]]:
    for stage in lint.dockerfile.stages:
        reference = _from_reference(stage)
        name, tag, digest = _split_reference(reference)
        if tag == "latest" and digest is None:
            yield (
                stage.instructions[0].line,
                f"FROM {reference!r} in {lint.label(stage)} uses the 'latest' tag, which changes whenever the "
                f"image is pushed; pin a release tag, e.g. '{name}:<version>'",
            )


# -- DL3022 / DL3023: COPY --from ----------------------------------------------------------------
def _copy_sources(lint: _Lint) -> Iterator[tuple[str, int, str]]:
    """``(rule, line, message)`` for every bad ``COPY --from``."""
    stages = lint.dockerfile.stages
    for stage in stages:
        earlier = stages[: stage.index]
        for instruction in stage.instructions:
            source = instruction.flags.get("from")
            if instruction.keyword != "COPY" or not source or ":" in source:
                continue  # no --from (or one without a value, which Docker refuses), or an image
            if source.isdigit():
                number = int(source)
                if number < stage.index:
                    continue
                if number == stage.index:
                    yield "DL3023", instruction.line, _own_stage(lint.label(stage), source)
                    continue
            elif any(s.name == source.lower() for s in earlier):
                continue
            elif stage.name == source.lower():
                yield "DL3023", instruction.line, _own_stage(lint.label(stage), source)
                continue
            names = ", ".join(repr(s.ref) for s in earlier) or "none"
            if source.isdigit():
                hint = f"; index {source} is not an earlier stage"
            else:
                hint = _later_stage_hint(lint, source, stage) or (
                    f"; to copy from an image give its tag, e.g. '{source}:<version>'"
                )
            yield (
                "DL3022",
                instruction.line,
                f"COPY --from={source} in {lint.label(stage)} names no earlier stage (earlier stages: {names})" + hint,
            )


def _own_stage(where: str, source: str) -> str:
    return f"COPY --from={source} in {where} copies from the stage it is in; copy from an earlier stage or an image"


def _unknown_source(lint: _Lint) -> Iterator[tuple[int, str]]:
    return ((line, message) for rule, line, message in _copy_sources(lint) if rule == "DL3022")


def _own_source(lint: _Lint) -> Iterator[tuple[int, str]]:
    return ((line, message) for rule, line, message in _copy_sources(lint) if rule == "DL3023")


# -- DL3024: duplicate stage names ---------------------------------------------------------------
def _duplicates(lint: _Lint) -> Iterator[tuple[int, str]]:
    for line, name in lint.dockerfile.duplicates:
        first = next(s for s in lint.dockerfile.stages if s.name == name)
        yield (
            line,
            f"stage name {name!r} is already used by the stage at line {first.instructions[0].line} "
            "(stage names are case-insensitive); a build refuses duplicate stage names: rename one",
        )


# -- DL3025: shell-form commands -----------------------------------------------------------------
def _is_json_array(text: str) -> bool:
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return isinstance(parsed, list) and all(isinstance(part, str) for part in parsed)


_HEALTHCHECK_CMD = re.compile(r"^(?:--\S+\s+)*CMD\s+(.*)$", re.IGNORECASE | re.DOTALL)


def _shell_form(lint: _Lint) -> Iterator[tuple[int, str]]:
    for stage in lint.dockerfile.stages:
        for instruction in stage.instructions:
            keyword, command = instruction.keyword, instruction.value
            if keyword == "HEALTHCHECK":
                match = _HEALTHCHECK_CMD.match(command)
                if match is None:
                    continue  # HEALTHCHECK NONE
                keyword, command = "HEALTHCHECK CMD", match.group(1).strip()
            elif keyword not in ("CMD", "ENTRYPOINT"):
                continue
            if _is_json_array(command):
                continue
            if keyword == "HEALTHCHECK CMD":
                effect = "runs under /bin/sh -c, so the image needs a shell"
            elif keyword == "ENTRYPOINT":
                effect = (
                    "runs under /bin/sh -c, which does not pass signals (docker stop) on to the process, "
                    "and ignores CMD and docker run arguments"
                )
            else:
                effect = "runs under /bin/sh -c, which does not pass signals (docker stop) on to the process"
            if command.startswith("["):
                problem = "is not a JSON array of strings (JSON needs double quotes), so it is in shell form"
                fix = "write it as valid JSON"
            elif _SHELL_SYNTAX.search(command):
                problem = "is in shell form"
                fix = f"it uses shell syntax: run a script in JSON form, or {keyword} {_json_form(command, True)}"
            else:
                problem = "is in shell form"
                fix = f"use the JSON form, e.g. {keyword} {_json_form(command, False)}"
            yield instruction.line, f"{keyword} {command} in {lint.label(stage)} {problem}: it {effect}; {fix}"


_SHELL_SYNTAX = re.compile(r"[|&;<>$`*?(){}]|\\")


def _json_form(command: str, needs_shell: bool) -> str:
    if needs_shell:
        return json.dumps(["sh", "-c", command])
    words = _shell_words(command)
    if words[:1] == ["exec"]:
        words = words[1:]
    return json.dumps(words)


def _shell_words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


# -- DB001: stages nothing uses ------------------------------------------------------------------
def _unused_stages(lint: _Lint) -> Iterator[tuple[int, str]]:
    stages = lint.dockerfile.stages
    used = {needed.index for stage in stages for needed in lint.dockerfile.dependencies(stage)}
    for stage in stages[:-1]:
        if stage.index not in used:
            if stage.name is not None:
                outcome = f"only a build with --target {stage.name} builds it"
            else:
                outcome = "without a name it cannot even be a --target: remove it, or name it with AS"
            yield (
                stage.instructions[0].line,
                f"{lint.label(stage)} is not used: it is not the last stage and no stage builds FROM it, "
                f"copies from it or mounts it; {outcome}",
            )


# -- DB002: image-name typos ---------------------------------------------------------------------
def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (a swap of neighbours counts 1)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _resembles(a: str, b: str) -> bool:
    if a == b or len(a) < 5 or len(b) < 5:
        return False
    if re.sub(r"\d", "", a) == re.sub(r"\d", "", b):  # versioned siblings, not typos
        return False
    return _distance(a, b) <= 2


def _typos(lint: _Lint) -> Iterator[tuple[int, str]]:
    stages = [s for s in lint.dockerfile.stages if s.is_external_base and s.base]
    in_map = {_repository(key): key for key in lint.image_map}
    uses: dict[str, list[Stage]] = {}
    for stage in stages:
        uses.setdefault(_repository(stage.base), []).append(stage)
    for stage in stages:
        name = _repository(stage.base)
        if name not in in_map:
            like = _look_alike(lint, stage, name, in_map, uses)
            if like is not None:
                yield (
                    stage.instructions[0].line,
                    f"FROM {stage.base!r} in {lint.label(stage)}: the image name {name!r} looks like a typo of {like}",
                )


def _look_alike(
    lint: _Lint, stage: Stage, name: str, in_map: Mapping[str, str], uses: Mapping[str, list[Stage]]
) -> str | None:
    """What ``name`` (the FROM image of ``stage``) is probably a typo of, described for a message."""
    for other, key in in_map.items():
        if _resembles(name, other):
            return f"{key!r} of the base-image map"
    for earlier in lint.dockerfile.stages[: stage.index]:
        if earlier.name is not None and _resembles(name, earlier.name):
            return f"the stage {earlier.name!r} (line {earlier.instructions[0].line})"
    mine = uses[name]
    for other, theirs in uses.items():
        # of two look-alikes in the file, the rarer one is the suspect; at a tie, the later one
        suspect = len(theirs) > len(mine) or (len(theirs) == len(mine) and theirs[0].index < mine[0].index)
        if suspect and _resembles(name, other):
            return f"{theirs[0].base!r} (line {theirs[0].instructions[0].line})"
    return None


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


def _commands(instruction: Instruction) -> list[str]:
    """The simple commands of a RUN (split at ``&&``, ``||``, ``;``, ``|``), flags dropped."""
    text = " ".join(w for w in instruction.value.split() if not w.startswith("--mount="))
    if text.lstrip().startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            text = " ".join(str(part) for part in parsed)
    return [part.strip() for part in re.split(r"&&|\|\||;|\||\n", text) if part.strip()]


def _sources(instruction: Instruction) -> list[str]:
    rest = instruction.value.split()
    while rest and rest[0].startswith("--"):
        rest.pop(0)
    text = " ".join(rest)
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [str(part) for part in parsed[:-1]]
    return instruction.arguments[:-1]


def _context_before_install(lint: _Lint) -> Iterator[tuple[int, str]]:
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


def _first_install(instructions: list[Instruction]) -> tuple[Instruction, str, str] | None:
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


def _cache_mounts(run: Instruction) -> list[str]:
    targets: list[str] = []
    for mount in re.findall(r"--mount=(\S+)", run.value):
        options = dict(part.partition("=")[::2] for part in mount.split(","))
        if options.get("type") in ("cache", "tmpfs"):
            targets.append(options.get("target") or options.get("dst") or options.get("destination") or "")
    return targets


def _final_image_stages(lint: _Lint) -> list[Stage]:
    chain: list[Stage] = []
    stage: Stage | None = lint.dockerfile.stages[-1]
    while stage is not None and stage not in chain:
        chain.append(stage)
        stage = stage.base_stage
    return chain


def _package_caches(lint: _Lint) -> Iterator[tuple[int, str]]:
    chain = _final_image_stages(lint)
    pip_env = any(
        i.keyword == "ENV" and "PIP_NO_CACHE_DIR" in _env_names(i.value) for s in chain for i in s.instructions
    )
    for stage in chain:
        where = "" if stage is chain[0] else " (the final image is built FROM it)"
        for run in stage.instructions:
            if run.keyword != "RUN":
                continue
            commands = _commands(run)
            whole = " && ".join(commands)
            mounts = _cache_mounts(run)
            for manager in _MANAGERS:
                installs = [c for c in commands if manager.install.search(c)]
                if not installs:
                    continue
                if manager.name == "pip install" and pip_env:
                    continue
                if any(m.startswith(d) for m in mounts for d in manager.cache_dirs):
                    continue
                if manager.run_cleanup is not None and manager.run_cleanup.search(whole):
                    continue
                if manager.command_cleanup is not None and all(manager.command_cleanup.search(c) for c in installs):
                    continue
                yield run.line, f"{manager.name} in {lint.label(stage)}{where} {manager.advice}"


# -- DB005: secret-looking ARG / ENV names -------------------------------------------------------
_SECRET_WORDS = frozenset(
    "password passwords passwd pass passphrase pwd pword secret secrets token tokens apikey accesskey "
    "privatekey secretkey credential credentials creds auth".split()
)
_KEY_QUALIFIERS = frozenset("api access private secret ssh signing encryption master".split())
_NOT_THE_SECRET = frozenset(
    "file path dir url uri host port endpoint name id user username enabled disabled mode type method length".split()
)


def _words(name: str) -> list[str]:
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        words += [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", part)]
    return words


def _secret_word(name: str) -> str | None:
    """The word that makes ``name`` look like a secret's, or None."""
    words = _words(name)
    if not words or name == "PWD" or "public" in words or words[-1] in _NOT_THE_SECRET:
        return None
    for position, word in enumerate(words):
        if word in _SECRET_WORDS:
            return word
        if word == "key" and position > 0 and words[position - 1] in _KEY_QUALIFIERS:
            return f"{words[position - 1]}_{word}"
    return None


def _env_names(value: str) -> list[str]:
    try:
        tokens = shlex.split(value)
    except ValueError:
        tokens = value.split()
    if tokens and "=" not in tokens[0]:
        return tokens[:1]  # legacy form: ENV NAME value
    return [token.partition("=")[0] for token in tokens if "=" in token]


def _arg_names(value: str) -> list[str]:
    try:
        tokens = shlex.split(value)
    except ValueError:
        tokens = value.split()
    return [token.partition("=")[0] for token in tokens]


def _secrets(lint: _Lint) -> Iterator[tuple[int, str]]:
    declared: list[tuple[str, str, int, str]] = [
        ("ARG", item.value, item.line, "before the first FROM") for item in lint.global_args
    ]
    for stage in lint.dockerfile.stages:
        declared += [
            (i.keyword, i.value, i.line, f"in {lint.label(stage)}")
            for i in stage.instructions
            if i.keyword in ("ARG", "ENV")
        ]
    for keyword, value, line, where in declared:
        names = _arg_names(value) if keyword == "ARG" else _env_names(value)
        for name in names:
            word = _secret_word(name)
            if word is None:
                continue
            risk = (
                "ARG values are recorded in the image history"
                if keyword == "ARG"
                else "ENV values are stored in the image config, readable by anyone who can pull it"
            )
            yield (
                line,
                f"{keyword} {name} {where} looks like a secret (the name contains {word!r}): {risk}; pass "
                "it as a build secret (RUN --mount=type=secret) or set it when the container runs",
            )


_CHECKS: dict[str, _Check] = {
    "DL3006": _untagged,
    "DL3007": _latest,
    "DL3022": _unknown_source,
    "DL3023": _own_source,
    "DL3024": _duplicates,
    "DL3025": _shell_form,
    "DB001": _unused_stages,
    "DB002": _typos,
    "DB003": _context_before_install,
    "DB004": _package_caches,
    "DB005": _secrets,
}
