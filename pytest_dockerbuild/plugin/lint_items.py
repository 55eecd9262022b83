"""Dockerfiles collected as pytest items (``--dockerbuild-lint``): one item per Dockerfile, which
fails with the static checks' findings at or above the severity threshold
(``dockerbuild_lint_severity``, ``warning``) and shows the lower ones as warnings.

Which Dockerfiles: the files ``dockerbuild_lint_files`` names, wherever they are under the
rootdir, not only under ``testpaths``.  Its patterns are globs relative to the rootdir (``*``
stays within a folder, ``**`` spans folders: ``example_projects/*/Dockerfile``,
``**/Dockerfile*``); a pattern without ``/`` matches the file name in any folder (the default:
``Dockerfile``, ``Dockerfile.*``, ``*.Dockerfile``).  :func:`find_dockerfiles` walks the folders
the run collects from (the rootdir when pytest is given no paths, else the paths given),
skipping the folders pytest's collection skips (``norecursedirs``, ``--ignore``, virtualenvs),
and the session collects each Dockerfile directly (:func:`pytest_make_collect_report`), so no
other test file or ``conftest.py`` of its folder is collected; a Dockerfile named on the command
line is collected by :func:`pytest_collect_file`.  A Dockerfile reached twice is checked once.
When no Dockerfile matches and pytest was given no paths, one item fails and says so (with
paths, a :class:`pytest.PytestConfigWarning` says so when ``--dockerbuild-lint`` was given on the
command line).

The two hooks are this module's: the plugin loads it (``-p pytest_dockerbuild.plugin.lint_items``
loads it too, once).
"""

from __future__ import annotations

import fnmatch
import os
import warnings
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.errors import DockerbuildError, DockerbuildWarning, DockerfileChecksFailed
from pytest_dockerbuild.lint import Finding, check_dockerfile, fails
from pytest_dockerbuild.plugin.options import LINT_PATTERNS, Options
from pytest_dockerbuild.plugin.session import Session

__all__ = [
    "DockerfileFile",
    "DockerfileFinding",
    "DockerfileItem",
    "NoDockerfileItem",
    "find_dockerfiles",
    "matches",
    "pytest_collect_file",
    "pytest_make_collect_report",
]

_CHECKED = pytest.StashKey[set[Path]]()  # the Dockerfiles that have an item in this session
HINT = "silence one with '# dockerbuild ignore=RULE' above the instruction, or dockerbuild_lint_ignore"


class DockerfileFinding(DockerbuildWarning):
    """A finding of the static checks below the failure threshold: shown, and the item passes."""


