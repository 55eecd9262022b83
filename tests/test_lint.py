"""Static Dockerfile checks: every rule on a Dockerfile that triggers it and one that does not,
silencing by pragma and by ``ignore=``, build targets, severities, ordering, messages, the example
projects, and Dockerfiles collected as pytest items (pytester runs; no engine needed)."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from pytest_dockerbuild import Dockerfile
from pytest_dockerbuild.dockerfile import parse_image_map
from pytest_dockerbuild.lint import RULES, SEVERITIES, Finding, check_dockerfile, fails
from pytest_dockerbuild.lint.context import LintContext
from pytest_dockerbuild.plugin.lint_items import matches

DATA = Path(__file__).parent / "data" / "lint"
EXAMPLES = Path(__file__).parent.parent / "example_projects"
#: the repo's substitution map (pyproject.toml), normalized as the plugin passes it
EXAMPLE_MAP = {
    "diamol/base:latest": "dockerbuild-offline/base:bookworm",
    "diamol/maven:latest": "dockerbuild-offline/maven:bookworm",
    "diamol/openjdk:latest": "dockerbuild-offline/openjdk:bookworm",
    "diamol/node:latest": "dockerbuild-offline/node:bookworm",
    "diamol/golang:latest": "dockerbuild-offline/golang:bookworm",
}


def lint(
    name: str, *, image_map: Mapping[str, str] | None = None, ignore: Iterable[str] = (), targets: Iterable[str] = ()
) -> list[Finding]:
    return check_dockerfile(Dockerfile.load(DATA / name), image_map=image_map, ignore=ignore, targets=targets)


def lint_text(text: str) -> list[Finding]:
    return check_dockerfile(Dockerfile(Path("/project/Dockerfile"), textwrap.dedent(text)))


def where(findings: list[Finding]) -> list[tuple[str, int]]:
    return [(f.rule, f.line) for f in findings]


# -- the rule table --------------------------------------------------------------------------------
def test_rules_have_the_documented_ids_and_severities() -> None:
    assert {rule_id: rule.severity for rule_id, rule in RULES.items()} == {
        "DL3006": "warning",
        "DL3007": "warning",
        "DL3022": "error",
        "DL3023": "error",
        "DL3024": "error",
        "DL3025": "warning",
        "DB001": "info",
        "DB002": "warning",
        "DB003": "warning",
        "DB004": "warning",
        "DB005": "warning",
        "DB006": "warning",
    }
    for rule_id, rule in RULES.items():
        assert rule.id == rule_id
        assert rule.hadolint == (rule_id if rule_id.startswith("DL") else None)
        assert rule.name and rule.summary


def test_every_rule_carries_its_check() -> None:
    """One registry: a rule's check finds the problems of the file that triggers the rule."""
    for rule_id, rule in RULES.items():
        lint_context = LintContext(Dockerfile.load(DATA / f"{rule_id.lower()}-bad.Dockerfile"), {})
        assert list(rule.check(lint_context)), rule_id
    assert "<function" not in repr(RULES["DL3006"])


def test_the_checks_do_not_parse_the_dockerfile_again(monkeypatch: pytest.MonkeyPatch) -> None:
    dockerfile = Dockerfile.load(DATA / "pragmas.Dockerfile")
    expected = check_dockerfile(dockerfile)
    monkeypatch.setattr(DockerfileParser, "structure", property(lambda _: pytest.fail("parsed again")))
    assert check_dockerfile(dockerfile) == expected


def test_db_rules_name_their_closest_analogue() -> None:
    assert "BuildKit" in RULES["DB001"].summary
    assert "DL3009" in RULES["DB004"].summary and "DL3042" in RULES["DB004"].summary
    assert "DL3064" in RULES["DB005"].summary and "SecretsUsedInArgOrEnv" in RULES["DB005"].summary


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_has_a_triggering_and_a_clean_dockerfile(rule_id: str) -> None:
    assert rule_id in {f.rule for f in lint(f"{rule_id.lower()}-bad.Dockerfile")}
    assert lint(f"{rule_id.lower()}-ok.Dockerfile") == []


