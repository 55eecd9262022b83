"""The package's shape, checked so that it cannot drift: imports flow one way (no cycle, no
import hidden in a function), modules and functions stay small, the README's layout section
names every module, and a backend is one module plus one registry line."""

from __future__ import annotations

import ast
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from helpers import MakeContext

import pytest_dockerbuild
from pytest_dockerbuild import Builder, StageResult
from pytest_dockerbuild.build import registry
from pytest_dockerbuild.build.backend import BuildJob, BuildOutput, dockerignore, read_patterns
from pytest_dockerbuild.build.model import BuildRequest
from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.engine.client import Engine
from pytest_dockerbuild.engine.naming import project_id
from pytest_dockerbuild.errors import BackendUnavailable

PACKAGE = Path(pytest_dockerbuild.__file__).parent
README = PACKAGE.parent / "README.md"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def runtime_imports(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports when it is imported (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not _type_checking_only(node, parents):
            base = node.module if node.level == 0 else ".".join([*name.split(".")[: -node.level], node.module])
            found |= {f"{base}.{alias.name}" for alias in node.names} | {base}
        elif isinstance(node, ast.Import) and not _type_checking_only(node, parents):
            found |= {alias.name for alias in node.names}
    known = dict(modules())
    targets = {target for target in found if target in known}
    own = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")) + 1)}
    for target in list(targets):  # importing a.b.c runs a/__init__ and a/b/__init__ first (not one's own)
        parts = target.split(".")
        targets |= {".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in known}
    return targets - own


def test_no_import_cycle() -> None:
    graph = {name: runtime_imports(name, path) for name, path in modules()}
    # a package's __init__ that re-exports its modules imports them; the modules importing their
    # package's __init__ back is what makes a cycle
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for neighbour in sorted(graph.get(node, ())):
            if state.get(neighbour) == 1:
                cycles.append([*trail[trail.index(neighbour) :], neighbour])
            elif neighbour not in state:
                visit(neighbour, [*trail, neighbour])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_no_import_inside_a_function() -> None:
    """An import in a function hides a dependency (or a cycle); a stated reason is a comment
    ``# import here: <reason>`` on its line."""
    hidden = []
    for name, path in modules():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if (
                        isinstance(inner, (ast.Import, ast.ImportFrom))
                        and "# import here:" not in lines[inner.lineno - 1]
                    ):
                        hidden.append(f"{name}:{inner.lineno}")
    assert hidden == []


def test_modules_and_functions_are_small() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules()}
    big = [f"{name}: {lines} lines" for name, lines in sizes.items() if lines > MAX_MODULE_LINES]
    long = []
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert (big, long) == ([], [])


def test_the_readme_layout_names_every_module() -> None:
    """The README's "Repository layout" section lists each module of the package as `path/module.py`."""
    section = README.read_text().split("## Repository layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(pytest_dockerbuild/[\w/]+\.py)`", section))
    actual = {path.relative_to(PACKAGE.parent).as_posix() for _, path in modules()}
    assert sorted(actual - listed) == [] and sorted(listed - actual) == []


def test_the_public_api_is_sorted_and_complete() -> None:
    public = sorted(name for name in dir(pytest_dockerbuild) if not name.startswith("_") and name[0].isupper())
    assert pytest_dockerbuild.__all__ == sorted(pytest_dockerbuild.__all__)
    assert set(public) <= set(pytest_dockerbuild.__all__)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", pytest_dockerbuild.__version__)


def test_a_moved_name_still_imports_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="import it from pytest_dockerbuild.engine.client"):
        assert pytest_dockerbuild.Engine is Engine