# -- which files ------------------------------------------------------------------------------------
def _glob(parts: Sequence[str], path: Sequence[str]) -> bool:
    """True if the folders and name ``path`` match the glob ``parts`` (``**`` = any folders)."""
    if not parts:
        return not path
    if parts[0] == "**":
        return any(_glob(parts[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], parts[0]) and _glob(parts[1:], path[1:])


def _split(pattern: str) -> list[str]:
    return [part for part in pattern.strip().removeprefix("./").strip("/").split("/") if part]


def matches(path: Path, patterns: Iterable[str], rootpath: Path) -> bool:
    """True if ``path`` matches one of ``patterns``: a pattern with a ``/`` is a glob of the path
    relative to ``rootpath``, one without matches the file name."""
    for pattern in patterns:
        if "/" not in pattern.strip():
            if fnmatch.fnmatchcase(path.name, pattern.strip()):
                return True
        elif rootpath == path or rootpath in path.parents:
            if _glob(_split(pattern), path.relative_to(rootpath).parts):
                return True
    return False


def _may_hold(folder: Sequence[str], patterns: Iterable[str]) -> bool:
    """True if a file below ``folder`` (its parts relative to the rootdir) may match a pattern."""
    for pattern in patterns:
        if "/" not in pattern.strip():
            return True
        parts = _split(pattern)
        for i, name in enumerate(folder):
            if i < len(parts) and parts[i] == "**":
                return True
            if i >= len(parts) - 1 or not fnmatch.fnmatchcase(name, parts[i]):
                break
        else:
            return True
    return False


def _roots(config: pytest.Config) -> list[Path]:
    """The folders (or files) this run collects from: the rootdir when pytest was given no paths."""
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        return [config.rootpath]
    base = config.invocation_params.dir
    return [Path(os.path.abspath(base / arg.split("::")[0])) for arg in config.args]


def find_dockerfiles(session: pytest.Session, patterns: Sequence[str]) -> list[Path]:
    """The files matching ``patterns`` (:func:`matches`) in the folders the run collects from,
    sorted; the folders and files pytest's collection ignores are skipped."""
    config, rootpath = session.config, session.config.rootpath
    found: set[Path] = set()

    def ignored(path: Path) -> bool:
        return bool(session.gethookproxy(path).pytest_ignore_collect(collection_path=path, config=config))

    for root in _roots(config):
        if root.is_file():
            if matches(root, patterns, rootpath):
                found.add(root)
            continue
        for folder, subfolders, files in os.walk(root):
            here = Path(folder)
            relative = here.relative_to(rootpath).parts if rootpath in (here, *here.parents) else None
            subfolders[:] = [
                name
                for name in sorted(subfolders)
                if (relative is None or _may_hold([*relative, name], patterns)) and not ignored(here / name)
            ]
            found.update(
                here / name for name in files if matches(here / name, patterns, rootpath) and not ignored(here / name)
            )
    return sorted(found)


# -- the hooks --------------------------------------------------------------------------------------
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DockerfileFile | None:
    """A Dockerfile named on the command line: one ``dockerbuild_lint_files`` matches, or whose
    name looks like a Dockerfile's (the others are the session's, below)."""
    options = Session.of(parent.config).options
    if options.lint and _named(parent.session, options, file_path):
        return DockerfileFile.from_parent(parent, path=file_path)
    return None


def _named(session: pytest.Session, options: Options, path: Path) -> bool:
    """True for a Dockerfile named on the command line (by the patterns, or by the default names)."""
    return session.isinitpath(path) and matches(path, [*options.lint_files, *LINT_PATTERNS], session.config.rootpath)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """The session also collects the Dockerfiles ``dockerbuild_lint_files`` names, wherever they are."""
    report = yield
    if isinstance(collector, pytest.Session) and report.passed and Session.of(collector.config).options.lint:
        report.result.extend(_session_nodes(collector, Session.of(collector.config).options))
    return report


def _session_nodes(session: pytest.Session, options: Options) -> list[pytest.Item | pytest.Collector]:
    found = find_dockerfiles(session, options.lint_files)
    nodes: list[pytest.Item | pytest.Collector] = [
        DockerfileFile.from_parent(session, path=path) for path in found if not session.isinitpath(path)
    ]
    config = session.config
    roots = _roots(config)
    if found or any(root.is_file() and _named(session, options, root) for root in roots):
        return nodes
    where = ", ".join(_shown(config, root) for root in roots)
    problem = (
        f"no Dockerfile under {where} matches dockerbuild_lint_files ({', '.join(options.lint_files)}): write "
        "globs relative to the rootdir, e.g. 'docker/*/Dockerfile' or '**/Dockerfile*' (folders pytest does not "
        "collect, norecursedirs and --ignore, are skipped)"
    )
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        nodes.append(NoDockerfileItem.from_parent(session, name="dockerbuild_lint_files", problem=problem))
    elif config.getoption("dockerbuild_lint"):
        warning = pytest.PytestConfigWarning(f"--dockerbuild-lint: {problem}")
        warnings.warn_explicit(warning, pytest.PytestConfigWarning, str(config.inipath or config.rootpath), 0)
    return nodes


def _shown(config: pytest.Config, path: Path) -> str:
    if path == config.rootpath:
        return f"the rootdir ({path})"
    return path.relative_to(config.rootpath).as_posix() if config.rootpath in path.parents else str(path)


# -- the items --------------------------------------------------------------------------------------
class DockerfileItem(pytest.Item):
    """One collected Dockerfile (``--dockerbuild-lint``): passes when the checks find nothing at or
    above the severity threshold; lower findings are shown as :class:`DockerfileFinding` warnings.

    The image map, ignored rules, build targets and threshold are the run's options;
    ``image_map`` and ``ignore`` replace the first two when given.
    """

    def __init__(
        self, *, image_map: Mapping[str, str] | None = None, ignore: Iterable[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        options = Session.of(self.config).options
        self.image_map = dict(options.image_map if image_map is None else image_map)
        self.ignore = list(options.lint_ignore if ignore is None else ignore)
        self.targets = list(options.lint_targets)
        self.threshold = options.lint_severity  #: the lowest severity that fails the item
        self.below: list[Finding] = []  #: findings below the threshold (shown, not failing)
        self.funcargs: dict[str, object] = {}  # as pytest's doctest items: some plugins expect it
        self.add_marker("dockerbuild_lint")

    def runtest(self) -> None:
        dockerfile = Dockerfile.load(self.path)
        findings = check_dockerfile(dockerfile, image_map=self.image_map, ignore=self.ignore, targets=self.targets)
        failing = [finding for finding in findings if fails(finding, self.threshold)]
        self.below = [finding for finding in findings if not fails(finding, self.threshold)]
        if failing:
            raise DockerfileChecksFailed(failing)
        for finding in self.below:
            note = (
                f"{finding.rule} {finding.severity}: {finding.message} (below the failure threshold {self.threshold})"
            )
            warnings.warn_explicit(DockerfileFinding(note), DockerfileFinding, str(finding.dockerfile), finding.line)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, DockerfileChecksFailed):
            lines = [str(finding) for finding in excinfo.value.findings]
            if self.below:
                lines += [f"below the failure threshold ({self.threshold}):", *(f"  {f}" for f in self.below)]
            return "\n".join([*lines, f"({HINT})"])
        if isinstance(excinfo.value, (DockerbuildError, DockerfileFinding)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"dockerfile checks: {self.path.name}"


class DockerfileFile(pytest.File):
    """A Dockerfile collected for the static checks (once per session, however often it is reached)."""

    def __init__(
        self, *, image_map: Mapping[str, str] | None = None, ignore: Iterable[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.image_map = image_map
        self.ignore = ignore

    def collect(self) -> Iterator[DockerfileItem]:
        checked = self.config.stash.setdefault(_CHECKED, set())
        if self.path in checked:
            return
        checked.add(self.path)
        yield DockerfileItem.from_parent(self, name="dockerfile-checks", image_map=self.image_map, ignore=self.ignore)


class NoDockerfileItem(pytest.Item):
    """Fails when ``--dockerbuild-lint`` found no Dockerfile to check, saying where it looked."""

    def __init__(self, *, problem: str, **kwargs: Any) -> None:
        super().__init__(nodeid=kwargs["name"], **kwargs)
        self.problem = problem
        self.funcargs: dict[str, object] = {}  # as pytest's doctest items: some plugins expect it
        self.add_marker("dockerbuild_lint")

    def runtest(self) -> None:
        pytest.fail(self.problem, pytrace=False)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, self.name
