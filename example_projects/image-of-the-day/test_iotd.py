"""image-of-the-day: a Java service built with maven in a builder stage, run on a JRE."""

from __future__ import annotations

from pathlib import Path

from pytest_dockerbuild import Builder, BuildResult, HttpReady, Network, assert_no_build_tools, assert_path_exists

HERE = Path(__file__).parent
JAR = "/app/iotd-service-0.1.0.jar"


def test_builder_stage_has_the_toolchain(iotd_builder: BuildResult) -> None:
    assert iotd_builder.image.which("mvn") == "/usr/bin/mvn"
    assert iotd_builder.image.which("javac") == "/usr/bin/javac"
    assert_path_exists(iotd_builder, "/usr/src/iotd-service/target/iotd-service-0.1.0.jar", type="file")


def test_final_image_holds_the_jar_and_no_build_tools(iotd: BuildResult) -> None:
    assert_path_exists(iotd, JAR, type="file")
    assert iotd.image.which("java") == "/usr/bin/java"
    assert_no_build_tools(iotd)
    assert iotd.image.compare(iotd.image).added == []


def test_final_image_adds_only_the_jar_to_the_jre(dockerbuild: Builder, iotd: BuildResult) -> None:
    jre = dockerbuild.image(iotd.target_stage.base_image)
    assert iotd.image.compare(jre).added == ["/app", JAR]


def test_final_image_is_smaller_than_the_builder(iotd: BuildResult, iotd_builder: BuildResult) -> None:
    assert iotd.image.compare(iotd_builder.image).size_ratio > 1.3


def test_metadata(iotd: BuildResult) -> None:
    config = iotd.image.config
    assert config.exposed_ports == ["80/tcp"]
    assert config.entrypoint == ["java", "-jar", JAR]
    assert config.workdir == "/app"


def test_dependencies_resolve_in_their_own_layer_before_the_source(dockerbuild: Builder) -> None:
    builder = dockerbuild.dockerfile(HERE).stage("builder")
    order = [i.text for i in builder.instructions]
    assert order.index("COPY pom.xml .") < order.index("RUN mvn -B package && rm -rf target")
    assert order.index("RUN mvn -B package && rm -rf target") < order.index("COPY src ./src")


def test_image_endpoint_answers_json(dockerbuild_network: Network, iotd: BuildResult) -> None:
    service = dockerbuild_network.run(iotd, aliases=["iotd"], ports=[80], wait=HttpReady("/health"))
    response = service.http.get("/image")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert sorted(body) == ["caption", "copyright", "url"]
    assert body["url"].startswith("https://")
    assert service.http.post("/image").status_code == 405
