"""Builds a session declares, started together before the first test needs them.

The plugin collects what the tests say they will build (``@pytest.mark.dockerbuild_prebuild``
and the contracts' ``x-dockerbuild: {build: ...}``) and hands it to :class:`Prebuilds`,
which builds them concurrently in background threads through the builder's own path
(:meth:`~pytest_dockerbuild.build.builder.Builder.produce`): the same content key, the same
reuse rules, one outcome per key.  A test's call for the same image waits for that build
and takes its outcome (a failure too: it is this run's); a call with other arguments, or
``reuse=False``, builds for itself.  BuildKit runs the builds side by side, sharing the
stages they have in common.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_dockerbuild.errors import DockerbuildError

if TYPE_CHECKING:
    from pytest_dockerbuild.build.builder import Builder

__all__ = ["PrebuildSpec", "Prebuilds"]


@dataclass(frozen=True)
class PrebuildSpec:
    """One build a session declares: what a test's ``build(context, dockerfile, target=...,
    build_args=...)`` will ask for (an absolute ``context``)."""

    context: Path
    dockerfile: str | None = None
    target: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    backend: str | None = None
    where: str = field(default="", compare=False)  #: who declared it first (for a declaration that cannot start)

    @classmethod
    def of(
        cls, folder: Path, context: str, dockerfile: str | None = None, *, target: str | None = None,
        build_args: Mapping[str, str] | None = None, backend: str | None = None, where: str = "",
    ) -> PrebuildSpec:  # fmt: skip
        """A declaration whose ``context`` is relative to ``folder`` (the declaring file's)."""
        args = tuple(sorted((str(k), str(v)) for k, v in (build_args or {}).items()))
        return cls((folder / context).resolve(), dockerfile, target, args, backend, where)


@dataclass
class Prebuilds:
    """The session's declared builds, each in a thread of its own (daemon threads: an interrupted
    run does not wait for them, and the engine cancels a build whose connection goes)."""

    builder: Builder
    problems: list[str] = field(default_factory=list)  #: declarations that could not start, and why
    peak: int = 0  #: the most builds under way at once
    _threads: list[threading.Thread] = field(default_factory=list)
    _under_way: int = 0
    _count: threading.Lock = field(default_factory=threading.Lock)

    def start(self, specs: Iterable[PrebuildSpec]) -> None:
        """Start each distinct declaration (the builder's journal exists first: threads share it)."""
        unique = list(dict.fromkeys(specs))
        if not unique:
            return
        self.builder.engine.journal  # noqa: B018  (made once, here, before any thread writes to it)
        for spec in unique:
            thread = threading.Thread(target=self._build, args=(spec,), daemon=True,
                                      name=f"dockerbuild-prebuild-{spec.context.name}")  # fmt: skip
            self._threads.append(thread)
            thread.start()

    @property
    def started(self) -> int:
        return len(self._threads)

    def _build(self, spec: PrebuildSpec) -> None:
        with self._count:
            self._under_way += 1
            self.peak = max(self.peak, self._under_way)
        try:
            request, parsed = self.builder.prepare(
                spec.context, spec.dockerfile, target=spec.target, build_args=dict(spec.build_args), labels=None,
                image_map=None, backend=spec.backend, tag=None,
            )  # fmt: skip
            self.builder.produce(request, parsed)  # a failed build is an outcome too, kept for the test's call
        except DockerbuildError as error:  # a bad declaration: the test's own call says it, in its test
            self.problems.append(f"{spec.where or spec.context}: {str(error).splitlines()[0]}")
        except Exception as error:  # a thread must not die unheard (the test's call builds again)
            self.problems.append(f"{spec.where or spec.context}: {type(error).__name__}: {error}")
        finally:
            with self._count:
                self._under_way -= 1

    def running(self) -> int:
        """How many declared builds are still under way."""
        return sum(1 for thread in self._threads if thread.is_alive())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the declared builds (at the end of the run: their images are tagged and
        journalled before the clean-up); False if some are still under way after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.running() == 0