# -- each rule: exact findings ---------------------------------------------------------------------
#: file -> [(rule, line, words the message must contain)]
EXPECTED: dict[str, list[tuple[str, int, tuple[str, ...]]]] = {
    "dl3006-bad.Dockerfile": [
        ("DL3006", 1, ("'debian'", "stage 'build'", "no tag", "'debian:latest'", "'debian:<version>'")),
        ("DL3006", 4, ("'docker.io/library/alpine'", "stage 'check'")),
        ("DL3006", 7, ("'later'", "stage 'early'", "stage 'later' is defined later (line 10)")),
        ("DL3006", 13, ("'busybox'", "the final stage")),
    ],
    "dl3007-bad.Dockerfile": [
        ("DL3007", 1, ("'debian:latest'", "stage 'build'", "'latest' tag", "'debian:<version>'")),
        ("DL3007", 4, ("'docker.io/library/alpine:latest'", "the final stage")),
    ],
    "dl3022-bad.Dockerfile": [
        ("DL3022", 6, ("--from=biuld", "stage 'test'", "earlier stages: 'build'")),
        ("DL3022", 7, ("--from=5", "index 5 is not an earlier stage")),
        ("DL3022", 8, ("--from=publish", "stage 'publish' is defined later (line 11)")),
        # an image without a tag is not accepted: hadolint's semantics (its issue #859 calls it a
        # false positive; Docker would pull nginx:latest), kept so that an untagged image is named
        ("DL3022", 9, ("--from=nginx", "'nginx:<version>'")),
    ],
    "dl3023-bad.Dockerfile": [("DL3023", 3, ("--from=build", "stage 'build'", "the stage it is in"))],
    "dl3024-bad.Dockerfile": [("DL3024", 7, ("'build'", "already used by the stage at line 1"))],
    "dl3025-bad.Dockerfile": [
        ("DL3025", 2, ("CMD make test", "stage 'build'", "shell form", "signals", 'CMD ["make", "test"]')),
        ("DL3025", 5, ("HEALTHCHECK CMD curl", "shell syntax", '["sh", "-c", "curl -f http://localhost/ || exit 1"]')),
        ("DL3025", 6, ("ENTRYPOINT exec /app --verbose", "ignores CMD", 'ENTRYPOINT ["/app", "--verbose"]')),
        ("DL3025", 7, ("CMD ['--port', '80']", "not a JSON array of strings", "double quotes")),
    ],
    "db001-bad.Dockerfile": [
        (
            "DB001",
            7,
            (
                "stage 'debug' is not used",
                "--target debug",
                "'# dockerbuild target' above its FROM",
                "list debug in dockerbuild_lint_targets",
            ),
        ),
        ("DB001", 10, ("stage 3 (unnamed) is not used", "name it with AS")),
    ],
    "db001-targets.Dockerfile": [
        # 'test' and 'integration' are marked; a blank line between pragma and FROM breaks it
        ("DB001", 16, ("stage 'lint' is not used",)),
        ("DB001", 19, ("stage 'debug' is not used",)),
        ("DB001", 23, ("stage 5 (unnamed) is not used", "name it with AS")),  # an unnamed stage is no target
    ],
    "db002-bad.Dockerfile": [
        ("DB002", 7, ("'golnag:1.22'", "stage 'lint'", "'golnag'", "typo of 'golang:1.22' (line 1)")),
        ("DB002", 10, ("'biuld'", "stage 'package'", "typo of the stage 'build' (line 1)")),
        ("DL3006", 10, ("'biuld'",)),
    ],
    "db003-bad.Dockerfile": [
        ("DB003", 3, ("COPY . .", "stage 'web'", "'npm ci' (line 4)", "package.json package-lock.json")),
        ("DB003", 8, ("ADD ./ /app/", "stage 'api'", "pip install", "(line 9)", "requirements.txt")),
        ("DB003", 13, ('COPY ["pom.xml", ".", "/src/"]', "stage 'jar'", "'mvn -B package' (line 14)", "pom.xml")),
        ("DB003", 18, ("COPY --chown=1000:1000 . /src", "the final stage", "'go mod download' (line 19)", "go.mod")),
    ],
    "db004-bad.Dockerfile": [
        ("DB004", 2, ("apt-get install", "stage 'base'", "final image is built FROM it", "rm -rf /var/lib/apt/lists")),
        ("DB004", 9, ("pip install", "the final stage", "--no-cache-dir")),
        ("DB004", 10, ("apk add", "--no-cache")),
        ("DB004", 11, ("yum/dnf install", "clean all")),
    ],
    "db005-bad.Dockerfile": [
        ("DB005", 1, ("ARG NPM_TOKEN", "before the first FROM", "'token'", "image history", "--mount=type=secret")),
        ("DB005", 3, ("ARG DB_PASSWORD", "the final stage", "'password'")),
        ("DB005", 4, ("ENV API_KEY", "'api_key'", "image config")),
        ("DB005", 5, ("ENV AWS_SECRET_ACCESS_KEY", "'secret'")),
        ("DB005", 6, ("ENV dbCredentials", "'credentials'")),
    ],
    "db006-bad.Dockerfile": [
        (
            "DB006",
            1,
            (
                "'# syntax=docker/dockerfile:1.7'",
                "BuildKit pull",
                "fails offline",
                "dockerbuild_base_images = docker/dockerfile:1.7=<local image>",
                "image_map=",
                "delete the line",
            ),
        ),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_findings_of_a_triggering_dockerfile(name: str) -> None:
    findings = lint(name)
    assert where(findings) == [(rule, line) for rule, line, _ in EXPECTED[name]]
    for finding, (_, _, words) in zip(findings, EXPECTED[name], strict=True):
        for word in words:
            assert word in finding.message, finding


@pytest.mark.parametrize("name", [*sorted(p.name for p in DATA.glob("*-ok.Dockerfile")), "clean.Dockerfile"])
def test_no_findings_on_a_clean_dockerfile(name: str) -> None:
    assert lint(name) == []


def test_findings_carry_severity_path_and_render_as_a_report_line() -> None:
    finding = lint("dl3023-bad.Dockerfile")[0]
    assert finding.severity == "error"
    assert finding.dockerfile == DATA / "dl3023-bad.Dockerfile"
    assert str(finding) == (
        f"{DATA / 'dl3023-bad.Dockerfile'}:3: DL3023 error: COPY --from=build in stage 'build' copies from "
        "the stage it is in; copy from an earlier stage or an image"
    )
    assert str(lint("db001-bad.Dockerfile")[0]).startswith(f"{DATA / 'db001-bad.Dockerfile'}:7: DB001 info: ")
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 1  # type: ignore[misc]  # a frozen field, on purpose


def test_findings_are_sorted_by_line_then_rule() -> None:
    findings = lint_text(
        """\
        FROM debian:latest AS b
        ENV TOKEN=x
        CMD run
        FROM debian AS a
        FROM debain:12
        COPY --from=a /x /y
        COPY --from=a /x /z
        COPY --from=nope /x /y
        """
    )
    assert where(findings) == [
        ("DB001", 1),
        ("DL3007", 1),
        ("DB005", 2),
        ("DL3025", 3),
        ("DL3006", 4),
        ("DB002", 5),
        ("DL3022", 8),
    ]
    assert findings == sorted(findings, key=lambda f: (f.line, f.rule))


# -- DL3006 / DL3007 details -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "flagged"),
    [
        ("debian", True),
        ("debian:12", False),
        ("debian@sha256:" + "a" * 64, False),
        ("localhost:5000/tools", True),  # a registry port is not a tag (hadolint takes it for one)
        ("localhost:5000/tools:1.0", False),
        ("scratch", False),
        ("$BASE", False),
        ("registry.example.com/${NAME}", False),  # a '$' anywhere exempts (hadolint: only at the start)
    ],
)
def test_untagged_image(reference: str, flagged: bool) -> None:
    findings = lint_text(f"ARG BASE=debian\nARG NAME=debian\nFROM {reference}\n")
    assert where(findings) == ([("DL3006", 3)] if flagged else [])


def test_earlier_stage_names_are_not_images_whatever_their_case() -> None:
    findings = lint_text(
        """\
        FROM debian:12 AS Builder
        FROM builder AS child
        FROM BUILDER
        """
    )
    assert where(findings) == [("DB001", 2)]


def test_latest_with_a_digest_is_pinned_and_latest_in_a_name_is_not_a_tag() -> None:
    assert lint_text(f"FROM debian:latest@sha256:{'a' * 64}\n") == []
    assert lint_text("FROM example/latest:1.0\n") == []
    assert where(lint_text("ARG IMAGE=debian\nFROM ${IMAGE}:latest\n")) == [("DL3007", 2)]


# -- DL3022 / DL3023 / DL3024 details --------------------------------------------------------------
def test_copy_sources_compare_stage_names_case_insensitively_as_docker_does() -> None:
    findings = lint_text(
        """\
        FROM debian:12 AS Build
        FROM debian:12 AS test
        COPY --from=BUILD /a /b
        COPY --from=build /a /b
        COPY --from=TEST /a /b
        """
    )
    assert where(findings) == [("DL3023", 5)]


def test_copy_from_own_stage_by_index_or_a_later_index() -> None:
    findings = lint_text(
        """\
        FROM debian:12 AS build
        FROM debian:12
        COPY --from=0 /a /b
        COPY --from=00 /a /b
        COPY --from=1 /a /b
        COPY --from=2 /a /b
        COPY --from=-1 /a /b
        """
    )
    assert where(findings) == [("DL3023", 5), ("DL3022", 6), ("DL3022", 7)]
    assert "COPY --from=1 in the final stage copies from the stage it is in" in findings[0].message


def test_run_mount_and_add_sources_are_not_copy_from() -> None:
    # hadolint checks only COPY --from; a RUN --mount from an unknown name mounts an image
    assert lint_text("FROM debian:12\nRUN --mount=from=tools:1.0,target=/t true\n") == []


def test_duplicate_stage_names_differing_in_case() -> None:
    findings = lint_text(
        """\
        FROM debian:12 AS build
        FROM debian:12 AS test
        COPY --from=build /a /b
        FROM debian:12 AS Build
        COPY --from=test /a /b
        """
    )
    assert where(findings) == [("DL3024", 4)]


# -- DL3025 details --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instruction", "flagged"),
    [
        ('CMD ["a", "b"]', False),
        ("CMD []", False),
        ('CMD [ "a" ]', False),
        ("CMD [1]", True),
        ('CMD ["a",', True),
        ("cmd run", True),
        ("ENTRYPOINT run", True),
        ("HEALTHCHECK CMD check", True),
        ("HEALTHCHECK --interval=5s CMD check", True),
        ('HEALTHCHECK --interval=5s CMD ["check"]', False),
        ("HEALTHCHECK NONE", False),
        ("ONBUILD CMD run", False),
    ],
)
def test_json_form(instruction: str, flagged: bool) -> None:
    assert where(lint_text(f"FROM debian:12\n{instruction}\n")) == ([("DL3025", 2)] if flagged else [])