# -- a backend is one module and one registry line ------------------------------------------------
class FakeBackend:
    """A backend that builds nothing: it answers with the base image (selection and error paths only;
    real builds are tested on the engine)."""

    name: ClassVar[str] = "fake"
    supported: ClassVar[frozenset[str]] = frozenset()
    why_not: str | None = None
    jobs: ClassVar[list[BuildJob]] = []

    def unavailable(self) -> str | None:
        return self.why_not

    def environment(self) -> dict[str, str]:
        return {"FAKE_BACKEND_SETTING": os.environ.get("FAKE_BACKEND_SETTING", "")}

    def ignore_patterns(self, context: Path, dockerfile: Path) -> list[str]:
        return read_patterns(dockerignore(context))

    def unrepeatable(self, request: BuildRequest, dockerfile: Dockerfile) -> list[str]:
        return []

    def build(self, job: BuildJob) -> BuildOutput:
        """An image of its own on the base, whatever the Dockerfile says."""
        self.jobs.append(job)
        base = job.dockerfile.stages[-1].base
        text = f"FROM {job.request.image_map.get(f'{base}:latest', base)}\nLABEL fake=yes job={job.key}\n"
        image = job.engine.client.images.build(fileobj=io.BytesIO(text.encode()), rm=True)[0]
        image.tag(job.pending_tag)  # as the protocol says: the builder tags it by its key
        job.engine.journal.created_image(image.id)  # and, as a backend does, journals what it made
        return BuildOutput(image.id, [StageResult("0", 0, base, base, True)], 0.0)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    backend = FakeBackend()
    FakeBackend.jobs.clear()
    monkeypatch.setattr(registry, "BACKENDS", {"fake": backend, **registry.BACKENDS})
    return backend


def test_a_registered_backend_is_chosen_by_name_and_first_for_auto(fake: FakeBackend) -> None:
    assert "fake" in registry.choices()
    assert registry.select("fake") is fake
    assert registry.select("auto") is fake
    fake.why_not = "it is switched off"
    assert registry.select("auto") is not fake  # the next one that works
    with pytest.raises(BackendUnavailable, match="the 'fake' backend cannot be used: it is switched off"):
        registry.select("fake")


def test_an_unknown_backend_names_the_choices(fake: FakeBackend) -> None:
    with pytest.raises(BackendUnavailable, match="no such backend; use one of auto, fake, buildkit, classic"):
        registry.select("podman")


def test_the_builder_hands_a_job_to_the_backend(
    fake: FakeBackend, dockerbuild_engine: Engine, make_context: MakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = Builder(dockerbuild_engine, {"diamol/base": "dockerbuild-offline/base:bookworm"}, backend="fake")
    context = make_context("FROM diamol/base\nRUN false\n")
    result = builder.build(context, reuse=False)
    assert result.backend == "fake" and result.image.config.labels["fake"] == "yes"
    assert result.image.tags == [f"pytest-dockerbuild/{project_id(context)}:final-k{result.key[:16]}"]
    job = FakeBackend.jobs[-1]
    assert (job.request.backend, job.key, job.dockerfile.path) == ("fake", result.key, context / "Dockerfile")
    monkeypatch.setenv("FAKE_BACKEND_SETTING", "1")  # what the backend says it reads is in the key
    assert builder.build(context, reuse=False).key != result.key


class ChangingBackend(FakeBackend):
    """A backend during whose build a context file changes (as an editor or a generator might)."""

    def build(self, job: BuildJob) -> BuildOutput:
        (job.request.context / "data.txt").write_text(f"changed during the build {len(self.jobs)}")
        return super().build(job)


def test_an_image_whose_inputs_changed_during_its_build_gets_no_key(
    dockerbuild_engine: Engine, make_context: MakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    changing = ChangingBackend()
    monkeypatch.setattr(registry, "BACKENDS", {"fake": changing, **registry.BACKENDS})
    image_map = {"diamol/base": "dockerbuild-offline/base:bookworm"}
    context = make_context("FROM diamol/base\n", files={"data.txt": "before"})
    result = Builder(dockerbuild_engine, image_map, backend="fake").build(context)
    key = f"pytest-dockerbuild/{project_id(context)}:final-k{result.key[:16]}"
    assert key not in result.image.tags, "the image is no key's: it is not tagged by one"
    assert result.image.tags == [f"pytest-dockerbuild/{project_id(context)}:final-pending-k{result.key[:16]}"]
    again = Builder(dockerbuild_engine, image_map, backend="fake").build(context)  # the next run
    assert not again.reused
