"""The build-stage / test-stage / final demo, tested with pytest-dockerbuild."""

from pathlib import Path

import pytest

from pytest_dockerbuild import Builder, BuildResult, assert_path_exists

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def final(dockerbuild: Builder) -> BuildResult:
    return dockerbuild.build(HERE)


@pytest.mark.parametrize("stage", ["build-stage", "test-stage"])
def test_each_stage_builds(dockerbuild: Builder, stage: str) -> None:
    result = dockerbuild.build(HERE, target=stage)
    assert result.image.exists("/build.txt")
    assert result.stage(stage).built


def test_stages_copy_from_each_other(dockerbuild: Builder) -> None:
    dockerfile = dockerbuild.dockerfile(HERE)
    assert dockerfile.stage_refs == ["build-stage", "test-stage", "2"]
    assert [s.copies_from for s in dockerfile.stages] == [[], ["build-stage"], ["test-stage"]]


def test_final_image_holds_both_lines(final: BuildResult) -> None:
    assert_path_exists(final, "/build.txt", type="file")
    assert final.image.read_text("/build.txt") == "Building...\nTesting...\n"


def test_final_image_adds_only_build_txt_to_its_base(dockerbuild: Builder, final: BuildResult) -> None:
    base = dockerbuild.image(final.target_stage.base_image)
    diff = final.image.compare(base)
    assert diff.added == ["/build.txt"]
    assert diff.removed == [] and diff.changed == []


def test_final_image_metadata(final: BuildResult) -> None:
    assert final.image.config.cmd == ["cat", "/build.txt"]
    assert final.image.config.entrypoint is None


def test_failing_test_stage_fails_the_whole_build(dockerbuild: Builder) -> None:
    failure = dockerbuild.expect_failure(HERE, "Dockerfile.failing-test", stage="test-stage", exit_code=1)
    assert failure.instruction is not None and failure.instruction.startswith("RUN echo 'Testing...'")
    assert "test failed: expected 3 lines" in "\n".join(failure.log_tail)
