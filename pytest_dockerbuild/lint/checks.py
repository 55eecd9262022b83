"""Static checks of a parsed Dockerfile: the stage graph, base images, cache and image hygiene.

Rules that hadolint also has keep hadolint's id and its semantics (a differential
test runs the real hadolint on the test Dockerfiles); the plugin's own rules are
``DB001``...  Findings can be silenced per instruction with a comment directly
above it, ``# hadolint ignore=DL3006`` or ``# dockerbuild ignore=DB002``, for
the whole file with ``# dockerbuild global ignore=DB001`` (or ``# hadolint global
ignore=...``), or by passing ``ignore=``.  Stages built on purpose with ``--target`` (a test
stage) are not unused (DB001) when passed as ``targets=`` or marked with a ``# dockerbuild
target`` line above their FROM.  Nothing here needs an engine.

Severities, from the highest: ``error``, ``warning``, ``info``, ``style`` (hadolint's);
:func:`fails` says whether a finding reaches a failure threshold.

This module is the registry (:data:`RULES`: each :class:`Rule` with its metadata and its
check) and the runner (:func:`check_dockerfile`); the checks live with their theme:
:mod:`~pytest_dockerbuild.lint.images`, :mod:`~pytest_dockerbuild.lint.stages`,
:mod:`~pytest_dockerbuild.lint.commands`, :mod:`~pytest_dockerbuild.lint.secret_names`, and
what they share in :mod:`~pytest_dockerbuild.lint.context`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.lint.commands import context_before_install, package_cache_in_image, shell_form_command
from pytest_dockerbuild.lint.context import Check, LintContext
from pytest_dockerbuild.lint.images import image_name_typo, latest_tag, syntax_frontend, untagged_image
from pytest_dockerbuild.lint.secret_names import secret_in_arg_env
from pytest_dockerbuild.lint.stages import copy_from_own_stage, duplicate_stage_name, unknown_copy_source, unused_stage

__all__ = ["RULES", "SEVERITIES", "Finding", "Rule", "check_dockerfile", "fails"]

#: the severities of findings, from the highest
SEVERITIES = ("error", "warning", "info", "style")


@dataclass(frozen=True)
class Finding:
    """One problem found in a Dockerfile."""

    rule: str  #: rule id, e.g. ``DL3006`` or ``DB002``
    line: int  #: 1-based first line of the offending instruction
    message: str  #: what is wrong, naming the stage / image / variable, and what to do
    severity: str  #: one of :data:`SEVERITIES`: ``"error"``, ``"warning"``, ``"info"`` or ``"style"``
    dockerfile: Path  #: the Dockerfile checked

    def __str__(self) -> str:
        return f"{self.dockerfile}:{self.line}: {self.rule} {self.severity}: {self.message}"


@dataclass(frozen=True)
class Rule:
    """A check :func:`check_dockerfile` runs: its metadata and the function that finds its problems."""

    id: str  #: ``DL....`` (hadolint's id and semantics) or ``DB...`` (the plugin's own)
    name: str  #: short kebab-case name
    severity: str  #: severity of its findings
    summary: str  #: what it reports, its exemptions, and its closest hadolint/BuildKit analogue
    hadolint: str | None  #: the hadolint rule with the same id and semantics, if any
    check: Check = field(repr=False)  #: yields ``(line, message)`` for each problem in a Dockerfile


#: every rule by id, from one explicit list
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
            untagged_image,
        ),
        Rule(
            "DL3007",
            "latest-tag",
            "warning",
            "FROM an image tagged ':latest' without a digest: pin a release tag.",
            "DL3007",
            latest_tag,
        ),
        Rule(
            "DL3022",
            "unknown-copy-source",
            "error",
            "COPY --from=X where X is neither the name of an earlier stage nor the index of an earlier stage; "
            "a value containing ':' is an image and allowed, an image without a tag is not. Stage names "
            "compare case-insensitively, as Docker does (hadolint compares them case-sensitively).",
            "DL3022",
            unknown_copy_source,
        ),
        Rule(
            "DL3023",
            "copy-from-own-stage",
            "error",
            "COPY --from naming the stage it is in, by name or by index (hadolint misses the index).",
            "DL3023",
            copy_from_own_stage,
        ),
        Rule(
            "DL3024",
            "duplicate-stage-name",
            "error",
            "Two stages with the same name (case-insensitive, as Docker compares them; hadolint is "
            "case-sensitive); a build refuses the file. BuildKit: DuplicateStageName.",
            "DL3024",
            duplicate_stage_name,
        ),
        Rule(
            "DL3025",
            "shell-form-command",
            "warning",
            "Shell-form (non-JSON) CMD, ENTRYPOINT or HEALTHCHECK CMD: the process runs under /bin/sh -c "
            "and does not receive signals. BuildKit: JSONArgsRecommended.",
            "DL3025",
            shell_form_command,
        ),
        Rule(
            "DB001",
            "unused-stage",
            "info",
            "A stage that is not the last one and that no other stage builds FROM, copies from or mounts "
            "from: only a build with --target builds it. Not flagged: a stage built on purpose with --target "
            "(a test stage), named in dockerbuild_lint_targets (targets=) or marked by a '# dockerbuild "
            "target' line directly above its FROM. No hadolint rule; BuildKit silently skips such stages, "
            "the classic builder builds them.",
            None,
            unused_stage,
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
            image_name_typo,
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
            context_before_install,
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
            package_cache_in_image,
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
            secret_in_arg_env,
        ),
        Rule(
            "DB006",
            "syntax-frontend-image",
            "warning",
            "A '# syntax=' parser directive: BuildKit pulls that frontend image before it builds anything, "
            "so the build fails where no registry answers. Not flagged: a frontend image the base-image map "
            "maps (dockerbuild_base_images, image_map=). The classic builder ignores the line. No hadolint "
            "rule; BuildKit's checks advise pinning the syntax version, not dropping it.",
            None,
            syntax_frontend,
        ),
    ]
}


def fails(finding: Finding, threshold: str) -> bool:
    """True if ``finding`` is at least as severe as ``threshold`` (one of :data:`SEVERITIES`)."""
    return SEVERITIES.index(finding.severity) <= SEVERITIES.index(threshold)


def check_dockerfile(
    dockerfile: Dockerfile,
    *,
    image_map: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
    targets: Iterable[str] = (),
) -> list[Finding]:
    """All findings, sorted by line then rule id; rules in ``ignore`` are skipped; inline pragmas honoured.

    :param image_map: the base-image substitution map (normalized references such as
        ``diamol/base:latest`` as keys); its images are the known-good names DB002 compares with,
        and a ``# syntax=`` image it maps is no DB006 finding.
    :param ignore: rule ids to skip (ids of rules that do not exist are accepted and do nothing,
        so a list shared with hadolint works).
    :param targets: names of stages built on purpose with ``--target`` (case-insensitive; names
        of no stage of this file do nothing): DB001 does not report them.
    """
    skipped = {rule.strip().upper() for rule in ignore}
    lint = LintContext(dockerfile, image_map or {}, targets)
    findings: list[Finding] = []
    for rule in RULES.values():
        if rule.id in skipped or rule.id in lint.global_ignores:
            continue
        for line, message in rule.check(lint):
            if rule.id not in lint.ignored_at(line):
                findings.append(Finding(rule.id, line, message, rule.severity, dockerfile.path))
    return sorted(findings, key=lambda f: (f.line, f.rule, f.message))
