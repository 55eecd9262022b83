"""Sizes in bytes: read from what people write (``"30MB"``, ``"1.5 GiB"``) and written for
people to read (``26.1 MB``, as ``docker images`` prints them)."""

from __future__ import annotations

import re

__all__ = ["human_size", "parse_size"]

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip


def parse_size(size: int | float | str) -> int:
    """Bytes from ``123``, ``"30MB"`` (10**6), ``"30 MiB"`` (2**20), ``"1.5GB"``."""
    if isinstance(size, (int, float)):
        return round(size)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", size)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read {size!r} as a size; use bytes or e.g. '30MB', '30MiB', '1.5GB'")
    return round(float(match.group(1)) * _UNITS[match.group(2).lower()])


def human_size(size: float) -> str:
    """``26.1 MB`` style (SI units, as ``docker images`` prints)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover
