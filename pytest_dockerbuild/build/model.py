"""The result model of a build, the same for every backend: what was asked
(:class:`BuildRequest`), and what came of it (:class:`BuildResult`, with a
:class:`StageResult` per stage and a :class:`StepResult` per instruction)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_dockerbuild.build.options import BuildOptions
from pytest_dockerbuild.dockerfile import Dockerfile
from pytest_dockerbuild.engine.naming import image_labels
from pytest_dockerbuild.errors import DockerbuildError
from pytest_dockerbuild.image import Image, human_size

__all__ = ["BuildRequest", "BuildResult", "StageResult", "StepResult"]


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a context folder, a Dockerfile, a target stage and arguments."""

    context: Path
    dockerfile: Path  #: absolute
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    image_map: Mapping[str, str] = field(default_factory=dict)  #: normalized FROM image -> replacement
    backend: str = "classic"
    tag: str | None = None  #: an extra tag for the built image
    options: BuildOptions = field(default_factory=BuildOptions)  #: secrets, platform, cache control...

    @property
    def image_labels(self) -> dict[str, str]:
        """The labels of the built image: the request's and the plugin's (constant per context,
        so the layer cache is not disturbed)."""
        return {**self.labels, **image_labels(self.context)}

    def describe(self) -> str:
        try:
            shown = self.dockerfile.relative_to(Path.cwd())
        except ValueError:
            shown = self.dockerfile
        return f"{shown}" + (f" --target {self.target}" if self.target else "")


@dataclass
class StepResult:
    """One instruction of a build."""

    stage: str  #: the stage's name (or index for an unnamed stage)
    step: int  #: 1-based position within the stage; the FROM is step 1
    instruction: str  #: as written in the Dockerfile, e.g. ``RUN mvn -B package``
    line: int | None  #: 1-based Dockerfile line
    cached: bool | None  #: True if the layer cache was used; None for FROM (nothing to cache)
    seconds: float | None = None  #: wall time of the step, if known

    @property
    def keyword(self) -> str:
        return self.instruction.split(" ", 1)[0].upper()

    def __str__(self) -> str:
        state = {True: "cached", False: "built", None: "-"}[self.cached]
        return f"[{self.stage} {self.step}] {self.instruction} ({state})"


@dataclass
class StageResult:
    """One stage of the Dockerfile in a build: built, or skipped by the backend."""

    ref: str  #: name, or index for an unnamed stage
    index: int
    base: str  #: FROM as written (ARGs expanded)
    base_image: str  #: FROM after base-image substitution
    built: bool  #: False if the backend did not build it (not needed for the target)
    steps: list[StepResult] = field(default_factory=list)
    image_id: str | None = None  #: the stage's image, where the backend keeps one (classic)

    @property
    def cache_hits(self) -> int:
        return sum(1 for s in self.steps if s.cached)

    @property
    def cacheable_steps(self) -> int:
        """Steps that can come from the cache (FROM lines cannot)."""
        return sum(1 for s in self.steps if s.cached is not None)

    @property
    def cached(self) -> bool:
        """True if every cacheable step of the stage came from the layer cache."""
        return self.built and all(s.cached for s in self.steps if s.cached is not None)

    @property
    def seconds(self) -> float:
        return sum(s.seconds or 0.0 for s in self.steps)


@dataclass
class BuildResult:
    """A successful build: the image, its stages and steps, and the log."""

    request: BuildRequest
    key: str  #: the content key
    image: Image
    backend: str
    dockerfile: Dockerfile
    stages: list[StageResult]
    log: Sequence[str]  #: the last lines of the build log (all of them are in :attr:`log_file`)
    seconds: float
    reused: bool = False  #: True when an earlier run's image was reused (no steps known)
    shared: bool = False  #: True when another pytest-xdist worker of this run built it
    warnings: list[str] = field(default_factory=list)  #: what the build was given and did not use

    @property
    def steps(self) -> list[StepResult]:
        """All steps of the built stages, in the order the backend reported them."""
        return [step for stage in self.stages for step in stage.steps]

    @property
    def built_stages(self) -> list[str]:
        return [s.ref for s in self.stages if s.built]

    @property
    def skipped_stages(self) -> list[str]:
        return [s.ref for s in self.stages if not s.built]

    @property
    def target_stage(self) -> StageResult:
        """The stage that was built as the target (the last stage by default)."""
        return self.stage(self.request.target if self.request.target is not None else len(self.stages) - 1)

    def stage(self, ref: str | int) -> StageResult:
        """The result of stage ``ref`` (name or index)."""
        wanted = self.dockerfile.stage(ref).index
        return next(s for s in self.stages if s.index == wanted)

    def step(self, pattern: str, stage: str | None = None) -> StepResult:
        """The first step whose instruction contains ``pattern`` (a regex searched in it)."""
        self._require_steps()
        for step in self.steps:
            if (stage is None or step.stage == stage) and re.search(pattern, step.instruction):
                return step
        listing = "\n".join(f"  {s}" for s in self.steps)
        raise LookupError(f"no step matches {pattern!r} in the build of {self.request.describe()}:\n{listing}")

    @property
    def cache_hits(self) -> int:
        return sum(stage.cache_hits for stage in self.stages)

    @property
    def cacheable_steps(self) -> int:
        return sum(stage.cacheable_steps for stage in self.stages)

    @property
    def cache_ratio(self) -> float:
        """Cached steps / cacheable steps (FROM lines do not count); 1.0 when there is none."""
        self._require_steps()
        return self.cache_hits / self.cacheable_steps if self.cacheable_steps else 1.0

    def _require_steps(self) -> None:
        if self.reused:
            raise DockerbuildError(
                f"the build of {self.request.describe()} was reused from an earlier run, so its steps are "
                "unknown; build with reuse=False (or run with --dockerbuild-rebuild) to inspect steps and the cache"
            )

    @property
    def log_file(self) -> Path | None:
        """The file holding the whole build log (None for a reused image)."""
        return getattr(self.log, "path", None)

    def summary(self) -> str:
        state = "reused" if self.reused else f"{self.cache_hits}/{self.cacheable_steps} steps cached"
        state += ", built by another worker" if self.shared else ""
        return f"{self.request.describe()}: {human_size(self.image.size)}, {self.seconds:.1f} s, {state}"

    def __repr__(self) -> str:
        return f"<BuildResult {self.request.describe()} {self.image!r} {self.backend}>"
