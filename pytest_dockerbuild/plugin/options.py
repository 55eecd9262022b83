"""Every command-line option and ini setting of the plugin, and :class:`Options`:
what they say for one run, read once (bad values are usage errors at start)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_dockerbuild.build.registry import AUTO, choices
from pytest_dockerbuild.dockerfile import parse_image_map
from pytest_dockerbuild.engine.pool import read_engines
from pytest_dockerbuild.engine.registry import valid_address
from pytest_dockerbuild.image.efficiency import SizeBaseline, parse_tolerance
from pytest_dockerbuild.lint import SEVERITIES

__all__ = ["Options", "add_options"]

TRUTHY = {"1", "true", "yes", "y", "on"}
CONTRACT_PATTERNS = ["*.cst.yaml", "*.cst.yml"]
BUILD_LOGS = ("failed", "all")
LINT_PATTERNS = ["Dockerfile", "Dockerfile.*", "*.Dockerfile"]
DEFAULT_LINT_SEVERITY = "warning"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("dockerbuild", "Docker builds (pytest-dockerbuild)")
    _build_options(parser, group)
    _check_options(parser, group)
    _contract_options(parser, group)


def _build_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    group.addoption("--dockerbuild-backend", choices=choices(), default=None,
                    help="Builder to use: auto (BuildKit where docker buildx works, else classic), "
                    + ", ".join(c for c in choices() if c != AUTO) + ".")  # fmt: skip
    parser.addini("dockerbuild_backend", "Default builder: " + ", ".join(choices()) + ".", default=AUTO)
    group.addoption("--dockerbuild-base-image", action="append", default=[], metavar="IMAGE=REPLACEMENT",
                    help="Build FROM REPLACEMENT wherever a Dockerfile says FROM IMAGE (repeatable; adds to the "
                    "ini list).")  # fmt: skip
    parser.addini("dockerbuild_base_images", "FROM substitutions, one IMAGE=REPLACEMENT per line (for air-gapped "
                  "CI and registry mirrors).", type="linelist", default=[])  # fmt: skip
    group.addoption("--dockerbuild-rebuild", action="store_true", default=False,
                    help="Build through the engine even when an earlier run built the same content "
                    "(the layer cache still applies).")  # fmt: skip
    group.addoption("--dockerbuild-prune", nargs="?", const="*", default=None, metavar="PROJECT",
                    help="Remove what pytest-dockerbuild made and no run in progress uses, then exit: the "
                    "containers and networks of ended runs, and the images built from folders under the rootdir "
                    "(or from folders that are gone); with PROJECT (a context folder, or a project id as the "
                    "summary shows it), that project's images.")  # fmt: skip
    group.addoption("--dockerbuild-push", default=None, metavar="REGISTRY",
                    help="Push each built image whose tests all passed to REGISTRY (host:port[/prefix]) at the end "
                    "of the run, as <project>:<stage>-k<content key> and <project>:<stage>-<push tag>.")  # fmt: skip
    group.addoption("--dockerbuild-builder", default=None, metavar="NAME",
                    help="The buildx builder of BuildKit builds (docker buildx build --builder NAME, through "
                    "BUILDX_BUILDER); its driver is shown in the report header.")  # fmt: skip
    group.addoption("--dockerbuild-engines", default=None, metavar="URL,URL|FILE",
                    help="Spread pytest-xdist workers over these Docker engines (worker i uses engine i mod n; a "
                    "file lists one URL a line); needs --dockerbuild-share-via with more than one engine.")  # fmt: skip
    group.addoption("--dockerbuild-share-via", default=None, metavar="REGISTRY",
                    help="The registry (host:port[/prefix]) through which an image one engine built reaches the "
                    "other engines of --dockerbuild-engines (pushed once, pulled where needed), and through which "
                    "a buildx builder outside the tests' engine hands over its images.")  # fmt: skip
    group.addoption("--dockerbuild-no-prebuild", action="store_true", default=False,
                    help="Do not start the builds the tests declare (@pytest.mark.dockerbuild_prebuild, contracts' "
                    "x-dockerbuild build) before the first test; each is built when a test first asks.")  # fmt: skip
    parser.addini("dockerbuild_prebuild", "Start the builds the tests declare together, before the first test "
                  "(true; false: build each when a test first asks).", type="bool", default=True)  # fmt: skip
    parser.addini("dockerbuild_push_tag", "The user tag of pushed images (after the stage name).", default="tested")
    parser.addini("dockerbuild_log_lines", "Lines of build log shown in a build failure.", default="20")
    group.addoption("--dockerbuild-build-logs", choices=BUILD_LOGS, default=None,
                    help="Build logs attached to a failing test's report: of its failed builds only (failed, the "
                    "default), or of every build it used (all).")  # fmt: skip
    parser.addini("dockerbuild_build_logs", "Build logs attached to failing tests: failed or all.", default="failed")
    parser.addini("dockerbuild_strict_build_args", "A build arg that no ARG of the Dockerfile declares fails the "
                  "build (else a warning).", type="bool", default=False)  # fmt: skip
    parser.addini("dockerbuild_keep_images", "How many images per project and stage the plugin keeps tagged (for "
                  "reuse and the layer cache); older ones are untagged at the end of a run that builds the "
                  "project.", default="3")  # fmt: skip
    group.addoption("--dockerbuild-report", default=None, metavar="DIR",
                    help="Write a report of the run's builds into DIR at the end: report.html (self-contained: "
                    "sizes by layer and source, stage graphs, step timelines) and report.json.")  # fmt: skip
    parser.addini("dockerbuild_report", "Folder of the build report (like --dockerbuild-report), relative to the "
                  "rootdir.", default="")  # fmt: skip
    parser.addini("dockerbuild_require_engine", "Fail (instead of skip) tests that need Docker when no engine "
                  "answers; on by default when CI is set.", type="bool", default=False)  # fmt: skip


def _check_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    group.addoption(
        "--dockerbuild-lint",
        action="store_true",
        default=False,
        help="Collect the Dockerfiles dockerbuild_lint_files names, wherever they are under the rootdir, as test "
        "items that run the static checks (other tests of their folders are not collected).",
    )
    group.addoption("--dockerbuild-lint-severity", choices=SEVERITIES, default=None,
                    help="Lowest severity of a finding that fails a Dockerfile's item (default: "
                    "dockerbuild_lint_severity, warning); lower ones are shown as warnings and pass.")  # fmt: skip
    parser.addini("dockerbuild_lint", "Collect Dockerfiles as static-check items (like --dockerbuild-lint).",
                  type="bool")  # fmt: skip
    parser.addini("dockerbuild_lint_files", "Globs of the Dockerfiles --dockerbuild-lint collects, relative to the "
                  "rootdir ('**' spans folders, e.g. example_projects/*/Dockerfile or **/Dockerfile*); a pattern "
                  "without '/' matches the file name in any folder.", type="linelist",
                  default=list(LINT_PATTERNS))  # fmt: skip
    parser.addini("dockerbuild_lint_ignore", "Rule ids the static checks skip (e.g. DL3006 DB001).", type="args")
    parser.addini("dockerbuild_lint_severity", "Lowest severity that fails a Dockerfile's check item: "
                  + ", ".join(SEVERITIES) + " (findings below it are shown and pass).",
                  default=DEFAULT_LINT_SEVERITY)  # fmt: skip
    parser.addini("dockerbuild_lint_targets", "Stages built on purpose with --target (e.g. test): the checks do "
                  "not report them as unused (DB001).", type="args")  # fmt: skip


def _contract_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    group.addoption("--dockerbuild-image", action="append", default=[], metavar="NAME=IMAGE",
                    help="Check IMAGE (no build) for the contracts named NAME (x-dockerbuild name, default the "
                    "file name without .cst.yaml); repeatable.")  # fmt: skip
    group.addoption("--dockerbuild-baseline", default=None, metavar="FILE",
                    help="JSON file of recorded image sizes and layer counts: a contract's size and layers items "
                    "fail when its image grew past the tolerance (ini dockerbuild_baseline_tolerance).")  # fmt: skip
    group.addoption("--dockerbuild-baseline-update", action="store_true", default=False,
                    help="Record the sizes and layer counts of the contracts' images in the --dockerbuild-baseline "
                    "file.")  # fmt: skip
    parser.addini("dockerbuild_contracts", "Glob patterns of image contract files (container-structure-test YAML) "
                  "to collect.", type="linelist", default=list(CONTRACT_PATTERNS))  # fmt: skip
    parser.addini("dockerbuild_baseline_tolerance", "How much an image may grow past its recorded size or layer "
                  "count ('5%' or '0.05').", default="5%")  # fmt: skip


@dataclass
class Options:
    """The plugin's settings for one run (command line over ini)."""

    backend: str = AUTO
    image_map: dict[str, str] = field(default_factory=dict)
    reuse: bool = True  #: reuse earlier runs' images (``--dockerbuild-rebuild`` turns it off)
    log_lines: int = 20
    build_logs: str = "failed"  #: the build logs attached to a failing test: ``failed`` or ``all``
    strict_build_args: bool = False  #: a build arg no ARG declares fails the build
    keep_images: int = 3
    require_engine: bool = False
    prune: str | None = None  #: ``--dockerbuild-prune``'s project, ``*`` for all
    lint: bool = False
    lint_files: list[str] = field(default_factory=lambda: list(LINT_PATTERNS))  #: globs, see :mod:`.lint_items`
    lint_ignore: list[str] = field(default_factory=list)
    lint_severity: str = DEFAULT_LINT_SEVERITY  #: the lowest severity that fails a lint item
    lint_targets: list[str] = field(default_factory=list)  #: stages built on purpose with ``--target``
    contracts: list[str] = field(default_factory=lambda: list(CONTRACT_PATTERNS))
    images: dict[str, str] = field(default_factory=dict)  #: ``--dockerbuild-image NAME=IMAGE``
    baseline: SizeBaseline | None = None
    report: Path | None = None  #: the folder of the build report (``--dockerbuild-report``)
    push: str | None = None  #: ``--dockerbuild-push REGISTRY``
    push_tag: str = "tested"  #: ``dockerbuild_push_tag``
    engines: list[str] = field(default_factory=list)  #: ``--dockerbuild-engines`` (empty: ``DOCKER_HOST``)
    share_via: str | None = None  #: ``--dockerbuild-share-via REGISTRY``
    buildx_builder: str | None = None  #: ``--dockerbuild-builder NAME``
    prebuild: bool = True  #: start the declared builds before the first test (``--dockerbuild-no-prebuild``)

    @classmethod
    def read(cls, config: pytest.Config) -> Options:
        """The options of ``config``; :class:`pytest.UsageError` names a bad value."""
        backend = config.getoption("dockerbuild_backend") or str(config.getini("dockerbuild_backend")).strip()
        if backend not in choices():
            raise pytest.UsageError(f"dockerbuild_backend = {backend!r}: use one of {', '.join(choices())}")
        try:
            image_map = parse_image_map(config.getini("dockerbuild_base_images"), "dockerbuild_base_images (ini)")
            image_map.update(parse_image_map(config.getoption("dockerbuild_base_image"), "--dockerbuild-base-image"))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
        return cls(
            backend=backend, image_map=image_map, reuse=not config.getoption("dockerbuild_rebuild"),
            log_lines=_whole_number(config, "dockerbuild_log_lines"), build_logs=_build_logs(config),
            strict_build_args=bool(config.getini("dockerbuild_strict_build_args")),
            keep_images=_whole_number(config, "dockerbuild_keep_images"),
            require_engine=bool(config.getini("dockerbuild_require_engine"))
            or os.environ.get("CI", "").lower() in TRUTHY,
            prune=config.getoption("dockerbuild_prune"),
            lint=bool(config.getoption("dockerbuild_lint") or config.getini("dockerbuild_lint")),
            lint_files=list(config.getini("dockerbuild_lint_files")),
            lint_ignore=list(config.getini("dockerbuild_lint_ignore")),
            lint_severity=_lint_severity(config),
            lint_targets=list(config.getini("dockerbuild_lint_targets")),
            contracts=list(config.getini("dockerbuild_contracts")),
            images=_named_images(config.getoption("dockerbuild_image") or []),
            baseline=_baseline(config), report=_report(config), push=_push(config), push_tag=_push_tag(config),
            engines=_engines(config), share_via=_registry(config, "dockerbuild_share_via"),
            buildx_builder=config.getoption("dockerbuild_builder"),
            prebuild=bool(config.getini("dockerbuild_prebuild")) and not config.getoption("dockerbuild_no_prebuild"),
        )  # fmt: skip


