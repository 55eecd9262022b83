"""Image contracts: container-structure-test files run as pytest items (real engine).

The contract files are in ``tests/data/contracts`` (named ``*.yaml``, so that the
repository's own run, which collects ``*.cst.yaml``, leaves them alone); each
inner run copies that folder, collects ``*.yaml`` and loads the contracts
plugin with ``-p`` (which also works once ``plugin.py`` loads it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_dockerbuild import Builder, FileEntry, Image
from pytest_dockerbuild.contracts.checks import volume_mount_points
from pytest_dockerbuild.contracts.gocompat import go_expand, go_file_mode, go_regex
from pytest_dockerbuild.contracts.runner import CommandRunner
from pytest_dockerbuild.contracts.schema import _EXTENSION, _SCHEMA, load_contract
from pytest_dockerbuild.contracts.strict_yaml import ListOf, OptionalList, Struct
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.errors import ContractError, GoRegexError
from pytest_dockerbuild.image.efficiency import parse_tolerance

DATA = Path(__file__).parent / "data" / "contracts"
PLUGIN: tuple[str, ...] = ()  # the plugin (entry point) collects contract files
HOST_VAR = {"CONTRACT_HOST_VAR": "from the host"}


# -- helpers -------------------------------------------------------------------------------
@pytest.fixture
def contracts(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder holding a copy of tests/data/contracts, collecting ``*.yaml``."""
    shutil.copytree(DATA, pytester.path, dirs_exist_ok=True)
    pytester.makeini("[pytest]\ndockerbuild_contracts = *.yaml\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None) -> pytest.RunResult:
    """An inner pytest run in a subprocess (wide, so that summary lines are not cut)."""
    env = {"COLUMNS": "250", **(env or {})}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return pytester.runpytest_subprocess(*PLUGIN, *args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def junit(pytester: pytest.Pytester, name: str = "report.xml") -> dict[str, str]:
    """Outcome per test name from a JUnit XML report, in run order."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(pytester.path / name).getroot().iter("testcase"):
        children = {child.tag for child in case}
        outcomes[case.get("name", "")] = (
            "failed" if children & {"failure", "error"} else "skipped" if "skipped" in children else "passed"
        )
    return outcomes


def section(output: str, name: str) -> str:
    """The failure section of one item in a pytest report."""
    start = output.index(f"_ {name} (")  # the failure's head line: "___ command:x (file.yaml:12) ___"
    end = output.find("\n__", start + 1)
    following = output.find("short test summary", start)
    ends = [e for e in (end, following) if e > 0]
    return output[start : min(ends) if ends else len(output)]


@pytest.fixture(scope="session")
def images(dockerbuild: Builder) -> dict[str, Image]:
    """The corpus images, built once (the inner runs reuse them by content key)."""
    return {name: dockerbuild.build(DATA / "images" / name).image for name in ("app", "tools", "scratch")}


def contract_containers(engine: Engine) -> list[str]:
    """This worker's contract containers (another pytest-xdist worker's inner runs may have theirs)."""
    run_label = {"label": f"pytest-dockerbuild.run={engine.run_id}"}
    mine = f"-{engine.worker}-contract-"
    return [c.name for c in engine.client.containers.list(all=True, filters=run_label) if mine in c.name]


# -- the schema, without an engine ------------------------------------------------------------
def _keys(kind: Any, prefix: str = "") -> set[str]:
    if isinstance(kind, (ListOf, OptionalList)):
        return _keys(kind.item, prefix)
    if isinstance(kind, Struct):
        keys = set()
        for name, inner in kind.fields.items():
            keys.add(prefix + name)
            keys |= _keys(inner, prefix + name + ".")
        return keys
    return set()


def _used(node: Any, prefix: str = "") -> set[str]:
    if isinstance(node, list):
        return set().union(*(_used(item, prefix) for item in node)) if node else set()
    if isinstance(node, dict):
        keys = set()
        for name, value in node.items():
            keys.add(prefix + name)
            if name != "args":  # build args are free-form
                keys |= _used(value, prefix + name + ".")
        return keys
    return set()


def test_the_corpus_uses_every_key_of_the_schema_and_of_x_dockerbuild() -> None:
    used: set[str] = set()
    for path in DATA.glob("*.yaml"):
        documents = list(yaml.safe_load_all(path.read_text()))
        used |= _used(documents[0])
        used |= {f"x-dockerbuild.{k}" for k in _used(documents[1]["x-dockerbuild"])} if len(documents) > 1 else set()
    wanted = _keys(_SCHEMA) | {f"x-dockerbuild.{k}" for k in _keys(_EXTENSION)}
    assert wanted - used == set()


def test_keys_have_cst_defaults(tmp_path: Path) -> None:
    path = tmp_path / "defaults.cst.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            schemaVersion: 2.0.0
            commandTests:
              - {name: c, command: "true"}
            fileExistenceTests:
              - {name: f, path: /x}
            metadataTest:
              cmd: []
            """
        )
    )
    contract = load_contract(path)
    command, existence = contract.command_tests[0], contract.file_existence_tests[0]
    assert command.exit_code == 0 and command.args == [] and command.setup == []
    assert existence.should_exist is True and existence.uid == -1 and existence.gid == -1
    assert contract.metadata.cmd == [] and contract.metadata.entrypoint is None  # [] = must be empty, None = unchecked
    assert contract.extension.name == "defaults" and contract.extension.build is None


