"""Images inspected without running them, and their budgets.

The modules, each importing only those above it (and nothing of the runtime, the
engine or the builds):

- :mod:`~pytest_dockerbuild.image.sizes`: sizes in bytes read from and written for people
  (:func:`parse_size`, :func:`human_size`);
- :mod:`~pytest_dockerbuild.image.files`: the layer tars of a saved image merged into one
  file tree (:class:`FileEntry`, :class:`FileTree`, :class:`LayerContents`);
- :mod:`~pytest_dockerbuild.image.image`: :class:`Image` (identity, size, :class:`ImageConfig`,
  history as :class:`Layer`, files) and :class:`ImageComparison`;
- :mod:`~pytest_dockerbuild.image.efficiency`: dive's efficiency figures, size and layer-count
  rules and a size baseline (:class:`Efficiency`, :class:`EfficiencyRules`, :class:`SizeBaseline`,
  :func:`analyze`).
"""

from pytest_dockerbuild.image.efficiency import Efficiency, EfficiencyRules, SizeBaseline, analyze
from pytest_dockerbuild.image.files import FileEntry, FileTree, LayerContents
from pytest_dockerbuild.image.image import Image, ImageComparison, ImageConfig, Layer
from pytest_dockerbuild.image.sizes import human_size, parse_size

__all__ = [
    "Efficiency",
    "EfficiencyRules",
    "FileEntry",
    "FileTree",
    "Image",
    "ImageComparison",
    "ImageConfig",
    "Layer",
    "LayerContents",
    "SizeBaseline",
    "analyze",
    "human_size",
    "parse_size",
]
