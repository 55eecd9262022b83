"""Every example Dockerfile passes the plugin's static checks (no build needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dockerbuild import Builder

HERE = Path(__file__).parent
DOCKERFILES = sorted(p.relative_to(HERE) for p in HERE.glob("*/Dockerfile*"))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_passes_the_checks(dockerbuild: Builder, dockerfile: Path) -> None:
    assert dockerbuild.lint(HERE / dockerfile.parent, dockerfile.name) == []