def test_scalars_are_read_as_yaml_v2_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "scalars.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            schemaVersion: 2.0.0
            commandTests:
              - &first {name: yes-words, command: echo, args: [1.20, yes, ~, 0x1F], exitCode: 010}
              - <<: *first
                name: merged
            fileExistenceTests:
              - {name: f, path: /x, shouldExist: no, uid: 0x10}
            """
        )
    )
    contract = load_contract(path)
    first, merged = contract.command_tests
    assert first.args == ["1.20", "yes", "", "0x1F"]  # text as written, not YAML's float/bool/null
    assert first.exit_code == 8  # Go's ParseInt(s, 0): a leading 0 is octal
    assert merged.name == "merged" and merged.command == "echo" and merged.exit_code == 8
    assert contract.file_existence_tests[0].should_exist is False and contract.file_existence_tests[0].uid == 16


def test_a_contract_error_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.cst.yaml"
    path.write_text("schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    cmd: echo\n    exitCode: zero\n")
    with pytest.raises(ContractError) as error:
        load_contract(path)
    assert error.value.problems == [
        "line 4: unknown key 'cmd' in commandTests[] (known keys: name, setup, teardown, envVars, exitCode, "
        "command, args, expectedOutput, excludedOutput, expectedError, excludedError)",
        "line 5: commandTests[0].exitCode: expected an integer, got the value 'zero'",
    ]
    assert str(error.value).startswith(f"contract {path} cannot be used:\n  line 4: unknown key 'cmd'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$APP/bin", "/app/bin"),
        ("${APP}x", "/appx"),
        ("$NOPE.", "."),
        ("a$$b", "ab"),  # "$$" is the variable "$": there is no escape
        ("$1 $* $-", "  "),
        ("${}gone", "gone"),
        ("${unclosed", "unclosed"),
        ("cost: 5 $", "cost: 5 $"),
        ("$ alone", "$ alone"),
    ],
)
def test_go_expand(text: str, expected: str) -> None:
    assert go_expand(text, {"APP": "/app"}) == expected


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("x$", "x\n", False),  # Go: $ is the end of the text
        ("x\n$", "x\n", True),
        ("(?m)^b$", "a\nb\nc", True),
        (r"end\z", "the end", True),
        ("[[:digit:]]+", "v12", True),
        (r"\s", "\v", False),  # RE2's \s has no vertical tab
        (r"\d", "٣", False),  # ASCII digits only
        (r"\Q1+1\E=2", "1+1=2", True),
        (r"\101", "A", True),  # octal
        ("(?<word>b)", "abc", True),
        ("[]a]", "]", True),
        ("a{,2}", "a{,2}", True),  # not a repetition in RE2
        ("", "anything", True),
    ],
)
def test_go_regex_means_what_re2_means(pattern: str, text: str, matches: bool) -> None:
    assert bool(go_regex(pattern).search(text)) is matches


@pytest.mark.parametrize("pattern", ["a(?=b)", "(?<!a)b", r"(a)\1", "a*+", r"\Z", r"\pL", "(", "(?U)a+"])
def test_patterns_go_rejects_or_python_cannot_check_are_errors(pattern: str) -> None:
    with pytest.raises(GoRegexError):
        go_regex(pattern)


@pytest.mark.parametrize(
    ("kind", "mode", "expected"),
    [
        ("file", 0o644, "-rw-r--r--"),
        ("dir", 0o755, "drwxr-xr-x"),
        ("symlink", 0o644, "Lrwxrwxrwx"),  # a symlink is 0777 on disk, whatever its tar header says
        ("file", 0o4755, "urwxr-xr-x"),
        ("dir", 0o2755, "dgrwxr-xr-x"),
        ("dir", 0o1777, "dtrwxrwxrwx"),
        ("fifo", 0o644, "prw-r--r--"),
        ("char", 0o666, "Dcrw-rw-rw-"),
        ("hardlink", 0o640, "-rw-r-----"),
    ],
)
def test_permissions_are_go_file_modes(kind: str, mode: int, expected: str) -> None:
    assert go_file_mode(FileEntry("/x", kind, 0, mode, 0, 0, "", 0)) == expected


def test_baseline_tolerance() -> None:
    assert parse_tolerance("5%") == 0.05
    assert parse_tolerance("0.1") == 0.1
    with pytest.raises(ValueError, match="tolerance 'lots'"):
        parse_tolerance("lots")


# -- contracts through pytest ------------------------------------------------------------------
def test_help_shows_the_contract_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(
        [
            "*--dockerbuild-image=NAME=IMAGE*",
            "*--dockerbuild-baseline=FILE*",
            "*--dockerbuild-baseline-update*",
            "*dockerbuild_contracts (linelist)*",
            "*dockerbuild_baseline_tolerance (string)*",
        ]
    )


def test_every_key_passes_and_items_carry_cst_names(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    result = run(contracts, "app-pass.yaml", "--junitxml=report.xml")
    result.assert_outcomes(passed=30)
    names = list(junit(contracts))
    assert names[:3] == [
        "command:greets with the global env",
        "command:args are expanded against the image env like Go's os.Expand",
        "command:an exit code",
    ]
    assert "file-content:config" in names and "file-existence:greet script" in names
    assert names[-7:] == ["file-existence:passwd owned by root", "license[0]", "license[1]", "metadata", "size",
                          "layers", "efficiency"]  # fmt: skip


def test_failures_show_the_exact_mismatch(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    result = run(contracts, "app-fail.yaml")
    result.assert_outcomes(failed=23)
    out = result.stdout.str()
    expectations = {
        "command:wrong output": [
            "stdout does not match expectedOutput pattern '^goodbye'",
            "stdout:\n  | hello\nstderr: (empty)",
        ],
        "command:excluded output present": [
            "stdout matches excludedOutput pattern 'token=\\\\d+': 'token=42' on line 1"
        ],
        "command:wrong exit code": ["exit code 4, expected 0", "  | partial"],
        "command:expected error missing": ["stderr does not match expectedError pattern 'warning'"],
        "command:excluded error present": ["stderr matches excludedError pattern 'fatal': 'fatal' on line 1"],
        "command:dollar means the end of the text": ["stdout does not match expectedOutput pattern 'x$'"],
        "command:lookahead is not RE2": ["expectedOutput pattern 'a(?=b)' cannot be used: invalid or unsupported Perl"],
        "command:no such executable": [
            "cannot run ['no-such-tool']: exec failed: unable to start container process: "
            'exec: "no-such-tool": executable file not found in $PATH'
        ],
        "file-content:content mismatch": [
            "/app/conf/app.conf does not match expectedContents pattern 'port=9999'",
            "/app/conf/app.conf matches excludedContents pattern 'name=demo': 'name=demo' on line 1",
            "  | last line without newline\n  (no newline at the end)",
        ],
        "file-content:a folder": ["cannot read /app/conf: '/app/conf' in image", "is a dir, not a file"],
        "file-content:paths of content tests are not expanded": ["cannot read $APP_HOME/conf/app.conf"],
        "file-existence:wrong permissions": ["/app/bin/greet has permissions -rwxr-x---, expected -rwxr-xr-x"],
        "file-existence:wrong owner": [
            "/app/bin/greet is owned by uid 1000, expected 0",
            "/app/bin/greet has gid 1000, expected 0",
        ],
        "file-existence:missing": ["/app/missing.txt should exist but does not", "entries in its folder: LICENSE"],
        "file-existence:should not exist": ["/app/conf should not exist but does (a dir)"],
        "file-existence:not executable by other": [
            "/app/bin/greet is not executable by other (permissions -rwxr-x---)"
        ],
        "file-existence:setuid is written u, not s": ["/bin/busybox has permissions -rwxr-xr-x, expected -rwsr-xr-x"],
        "license[0]": ["license file /app/LICENSE.third-party mentions AGPL"],
        "metadata": [
            "env var APP_MODE is 'production', which is not 'debug'",
            "env var MISSING_VAR is not set in the image",
            "env var APP_HOME should not be set, but is '/app'",
            "label org.opencontainers.image.version is '1.4.2', which does not match the pattern '^2\\\\.'",
            "cmd is ['--serve'], expected ['--serve', '--verbose']",
            "entrypoint is ['/app/bin/greet'], expected []",
            "workdir is '/app', expected '/srv'",
            "user is '1000:1000', expected 'root'",
            "port 8080/tcp is not exposed (exposed: 8080/tcp, 9090/udp)",
            "port 8080 should not be exposed, but is",
            "volume /missing is not declared (declared: /data)",
            "volume /data should not be declared, but is",
        ],
        "size": ["bytes (2.0 MB) is over maxSize 1000000 bytes (1.0 MB)"],
        "layers": ["the image has 4 layers, over maxLayers 2"],
        "efficiency": [
            "lowestEfficiency: image efficiency is too low (efficiency=0.99997",
            "< threshold=0.99999999)",
            "highestWastedBytes: too many bytes wasted (wasted-bytes=90 > threshold=10)",
            "highestUserWastedPercent: too many bytes wasted, relative to the user bytes added",
            "      2           90  /app/conf/app.conf",
        ],
    }
    for name, texts in expectations.items():
        failure = section(out, name)
        for text in texts:
            assert text in failure, f"{name}: {text!r} not in\n{failure}"
        assert f"({name} in contract app-fail.yaml" in failure
    # the short summary leads with the first mismatch
    result.stdout.fnmatch_lines(["FAILED app-fail.yaml::command:wrong exit code - exit code 4, expected 0"])


def test_cst_validation_fails_the_test_not_the_file(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    result = run(contracts, "validation.yaml", "-rf")
    result.assert_outcomes(failed=7, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED validation.yaml::command:no command - the test has no command",
            "FAILED validation.yaml::command:#2 - the test has no name",
            "FAILED validation.yaml::command:an empty setup command - a setup command is empty",
            "FAILED validation.yaml::command:an envVar without a value - every envVars entry needs a non-empty *",
            "FAILED validation.yaml::file-existence:no path - the test has no path",
            "FAILED validation.yaml::file-content:no path either - the test has no path",
            "FAILED validation.yaml::metadata - a label key is empty",
        ]
    )


def test_an_image_without_a_shell(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    result = run(contracts, "scratch.yaml", "-v")
    result.assert_outcomes(passed=11)


def test_a_bad_contract_is_a_collection_error_naming_the_file_and_the_key(contracts: pytest.Pytester) -> None:
    result = run(contracts, "bad")
    result.assert_outcomes(errors=6)
    result.stdout.fnmatch_lines_random(
        [
            "*ERROR collecting bad/unknown-key.yaml*",
            "contract bad/unknown-key.yaml cannot be used:",
            "  line 7: unknown key 'env' in metadataTest (known keys: envVars, unboundEnvVars, *",
            "  line 6: fileExistenceTests[0]: key 'path' appears twice",
            "  line 6: commandTests[0].args: expected a list, got the value 'hello'",
            "  line 10: fileExistenceTests[0].uid: expected an integer, got the quoted value '0'",
            "  line 13: fileExistenceTests[1].shouldExist: expected a boolean, got the value 'maybe'",
            "  line 3: `x-dockerbuild` must be in a second YAML document (after a `---` line)*",
            "  it has no schemaVersion (write `schemaVersion: 2.0.0`)",
            "  line 8: unknown key 'imgae' in x-dockerbuild (known keys: name, image, build, *",
        ]
    )


def test_an_image_named_on_the_command_line_is_checked_without_a_build(
    contracts: pytest.Pytester, images: dict[str, Image]
) -> None:
    result = run(contracts, "named.yaml", f"--dockerbuild-image=preset={images['tools'].id}")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*dockerbuild: * images*")
    # a contract that says how to build takes the given image instead, and builds nothing
    result = run(contracts, "run-options.yaml", "-v", f"--dockerbuild-image=tools={images['tools'].id}", env=HOST_VAR)
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*dockerbuild: * images*")


def test_a_contract_without_an_image_says_how_to_name_one(contracts: pytest.Pytester) -> None:
    result = run(contracts, "named.yaml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*it names no image: add a second YAML document `x-dockerbuild: {image: REF}` *, or run pytest "
            "with --dockerbuild-image preset=IMAGE"
        ]
    )


def test_a_bad_image_option_is_a_usage_error(contracts: pytest.Pytester) -> None:
    result = run(contracts, "--dockerbuild-image=no-equals-sign")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dockerbuild-image 'no-equals-sign': write NAME=IMAGE*"])


def test_run_options(contracts: pytest.Pytester, images: dict[str, Image], tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host.txt").write_text("mounted\n")
    contracts.makefile(
        ".yaml",
        mounts=f"""
        schemaVersion: 2.0.0
        containerRunOptions:
          bindMounts: ["{shared}:/mnt/host:ro"]
        commandTests:
          - name: a bind mount
            command: cat
            args: [/mnt/host/from-host.txt]
            expectedOutput: ["^mounted\\n$"]
          - name: read-only
            command: touch
            args: [/mnt/host/new]
            exitCode: 1
            expectedError: [Read-only file system]
        ---
        x-dockerbuild:
          name: tools
          image: {images["tools"].id}
        """,
    )
    result = run(contracts, "run-options.yaml", "differences-run-options.yaml", "differences-tty.yaml", "mounts.yaml",
                 env=HOST_VAR)  # fmt: skip
    result.assert_outcomes(passed=9)


def test_test_envvars_really_reach_the_command(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    """Deliberately unlike CST (issue #484, see test_contracts_cst.py): a test's envVars are
    expanded, take part in the expansion of its args, and reach its process."""
    result = run(contracts, "differences.yaml", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines_random(
        [
            "*::command:envVars take part in the expansion of args PASSED*",
            "*::command:envVars values are expanded PASSED*",
        ]
    )


def test_a_command_that_hangs_fails_after_the_timeout(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    contracts.makefile(
        ".yaml",
        slow=f"""
        schemaVersion: 2.0.0
        commandTests:
          - name: hangs
            command: sleep
            args: ["60"]
          - name: the next one runs
            command: echo
            args: [next]
            expectedOutput: [next]
        ---
        x-dockerbuild:
          image: {images["tools"].id}
          timeout: 1.5
        """,
    )
    started = time.monotonic()
    result = run(contracts, "slow.yaml")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["['sleep', '60'] did not finish within 1.5 s"])
    assert time.monotonic() - started < 30


def test_size_baseline(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    tools = images["tools"]
    baseline = contracts.path / "sizes.json"
    result = run(contracts, "named.yaml", f"--dockerbuild-image=preset={tools.id}",
                 f"--dockerbuild-baseline={baseline}", "--dockerbuild-baseline-update")  # fmt: skip
    result.assert_outcomes(passed=4)  # size and layers items are added
    saved = json.loads(baseline.read_text())
    assert {key: saved["preset"][key] for key in ("size", "layers")} == {"size": tools.size, "layers": 3}
    assert [(point["size"], point["image"]) for point in saved["preset"]["history"]] == [(tools.size, tools.id)]

    baseline.write_text(
        json.dumps({"preset": {"size": int(tools.size / 1.06), "layers": 2}, "other": {"size": 1, "layers": 1}})
    )
    result = run(
        contracts, "named.yaml", f"--dockerbuild-image=preset={tools.id}", f"--dockerbuild-baseline={baseline}"
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            f"size {tools.size} bytes (2.0 MB) grew past the baseline * + 5% (+* bytes) in '{baseline}'",
            f"3 layers grew past the baseline 2 + 5% in '{baseline}'",
        ]
    )
    contracts.makeini("[pytest]\ndockerbuild_contracts = *.yaml\ndockerbuild_baseline_tolerance = 50%\n")
    result = run(
        contracts, "named.yaml", f"--dockerbuild-image=preset={tools.id}", f"--dockerbuild-baseline={baseline}"
    )
    result.assert_outcomes(passed=4)
    assert json.loads(baseline.read_text())["other"] == {"size": 1, "layers": 1}  # not rewritten without -update


# -- containers -------------------------------------------------------------------------------------
def test_one_container_serves_the_commands_that_change_nothing(
    dockerbuild_engine: Engine, images: dict[str, Image]
) -> None:
    contract = load_contract(DATA / "timing.yaml")
    runner = CommandRunner(dockerbuild_engine, images["tools"], contract, reuse=True)
    try:
        results = [runner.run(test) for test in contract.command_tests]
        assert [r.exit_code for r in results] == [0] * 10
        assert len({r.container for r in results}) == 1
        assert runner.stats == {"exec": 10, "containers": 1, "replaced": 0}
    finally:
        runner.close()
    assert contract_containers(dockerbuild_engine) == []


def test_a_command_that_changes_the_container_gets_it_replaced(
    dockerbuild_engine: Engine, images: dict[str, Image]
) -> None:
    contract = load_contract(DATA / "app-pass.yaml")
    tests = {t.name: t for t in contract.command_tests}
    runner = CommandRunner(dockerbuild_engine, images["app"], contract, reuse=True)
    try:
        clean = runner.run(tests["stdout and stderr apart"])
        writes = runner.run(tests["a command changes the filesystem"])
        after = runner.run(tests["each command starts from the image"])
        assert clean.container == writes.container != after.container
        assert "left-behind" not in after.stdout
        started = time.monotonic()
        background = runner.run(tests["a background process does not hold the test"])
        assert background.stdout == "started\n" and time.monotonic() - started < 5
        assert runner.stats["replaced"] == 2
        with_setup = runner.run(tests["setup prepares state"])
        assert with_setup.stdout == "prepared\nsecond\nstate\n"
        assert with_setup.container not in (clean.container, after.container, background.container)
    finally:
        runner.close()
    assert contract_containers(dockerbuild_engine) == []


def test_without_a_cheap_diff_each_command_gets_a_container_started_ahead(
    dockerbuild_engine: Engine, images: dict[str, Image]
) -> None:
    contract = load_contract(DATA / "timing.yaml")
    runner = CommandRunner(dockerbuild_engine, images["tools"], contract, reuse=False)
    try:
        results = [runner.run(test) for test in contract.command_tests[:4]]
        assert [r.exit_code for r in results] == [0] * 4
        assert len({r.container for r in results}) == 4
        assert runner.stats["exec"] == 4 and runner.stats["replaced"] == 0
    finally:
        runner.close()
    assert contract_containers(dockerbuild_engine) == []


def test_containers_are_removed_when_commands_fail(dockerbuild_engine: Engine, images: dict[str, Image]) -> None:
    contract = load_contract(DATA / "app-fail.yaml")
    runner = CommandRunner(dockerbuild_engine, images["app"], contract, reuse=True)
    try:
        results = [runner.run(test) for test in contract.command_tests]
        assert [r.exit_code for r in results[:-1]] == [0, 0, 4, 0, 0, 0, 0]
        assert results[-1].error is not None and "executable file not found" in results[-1].error
        assert runner.stats == {"exec": 8, "containers": 1, "replaced": 1}
        assert contract_containers(dockerbuild_engine) == []  # a container an exec failed in is dropped at once
    finally:
        runner.close()
    assert contract_containers(dockerbuild_engine) == []


def test_the_inner_runs_leave_no_containers(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    client = images["app"]._client
    result = run(contracts, "app-fail.yaml", "scratch.yaml")
    result.assert_outcomes(failed=23, passed=11)
    run_id = re.search(r"; run (\w+) \(label pytest-dockerbuild.run\)", result.stdout.str())
    assert run_id is not None, "the report header names the run"
    leftovers = client.containers.list(all=True, filters={"label": f"pytest-dockerbuild.run={run_id.group(1)}"})
    assert [c.name for c in leftovers] == []


def test_the_mount_points_of_volumes_exist_as_in_cst(contracts: pytest.Pytester, dockerbuild: Builder) -> None:
    """The engine makes each VOLUME's mount point and its missing parents (0755, root) in every
    container, so CST finds them; the image's layers do not hold them (test_contracts_cst.py
    runs the same file with CST)."""
    image = dockerbuild.build(DATA / "images" / "volumes").image
    assert not image.exists("/vol") and image.config.volumes == ["/data/", "/linked/new", "/srv/kept", "/vol/a/b"]
    assert volume_mount_points(image) == {"/vol", "/vol/a", "/vol/a/b", "/srv/new", "/data"}
    result = run(contracts, "volumes.yaml", "-rf", f"--dockerbuild-image=volumes={image.id}")
    result.assert_outcomes(passed=8, failed=5)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED *::file-existence:a mount point is not writable by others (fails) - /vol/a/b has permissions "
            "drwxr-xr-x, expected drwxrwxrwx",
            "FAILED *::file-existence:a mount point is not owned by the image's user (fails) - /vol/a/b is owned by "
            "uid 0, expected 1000",
            "FAILED *::file-existence:a mount point exists (fails) - /vol should not exist but does (a dir)",
            "FAILED *::file-existence:a new volume is empty (fails) - /vol/a/b/inside should exist but does not*",
            "FAILED *::file-existence:only the volumes' folders are made (fails) - /srv/other should exist but *",
        ]
    )


def test_a_contract_without_tests_fails_as_in_cst(contracts: pytest.Pytester, images: dict[str, Image]) -> None:
    contracts.makefile(".yaml", nothing=f"schemaVersion: 2.0.0\n---\nx-dockerbuild:\n  image: {images['tools'].id}\n")
    result = run(contracts, "nothing.yaml", "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED nothing.yaml::empty - the contract holds no tests *"])


def test_a_contract_names_a_compose_service(contracts: pytest.Pytester) -> None:
    result = run(contracts, "compose-service.yaml", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PASSED compose-service.yaml::file-content:the app's settings"])
