"""access-log: a Node service; npm install in a builder stage, node_modules copied to the app."""

from __future__ import annotations

from pytest_dockerbuild import BuildResult, HttpReady, Network, assert_no_build_tools, assert_path_exists


def test_builder_stage_installs_into_node_modules(accesslog_builder: BuildResult) -> None:
    assert_path_exists(accesslog_builder, "/src/node_modules", type="dir")
    assert_path_exists(accesslog_builder, "/src/package-lock.json", type="file")


def test_final_image_holds_the_app(accesslog: BuildResult) -> None:
    assert_path_exists(accesslog, "/app/server.js", type="file")
    assert_path_exists(accesslog, "/app/node_modules", type="dir")
    assert accesslog.image.which("node") is not None
    # The runtime base image ships npm with node; nothing else of a build toolchain.
    assert_no_build_tools(accesslog, allow=["npm"])


def test_metadata(accesslog: BuildResult) -> None:
    config = accesslog.image.config
    assert config.exposed_ports == ["80/tcp"]
    assert config.cmd == ["node", "server.js"]
    assert config.workdir == "/app"


def test_stats_count_the_hits(dockerbuild_network: Network, accesslog: BuildResult) -> None:
    service = dockerbuild_network.run(accesslog, aliases=["accesslog"], ports=[80], wait=HttpReady("/health"))
    assert service.http.get("/stats").json()["logs"] == 0
    for expected in (1, 2):
        answer = service.http.post("/access-log", json={"path": "/", "client": "test"})
        assert (answer.status_code, answer.json()) == (201, {"logs": expected})
    assert service.http.get("/stats").json()["logs"] == 2
    assert service.http.post("/access-log", data="{not json").status_code == 400
