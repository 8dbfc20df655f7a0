"""Readers a source hands the engine besides a plain response body (HTTP and OSS sources).

* :class:`LimitedReader`: skips the first bytes of a body and stops after a
  length (a server that ignores ``Range`` is re-read from its start; the first
  GET's body serves a shorter first part);
* :class:`ChainedReader`: the first GET's body, then, once it is used up, a new
  request for the rest of the part, so the bytes of the first GET (which also
  told the object's size) are never thrown away.

Both are closed from another thread to abort a read, as every engine reader.
:class:`Prefetched` holds a first GET's answer until the engine's first read
takes it (:meth:`Prefetched.serve`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from oss_resumable_fs.engine.source import ObjectIdentity, RangeReader
from oss_resumable_fs.errors import TransientError

__all__ = ["ChainedReader", "LimitedReader"]


class LimitedReader:
    """``reader``'s bytes from offset ``skip`` on, at most ``length`` of them."""

    def __init__(self, reader: RangeReader, *, skip: int, length: int, name: str) -> None:
        self._reader = reader
        self._skip = skip
        self._left = length
        self._name = name

    def readinto(self, buffer: memoryview) -> int:
        while self._skip > 0:
            count = self._reader.readinto(buffer[: min(len(buffer), self._skip)])
            if count == 0:
                raise TransientError(f"{self._name}: short body while skipping to the range")
            self._skip -= count
        if self._left <= 0:
            return 0
        count = self._reader.readinto(buffer[: min(len(buffer), self._left)])
        self._left -= count
        return count

    def close(self) -> None:
        self._reader.close()


class ChainedReader:
    """``first`` to its end, then the reader ``rest()`` opens (once, when first needed)."""

    def __init__(self, first: RangeReader, rest: Callable[[], RangeReader]) -> None:
        self._current: RangeReader = first
        self._rest: Callable[[], RangeReader] | None = rest
        self._lock = threading.Lock()
        self._closed = False

    def readinto(self, buffer: memoryview) -> int:
        count = self._current.readinto(buffer)
        if count or self._rest is None:
            return count
        opener, self._rest = self._rest, None
        self._current.close()  # read to its end: its connection goes back to the pool
        following = opener()
        with self._lock:
            closed = self._closed
            if not closed:
                self._current = following
        if closed:  # closed by another thread while the request was made
            following.close()
            return 0
        return following.readinto(buffer)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            current = self._current
        current.close()


@dataclass(frozen=True)
class Prefetched:
    """A first GET's answer whose body no read took yet: bytes ``[0, end)`` of ``identity``."""

    identity: ObjectIdentity
    reader: RangeReader
    end: int

    def serve(self, end: int, rest: Callable[[int, int], RangeReader], name: str) -> RangeReader:
        """This body as (the start of) bytes ``[0, end)``: cut short, or followed by
        ``rest(self.end, end)``, a new request for what it does not hold."""
        if end == self.end:
            return self.reader
        if end < self.end:
            return LimitedReader(self.reader, skip=0, length=end, name=name)
        start = self.end
        return ChainedReader(self.reader, lambda: rest(start, end))
