"""Image budgets: dive's efficiency figures, size and layer-count limits, a size baseline.

The efficiency figures follow dive 0.13's definitions, computed from the layer
tars of one ``docker save`` (:attr:`Image.filesystem_layers`), so they equal
what ``dive --ci`` reports for the same image:

- every *leaf* path of every layer (a file, link, empty folder or whiteout
  with nothing below it in that layer) is one occurrence of that path; its size
  is the tar size (0 for folders, links and hard links), a whiteout of a file
  counts 0 and a whiteout of a folder counts what the lower layers hold below it;
- ``efficiency = sum of each path's smallest occurrence / sum of all occurrences``
  (1.0 when nothing was counted);
- ``wasted_bytes`` = all occurrences of the paths that occur in two or more
  layers (the copy that survives included, as dive counts it);
- ``user_wasted_percent = wasted_bytes / size of every layer but the first``
  (a ratio, NaN for 0/0 and +inf for x/0, as dive computes it).

Like dive, opaque-folder markers (``.wh..wh..opq``) do not hide lower files here.
"""

from __future__ import annotations

import bisect
import json
import math
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock

from pytest_dockerbuild.image.files import LayerContents
from pytest_dockerbuild.image.image import Image
from pytest_dockerbuild.image.sizes import human_size, parse_size

__all__ = [
    "BaselineCheck",
    "Efficiency",
    "EfficiencyRules",
    "InefficientPath",
    "SizeBaseline",
    "analyze",
    "layer_count",
    "parse_ratio",
]

HISTORY = 20  #: points of a size baseline's history kept per name
DISABLED = {"", "disabled", "off", "false"}  #: dive's words for a rule that is switched off


@dataclass(frozen=True)
class InefficientPath:
    """A path that occurs in two or more layers."""

    path: str
    count: int  #: in how many layers it occurs
    cumulative_size: int  #: bytes of all its occurrences (dive's "wasted space" for it)


@dataclass(frozen=True)
class Efficiency:
    """dive's analysis of an image."""

    score: float  #: 0..1, dive's "efficiency"
    wasted_bytes: int
    user_wasted_percent: float  #: a ratio (0.1 = 10 %), dive's "userWastedPercent"
    size_bytes: int  #: sum of the layer sizes
    user_size_bytes: int  #: sum of the sizes of every layer but the first
    layer_sizes: list[int]
    inefficient: list[InefficientPath]  #: biggest first

    def summary(self) -> str:
        return (
            f"efficiency {self.score:.4%}, wasted {self.wasted_bytes} bytes ({human_size(self.wasted_bytes)}), "
            f"userWastedPercent {self.user_wasted_percent:.4%}"
        )


def _tar_size(kind: str, size: int) -> int:
    return size if kind == "file" else 0  # hard links, links and folders are 0 in the tar header


def _under(paths: list[str], folder: str) -> list[str]:
    """The paths below ``folder`` in a sorted list."""
    prefix = folder.rstrip("/") + "/"
    start = bisect.bisect_left(paths, prefix)
    end = bisect.bisect_left(paths, prefix[:-1] + "0")  # "0" sorts right after "/"
    return paths[start:end]


def analyze(layers: Sequence[LayerContents]) -> Efficiency:
    """dive's efficiency figures for an image's filesystem layers (oldest first)."""
    cumulative: dict[str, int] = {}
    smallest: dict[str, int] = {}
    count: dict[str, int] = {}
    stacked: dict[str, tuple[str, int]] = {}  # the merged view of the layers below: path -> (type, tar size)
    for layer in layers:
        below = sorted(stacked)  # to find what lies under a folder without scanning every path
        nodes: dict[str, int] = {}  # this layer's nodes: path -> size of the occurrence
        gone: list[str] = []
        for path in layer.whiteouts:
            under = _under(below, path)
            gone.append(path)
            gone.extend(under)
            lower = stacked.get(path)
            nodes[path] = sum(stacked[p][1] for p in under) if lower is not None and lower[0] == "dir" else 0
        for entry in layer.entries:
            nodes[entry.path] = _tar_size(entry.type, entry.size)
        parents: set[str] = set()
        for path in nodes:
            parent = posixpath.dirname(path)
            while parent not in parents:
                parents.add(parent)
                if parent == "/":
                    break
                parent = posixpath.dirname(parent)
        for path, size in nodes.items():
            if path in parents or path == "/":
                continue  # not a leaf of this layer's tree
            cumulative[path] = cumulative.get(path, 0) + size
            smallest[path] = min(smallest.get(path, size), size)
            count[path] = count.get(path, 0) + 1
        for path in gone:
            stacked.pop(path, None)
        for entry in layer.entries:
            stacked[entry.path] = (entry.type, _tar_size(entry.type, entry.size))
    total = sum(cumulative.values())
    score = sum(smallest.values()) / total if total else 1.0
    inefficient = sorted(
        (InefficientPath(p, count[p], cumulative[p]) for p in cumulative if count[p] >= 2),
        key=lambda item: (-item.cumulative_size, item.path),
    )
    wasted = sum(item.cumulative_size for item in inefficient)
    sizes = [layer.size for layer in layers]
    user = sum(sizes[1:])
    if user:
        ratio = wasted / user
    else:
        ratio = math.nan if wasted == 0 else math.inf
    return Efficiency(score, wasted, ratio, sum(sizes), user, sizes, inefficient)


