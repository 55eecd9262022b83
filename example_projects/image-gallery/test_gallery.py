"""image-gallery: a Go web app built into a tiny image, calling the other two services by alias."""

from __future__ import annotations

import html

import pytest

from pytest_dockerbuild import (
    BuildResult,
    Container,
    HttpReady,
    Network,
    Stacks,
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


@pytest.fixture(scope="module", params=["network", "compose"])
def services(request: pytest.FixtureRequest) -> dict[str, Container]:
    """The three apps on one user-defined network, started one by one with the network fixture,
    or from ``example_projects/compose.yaml`` with the Compose fixture."""
    ready = {"iotd": HttpReady("/health"), "accesslog": HttpReady("/health")}
    if request.param == "compose":
        stack = request.getfixturevalue("dockerbuild_module_compose")("../compose.yaml", waits=ready, timeout=90)
        return {name: stack[name] for name in ("iotd", "accesslog", "gallery")}
    net: Network = request.getfixturevalue("dockerbuild_module_network")
    built = {name: request.getfixturevalue(name) for name in ("iotd", "accesslog", "gallery")}
    started = {name: net.run(built[name], aliases=[name], ports=[80], wait=ready[name], timeout=90) for name in ready}
    started["gallery"] = net.run(built["gallery"], aliases=["gallery"], ports=[80], wait=HttpReady("/health"))
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


def test_a_wrong_alias_is_named_in_the_gallery_error_through_compose(dockerbuild_compose: Stacks) -> None:
    """The same, with an override file over the stack's Compose file (``-f a.yml -f b.yml``)."""
    stack = dockerbuild_compose("../compose.yaml", "compose.wrong-alias.yaml")
    page = stack["gallery"].http.get("/")
    assert page.status_code == 502
    assert "http://no-such-alias/image" in page.text
