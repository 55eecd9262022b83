"""The layer cache: only package.json / package-lock.json invalidate the npm install layer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_dockerbuild import Builder, assert_cached, assert_rebuilt

DEPENDENCIES = ["COPY package.json package-lock.json", "RUN npm install"]


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_changing_source_reuses_the_npm_layer(
    dockerbuild: Builder, project_copy: Callable[[str], Path], backend: str
) -> None:
    context = project_copy("access-log")
    dockerbuild.build(context, backend=backend, reuse=False)
    server = context / "src/server.js"
    server.write_text(server.read_text() + f"\n// a source change {uuid.uuid4()}\n")

    rebuilt = dockerbuild.build(context, backend=backend, reuse=False)
    assert_cached(rebuilt, *DEPENDENCIES)
    assert_rebuilt(rebuilt, "COPY src/")
    assert rebuilt.image.read_text("/app/server.js") == server.read_text()


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_changing_the_manifest_invalidates_the_npm_layer(
    dockerbuild: Builder, project_copy: Callable[[str], Path], backend: str
) -> None:
    context = project_copy("access-log")
    dockerbuild.build(context, backend=backend, reuse=False)
    manifest = context / "package.json"
    package = json.loads(manifest.read_text())
    package["description"] = f"a manifest change {uuid.uuid4()}"
    manifest.write_text(json.dumps(package, indent=2) + "\n")

    rebuilt = dockerbuild.build(context, backend=backend, reuse=False)
    assert_rebuilt(rebuilt, *DEPENDENCIES)
    assert_cached(rebuilt, "WORKDIR /src")
