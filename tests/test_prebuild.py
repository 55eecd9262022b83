"""Declared builds (``@pytest.mark.dockerbuild_prebuild``, contracts' ``x-dockerbuild`` build)
start together before the first test; a test's call takes the outcome of its declared build
(a failure too), an option it passes (``reuse=False``) still wins, and only the selected tests'
declarations are built."""

from __future__ import annotations

import uuid

import pytest

SLOW = "FROM diamol/base\nRUN sleep 2 && echo {name}-{marker} > /m\n"

TESTS = """
import pytest
from pytest_dockerbuild.plugin.session import Session

pytestmark = [
    pytest.mark.dockerbuild_prebuild("one"),
    pytest.mark.dockerbuild_prebuild("two", backend="{backend}"),
]

def test_0_the_declared_builds_run_before_any_test_asks(request, dockerbuild):
    prebuilds = Session.of(request.config).prebuilds
    assert prebuilds is not None and prebuilds.wait(120)
    assert prebuilds.peak == 3, "all three at once"
    assert len(dockerbuild.results) == 2  # built, and no test asked yet

def test_1_a_call_takes_the_declared_build(dockerbuild):
    one = dockerbuild.build("one")
    assert one.image.read_text("/m") == "one-{marker}\\n"
    assert len(dockerbuild.results) == 2

@pytest.mark.dockerbuild_prebuild("bad")
def test_2_a_declared_failure_is_this_runs_failure(dockerbuild):
    dockerbuild.expect_failure("bad", exit_code=3)

def test_3_reuse_false_still_builds(dockerbuild):
    before = len(dockerbuild.results)
    again = dockerbuild.build("two", backend="{backend}", reuse=False)
    assert len(dockerbuild.results) == before + 1 and not again.reused

@pytest.mark.dockerbuild_prebuild("deselected")
def test_4_deselected(dockerbuild):
    dockerbuild.build("deselected")
"""


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_declared_builds_start_together_and_a_test_takes_their_outcome(inner: pytest.Pytester, backend: str) -> None:
    marker = uuid.uuid4().hex
    for name in ("one", "two", "deselected"):
        (inner.path / name).mkdir()
        (inner.path / name / "Dockerfile").write_text(SLOW.format(name=name, marker=marker))
    (inner.path / "bad").mkdir()
    (inner.path / "bad" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {marker} && exit 3\n")
    inner.makepyfile(test_declared=TESTS.replace("{marker}", marker).replace("{backend}", backend))
    result = inner.runpytest_subprocess(f"--dockerbuild-backend={backend}", "-p", "no:randomly", "-k", "not deselected")
    result.assert_outcomes(passed=4, deselected=1)
    result.stdout.fnmatch_lines(["dockerbuild: 3 declared builds started before the first test (up to 3 at once)"])
    result.stdout.fnmatch_lines(["*dockerbuild: 3 images built, 0 reused, 0 failed builds, 1 expected failure*"])


def test_a_bad_declaration_is_a_usage_error_or_a_line_of_the_summary(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.dockerbuild_prebuild("app", tag="x")
        def test_it():
            pass
        """
    )
    result = inner.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*dockerbuild_prebuild does not take tag (it takes target, build_args and backend)*"])
    inner.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.dockerbuild_prebuild("missing")
        def test_it():
            pass
        """
    )
    result = inner.runpytest_subprocess()
    result.assert_outcomes(passed=1)  # the test that asks for it says what is wrong; this one does not ask
    result.stdout.fnmatch_lines(["dockerbuild: declared build not started: test_bad.py::test_it: *missing*"])


def test_no_declared_build_starts_when_turned_off(inner: pytest.Pytester) -> None:
    (inner.path / "app").mkdir()
    (inner.path / "app" / "Dockerfile").write_text(f"FROM diamol/base\nRUN echo {uuid.uuid4().hex} > /m\n")
    inner.makepyfile(
        test_off="""
        import pytest
        from pytest_dockerbuild.plugin.session import Session

        @pytest.mark.dockerbuild_prebuild("app")
        def test_it(request, dockerbuild):
            assert Session.of(request.config).prebuilds is None
        """
    )
    inner.runpytest_subprocess("--dockerbuild-no-prebuild").assert_outcomes(passed=1)
    result = inner.runpytest_subprocess("--collect-only")
    assert "declared builds started" not in result.stdout.str()
