"""The scenario with pytest-docker-tools' fixture factories."""

import docker.errors
import pytest
import requests
import scenario
from pytest_docker_tools import build, container, network

CONTEXT = str(scenario.context())

final = build(path=CONTEXT, tag=scenario.tag("pdt", "final"), stages={"builder": scenario.tag("pdt", "builder")})
net = network(scope="module")
web = container(
    scope="module",
    image="{final.id}",
    network="{net.name}",
    networking_config={"{net.name}": {"Aliases": ["web"]}},
    ports={"80/tcp": None},
)
client = container(scope="module", image="{final.id}", network="{net.name}", command=["sleep", "120"])


def test_1_build_final_and_stage(final, docker_client):
    builder = docker_client.images.get(scenario.tag("pdt", "builder"))
    assert final.id and builder.id != final.id


def test_2_read_file(final, docker_client):
    assert docker_client.containers.run(final.id, ["cat", "/www/index.html"], remove=True).decode() == scenario.PAGE


def test_3_size_budget(final):
    assert final.attrs["Size"] < scenario.SIZE_BUDGET


def test_4_failing_build_detected(docker_client):
    with pytest.raises(docker.errors.BuildError, match="non-zero code: 1"):
        docker_client.images.build(path=CONTEXT, dockerfile="Dockerfile.failing", rm=True)


def test_5_published_port(web):
    port = web.ports["80/tcp"][0]
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).text == scenario.PAGE


def test_6_network_alias(web, client):
    code, output = client.exec_run(["sh", "-c", scenario.CLIENT_GET])
    assert code == 0 and scenario.served(output.decode())
