"""Image contracts: container-structure-test (CST) YAML files run as pytest items.

A contract is a CST ``schemaVersion: 2.0.0`` file.  Each of its tests becomes a
pytest item named as CST names it (``command:<name>``, ``file-existence:<name>``,
``file-content:<name>``, ``license[<i>]``, ``metadata``), plus ``size``,
``layers`` and ``efficiency`` items for the budgets of an ``x-dockerbuild``
section.  That section is a **second YAML document** of the same file: CST reads
only the first document of a YAML stream, and its strict parser rejects any
unknown top-level key, so the same file stays runnable by
``container-structure-test``::

    schemaVersion: 2.0.0
    commandTests:
      - name: greets
        command: cat
        args: [/build.txt]
        expectedOutput: ["Building"]
    ---
    x-dockerbuild:
      build: {context: ., target: final}   # relative to this file; or image: REF
      name: demo                           # --dockerbuild-image demo=REF skips the build
      maxSize: 30MB
      maxLayers: 12
      efficiency: {lowestEfficiency: 0.9, highestUserWastedPercent: 0.1}

Semantics are CST 1.19's (docker driver), checked against the binary by the
plugin's tests: strict YAML (an unknown or duplicate key anywhere fails the
file); patterns are Go RE2 searches anywhere in the text (translated, so ``$``
without ``(?m)`` means the very end of the text, and lookarounds and
backreferences are invalid, as in Go); an invalid pattern fails its test;
``$VAR`` in ``command``, ``args`` and a file-existence ``path`` is expanded like
Go's ``os.Expand`` (no escape: ``$$`` is the empty variable ``$``) against the
image's environment with ``globalEnvVars``; ``exitCode`` defaults to 0 and is
always checked; the image's entrypoint is replaced by nothing; ``setup``
commands' exit codes are ignored; ``teardown`` is ignored, as by CST's docker
driver; a metadata test does not see ``globalEnvVars``.

File, license and metadata tests read the image's exported layers
(:class:`~pytest_dockerbuild.Image`), so they run no container and work on an
image without a shell.  Command tests run in containers labelled with the run:
one long-lived container per contract (``sh`` reading an open stdin, the
commands run with ``docker exec``) that is replaced after any command that
changes its filesystem or its volumes or leaves a process behind, so every
command still starts from the image's state; a test with ``setup`` gets a
container of its own; an image without ``sh`` gets a new container per
command, as in CST.

Deliberate differences from CST 1.19, each pinned by a test
(``tests/data/contracts/differences*.yaml``): a test's ``envVars`` really reach
the command (CST issue #484): ``$VAR`` in its ``command`` and ``args`` sees
them, their values are expanded like those of ``globalEnvVars`` (CST passes
``PATH=/x:$PATH`` as written unless the test has ``setup``), and
``containerRunOptions`` env does not drop them; ``containerRunOptions``
``capabilities`` and ``allocateTty`` work (CST 1.19 ignores the first and cannot
read the output of the second); a file-content test follows a relative symlink
(CST looks its target up from ``/``); a FIFO or device node exists for a
file-existence test (CST says it does not); the command does not run as PID 1;
a command that runs longer than ``x-dockerbuild.timeout`` (300 s) fails.

The feature is four modules: ``_contract_schema`` (the contract model, its strict YAML
decoder and :func:`~pytest_dockerbuild.contracts.schema.load_contract`),
``_contract_checks`` (the CST semantics that need no container: Go's ``os.Expand``, RE2 and
``os.FileMode``, and the checks of every kind of test), ``_contract_runner``
(:class:`~pytest_dockerbuild.contracts.runner.CommandRunner`: command tests in containers),
and this one, the pytest side: options, hooks, a :class:`ContractFile` per contract file and
a :class:`ContractItem` per test.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_dockerbuild.contracts.checks import (
    check_command,
    check_file_content,
    check_file_existence,
    check_license,
    check_metadata,
)
from pytest_dockerbuild.contracts.runner import CommandRunner
from pytest_dockerbuild.contracts.schema import (
    CommandTest,
    Contract,
    Extension,
    FileContentTest,
    FileExistenceTest,
    LicenseTest,
    MetadataTest,
    load_contract,
)
from pytest_dockerbuild.errors import ContractError, ContractFailure, DockerbuildError, shown_path
from pytest_dockerbuild.image.efficiency import EfficiencyRules, SizeBaseline, analyze, layer_count, parse_tolerance
from pytest_dockerbuild.image.image import Image, human_size

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

__all__ = [
    "ContractFile",
    "ContractItem",
]

DEFAULT_PATTERNS = ["*.cst.yaml", "*.cst.yml"]
OUTPUT_LIMIT = 4000  # characters of output or file text shown in a failure


# -- pytest collection --------------------------------------------------------------------
@dataclass
class _State:
    images: dict[str, str]  #: --dockerbuild-image NAME=IMAGE
    baseline: SizeBaseline | None


STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dockerbuild", "Docker builds (pytest-dockerbuild)")
    group.addoption(
        "--dockerbuild-image",
        action="append",
        default=[],
        metavar="NAME=IMAGE",
        help="Check IMAGE (no build) for the contracts named NAME (x-dockerbuild name, default the file "
        "name without .cst.yaml); repeatable.",
    )
    group.addoption(
        "--dockerbuild-baseline",
        default=None,
        metavar="FILE",
        help="JSON file of recorded image sizes and layer counts: a contract's size and layers items fail "
        "when its image grew past the tolerance (ini dockerbuild_baseline_tolerance).",
    )
    group.addoption(
        "--dockerbuild-baseline-update",
        action="store_true",
        default=False,
        help="Record the sizes and layer counts of the contracts' images in the --dockerbuild-baseline file.",
    )
    parser.addini(
        "dockerbuild_contracts",
        "Glob patterns of image contract files (container-structure-test YAML) to collect.",
        type="linelist",
        default=list(DEFAULT_PATTERNS),
    )
    parser.addini(
        "dockerbuild_baseline_tolerance",
        "How much an image may grow past its recorded size or layer count ('5%' or '0.05').",
        default="5%",
    )


def pytest_configure(config: pytest.Config) -> None:
    images: dict[str, str] = {}
    for spec in config.getoption("dockerbuild_image") or []:
        name, sep, image = str(spec).partition("=")
        if not sep or not name.strip() or not image.strip():
            raise pytest.UsageError(f"--dockerbuild-image {spec!r}: write NAME=IMAGE")
        images[name.strip()] = image.strip()
    baseline = None
    path = config.getoption("dockerbuild_baseline")
    if config.getoption("dockerbuild_baseline_update") and not path:
        raise pytest.UsageError("--dockerbuild-baseline-update needs --dockerbuild-baseline FILE")
    if path:
        try:
            tolerance = parse_tolerance(str(config.getini("dockerbuild_baseline_tolerance")))
            baseline = SizeBaseline(
                Path(path).resolve(), tolerance, update=bool(config.getoption("dockerbuild_baseline_update"))
            )
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    config.stash[STATE] = _State(images, baseline)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None and state.baseline is not None:
        state.baseline.save()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ContractFile | None:
    for pattern in parent.config.getini("dockerbuild_contracts"):
        if "/" in pattern:
            try:
                subject = file_path.relative_to(parent.config.rootpath).as_posix()
            except ValueError:
                continue
        else:
            subject = file_path.name
        if fnmatch.fnmatch(subject, pattern):
            return ContractFile.from_parent(parent, path=file_path)
    return None


class ContractFile(pytest.File):
    """A contract file: its tests as items, one image and one command runner for all of them."""

    contract: Contract
    _image: Image | None = None
    _runner: CommandRunner | None = None

    def collect(self) -> Iterator[ContractItem]:
        try:
            self.contract = contract = load_contract(self.path)
        except ContractError as error:
            raise self.CollectError(str(error)) from None
        extension = contract.extension
        baseline = self.config.stash[STATE].baseline if STATE in self.config.stash else None
        tests: list[tuple[str, str, object, int]] = [
            *(("command", t.name, t, t.line) for t in contract.command_tests),
            *(("file-content", t.name, t, t.line) for t in contract.file_content_tests),
            *(("file-existence", t.name, t, t.line) for t in contract.file_existence_tests),
        ]
        seen: dict[str, int] = {}
        position: dict[str, int] = {}
        for kind, name, test, line in tests:
            # A test is named by its name, a nameless one by its position, a repeated name gets [2], [3] ...
            position[kind] = position.get(kind, 0) + 1
            label = f"{kind}:{name}" if name else f"{kind}:#{position[kind]}"
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label += f"[{seen[label]}]"
            yield ContractItem.from_parent(self, name=label, kind=kind, test=test, line=line)
        for index, license_test in enumerate(contract.license_tests):
            yield ContractItem.from_parent(
                self, name=f"license[{index}]", kind="license", test=license_test, line=license_test.line
            )
        if not contract.metadata.is_empty():
            yield ContractItem.from_parent(
                self, name="metadata", kind="metadata", test=contract.metadata, line=contract.metadata.line
            )
        budgets = [
            ("size", extension.max_size is not None or baseline is not None),
            ("layers", extension.max_layers is not None or baseline is not None),
            ("efficiency", extension.efficiency is not None),
        ]
        for kind, wanted in budgets:
            if wanted:
                yield ContractItem.from_parent(self, name=kind, kind=kind, test=extension, line=0)
        if not tests and not contract.license_tests and contract.metadata.is_empty() and not any(w for _, w in budgets):
            yield ContractItem.from_parent(self, name="empty", kind="empty", test=None, line=0)

    def setup(self) -> None:
        self.addfinalizer(self.close)

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    # the image
    def image(self) -> Image:
        """The contract's image: --dockerbuild-image, x-dockerbuild image, or its build."""
        if self._image is not None:
            return self._image
        from pytest_dockerbuild.plugin import _builder, engine_or_skip

        engine = engine_or_skip(self.config)
        extension = self.contract.extension
        given = self.config.stash[STATE].images.get(extension.name)
        if given is not None:
            self._image = engine.image(given)
        elif extension.image:
            self._image = engine.image(extension.image)
        elif extension.build is not None:
            spec = extension.build
            result = _builder(self.config).build(
                spec.context, spec.dockerfile, target=spec.target, build_args=spec.args or None
            )
            self._image = result.image
        else:
            raise ContractError(
                self.path,
                [
                    "it names no image: add a second YAML document `x-dockerbuild: {image: REF}` (or "
                    f"`{{build: {{context: .}}}}`), or run pytest with --dockerbuild-image {extension.name}=IMAGE"
                ],
            )
        return self._image

    def runner(self) -> CommandRunner:
        if self._runner is None:
            from pytest_dockerbuild.plugin import _engine

            self._runner = CommandRunner(_engine(self.config), self.image(), self.contract)
        return self._runner


