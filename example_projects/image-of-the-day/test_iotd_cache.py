"""The layer cache: only the manifest (pom.xml) invalidates the dependency layer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_dockerbuild import Builder, assert_cached, assert_rebuilt

DEPENDENCIES = ["COPY pom.xml", r"RUN mvn -B package && rm -rf target"]


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_changing_source_reuses_the_dependency_layer(
    dockerbuild: Builder, project_copy: Callable[[str], Path], backend: str
) -> None:
    context = project_copy("image-of-the-day")
    dockerbuild.build(context, target="builder", backend=backend, reuse=False)
    source = context / "src/main/java/iotd/ImageOfTheDayServer.java"
    source.write_text(source.read_text() + f"\n// a source change {uuid.uuid4()}\n")

    rebuilt = dockerbuild.build(context, target="builder", backend=backend, reuse=False)
    assert_cached(rebuilt, *DEPENDENCIES)
    assert_rebuilt(rebuilt, "COPY src", r"RUN mvn -B package$")


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_changing_the_pom_invalidates_the_dependency_layer(
    dockerbuild: Builder, project_copy: Callable[[str], Path], backend: str
) -> None:
    context = project_copy("image-of-the-day")
    dockerbuild.build(context, target="builder", backend=backend, reuse=False)
    pom = context / "pom.xml"
    pom.write_text(pom.read_text().replace("</project>", f"  <!-- a manifest change {uuid.uuid4()} -->\n</project>"))

    rebuilt = dockerbuild.build(context, target="builder", backend=backend, reuse=False)
    assert_cached(rebuilt, "WORKDIR")
    assert_rebuilt(rebuilt, *DEPENDENCIES)
    assert rebuilt.cache_ratio < 0.5
