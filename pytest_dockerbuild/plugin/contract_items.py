"""Image contracts as pytest items: a :class:`ContractFile` per contract file
(``dockerbuild_contracts``, default ``*.cst.yaml``), a :class:`ContractItem` per test
of it, named as container-structure-test (CST) names it (``command:<name>``,
``file-existence:<name>``, ``file-content:<name>``, ``license[<i>]``, ``metadata``),
plus ``size``, ``layers`` and ``efficiency`` items for the budgets of its
``x-dockerbuild`` document::

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

The second YAML document is what keeps the file runnable by CST itself (it reads
only the first document, and rejects unknown keys).  The semantics are in
:mod:`pytest_dockerbuild.contracts`; the items find the image (``--dockerbuild-image``,
``x-dockerbuild.image``, or its build), run the checks and report the mismatches.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_dockerbuild.compose.stack import service_image
from pytest_dockerbuild.contracts import (
    CommandRunner,
    CommandTest,
    Contract,
    Extension,
    FileContentTest,
    FileExistenceTest,
    LicenseTest,
    MetadataTest,
    check_command,
    check_file_content,
    check_file_existence,
    check_license,
    check_metadata,
    load_contract,
)
from pytest_dockerbuild.errors import ContractError, ContractFailure, DockerbuildError, shown_path
from pytest_dockerbuild.image import EfficiencyRules, Image, analyze, human_size
from pytest_dockerbuild.image.efficiency import layer_count
from pytest_dockerbuild.plugin.session import Session

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

__all__ = [
    "ContractFile",
    "ContractItem",
]

OUTPUT_LIMIT = 4000  # characters of output or file text shown in a failure


class ContractFile(pytest.File):
    """A contract file: its tests as items, one image and one command runner for all of them."""

    contract: Contract
    _image: Image | None = None
    _runner: CommandRunner | None = None

    @staticmethod
    def matches(path: Path, patterns: Sequence[str], rootpath: Path) -> bool:
        """True if ``path`` matches one of ``patterns`` (``dockerbuild_contracts``): a pattern with a
        ``/`` matches the path relative to the rootdir, one without the file name."""
        for pattern in patterns:
            if "/" not in pattern:
                subject = path.name
            elif rootpath in path.parents:
                subject = path.relative_to(rootpath).as_posix()
            else:
                continue
            if fnmatch.fnmatch(subject, pattern):
                return True
        return False

    def collect(self) -> Iterator[ContractItem]:
        try:
            self.contract = contract = load_contract(self.path)
        except ContractError as error:
            raise self.CollectError(str(error)) from None
        extension = contract.extension
        baseline = Session.of(self.config).options.baseline
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
        """The contract's image: --dockerbuild-image, x-dockerbuild image, its build, or a Compose service's."""
        if self._image is not None:
            return self._image
        session = Session.of(self.config)
        engine = session.engine_or_skip()
        extension = self.contract.extension
        given = session.options.images.get(extension.name)
        if given is not None:
            self._image = engine.image(given, asked_by=f"--dockerbuild-image {extension.name}")
        elif extension.image:
            self._image = engine.image(extension.image, asked_by=f"{self.path.name}: x-dockerbuild image")
        elif extension.build is not None:
            spec = extension.build
            result = session.builder().build(
                spec.context, spec.dockerfile, target=spec.target, build_args=spec.args or None
            )
            self._image = result.image
        elif extension.compose is not None:
            built = service_image(session.builder(), [extension.compose.file], extension.compose.service)
            self._image = engine.image(built)
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
            self._runner = CommandRunner(Session.of(self.config).engine(), self.image(), self.contract)
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
        baseline = Session.of(self.config).options.baseline
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
        if baseline is not None:
            check = baseline.check(extension.name, image)
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
