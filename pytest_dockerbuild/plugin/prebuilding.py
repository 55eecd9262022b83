"""The builds a session's tests declare, gathered after collection and started before the first
test (:mod:`pytest_dockerbuild.build.prebuild` builds them).

A test declares one with ``@pytest.mark.dockerbuild_prebuild(context, dockerfile=None, *,
target=None, build_args=None, backend=None)`` (the arguments of the ``build()`` call it will
make; a relative context is read from the test file's folder, as ``build()`` reads it), on
the test, its class or its module (``pytestmark``); an image contract declares its
``x-dockerbuild: {build: ...}``.  Only the selected tests' declarations count (``-k``,
``-m``, deselection); ``--collect-only``, ``--dockerbuild-no-prebuild`` and
``dockerbuild_prebuild = false`` start none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from pytest_dockerbuild.build.prebuild import PrebuildSpec
from pytest_dockerbuild.plugin.contract_items import ContractItem
from pytest_dockerbuild.plugin.session import Session

__all__ = ["MARKER", "declared", "start", "summary"]

MARKER = (
    "dockerbuild_prebuild(context, dockerfile=None, *, target=None, build_args=None, backend=None): an image "
    "this test builds, started with the session's other declared builds before the first test"
)


def declared(items: Iterable[pytest.Item], session: Session) -> list[PrebuildSpec]:
    """The builds ``items`` declare, in order, once each; a malformed marker is a usage error."""
    specs: list[PrebuildSpec] = []
    for item in items:
        folder = item.path.parent
        for mark in item.iter_markers("dockerbuild_prebuild"):
            specs.append(_from_marker(mark, item))
        if isinstance(item, ContractItem):
            extension = item.contract_file.contract.extension
            build = extension.build
            if build is not None and not extension.image and extension.name not in session.options.images:
                specs.append(PrebuildSpec.of(folder, str(build.context), build.dockerfile, target=build.target,
                                             build_args=build.args, where=item.nodeid))  # fmt: skip
    return list(dict.fromkeys(specs))


def _from_marker(mark: pytest.Mark, item: pytest.Item) -> PrebuildSpec:
    args: Sequence[object] = mark.args
    if not 1 <= len(args) <= 2 or not all(isinstance(a, str) for a in args):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.dockerbuild_prebuild takes the context folder and, "
                                f"optionally, the Dockerfile, as strings (got {args!r})")  # fmt: skip
    unknown = set(mark.kwargs) - {"target", "build_args", "backend"}
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.dockerbuild_prebuild does not take "
                                f"{', '.join(sorted(unknown))} (it takes target, build_args and backend)")  # fmt: skip
    context, dockerfile = str(args[0]), (str(args[1]) if len(args) > 1 else None)
    return PrebuildSpec.of(item.path.parent, context, dockerfile, target=mark.kwargs.get("target"),
                           build_args=mark.kwargs.get("build_args"), backend=mark.kwargs.get("backend"),
                           where=item.nodeid)  # fmt: skip


def start(session: pytest.Session) -> None:
    """After collection: start the selected tests' declared builds (none without an engine: the
    tests say why)."""
    state = Session.of(session.config)
    if session.config.option.collectonly or not state.options.prebuild:
        return
    specs = declared(session.items, state)
    if specs:
        state.prebuild(specs)


def summary(reporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """How many declared builds started before the first test, and the declarations that could not."""
    prebuilds = Session.of(config).prebuilds
    if prebuilds is None or not prebuilds.started:
        return
    reporter.write_line(f"dockerbuild: {prebuilds.started} declared builds started before the first test "
                        f"(up to {prebuilds.peak} at once)")  # fmt: skip
    for problem in prebuilds.problems:
        reporter.write_line(f"dockerbuild: declared build not started: {problem}", yellow=True)
