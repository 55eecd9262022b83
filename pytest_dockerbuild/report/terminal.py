"""The size breakdown as text bars, for the summary of a run with ``-v``."""

from __future__ import annotations

from typing import Any

from pytest_dockerbuild.image.sizes import human_size

__all__ = ["size_bars"]

WIDTH = 30  #: characters of the largest bar


def size_bars(image: dict[str, Any], width: int = WIDTH) -> list[str]:
    """One line per layer with bytes: a bar proportional to its size, its size, its instruction."""
    layers = image.get("layers") or []
    if not layers:
        return []
    largest = max(int(layer["size"]) for layer in layers) or 1
    lines = []
    for layer in layers:
        cells = round(width * int(layer["size"]) / largest)
        bar = "#" * cells if cells or not layer["size"] else "."
        instruction = layer["instruction"] if len(layer["instruction"]) <= 60 else layer["instruction"][:57] + "..."
        lines.append(f"{bar:<{width}} {human_size(layer['size']):>9}  {instruction}")
    return lines