def test_a_continued_shell_form_command_is_reported_at_its_first_line() -> None:
    findings = lint_text("FROM debian:12\nCMD /app \\\n    --verbose\n")
    assert where(findings) == [("DL3025", 2)]
    assert 'CMD ["/app", "--verbose"]' in findings[0].message


# -- DB001 details ---------------------------------------------------------------------------------
def test_a_stage_used_only_by_an_unused_stage_is_not_reported() -> None:
    findings = lint_text(
        """\
        FROM debian:12 AS deps
        FROM deps AS debug
        FROM debian:12
        """
    )
    assert where(findings) == [("DB001", 2)]


def test_a_single_stage_is_never_unused() -> None:
    assert lint_text("FROM debian:12 AS only\n") == []


TEST_STAGE = (
    "FROM debian:12 AS build\nFROM build AS Test\nFROM build AS debug\nFROM debian:12-slim\nCOPY --from=build /x /x\n"
)


def test_stages_built_with_target_on_purpose_are_not_unused() -> None:
    """A test stage that CI builds with --target: named in the targets (dockerbuild_lint_targets),
    case-insensitively as Docker compares stage names; names of no stage of the file do nothing."""
    dockerfile = Dockerfile(Path("/p/Dockerfile"), TEST_STAGE)
    assert where(check_dockerfile(dockerfile)) == [("DB001", 2), ("DB001", 3)]
    assert where(check_dockerfile(dockerfile, targets=["test", "elsewhere"])) == [("DB001", 3)]
    assert where(check_dockerfile(dockerfile, targets=[" TEST ", "Debug"])) == []
    assert where(lint("db001-targets.Dockerfile", targets=["debug"])) == [("DB001", 16), ("DB001", 23)]


@pytest.mark.parametrize(
    ("comments", "target"),
    [
        ("# dockerbuild target\n", True),
        ("#dockerbuild   target\n", True),
        ("# dockerbuild target # built by CI with --target test\n", True),
        ("# dockerbuild target\n# hadolint ignore=DL3006\n", True),  # anywhere in the comments right above
        ("# dockerbuild target\n\n", False),  # a blank line ends the comments above the FROM
        ("# dockerbuild targets\n", False),
        ("# dockerbuild: target\n", False),
        ("# DOCKERBUILD target\n", False),  # as the ignore pragmas: case-sensitive
        ("# dockerbuild target=test\n", False),
    ],
)
def test_the_target_pragma(comments: str, target: bool) -> None:
    text = f"FROM debian:12 AS build\n{comments}FROM build AS test\nFROM debian:12\nCOPY --from=build /x /x\n"
    assert where(lint_text(text)) == ([] if target else [("DB001", text.count("\n", 0, text.index("AS test")) + 1)])


def test_the_target_pragma_above_another_stage_does_not_count() -> None:
    text = (
        "# dockerbuild target\nFROM debian:12 AS build\nFROM build AS test\nFROM debian:12\nCOPY --from=build /x /x\n"
    )
    assert where(lint_text(text)) == [("DB001", 3)]


# -- DB002 details ---------------------------------------------------------------------------------
def test_typo_of_an_image_of_the_base_image_map() -> None:
    assert where(lint("db002-map.Dockerfile")) == []
    findings = lint("db002-map.Dockerfile", image_map=EXAMPLE_MAP)
    assert where(findings) == [("DB002", 4)]
    assert "'diamlo/base'" in findings[0].message
    assert "typo of 'diamol/base:latest' of the base-image map" in findings[0].message
    # an image that is itself in the map is known, not a typo
    assert lint("db002-map.Dockerfile", image_map={**EXAMPLE_MAP, "diamlo/base:2e": "x"}) == []


@pytest.mark.parametrize(
    ("first", "second", "flagged"),
    [
        ("myorg/service:1", "myorg/servcie:1", True),  # swapped letters
        ("myorg/service:1", "myorg/sevrice:1", True),
        ("myorg/service:1", "myorg/svc:1", False),  # too different
        ("ghcr.io/acme/tool:1", "acme/tool:2", False),  # same name, other registry and tag
        ("docker.io/library/debian:12", "debian:11", False),
        ("node:20", "nodf:20", False),  # names shorter than 5 characters
        ("example/java17:1", "example/java21:1", False),  # only digits differ
    ],
)
def test_typo_between_images_of_the_file(first: str, second: str, flagged: bool) -> None:
    findings = lint_text(f"FROM {first} AS a\nFROM {second}\nCOPY --from=a /x /y\n")
    assert where(findings) == ([("DB002", 2)] if flagged else [])


def test_of_two_look_alikes_the_rarer_image_is_the_suspect() -> None:
    findings = lint_text(
        """\
        FROM myorg/servcie:1 AS a
        FROM myorg/service:1 AS b
        FROM myorg/service:1
        COPY --from=a /x /y
        COPY --from=b /x /y
        """
    )
    assert where(findings) == [("DB002", 1)]
    assert "typo of 'myorg/service:1' (line 2)" in findings[0].message


def test_a_stage_reference_is_never_a_typo() -> None:
    assert lint_text("FROM debian:12 AS builder\nFROM builder\n") == []


# -- DB003 details ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("install", "manifest"),
    [
        ("npm install", "package.json"),
        ("npm ci --omit=dev", "package.json"),
        ("yarn install --frozen-lockfile", "yarn.lock"),
        ("yarn", "yarn.lock"),
        ("pnpm install", "pnpm-lock.yaml"),
        ("python -m pip install --no-cache-dir -r requirements.txt", "requirements.txt"),
        ("poetry install --no-root", "poetry.lock"),
        ("./mvnw -B dependency:go-offline", "pom.xml"),
        ("gradle build", "build.gradle"),
        ("go mod download", "go.mod"),
        ("bundle install", "Gemfile"),
        ("composer install --no-dev", "composer.json"),
        ("cargo fetch", "Cargo.toml"),
        ("cargo build --release", "Cargo.lock"),
    ],
)
def test_whole_context_before_each_kind_of_install(install: str, manifest: str) -> None:
    findings = lint_text(f"FROM debian:12\nCOPY . /src\nRUN cd /src && {install}\n")
    assert where(findings) == [("DB003", 2)]
    assert "(line 3)" in findings[0].message and manifest in findings[0].message


@pytest.mark.parametrize(
    "run",
    [
        "RUN pip install --no-cache-dir flask",  # not from a requirements file
        "RUN go build ./...",
        "RUN npm run build",
        "RUN echo npm-install",
    ],
)
def test_whole_context_before_other_commands(run: str) -> None:
    assert lint_text(f"FROM debian:12\nCOPY . .\n{run}\n") == []


def test_install_in_another_stage_than_the_copy() -> None:
    assert lint_text("FROM node:20 AS web\nCOPY . .\nFROM web\nRUN npm ci\n") == []


# -- DB004 details ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("run", "flagged"),
    [
        ("apt-get update && apt-get -y install curl", True),
        ("apt install -y curl", True),
        ("apt-get update && apt-get install -y curl && apt-get clean", True),
        ("apt-get install -y curl && rm -rf /var/lib/apt/lists/*", False),
        ("apt-get install -y curl && rm -r -f /var/lib/apt/lists", False),
        ("apk --update add curl", True),
        ("apk add --no-cache curl", False),
        ("apk add curl && rm -rf /var/cache/apk/*", False),
        ("microdnf install -y curl", True),
        ("dnf -y install curl && dnf clean all", False),
        ("pip3 install flask", True),
        ("pip install --no-cache-dir flask && pip install gunicorn", True),
        ("uv pip install flask", False),
        ("--mount=type=cache,target=/var/cache/apk apk add curl", False),
        ("--mount=type=tmpfs,target=/var/lib/apt/lists apt-get install -y curl", False),
    ],
)
def test_package_manager_cleanup(run: str, flagged: bool) -> None:
    assert where(lint_text(f"FROM debian:12\nRUN {run}\n")) == ([("DB004", 2)] if flagged else [])