def _whole_number(config: pytest.Config, name: str) -> int:
    try:
        value = int(str(config.getini(name)))
    except ValueError:
        raise pytest.UsageError(f"{name} must be a whole number") from None
    if value < 0:
        raise pytest.UsageError(f"{name} must not be negative")
    return value


def _build_logs(config: pytest.Config) -> str:
    value = config.getoption("dockerbuild_build_logs") or str(config.getini("dockerbuild_build_logs")).strip()
    if value not in BUILD_LOGS:
        raise pytest.UsageError(f"dockerbuild_build_logs = {value!r}: use one of {', '.join(BUILD_LOGS)}")
    return value


def _lint_severity(config: pytest.Config) -> str:
    severity = config.getoption("dockerbuild_lint_severity") or str(config.getini("dockerbuild_lint_severity"))
    if severity.strip().lower() not in SEVERITIES:
        raise pytest.UsageError(f"dockerbuild_lint_severity = {severity!r}: use one of {', '.join(SEVERITIES)}")
    return severity.strip().lower()


def _named_images(specs: list[str]) -> dict[str, str]:
    images: dict[str, str] = {}
    for spec in specs:
        name, sep, image = str(spec).partition("=")
        if not sep or not name.strip() or not image.strip():
            raise pytest.UsageError(f"--dockerbuild-image {spec!r}: write NAME=IMAGE")
        images[name.strip()] = image.strip()
    return images


