"""A build's log: all of it in a file, its last lines in memory.

A build may print gigabytes (a verbose test stage, a runaway loop): the
process keeps a bounded tail for messages and reports, and the whole log goes
to a file that the report names.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, overload

__all__ = ["LINE_LIMIT", "TAIL_LINES", "BuildLog"]

TAIL_LINES = 1000  #: lines of a build log kept in memory
LINE_LIMIT = 2000  #: characters of one line kept in memory (the file has all of them)


class BuildLog(Sequence[str]):
    """The last :data:`TAIL_LINES` lines of a build log, with the whole log in :attr:`path`
    (when given).  Compares equal to a list of the same lines."""

    def __init__(
        self, path: Path | None = None, keep: int = TAIL_LINES, lines: Iterable[str] = (), hide: Sequence[str] = ()
    ) -> None:
        self.path = path  #: the file holding the whole log, or None
        self._hide = [value for value in hide if value]  #: texts written as ``***`` (the build's secrets)
        self.total = 0  #: lines written, kept or not
        self._tail: deque[str] = deque(maxlen=keep)
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8", errors="replace")
        for line in lines:
            self.append(line)

    def redact(self, text: str) -> str:
        """``text`` with the values the log hides written as ``***``."""
        for value in self._hide:
            text = text.replace(value, "***")
        return text

    def append(self, line: str) -> None:
        line = self.redact(line)
        self.total += 1
        if self._file is not None:
            self._file.write(line + "\n")
        if len(line) > LINE_LIMIT:
            line = f"{line[:LINE_LIMIT]} ... ({len(line) - LINE_LIMIT} more characters)"
        self._tail.append(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def dropped(self) -> int:
        """Lines written but no longer in memory."""
        return self.total - len(self._tail)

    def tail(self, lines: int) -> list[str]:
        return list(itertools.islice(self._tail, max(0, len(self._tail) - lines), None)) if lines > 0 else []

    def __len__(self) -> int:
        return len(self._tail)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tail)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return list(self._tail)[index]
        return self._tail[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self._tail) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        where = f", whole log in {self.path}" if self.path else ""
        return f"<BuildLog {len(self._tail)} of {self.total} lines{where}>"

    def __getstate__(self) -> dict[str, object]:  # pickled (pytest-xdist records) without the open file
        return {"path": self.path, "total": self.total, "tail": list(self._tail), "keep": self._tail.maxlen}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.path = state["path"]  # type: ignore[assignment]
        self.total = state["total"]  # type: ignore[assignment]
        self._tail = deque(state["tail"], maxlen=state["keep"])  # type: ignore[call-overload]
        self._file = None
        self._hide = []  # a record carries no secret values