def parse_ratio(value: object, what: str) -> float | None:
    """A ratio 0..1 (``0.9``), or None for dive's "disabled" words."""
    text = str(value).strip()
    if text.lower() in DISABLED:
        return None
    try:
        ratio = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a ratio between 0 and 1 (or 'disabled')") from None
    if not 0 <= ratio <= 1:
        raise ValueError(f"{what}: {text!r} is outside 0..1 (a ratio: 0.1 means 10 %)")
    return ratio


def _parse_bytes(value: object, what: str) -> int | None:
    text = str(value).strip()
    if text.lower() in DISABLED:
        return None
    try:
        return parse_size(text)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


@dataclass(frozen=True)
class EfficiencyRules:
    """dive's CI rules; None switches a rule off.  The defaults are dive's."""

    lowest_efficiency: float | None = 0.9
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = 0.1

    @classmethod
    def from_mapping(cls, rules: Mapping[str, Any], where: str) -> EfficiencyRules:
        """From dive's camelCase keys (``lowestEfficiency``, ``highestWastedBytes``,
        ``highestUserWastedPercent``); a key left out keeps dive's default."""
        defaults = cls()
        return cls(
            lowest_efficiency=parse_ratio(rules["lowestEfficiency"], f"{where}.lowestEfficiency")
            if "lowestEfficiency" in rules
            else defaults.lowest_efficiency,
            highest_wasted_bytes=_parse_bytes(rules["highestWastedBytes"], f"{where}.highestWastedBytes")
            if "highestWastedBytes" in rules
            else defaults.highest_wasted_bytes,
            highest_user_wasted_percent=parse_ratio(
                rules["highestUserWastedPercent"], f"{where}.highestUserWastedPercent"
            )
            if "highestUserWastedPercent" in rules
            else defaults.highest_user_wasted_percent,
        )

    def evaluate(self, efficiency: Efficiency) -> list[str]:
        """The failed rules, one message each (dive's strict comparisons)."""
        failures = []
        if self.lowest_efficiency is not None and self.lowest_efficiency > efficiency.score:
            failures.append(
                f"lowestEfficiency: image efficiency is too low "
                f"(efficiency={efficiency.score!r} < threshold={self.lowest_efficiency!r})"
            )
        if self.highest_wasted_bytes is not None and efficiency.wasted_bytes > self.highest_wasted_bytes:
            failures.append(
                f"highestWastedBytes: too many bytes wasted (wasted-bytes={efficiency.wasted_bytes} "
                f"> threshold={self.highest_wasted_bytes})"
            )
        if (
            self.highest_user_wasted_percent is not None
            and efficiency.user_wasted_percent > self.highest_user_wasted_percent
        ):
            failures.append(
                f"highestUserWastedPercent: too many bytes wasted, relative to the user bytes added "
                f"(%-user-wasted-bytes={efficiency.user_wasted_percent!r} "
                f"> threshold={self.highest_user_wasted_percent!r})"
            )
        return failures


def layer_count(image: Image) -> int:
    """Filesystem layers of an image (``RootFS.Layers``), without exporting it."""
    return len((image.attrs.get("RootFS") or {}).get("Layers") or [])


def parse_tolerance(value: str) -> float:
    """``"5%"`` or ``"0.05"`` -> 0.05."""
    text = str(value).strip()
    try:
        tolerance = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"tolerance {text!r}: write e.g. '5%' or '0.05'") from None
    if tolerance < 0:
        raise ValueError(f"tolerance {text!r} is negative")
    return tolerance


