"""Strict YAML decoding by yaml.v2's ``UnmarshalStrict`` rules, as container-structure-test reads.

A schema is built from :class:`Struct` (a mapping with known keys), :class:`ListOf`,
:class:`OptionalList` and the scalar kinds :data:`STR`, :data:`INT`, :data:`BOOL` and
:data:`MAP`; :class:`Decoder` decodes composed PyYAML nodes against it into plain dicts and
lists, collecting every problem (an unknown or duplicate key, a value of the wrong type) with
its line instead of stopping at the first.  Scalars are read as Go reads them: a string is the
text as written, ``yes``/``on`` are booleans, ``010`` is octal.  The contract schema itself is
in :mod:`pytest_dockerbuild.contracts.schema`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import yaml

__all__ = ["BOOL", "INT", "MAP", "STR", "Decoder", "Kind", "ListOf", "OptionalList", "Struct"]

#: the scalar kinds, named as a message names them
STR, INT, BOOL, MAP = "a string", "an integer", "a boolean", "a mapping"


@dataclass(frozen=True)
class Struct:
    """A mapping with known keys; decoded, it also holds its line as ``__line__``."""

    where: str  #: how a message names it, e.g. "commandTests[]"
    fields: Mapping[str, Kind]


@dataclass(frozen=True)
class ListOf:
    item: Kind


@dataclass(frozen=True)
class OptionalList:
    """A list whose absence differs from emptiness (``cmd``, ``entrypoint``)."""

    item: Kind


Kind: TypeAlias = "str | Struct | ListOf | OptionalList"

_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_NULL = {"", "~", "null", "Null", "NULL"}
_INT_RE = re.compile(r"[-+]?(?:0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class Decoder:
    """Decodes composed YAML nodes against a schema, collecting every problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, node: yaml.Node, text: str) -> None:
        self.problems.append(f"line {node.start_mark.line + 1}: {text}")

    @staticmethod
    def is_null(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.style is None and node.value in _NULL

    def decode(self, node: yaml.Node, kind: Kind, where: str) -> Any:
        if isinstance(kind, Struct):
            return self.struct(node, kind, where)
        if isinstance(kind, (ListOf, OptionalList)):
            if self.is_null(node):
                return None
            if not isinstance(node, yaml.SequenceNode):
                self.problem(node, f"{where}: expected a list, got {_describe(node)}")
                return None
            return [self.decode(item, kind.item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        if kind == MAP:
            return self.string_map(node, where)
        return self.scalar(node, kind, where)

    def string_map(self, node: yaml.Node, where: str) -> dict[str, str]:
        """A mapping of any keys to strings (build args)."""
        if self.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where}: expected a mapping, got {_describe(node)}")
            return {}
        return {
            self.scalar(k, STR, f"{where} key"): self.scalar(v, STR, f"{where}.{k.value}")
            for k, v in self.pairs(node, where)
        }

    def pairs(self, node: yaml.MappingNode, where: str) -> list[tuple[yaml.Node, yaml.Node]]:
        """The key/value pairs with ``<<`` merges applied; duplicate keys are problems."""
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in node.value:
            if key.tag == _MERGE_TAG or (isinstance(key, yaml.ScalarNode) and key.value == "<<"):
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.extend(self.pairs(source, where))
                    else:
                        self.problem(source, f"{where}: '<<' needs a mapping to merge")
            else:
                own.append((key, value))
        seen: set[str] = set()
        for key, _ in own:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            if name in seen:
                self.problem(key, f"{where}: key {name!r} appears twice")
            seen.add(name)
        own_keys = {str(k.value) for k, _ in own if isinstance(k, yaml.ScalarNode)}
        return [(k, v) for k, v in merged if str(k.value) not in own_keys] + own

    def struct(self, node: yaml.Node, kind: Struct, where: str) -> dict[str, Any]:
        if self.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where}: expected a mapping, got {_describe(node)}")
            return {}
        result: dict[str, Any] = {"__line__": node.start_mark.line + 1}
        for key, value in self.pairs(node, where):
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            if name not in kind.fields:
                self.problem(key, f"unknown key {name!r} in {kind.where} (known keys: {', '.join(kind.fields)})")
                continue
            result[name] = self.decode(value, kind.fields[name], f"{where}.{name}" if where else name)
        return result

    def scalar(self, node: yaml.Node, kind: str, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, f"{where}: expected {kind}, got {_describe(node)}")
            return _zero(kind)
        text, plain = str(node.value), node.style is None
        if kind == STR:
            return "" if plain and text in _NULL else text
        if plain and text in _NULL:
            return _zero(kind)
        if kind == BOOL:
            if plain and text in _TRUE:
                return True
            if plain and text in _FALSE:
                return False
        elif kind == INT and plain and _INT_RE.fullmatch(text):
            return _go_int(text)
        self.problem(node, f"{where}: expected {kind}, got {_describe(node)}")
        return _zero(kind)


def _go_int(text: str) -> int:
    """An integer as Go's ``strconv.ParseInt(s, 0, 64)`` reads it (a leading 0 is octal; ``_`` allowed)."""
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return sign * int(digits, 8)
    return sign * int(digits, 0)


def _zero(kind: str) -> Any:
    return {STR: "", INT: 0, BOOL: False}.get(kind)


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    quoted = "" if getattr(node, "style", None) is None else "quoted "
    return f"the {quoted}value {node.value!r}"