def test_pip_no_cache_dir_in_the_environment() -> None:
    text = "FROM python:3.12 AS base\nENV PIP_NO_CACHE_DIR=1\nFROM base\nRUN pip install flask\n"
    assert lint_text(text) == []


def test_one_finding_per_package_manager_of_a_run() -> None:
    findings = lint_text("FROM debian:12\nRUN apt-get install -y python3-pip && pip install flask\n")
    assert [(f.rule, f.message.split(" in ")[0]) for f in findings] == [
        ("DB004", "apt-get install"),
        ("DB004", "pip install"),
    ]


# -- DB005 details ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "DB_PASS",
        "SMTP_PASSWD",
        "PG_PWD",
        "CLIENT_SECRET",
        "GITHUB_TOKEN",
        "APIKEY",
        "STRIPE_API_KEY",
        "apiKey",
        "AWS_SECRET_ACCESS_KEY",
        "SSH_PRIVATE_KEY",
        "DEPLOY_CREDENTIALS",
        "REGISTRY_AUTH",
        "SECRET_KEY_BASE",
    ],
)
def test_secret_looking_names(name: str) -> None:
    for instruction in (f"ARG {name}", f"ENV {name}=x", f"ENV {name} x"):
        findings = lint_text(f"FROM debian:12\n{instruction}\n")
        assert where(findings) == [("DB005", 2)], instruction
        assert name in findings[0].message


@pytest.mark.parametrize(
    "name",
    [
        "PUBLIC_KEY",
        "NEXT_PUBLIC_API_KEY",
        "GPG_KEY",
        "POSTGRES_PASSWORD_FILE",
        "TOKEN_URL",
        "AUTH_URL",
        "AUTH_ENABLED",
        "AWS_ACCESS_KEY_ID",
        "AUTHOR",
        "PASSTHROUGH",
        "PWD",
        "KEYBOARD",
    ],
)
def test_names_that_do_not_hold_a_secret(name: str) -> None:
    assert lint_text(f"FROM debian:12\nARG {name}\nENV {name}=x\n") == []


def test_every_name_of_a_multi_variable_env_is_checked() -> None:
    findings = lint_text("FROM debian:12\nENV A=1 DB_PASSWORD=x B=2 API_TOKEN=y\n")
    assert [f.message.split(" in ")[0] for f in findings] == ["ENV API_TOKEN", "ENV DB_PASSWORD"]


# -- DB006 details ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("head", "line"),
    [
        ("# syntax=docker/dockerfile:1\n", 1),
        ("#syntax = docker/dockerfile:1.7-labs\n", 1),
        ("# SYNTAX=docker.io/docker/dockerfile:1\n", 1),  # directive names are case-insensitive
        ("# escape=`\n# syntax=docker/dockerfile:1\n", 2),  # directives may come in any order
        ("# check=error=true\n# syntax=registry.example.com/frontends/dockerfile:1.9\n", 2),
        ("# hello\n# syntax=docker/dockerfile:1\n", None),  # after a comment it is no directive
        ("\n# syntax=docker/dockerfile:1\n", None),  # nor after a blank line
        ("ARG TAG=12\n# syntax=docker/dockerfile:1\n", None),
    ],
)
def test_syntax_directive(head: str, line: int | None) -> None:
    findings = lint_text(head + 'FROM debian:12\nCMD ["true"]\n')
    assert where(findings) == ([] if line is None else [("DB006", line)])


@pytest.mark.parametrize(
    ("entry", "flagged"),
    [
        ("docker/dockerfile:1.7=local/frontend:1.7", False),
        ("docker.io/docker/dockerfile:1.7=local/frontend:1.7", False),  # the map's keys are normalized
        ("docker/dockerfile=local/frontend:1.7", True),  # that is docker/dockerfile:latest
        ("docker/dockerfile:1=local/frontend:1.7", True),
    ],
)
def test_a_syntax_image_the_image_map_maps_is_no_finding(entry: str, flagged: bool) -> None:
    findings = lint("db006-bad.Dockerfile", image_map=parse_image_map([entry]))
    assert where(findings) == ([("DB006", 1)] if flagged else [])


def test_a_syntax_finding_is_silenced_for_the_file_or_by_the_ignore_list() -> None:
    text = "# syntax=docker/dockerfile:1\n# dockerbuild global ignore=DB006\nFROM debian:12\n"
    assert lint_text(text) == []
    assert where(lint("db006-bad.Dockerfile", ignore=["DB006"])) == []


# -- severities ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("threshold", "failing"),
    [("error", {"error"}), ("warning", {"error", "warning"}), ("info", {"error", "warning", "info"}),
     ("style", set(SEVERITIES))],
)  # fmt: skip
def test_a_finding_fails_at_or_above_the_threshold(threshold: str, failing: set[str]) -> None:
    findings = [Finding("X1", 1, "m", severity, Path("Dockerfile")) for severity in SEVERITIES]
    assert {f.severity for f in findings if fails(f, threshold)} == failing
    assert SEVERITIES == ("error", "warning", "info", "style")  # hadolint's, from the highest


# -- silencing -------------------------------------------------------------------------------------
def test_pragmas() -> None:
    findings = lint("pragmas.Dockerfile")
    assert where(findings) == [
        ("DL3006", 3),  # DB001 silenced for the file; DL3006 not
        # 7: silenced by the hadolint pragma directly above
        ("DL3006", 12),  # a blank line between pragma and instruction breaks it (as in hadolint)
        ("DL3006", 16),  # so does another comment (as in hadolint)
        # 17: DL3007 silenced for the file by '# hadolint global ignore'
        # 23: DB002 and DL3006 silenced by two stacked pragma lines
        # 25: DL3025 silenced by a pragma with spaces and a trailing comment
        ("DB005", 30),  # 29: silenced by '# dockerbuild ignore=DB005'
    ]


