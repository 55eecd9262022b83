"""Dockerfiles collected as pytest items (``--dockerbuild-lint``): one item per file that
fails with the static checks' findings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.errors import DockerbuildError, DockerfileChecksFailed
from pytest_dockerbuild.lint import check_dockerfile

__all__ = ["DockerfileFile", "DockerfileItem"]


class DockerfileItem(pytest.Item):
    """One collected Dockerfile (``--dockerbuild-lint``): passes when the checks find nothing."""

    def __init__(self, *, image_map: Mapping[str, str], ignore: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_map = dict(image_map)
        self.ignore = list(ignore)
        self.funcargs: dict[str, object] = {}  # as pytest's doctest items: some plugins expect it
        self.add_marker("dockerbuild_lint")

    def runtest(self) -> None:
        findings = check_dockerfile(Dockerfile.load(self.path), image_map=self.image_map, ignore=self.ignore)
        if findings:
            raise DockerfileChecksFailed(findings)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, DockerfileChecksFailed):
            lines = [str(finding) for finding in excinfo.value.findings]
            hint = "silence one with '# dockerbuild ignore=RULE' above the instruction, or dockerbuild_lint_ignore"
            return "\n".join([*lines, f"({hint})"])
        if isinstance(excinfo.value, DockerbuildError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"dockerfile checks: {self.path.name}"


class DockerfileFile(pytest.File):
    """A Dockerfile collected for the static checks."""

    def __init__(self, *, image_map: Mapping[str, str], ignore: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_map = dict(image_map)
        self.ignore = list(ignore)

    def collect(self) -> Iterator[DockerfileItem]:
        yield DockerfileItem.from_parent(self, name="dockerfile-checks", image_map=self.image_map, ignore=self.ignore)