def _block(title: str, text: str) -> str:
    if not text:
        return f"{title}: (empty)"
    shown = text if len(text) <= OUTPUT_LIMIT else text[:OUTPUT_LIMIT]
    lines = shown.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
        end = ""
    else:
        end = "\n  (no newline at the end)" if len(text) <= OUTPUT_LIMIT else ""
    more = f"\n  ... {len(text) - OUTPUT_LIMIT} more characters" if len(text) > OUTPUT_LIMIT else ""
    return f"{title}:\n" + "\n".join(f"  | {line}" for line in lines) + end + more


class ContractItem(pytest.Item):
    """One test of a contract (``command:<name>``, ``file-existence:<name>``, ``metadata``, ``size`` ...)."""

    def __init__(self, *, kind: str, test: Any, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.test = test
        self.line = line
        self.funcargs: dict[str, Any] = {}  # plugins that expect Python test items read it

    @property
    def contract_file(self) -> ContractFile:
        return cast(ContractFile, self.parent)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # The domain heads the failure report; it must not end the node id, or pytest's
        # verbose lines would turn the dots of the test's name into "::".
        where = f"{self.path.name}:{self.line}" if self.line else self.path.name
        return self.path, (self.line - 1 if self.line else None), f"{self.name} ({where})"

    def _fail(self, image: Image | None, problems: Sequence[str], sections: Sequence[str] = ()) -> None:
        where = f"{self.name} in contract {shown_path(self.path)}" + (f":{self.line}" if self.line else "")
        if image is not None:
            where += f", image {image.tags[0] if image.tags else image.short_id} ({image.short_id})"
        raise ContractFailure("\n".join([*problems, *sections, f"({where})"]))

    def runtest(self) -> None:
        invalid = self._invalid()
        if invalid:
            self._fail(None, invalid)
        image = self.contract_file.image()
        self.user_properties.append(("image", image.id))
        problems: list[str] = []
        sections: list[str] = []
        if self.kind == "command":
            test = cast(CommandTest, self.test)
            result = self.contract_file.runner().run(test)
            problems = check_command(test, result)
            self.add_report_section("call", "stdout", result.stdout)
            self.add_report_section("call", "stderr", result.stderr)
            if problems:
                sections = [_block("stdout", result.stdout), _block("stderr", result.stderr)]
        elif self.kind == "file-existence":
            problems = check_file_existence(image, cast(FileExistenceTest, self.test))
        elif self.kind == "file-content":
            problems, text = check_file_content(image, cast(FileContentTest, self.test))
            if problems and text is not None:
                sections = [_block(f"contents of {cast(FileContentTest, self.test).path}", text)]
        elif self.kind == "metadata":
            problems = check_metadata(image, cast(MetadataTest, self.test))
        elif self.kind == "license":
            problems = check_license(image, cast(LicenseTest, self.test))
        elif self.kind in ("size", "layers"):
            problems = self._budget(image, cast(Extension, self.test))
        elif self.kind == "efficiency":
            problems, sections = self._efficiency(image, cast(Extension, self.test))
        elif self.kind == "empty":
            problems = ["the contract holds no tests (container-structure-test fails such a file)"]
        if problems:
            self._fail(image, problems, sections)

    def _invalid(self) -> list[str]:
        """CST's validation of a test: such a test fails without running."""
        test = self.test
        problems = []
        if isinstance(test, (CommandTest, FileExistenceTest, FileContentTest)) and not test.name:
            problems.append("the test has no name")
        if isinstance(test, CommandTest):
            if not test.command:
                problems.append("the test has no command")
            if any(not command for command in test.setup):
                problems.append("a setup command is empty")
            if any(not command for command in test.teardown):
                problems.append("a teardown command is empty")
            if any(not e.key or not e.value for e in test.env_vars):
                problems.append("every envVars entry needs a non-empty key and value")
        if isinstance(test, (FileExistenceTest, FileContentTest)) and not test.path:
            problems.append("the test has no path")
        if isinstance(test, MetadataTest):
            for what, values in (
                ("envVars key", [e.key for e in test.env_vars]),
                ("unboundEnvVars key", [e.key for e in test.unbound_env_vars]),
                ("label key", [e.key for e in test.labels]),
                ("exposed port", test.exposed_ports),
                ("unexposed port", test.unexposed_ports),
                ("volume", test.volumes),
                ("unmounted volume", test.unmounted_volumes),
            ):
                if any(not value for value in values):
                    problems.append(f"a {what} is empty")
        return problems

    def _budget(self, image: Image, extension: Extension) -> list[str]:
        problems = []
        state = self.config.stash[STATE]
        if self.kind == "size":
            if extension.max_size is not None and image.size > extension.max_size:
                problems.append(
                    f"image size {image.size} bytes ({human_size(image.size)}) is over maxSize "
                    f"{extension.max_size} bytes ({human_size(extension.max_size)})"
                )
        else:
            layers = layer_count(image)
            if extension.max_layers is not None and layers > extension.max_layers:
                problems.append(f"the image has {layers} layers, over maxLayers {extension.max_layers}")
        if state.baseline is not None:
            check = state.baseline.check(extension.name, image)
            problem = check.size_problem if self.kind == "size" else check.layers_problem
            if problem:
                problems.append(problem)
        return problems

    def _efficiency(self, image: Image, extension: Extension) -> tuple[list[str], list[str]]:
        rules = extension.efficiency or EfficiencyRules()
        figures = analyze(image.filesystem_layers)
        failures = rules.evaluate(figures)
        if not failures:
            return [], []
        details = [
            f"analysis: efficiency {figures.score:.4%}, wastedBytes {figures.wasted_bytes} "
            f"({human_size(figures.wasted_bytes)}), userWastedPercent "
            + ("n/a" if math.isnan(figures.user_wasted_percent) else f"{figures.user_wasted_percent:.4%}"),
            "inefficient files (count, wasted bytes, path):",
            *(f"  {p.count:5} {p.cumulative_size:>12}  {p.path}" for p in figures.inefficient[:20]),
        ]
        if len(figures.inefficient) > 20:
            details.append(f"  ... {len(figures.inefficient) - 20} more")
        return failures, details

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ContractFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, DockerbuildError):
            return f"{self.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)