def test_pragmas_silence_what_would_be_found() -> None:
    text = (DATA / "pragmas.Dockerfile").read_text()
    bare = text.replace("# hadolint", "# note").replace("#hadolint", "# note").replace("# dockerbuild", "# note")
    findings = check_dockerfile(Dockerfile(DATA / "pragmas.Dockerfile", bare))
    silenced = set(where(findings)) - set(where(lint("pragmas.Dockerfile")))
    assert silenced == {
        ("DB001", 3),
        ("DB001", 12),
        ("DB001", 16),
        ("DB001", 17),
        ("DB001", 19),
        ("DB001", 20),
        ("DL3006", 7),
        ("DL3007", 17),
        ("DB002", 23),
        ("DL3006", 23),
        ("DL3025", 25),
        ("DB005", 29),
    }


@pytest.mark.parametrize(
    "pragma",
    [
        "# dockerbuild ignore=DL3006",
        "# hadolint ignore=DL3006",
        "#hadolint ignore=DL3006",
        "  # hadolint ignore = DL3007 , DL3006",
        "# hadolint ignore=DL3006,DB002",  # hadolint itself drops this one: it knows no DB codes
        "# dockerbuild ignore=DL3006 # reason",
    ],
)
def test_pragma_forms_that_silence(pragma: str) -> None:
    assert lint_text(f"{pragma}\nFROM debian\n") == []


@pytest.mark.parametrize(
    "pragma",
    [
        "# hadolint ignore=dl3006",  # codes are case-sensitive, as in hadolint
        "# hadolint ignore=DL3006,",
        "# hadolint ignore=DL3006 because",
        "# HADOLINT ignore=DL3006",
        "# dockerbuild ignore=DL3007",
        "# dockerbuild global ignore=DL3007",
        "# pragma: dockerbuild ignore=DL3006",
    ],
)
def test_pragma_forms_that_do_not_silence(pragma: str) -> None:
    assert where(lint_text(f"{pragma}\nFROM debian\n")) == [("DL3006", 2)]


def test_a_pragma_silences_only_the_next_instruction() -> None:
    findings = lint_text("# dockerbuild ignore=DL3006\nFROM debian AS a\nFROM debian\nCOPY --from=a /x /y\n")
    assert where(findings) == [("DL3006", 3)]


def test_a_pragma_above_a_continued_instruction() -> None:
    assert lint_text("FROM debian:12\n# hadolint ignore=DL3025\nCMD run \\\n  --now\n") == []


def test_a_global_pragma_works_from_anywhere() -> None:
    assert lint_text("FROM debian\nCMD run\n# dockerbuild global ignore=DL3006, DL3025\n") == []


def test_ignore_argument() -> None:
    assert where(lint("dl3006-bad.Dockerfile", ignore=["DL3006"])) == []
    assert where(lint("db002-bad.Dockerfile", ignore=("db002", " DL3022 "))) == [("DL3006", 10)]
    # ids of rules that do not exist are accepted (a list shared with hadolint works)
    assert where(lint("dl3023-bad.Dockerfile", ignore=["DL3008", "SC2086"])) == [("DL3023", 3)]


# -- the divergences from hadolint, seen from our side (tests/test_lint_hadolint.py has hadolint's) --
def test_where_we_differ_from_hadolint() -> None:
    findings = [f for f in lint("hadolint-differs.Dockerfile") if f.rule.startswith("DL")]
    assert where(findings) == [
        ("DL3006", 5),  # localhost:5000/tools has no tag
        ("DL3023", 9),  # COPY --from=4 in stage 4
        ("DL3024", 10),  # 'CHILD' duplicates 'child'
    ]


# -- odd input: read as Docker reads it, parsed tolerantly -----------------------------------------
def lint_bytes(tmp_path: Path, data: bytes) -> list[Finding]:
    path = tmp_path / "Dockerfile"
    path.write_bytes(data)
    return check_dockerfile(Dockerfile.load(path))


def test_a_dockerfile_with_a_bom_is_checked(tmp_path: Path) -> None:
    findings = lint_bytes(tmp_path, b"\xef\xbb\xbf# dockerbuild global ignore=DL3025\nFROM diamol/base\nCMD app\n")
    assert where(findings) == [("DL3006", 2)]  # the pragma behind the BOM silences DL3025


def test_a_dockerfile_with_latin1_bytes_is_checked(tmp_path: Path) -> None:
    findings = lint_bytes(tmp_path, b"# caf\xe9 cr\xe8me\nFROM diamol/base:1\nRUN echo caf\xe9 > /x\nCMD app\n")
    assert where(findings) == [("DL3025", 4)]


def test_checks_take_a_from_variable_without_value() -> None:
    """A build refuses it (Dockerfile.check_buildable); the static checks still see the file."""
    text = "ARG BASE\nARG TAG\nFROM $BASE AS build\nRUN true\nFROM diamol/base:$TAG\nCOPY --from=build /x /x\nCMD app\n"
    assert where(lint_text(text)) == [("DL3025", 7)]
    assert where(lint_text("ARG BASE\nFROM $BASE AS build\nFROM diamol/base\nCOPY --from=build /x /x\n")) == [
        ("DL3006", 3)
    ]


# -- the example projects --------------------------------------------------------------------------
EXAMPLES_WITH_DOCKERFILES = ["access-log", "image-gallery", "image-of-the-day", "multistage-demo"]


@pytest.mark.parametrize("project", EXAMPLES_WITH_DOCKERFILES)
def test_example_projects_pass_the_checks(project: str) -> None:
    """The examples keep the chapter's untagged image names and say why they silence DL3006."""
    dockerfile = Dockerfile.load(EXAMPLES / project / "Dockerfile")
    assert check_dockerfile(dockerfile, image_map=EXAMPLE_MAP) == []
    assert "# dockerbuild global ignore=DL3006" in dockerfile.text
    assert [
        f.rule
        for f in check_dockerfile(
            Dockerfile(dockerfile.path, dockerfile.text.replace("global", "")), image_map=EXAMPLE_MAP
        )
    ] != []


