"""The scenario with pytest-dockerbuild (run.py picks the backend: --dockerbuild-backend)."""

import pytest
import scenario

from pytest_dockerbuild import HttpReady, assert_size_under

CONTEXT = scenario.context()

# The builds the tests will ask for, started together before the first test.
pytestmark = [
    pytest.mark.dockerbuild_prebuild(str(CONTEXT)),
    pytest.mark.dockerbuild_prebuild(str(CONTEXT), target="builder"),
    pytest.mark.dockerbuild_prebuild(str(CONTEXT), "Dockerfile.failing"),
]


@pytest.fixture(scope="module")
def final(dockerbuild):
    return dockerbuild.build(CONTEXT)


@pytest.fixture(scope="module")
def web(dockerbuild_module_network, final):
    return dockerbuild_module_network.run(final, aliases=["web"], ports=[80], wait=HttpReady("/"))


def test_1_build_final_and_stage(dockerbuild, final):
    builder = dockerbuild.build(CONTEXT, target="builder")
    assert final.image.id and builder.image.id != final.image.id


def test_2_read_file(final):
    assert final.image.read_text("/www/index.html") == scenario.PAGE


def test_3_size_budget(final):
    assert_size_under(final, scenario.SIZE_BUDGET)


def test_4_failing_build_detected(dockerbuild):
    dockerbuild.expect_failure(CONTEXT, "Dockerfile.failing", stage="test", exit_code=1)


def test_5_published_port(web):
    assert web.http.get("/").text == scenario.PAGE


def test_6_network_alias(dockerbuild_module_network, web, final):
    # a one-shot container (the plugin's way for a probe): started, waited for, removed
    answer = dockerbuild_module_network.run_once(final, ["sh", "-c", scenario.CLIENT_GET]).check()
    assert scenario.served(answer.stdout)
