"""Build logs: a bounded tail in memory and in reports, the whole log in a file the report names."""

from __future__ import annotations

import pickle
import re
import uuid
from pathlib import Path

import pytest

from pytest_dockerbuild.build.log import LINE_LIMIT, BuildLog


def test_the_tail_is_bounded_and_the_file_has_everything(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "build.log", keep=3)
    for number in range(10):
        log.append(f"line {number}")
    log.close()
    assert log == ["line 7", "line 8", "line 9"]
    assert (log.total, log.dropped, len(log)) == (10, 7, 3)
    assert log[-1] == "line 9" and log[:2] == ["line 7", "line 8"]
    assert log.tail(2) == ["line 8", "line 9"] and log.tail(0) == []
    assert (tmp_path / "build.log").read_text().splitlines() == [f"line {n}" for n in range(10)]


def test_a_long_line_is_cut_in_memory_only(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "build.log")
    log.append("x" * (LINE_LIMIT + 10))
    log.close()
    assert log[0] == "x" * LINE_LIMIT + " ... (10 more characters)"
    assert (tmp_path / "build.log").read_text() == "x" * (LINE_LIMIT + 10) + "\n"


def test_a_log_pickles_without_its_file(tmp_path: Path) -> None:
    log = BuildLog(tmp_path / "build.log", keep=2, lines=["a", "b", "c"])
    copy = pickle.loads(pickle.dumps(log))
    log.close()
    assert (copy, copy.total, copy.path) == (["b", "c"], 3, tmp_path / "build.log")


NOISY = """\
FROM diamol/base
RUN echo {marker} && head -c 50000000 /dev/zero | tr '\\0' x | fold -w 99 && exit 1
"""

MEMORY = """
def pytest_sessionfinish(session):
    status = open("/proc/self/status").read()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    open("peak-kb.txt", "w").write(peak.split()[1])
"""


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_a_build_that_prints_50_mb_costs_neither_memory_nor_report(inner: pytest.Pytester, backend: str) -> None:
    inner.mkdir("noisy")
    (inner.path / "noisy" / "Dockerfile").write_text(NOISY.format(marker=uuid.uuid4().hex))
    inner.makeconftest(MEMORY)
    inner.makepyfile('def test_noisy(dockerbuild):\n    dockerbuild.build("noisy")\n')
    result = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}", "--junitxml=report.xml")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert len(output) < 200_000, f"{len(output)} characters of report"
    assert (inner.path / "report.xml").stat().st_size < 200_000
    peak = int((inner.path / "peak-kb.txt").read_text()) // 1024
    assert peak < 160, f"peak memory {peak} MB"
    found = re.search(r"the whole build log \((\d+) lines\): (\S+)", output)
    assert found is not None, output[-3000:]
    whole = Path(found.group(2))
    assert whole.is_file()
    if backend == "classic":  # BuildKit clips a step's output itself (at a few MB)
        assert int(found.group(1)) > 500_000 and whole.stat().st_size > 50_000_000
    result.stdout.fnmatch_lines([f"*({int(found.group(1)) - 200} earlier lines in {whole})*"])
    whole.unlink()