# -- Dockerfiles as pytest items (--dockerbuild-lint) ----------------------------------------------
#: loads the module that collects Dockerfiles (which also works once the plugin loads it)
PLUGIN: tuple[str, ...] = ()
FAILS_TO_IMPORT = "import not_installed\n\n\ndef test_app() -> None:\n    pass\n"


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def collected(result: pytest.RunResult) -> list[str]:
    """The node ids ``--collect-only -q`` lists."""
    return [line for line in result.outlines if "::" in line and not line.startswith(("=", " "))]


@pytest.mark.parametrize(
    ("path", "patterns", "matched"),
    [
        ("Dockerfile", ["Dockerfile"], True),
        ("a/b/Dockerfile.prod", ["Dockerfile.*"], True),  # no '/': the name, in any folder
        ("a/b/web.Dockerfile", ["*.Dockerfile"], True),
        ("example_projects/app/Dockerfile", ["example_projects/*/Dockerfile"], True),
        ("example_projects/app/sub/Dockerfile", ["example_projects/*/Dockerfile"], False),  # '*' stays in a folder
        ("Dockerfile", ["**/Dockerfile*"], True),  # '**' is any folders, none too
        ("a/b/c/Dockerfile.dev", ["**/Dockerfile*"], True),
        ("docker/x/y/Dockerfile", ["docker/**/Dockerfile"], True),
        ("other/docker/Dockerfile", ["docker/**/Dockerfile"], False),  # relative to the rootdir
        ("Dockerfile", ["./Dockerfile"], True),  # './' or '/' anchors a name at the rootdir
        ("a/Dockerfile", ["./Dockerfile", "/Dockerfile"], False),
        ("a/dockerfile", ["Dockerfile"], False),  # case-sensitive, as before
    ],
)
def test_lint_file_patterns(path: str, patterns: list[str], matched: bool) -> None:
    assert matches(Path("/repo") / path, patterns, Path("/repo")) is matched


def test_lint_files_are_collected_wherever_the_globs_say_and_nothing_else_of_their_folders(
    pytester: pytest.Pytester,
) -> None:
    """Dockerfiles outside testpaths; no test file or conftest.py of their folders is collected."""
    write(pytester.path, {
        "pytest.ini": """\
            [pytest]
            testpaths = tests
            dockerbuild_lint_files =
                services/*/Dockerfile
                docker/**/Dockerfile*
            """,
        "tests/test_unit.py": "def test_unit() -> None:\n    pass\n",
        "services/api/Dockerfile": 'FROM base:1\nCMD ["api"]\n',
        "services/api/conftest.py": "raise SystemExit('the conftest.py of the app was loaded')\n",
        "services/api/tests/test_app.py": FAILS_TO_IMPORT,
        "services/api/deep/Dockerfile": "FROM base\n",  # '*' is one folder
        "docker/web/prod/Dockerfile.prod": 'FROM base:1\nCMD ["web"]\n',
        "elsewhere/Dockerfile": "FROM base\n",
    })  # fmt: skip
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "--collect-only", "-q")
    assert collected(result) == [
        "tests/test_unit.py::test_unit",
        "docker/web/prod/Dockerfile.prod::dockerfile-checks",
        "services/api/Dockerfile::dockerfile-checks",
    ]
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "-m", "dockerbuild_lint")
    result.assert_outcomes(passed=2, deselected=1)


def test_name_patterns_match_in_every_folder_pytest_would_collect(pytester: pytest.Pytester) -> None:
    """The default patterns have no '/': any folder under the rootdir, not only testpaths; the
    folders pytest skips (norecursedirs, --ignore, virtualenvs) are skipped."""
    write(pytester.path, {
        "pytest.ini": "[pytest]\ntestpaths = tests\n",
        "tests/test_unit.py": "def test_unit() -> None:\n    pass\n",
        "Dockerfile": 'FROM base:1\nCMD ["app"]\n',
        "app/web.Dockerfile": 'FROM base:1\nCMD ["web"]\n',
        "app/tests/test_app.py": FAILS_TO_IMPORT,
        "legacy/Dockerfile": "FROM base\n",
        "node_modules/pkg/Dockerfile": "FROM base\n",
        ".git/Dockerfile": "FROM base\n",
        "venv2/pyvenv.cfg": "home = /usr/bin\n",
        "venv2/lib/Dockerfile": "FROM base\n",
    })  # fmt: skip
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "--ignore=legacy", "--collect-only", "-q")
    assert collected(result) == [
        "tests/test_unit.py::test_unit",
        "Dockerfile::dockerfile-checks",
        "app/web.Dockerfile::dockerfile-checks",
    ]


def test_with_paths_only_the_dockerfiles_under_them_and_a_dockerfile_reached_twice_once(
    pytester: pytest.Pytester,
) -> None:
    write(pytester.path, {
        "pytest.ini": "[pytest]\ntestpaths = tests\n",
        "tests/Dockerfile": 'FROM base:1\nCMD ["test"]\n',  # in testpaths: pytest's walk reaches it too
        "tests/test_unit.py": "def test_unit() -> None:\n    pass\n",
        "app/Dockerfile": 'FROM base:1\nCMD ["app"]\n',
        "app/Dockerfile.unusual-name": 'FROM base:1\nCMD ["app"]\n',
    })  # fmt: skip
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "--collect-only", "-q")
    assert sorted(collected(result)) == [
        "app/Dockerfile.unusual-name::dockerfile-checks",
        "app/Dockerfile::dockerfile-checks",
        "tests/Dockerfile::dockerfile-checks",
        "tests/test_unit.py::test_unit",
    ]
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "--collect-only", "-q", "tests")
    assert sorted(collected(result)) == ["tests/Dockerfile::dockerfile-checks", "tests/test_unit.py::test_unit"]
    # a Dockerfile named on the command line, also when the patterns do not name it
    pytester.makeini("[pytest]\ntestpaths = tests\ndockerbuild_lint_files = docker/*/Dockerfile\n")
    result = pytester.runpytest_subprocess(
        *PLUGIN, "--dockerbuild-lint", "-v", "app/Dockerfile", "app/Dockerfile::dockerfile-checks"
    )
    result.assert_outcomes(passed=1)


