"""Dockerfiles as data, without an engine: parsing, stages and their graph, base-image substitution.

- :mod:`~pytest_dockerbuild.dockerfile.model`: :class:`Dockerfile` (one parse: stages, global
  ARGs, comment lines, duplicates; the stage graph), :class:`Stage`, :class:`Instruction`;
- :mod:`~pytest_dockerbuild.dockerfile.rewrite`: the text a backend sends (FROM substitution,
  the lines a backend adds after each FROM and to the target stage);
- :mod:`~pytest_dockerbuild.dockerfile.text`: the text as Docker reads it
  (:func:`decode_dockerfile`), variable expansion, shell words, ``--mount`` options;
- :mod:`~pytest_dockerbuild.dockerfile.references`: image references
  (:func:`normalize_image`) and the base-image map (:func:`parse_image_map`).

Nothing here imports the checks (:mod:`pytest_dockerbuild.lint`) or the engine.
"""

from pytest_dockerbuild.dockerfile.model import Dockerfile, Instruction, Stage
from pytest_dockerbuild.dockerfile.references import normalize_image, parse_image_map
from pytest_dockerbuild.dockerfile.text import decode_dockerfile

__all__ = ["Dockerfile", "Instruction", "Stage", "decode_dockerfile", "normalize_image", "parse_image_map"]