def _push(config: pytest.Config) -> str | None:
    return _registry(config, "dockerbuild_push")


def _registry(config: pytest.Config, name: str) -> str | None:
    address = config.getoption(name)
    if address is not None and not valid_address(str(address)):
        option = "--" + name.replace("_", "-")
        raise pytest.UsageError(f"{option} {address!r}: write the registry as host:port[/prefix] (no scheme)")
    return None if address is None else str(address).rstrip("/")


def _engines(config: pytest.Config) -> list[str]:
    value = config.getoption("dockerbuild_engines")
    if value is None:
        return []
    try:
        engines = read_engines(str(value))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    if len(engines) > 1 and not config.getoption("dockerbuild_share_via"):
        raise pytest.UsageError("--dockerbuild-engines with more than one engine needs --dockerbuild-share-via "
                                "REGISTRY (how an image one engine built reaches the others)")  # fmt: skip
    return engines


def _push_tag(config: pytest.Config) -> str:
    tag = str(config.getini("dockerbuild_push_tag")).strip()
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}", tag):
        raise pytest.UsageError(f"dockerbuild_push_tag = {tag!r}: not a valid image tag")
    return tag


def _baseline(config: pytest.Config) -> SizeBaseline | None:
    path = config.getoption("dockerbuild_baseline")
    update = bool(config.getoption("dockerbuild_baseline_update"))
    if update and not path:
        raise pytest.UsageError("--dockerbuild-baseline-update needs --dockerbuild-baseline FILE")
    if not path:
        return None
    try:
        tolerance = parse_tolerance(str(config.getini("dockerbuild_baseline_tolerance")))
        return SizeBaseline(Path(path).resolve(), tolerance, update=update)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def _report(config: pytest.Config) -> Path | None:
    """``--dockerbuild-report`` (relative to the current folder), else ini ``dockerbuild_report``
    (relative to the rootdir)."""
    given = config.getoption("dockerbuild_report")
    if given:
        return Path(given).resolve()
    ini = str(config.getini("dockerbuild_report")).strip()
    return (config.rootpath / ini).resolve() if ini else None