def test_no_dockerfile_matched_fails_one_item_that_says_where_it_looked(pytester: pytest.Pytester) -> None:
    write(pytester.path, {
        "pytest.ini": "[pytest]\ntestpaths = tests\ndockerbuild_lint_files = docker/*/Dockerfile\n",
        "tests/test_unit.py": "def test_unit() -> None:\n    pass\n",
        "app/Dockerfile": 'FROM base:1\nCMD ["app"]\n',
    })  # fmt: skip
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"no Dockerfile under the rootdir ({pytester.path}) matches dockerbuild_lint_files (docker/*/Dockerfile): "
            "write globs relative to the rootdir, e.g. 'docker/*/Dockerfile' or '**/Dockerfile*' *",
            "FAILED dockerbuild_lint_files - Failed: no Dockerfile under *",
        ]
    )
    # paths given: a warning, when --dockerbuild-lint is on the command line (not from the ini file)
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "tests")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*PytestConfigWarning: --dockerbuild-lint: no Dockerfile under tests matches dockerbuild_lint_files *"]
    )
    pytester.makeini("[pytest]\ntestpaths = tests\ndockerbuild_lint = true\ndockerbuild_lint_files = x/Dockerfile\n")
    pytester.runpytest_subprocess(*PLUGIN, "tests").assert_outcomes(passed=1)


SEVERAL_SEVERITIES = """\
    FROM base:1 AS unused
    FROM base
    COPY --from=nowhere /x /x
    """  # DB001 info (line 1), DL3006 warning (line 2), DL3022 error (line 3)


@pytest.mark.parametrize(
    ("option", "failing", "shown"),
    [
        ((), ["DL3006 warning", "DL3022 error"], ["DB001 info"]),
        (("--dockerbuild-lint-severity=error",), ["DL3022 error"], ["DB001 info", "DL3006 warning"]),
        (("--dockerbuild-lint-severity=info",), ["DB001 info", "DL3006 warning", "DL3022 error"], []),
        (("-o", "dockerbuild_lint_severity=style"), ["DB001 info", "DL3006 warning", "DL3022 error"], []),
    ],
)
def test_the_severity_threshold(
    pytester: pytest.Pytester, option: tuple[str, ...], failing: list[str], shown: list[str]
) -> None:
    write(pytester.path, {"app/Dockerfile": SEVERAL_SEVERITIES})
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", *option)
    result.assert_outcomes(failed=1)
    failure = result.stdout.str().split("= FAILURES =", 1)[1].split("short test summary", 1)[0]
    for finding in failing:
        assert f"app/Dockerfile:{SEVERITIES_LINE[finding]}: {finding}: " in failure.split("below the failure")[0]
    if shown:
        below = failure.split("below the failure threshold (", 1)[1]
        assert [f for f in SEVERITIES_LINE if f"{f}: " in below] == shown
    else:
        assert "below the failure threshold" not in failure


SEVERITIES_LINE = {"DB001 info": 1, "DL3006 warning": 2, "DL3022 error": 3}


def test_findings_below_the_threshold_pass_and_are_shown_as_warnings(pytester: pytest.Pytester) -> None:
    write(pytester.path, {"app/Dockerfile": 'FROM base:1 AS unused\nFROM base\nCMD ["app"]\n'})
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "--dockerbuild-lint-severity=error")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "app/Dockerfile::dockerfile-checks",
            f"  {pytester.path}/app/Dockerfile:1: DockerfileFinding: DB001 info: stage 'unused' is not used: * "
            "(below the failure threshold error)",
            "    FROM base:1 AS unused",  # the line of the Dockerfile
            f"  {pytester.path}/app/Dockerfile:2: DockerfileFinding: DL3006 warning: FROM 'base' *",
        ]
    )
    pytester.makeini("[pytest]\ndockerbuild_lint_severity = fatal\n")
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*dockerbuild_lint_severity = 'fatal': use one of error, warning, info, style*"])


def test_lint_targets_and_the_syntax_image_map_reach_the_items(pytester: pytest.Pytester) -> None:
    write(pytester.path, {
        "pytest.ini": """\
            [pytest]
            dockerbuild_lint_severity = info
            dockerbuild_lint_targets = test
            dockerbuild_base_images = docker/dockerfile:1=local/frontend:1
            """,
        "marked/Dockerfile": """\
            # syntax=docker/dockerfile:1
            FROM base:1 AS build
            # CI builds this stage with --target debug
            # dockerbuild target
            FROM build AS debug
            FROM build AS test
            FROM base:1
            COPY --from=build /x /x
            """,
        "unmarked/Dockerfile": """\
            # syntax=docker/dockerfile:1.7
            FROM base:1 AS build
            FROM build AS debug
            FROM base:1
            COPY --from=build /x /x
            """,
    })  # fmt: skip
    result = pytester.runpytest_subprocess(*PLUGIN, "--dockerbuild-lint", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*marked/Dockerfile::dockerfile-checks PASSED*",
            "*unmarked/Dockerfile:1: DB006 warning: '# syntax=docker/dockerfile:1.7' makes BuildKit pull *",
            "*unmarked/Dockerfile:3: DB001 info: stage 'debug' is not used*",
        ]
    )
