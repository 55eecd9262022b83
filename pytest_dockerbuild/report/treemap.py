"""The folder treemap of an image's final file tree: the bytes of its regular files summed per
top-level folder and per folder below it, drawn as nested rectangles with the biggest named."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pytest_dockerbuild.image.files import FileEntry
from pytest_dockerbuild.image.sizes import human_size

__all__ = ["folder_sizes", "treemap"]

WIDTH, HEIGHT = 900, 140


def folder_sizes(files: Mapping[str, FileEntry], top: int = 8, below: int = 6) -> list[dict[str, Any]]:
    """``[{"path", "size", "children": [{"path", "size"}]}]``: the ``top`` biggest top-level
    folders (files at the root count as ``/``), each with its ``below`` biggest folders or files
    one level down; the rest of each level summed as ``(other)``."""
    first: dict[str, int] = {}
    second: dict[str, dict[str, int]] = {}
    for path, entry in files.items():
        if entry.type != "file" or not entry.size:
            continue
        parts = path.strip("/").split("/")
        head = "/" + parts[0] if len(parts) > 1 else "/"
        first[head] = first.get(head, 0) + entry.size
        child = head + "/" + parts[1] if len(parts) > 1 else path
        level = second.setdefault(head, {})
        level[child] = level.get(child, 0) + entry.size
    return [
        {"path": head, "size": size, "children": _biggest(second[head], below)}
        for head, size in _biggest_pairs(first, top)
    ]


def _biggest_pairs(sizes: Mapping[str, int], count: int) -> list[tuple[str, int]]:
    ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ranked[:count]
    rest = sum(size for _, size in ranked[count:])
    return shown + ([("(other)", rest)] if rest else [])


def _biggest(sizes: Mapping[str, int], count: int) -> list[dict[str, Any]]:
    return [{"path": path, "size": size} for path, size in _biggest_pairs(sizes, count)]


def treemap(folders: Sequence[dict[str, Any]]) -> str:
    """Columns per top-level folder (widths proportional to bytes), split into their biggest
    children (heights proportional); each rectangle carries ``data-path`` and ``data-bytes``."""
    total = sum(int(folder["size"]) for folder in folders)
    if not total:
        return '<p class="none">no file with bytes</p>'
    out = [f'<svg class="treemap" width="{WIDTH}" height="{HEIGHT + 2}" role="img">']
    x = 0.0
    for folder in folders:
        width = WIDTH * int(folder["size"]) / total
        out.append(_box(folder, x, 0.0, width, 18.0, "folder"))
        y, children_total = 18.0, sum(int(child["size"]) for child in folder["children"]) or 1
        for child in folder["children"]:
            height = (HEIGHT - 18) * int(child["size"]) / children_total
            out.append(_box(child, x, y, width, height, "entry"))
            y += height
        x += width
    out.append("</svg>")
    return "".join(out)


def _box(item: Mapping[str, Any], x: float, y: float, width: float, height: float, kind: str) -> str:
    label = f"{item['path']} {human_size(int(item['size']))}"
    fits = width > 7 * min(len(label), 12) and height >= 14
    shown = label if len(label) * 7 < width else label[: max(int(width / 7) - 1, 0)] + "…"
    text = f'<text x="{x + 3:.1f}" y="{y + 13:.1f}">{escape(shown)}</text>' if fits else ""
    return (
        f'<g class="{kind}" data-path="{escape(str(item["path"]))}" data-bytes="{int(item["size"])}">'
        f'<rect x="{x:.2f}" y="{y:.2f}" width="{width:.2f}" height="{height:.2f}"></rect>'
        f"<title>{escape(label)}</title>{text}</g>"
    )