@dataclass(frozen=True)
class BaselineCheck:
    """How an image compares with its recorded size and layer count."""

    name: str
    size: int
    layers: int
    recorded_size: int | None
    recorded_layers: int | None
    size_problem: str | None
    layers_problem: str | None


class SizeBaseline:
    """Recorded sizes and layer counts of images, and their recent history (a JSON file: name ->
    ``{"size": bytes, "layers": count, "history": [{"size", "layers", "time", "image"}]}``; files
    of the older format, without ``history``, load as they are).

    :meth:`check` compares an image with its record and fails when it grew past
    ``tolerance`` (a fraction of the recorded value); with ``update``, nothing
    fails and :meth:`save` writes the measured values back (merged under a file
    lock, so parallel workers may save), with one point more in each name's history (the
    last ``history`` points are kept, 0 keeps none).  Points of one ``run`` (e.g. the
    pytest-xdist workers of one test run) are one point.
    """

    def __init__(
        self, path: str | Path, tolerance: float = 0.05, update: bool = False, history: int = HISTORY,
        run: str | None = None,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.tolerance = tolerance
        self.update = update
        self.history = history
        self.run = run
        self.measured: dict[str, dict[str, int]] = {}
        self._points: dict[str, dict[str, Any]] = {}  # this run's history points, not saved yet
        self.recorded = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text() or "{}")
        except json.JSONDecodeError as error:
            raise ValueError(f"size baseline {str(self.path)!r} is not JSON: {error}") from None
        if not isinstance(data, dict) or not all(_is_record(v) for v in data.values()):
            raise ValueError(
                f'size baseline {str(self.path)!r} must map image names to {{"size": bytes, "layers": count}} '
                f'(and optionally "history": [{{"size": bytes, "layers": count, "time": ...}}])'
            )
        return data

    def check(self, name: str, image: Image) -> BaselineCheck:
        size, layers = image.size, layer_count(image)
        self.measured[name] = {"size": size, "layers": layers}
        self._points[name] = {"size": size, "layers": layers, "time": _now(), "image": image.id}
        if self.run is not None:
            self._points[name]["run"] = self.run
        record = self.recorded.get(name)
        size_problem = layers_problem = None
        if record is not None and not self.update:
            limit = record["size"] * (1 + self.tolerance)
            if size > limit:
                size_problem = (
                    f"size {size} bytes ({human_size(size)}) grew past the baseline "
                    f"{record['size']} bytes ({human_size(record['size'])}) + {self.tolerance:.0%} "
                    f"(+{size - record['size']} bytes) in {str(self.path)!r}"
                )
            if layers > record["layers"] * (1 + self.tolerance):
                layers_problem = (
                    f"{layers} layers grew past the baseline {record['layers']} + {self.tolerance:.0%} "
                    f"in {str(self.path)!r}"
                )
        return BaselineCheck(
            name, size, layers,
            record["size"] if record else None, record["layers"] if record else None,
            size_problem, layers_problem,
        )  # fmt: skip

    def trends(self) -> dict[str, dict[str, Any]]:
        """The records as the file holds them now with this run's points added (as :meth:`save`
        will write them): name -> ``{"size", "layers", "history"}``, the oldest point first."""
        return self._merged(self._read())

    def _merged(self, current: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        merged = {name: dict(record) for name, record in current.items()}
        for name, point in self._points.items():
            if name not in merged and not self.update:
                continue  # no record: nothing is written without update
            record = merged.setdefault(name, {})
            if self.update:
                record.update(self.measured[name])
            if self.history > 0:
                history = list(record.get("history", []))
                if history and point.get("run") is not None and history[-1].get("run") == point["run"]:
                    history.pop()  # another worker of this run saved it already
                record["history"] = [*history, point][-self.history :]
        return merged

    def save(self) -> None:
        """With ``update``: write the measured values and this run's history points, keeping the
        other records.  Without it nothing is written: a baseline file kept in the repository
        changes only when asked (the report still shows this run's point)."""
        if not self.update or not self._points:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            current = self._merged(self._read())
            self.path.write_text(json.dumps(dict(sorted(current.items())), indent=2) + "\n")
        self._points.clear()
        self.recorded = current


def _is_record(value: object) -> bool:
    """``{"size": int, "layers": int}``, with an optional ``history`` of such points."""
    if not (isinstance(value, dict) and isinstance(value.get("size"), int) and isinstance(value.get("layers"), int)):
        return False
    history = value.get("history", [])
    return isinstance(history, list) and all(
        isinstance(p, dict) and isinstance(p.get("size"), int) and isinstance(p.get("layers"), int) for p in history
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
