"""Assertions on images with failure messages that say what was found instead.

pytest rewrites this module's asserts (registered in ``pytest_dockerbuild/__init__``).
Each helper takes an :class:`~pytest_dockerbuild.Image` or a
:class:`~pytest_dockerbuild.BuildResult`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_dockerbuild.build import BuildResult
from pytest_dockerbuild.errors import PathNotFound
from pytest_dockerbuild.image import FileEntry, Image, human_size, parse_size

__all__ = [
    "BUILD_TOOLS",
    "assert_cached",
    "assert_no_build_tools",
    "assert_path_absent",
    "assert_path_exists",
    "assert_rebuilt",
    "assert_size_under",
]

#: Executables that belong in a builder stage, not in a final image.
BUILD_TOOLS = (
    "cc", "gcc", "g++", "c++", "clang", "make", "cmake", "ld",
    "go", "javac", "mvn", "gradle", "ant",
    "npm", "yarn", "pnpm", "cargo", "rustc", "pip", "pip3", "dotnet",
)  # fmt: skip


def _image(subject: Image | BuildResult) -> Image:
    return subject.image if isinstance(subject, BuildResult) else subject


def assert_path_exists(subject: Image | BuildResult, path: str, *, type: str | None = None) -> FileEntry:
    """Assert that ``path`` exists (and is of ``type``: file, dir, symlink ...); return its entry."""
    __tracebackhide__ = True
    image = _image(subject)
    try:
        entry = image.file(path)
    except PathNotFound as missing:
        raise AssertionError(f"expected {path!r} in image {image!r}, but {missing}") from None
    if type is not None and entry.type != type:
        raise AssertionError(f"expected {path!r} in image {image!r} to be a {type}, but it is a {entry.type}")
    return entry


def assert_path_absent(subject: Image | BuildResult, path: str) -> None:
    """Assert that ``path`` does not exist in the image."""
    __tracebackhide__ = True
    image = _image(subject)
    if image.exists(path):
        entry = image.file(path)
        raise AssertionError(
            f"expected no {path!r} in image {image!r}, but it holds a {entry.type} "
            f"({entry.mode_string}, {entry.size} bytes, from layer {entry.layer})"
        )


def assert_size_under(subject: Image | BuildResult, budget: int | str) -> None:
    """Assert that the image is smaller than ``budget`` (bytes, or e.g. ``"30MB"``, ``"30MiB"``)."""
    __tracebackhide__ = True
    image = _image(subject)
    limit = parse_size(budget)
    if image.size >= limit:
        biggest = sorted((layer for layer in image.layers if layer.size), key=lambda layer: -layer.size)[:3]
        layers = "\n".join(f"  {human_size(layer.size):>10}  {layer.instruction[:100]}" for layer in biggest)
        raise AssertionError(
            f"image {image!r} is {human_size(image.size)} ({image.size} bytes), over its budget of "
            f"{human_size(limit)} ({limit} bytes) by {human_size(image.size - limit)}; biggest layers:\n{layers}"
        )


def assert_no_build_tools(
    subject: Image | BuildResult, tools: Iterable[str] = BUILD_TOOLS, *, allow: Iterable[str] = ()
) -> None:
    """Assert that none of ``tools`` (compilers, build tools) is on the image's PATH."""
    __tracebackhide__ = True
    image = _image(subject)
    allowed = set(allow)
    found = {tool: where for tool in tools if tool not in allowed and (where := image.which(tool))}
    if found:
        listing = ", ".join(f"{tool} ({where})" for tool, where in sorted(found.items()))
        raise AssertionError(f"image {image!r} holds build tools on its PATH: {listing}")


def _steps_listing(result: BuildResult) -> str:
    return "\n".join(f"  {step}" for step in result.steps)


def assert_cached(result: BuildResult, *patterns: str) -> None:
    """Assert that the steps whose instruction matches each regex came from the layer cache."""
    __tracebackhide__ = True
    missed = [pattern for pattern in patterns if not result.step(pattern).cached]
    if missed:
        raise AssertionError(
            f"expected the layer cache for {', '.join(repr(p) for p in missed)} in the {result.backend} build "
            f"of {result.request.describe()}, but they were built; all steps:\n{_steps_listing(result)}"
        )


def assert_rebuilt(result: BuildResult, *patterns: str) -> None:
    """Assert that the steps whose instruction matches each regex were built, not taken from the cache."""
    __tracebackhide__ = True
    hits = [pattern for pattern in patterns if result.step(pattern).cached]
    if hits:
        raise AssertionError(
            f"expected {', '.join(repr(p) for p in hits)} to be rebuilt in the {result.backend} build "
            f"of {result.request.describe()}, but the layer cache was used; all steps:\n{_steps_listing(result)}"
        )
