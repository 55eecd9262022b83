"""image-gallery: a Go web app built into a tiny image, calling the other two services by alias."""

from __future__ import annotations

import html

import pytest

from pytest_dockerbuild import (
    BuildResult,
    Container,
    HttpReady,
    Network,
    assert_no_build_tools,
    assert_path_exists,
    assert_size_under,
)


def test_final_image_is_at_least_ten_times_smaller_than_the_builder(
    gallery: BuildResult, gallery_builder: BuildResult
) -> None:
    comparison = gallery.image.compare(gallery_builder.image)
    assert comparison.size_ratio >= 10, str(comparison)
    assert_size_under(gallery, "30MB")


def test_final_image_has_the_binary_and_page_but_no_go(gallery: BuildResult, gallery_builder: BuildResult) -> None:
    assert gallery_builder.image.which("go") is not None
    assert_path_exists(gallery, "/web/server", type="file")
    assert gallery.image.file("/web/server").is_executable
    assert_path_exists(gallery, "/web/index.html", type="file")
    assert_no_build_tools(gallery)


def test_metadata(gallery: BuildResult) -> None:
    config = gallery.image.config
    assert config.env["IMAGE_API_URL"] == "http://iotd/image"
    assert config.env["ACCESS_API_URL"] == "http://accesslog/access-log"
    assert config.exposed_ports == ["80/tcp"]
    assert config.cmd == ["/web/server"]
    assert config.workdir == "/web"


@pytest.fixture(scope="module")
def services(
    dockerbuild_module_network: Network, iotd: BuildResult, accesslog: BuildResult, gallery: BuildResult
) -> dict[str, Container]:
    """The three apps on one user-defined network; only the gallery publishes a port."""
    net = dockerbuild_module_network
    started = {
        "iotd": net.run(iotd, aliases=["iotd"], ports=[80], wait=HttpReady("/health"), timeout=90),
        "accesslog": net.run(accesslog, aliases=["accesslog"], ports=[80], wait=HttpReady("/health")),
    }
    started["gallery"] = net.run(gallery, aliases=["gallery"], ports=[80], wait=HttpReady("/health"))
    return started


def test_gallery_page_shows_the_image_of_the_day(services: dict[str, Container]) -> None:
    image = services["iotd"].http.get("/image").json()
    page = services["gallery"].http.get("/")
    assert page.status_code == 200
    assert f'src="{image["url"]}"' in page.text
    assert image["caption"] in html.unescape(page.text)


def test_each_gallery_hit_is_counted_by_the_access_log(services: dict[str, Container]) -> None:
    before = services["accesslog"].http.get("/stats").json()["logs"]
    for hit in range(1, 4):
        assert services["gallery"].http.get("/").status_code == 200
        assert services["accesslog"].http.get("/stats").json()["logs"] == before + hit


def test_a_wrong_alias_is_named_in_the_gallery_error(dockerbuild_network: Network, gallery: BuildResult) -> None:
    lonely = dockerbuild_network.run(gallery, ports=[80], env={"IMAGE_API_URL": "http://no-such-alias/image"},
                                     wait=HttpReady("/health"))  # fmt: skip
    page = lonely.http.get("/")
    assert page.status_code == 502
    assert "http://no-such-alias/image" in page.text
