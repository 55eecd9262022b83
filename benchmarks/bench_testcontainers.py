"""The scenario with testcontainers-python (run.py sets TESTCONTAINERS_RYUK_DISABLED=true)."""

import urllib.request

import docker.errors
import pytest
import scenario
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient
from testcontainers.core.image import DockerImage
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy

CONTEXT = scenario.context()


@pytest.fixture(scope="module")
def final():
    # clean_up=False: the default (with DockerImage(...)) removes the image and its
    # untagged parents at exit, and the next run would find no layer cache.
    return DockerImage(CONTEXT, tag=scenario.tag("tc", "final"), clean_up=False).build()


@pytest.fixture(scope="module")
def network():
    with Network() as net:
        yield net


@pytest.fixture(scope="module")
def web(final, network):
    container = (
        DockerContainer(str(final))
        .with_exposed_ports(80)
        .with_network(network)
        .with_network_aliases("web")
        .waiting_for(HttpWaitStrategy(80, "/"))
    )
    with container:
        yield container


def test_1_build_final_and_stage(final):
    builder = DockerImage(CONTEXT, tag=scenario.tag("tc", "builder"), clean_up=False, target="builder").build()
    assert final.short_id and builder.short_id != final.short_id


def test_2_read_file(final):
    output = DockerClient().run(str(final), ["cat", "/www/index.html"], remove=True)
    assert output.decode() == scenario.PAGE


def test_3_size_budget(final):
    assert final.get_wrapped_image().attrs["Size"] < scenario.SIZE_BUDGET


def test_4_failing_build_detected():
    failing = DockerImage(CONTEXT, tag=scenario.tag("tc", "failing"), dockerfile_path="Dockerfile.failing")
    with pytest.raises(docker.errors.BuildError, match="non-zero code: 1"):
        failing.build()


def test_5_published_port(web):
    url = f"http://{web.get_container_host_ip()}:{web.get_exposed_port(80)}/"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read().decode() == scenario.PAGE


def test_6_network_alias(final, network, web):
    with DockerContainer(str(final)).with_command(["sleep", "120"]).with_network(network) as client:
        code, output = client.exec(["sh", "-c", scenario.CLIENT_GET])
        assert code == 0 and scenario.served(output.decode())
