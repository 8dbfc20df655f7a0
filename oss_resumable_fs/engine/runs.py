"""What one connection is reading, in a form other connections can take work from.

A :class:`Run` is consecutive journal parts read with one request. Idle
connections take work from busy ones in two ways:

* **stealing**: the later half of the parts a run has not started yet become a
  run of their own (:meth:`Run.steal`);
* **splitting**: at the tail, when no part is left unstarted, the part being
  read is cut: its reader stops at the cut and a :class:`Piece` (the rest of
  the part) goes to a fresh connection (:meth:`Run.split`). A connection far
  slower than its peers is cut where it stands (its reader is closed), so a
  straggler holds up nothing. No byte is ever asked for twice.

Positions and ends change under the run's lock: a reader never writes or
checksums a byte beyond its current end, so the bytes of a part are counted
exactly once whoever reads them. A part's CRC-64 is the combination of its
stretches' once all are in.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence

from oss_resumable_fs.engine.integrity import combine_all
from oss_resumable_fs.engine.plan import Part
from oss_resumable_fs.engine.source import RangeReader


class PartProgress:
    """One part as its reader advances: bytes written, bytes buffered, where it ends."""

    def __init__(self, part: Part, lock: threading.Lock) -> None:
        self.part = part
        self._lock = lock
        #: Bytes written to the file (and in ``crc``), from the part's start.
        self.written = 0
        #: Bytes received into the buffer after those, not yet written.
        self.filled = 0
        self.crc = 0
        #: Where this reader stops, relative to the part's start (cut by a split).
        self.end = part.size
        #: The piece of another part that this part *is*, if it is one.
        self.parent: Piece | None = None
        #: CRC and length of each finished stretch of the part, by offset.
        self._segments: dict[int, tuple[int, int]] = {}
        self.reader: RangeReader | None = None
        self.opened_at = time.monotonic()
        self.received = 0

    @property
    def position(self) -> int:
        return self.written + self.filled

    def accept(self, count: int) -> int:
        """Count ``count`` received bytes; return how many are within the current end."""
        with self._lock:
            count = max(0, min(count, self.end - self.position))
            self.filled += count
            self.received += count
            return count

    def to_write(self) -> int:
        """How many buffered bytes to write now (never beyond the end)."""
        with self._lock:
            return min(self.filled, self.end - self.written)

    def wrote(self, count: int, crc: int) -> None:
        with self._lock:
            self.written += count
            self.filled = 0
            self.crc = crc

    def restart(self) -> None:
        """A new request for the rest of the part: its rate is measured afresh."""
        with self._lock:
            self.opened_at = time.monotonic()
            self.received = 0

    def done(self) -> bool:
        with self._lock:
            return self.position >= self.end

    def rate(self, now: float) -> float:
        with self._lock:
            return self.received / max(now - self.opened_at, 1e-3)

    def age(self, now: float) -> float:
        return now - self.opened_at

    def finish(self, offset: int, crc: int, length: int) -> int | None:
        """Record the CRC of ``length`` bytes at ``offset`` in the part (this reader's
        own from 0, or a piece's); the part's CRC once every byte is in, else ``None``."""
        with self._lock:
            self._segments[offset] = (crc, length)
            if sum(length for _, length in self._segments.values()) < self.part.size:
                return None
            return combine_all(self._segments[offset] for offset in sorted(self._segments))


def completed(progress: PartProgress, crc: int) -> tuple[Part, int] | None:
    """``progress``'s part is whole with CRC ``crc``: the journal part that is now
    complete, and its CRC, climbing through the parts this one is a piece of;
    ``None`` while another piece is still missing."""
    while progress.parent is not None:
        piece = progress.parent
        whole = piece.owner.finish(piece.start - piece.owner.part.start, crc, piece.size)
        if whole is None:
            return None
        progress, crc = piece.owner, whole
    return progress.part, crc


class Piece:
    """The cut-off rest of a part, for another connection."""

    def __init__(self, owner: PartProgress, start: int, end: int) -> None:
        self.owner = owner
        #: Object offsets ``[start, end)``.
        self.start = start
        self.end = end

    @property
    def size(self) -> int:
        return self.end - self.start

    def as_part(self) -> Part:
        return Part(self.owner.part.index, self.start, self.end)


class Run:
    """Consecutive parts one connection reads with one request."""

    def __init__(self, parts: Sequence[Part], *, piece: Piece | None = None) -> None:
        self._parts = list(parts)
        self._lock = threading.Lock()
        self._next = 0
        self._end = len(self._parts)
        self.current: PartProgress | None = None
        #: Set when this run is the rest of another run's part.
        self.piece = piece

    @classmethod
    def of_piece(cls, piece: Piece) -> Run:
        return cls([piece.as_part()], piece=piece)

    @property
    def end(self) -> int:
        """The object offset the run now ends at (it only ever moves back)."""
        with self._lock:
            if self._end > self._next:
                return self._parts[self._end - 1].end
            current = self.current
            if current is None:
                return self._parts[self._end - 1].end
            return current.part.start + current.end

    def claim(self) -> PartProgress | None:
        """The next part to read, or ``None`` when the run (maybe shortened) is done."""
        with self._lock:
            if self._next >= self._end:
                self.current = None
                return None
            part = self._parts[self._next]
            self._next += 1
            self.current = PartProgress(part, self._lock)
            self.current.parent = self.piece
            return self.current

    def remaining_bytes(self) -> int:
        """Bytes this run's reader has still to receive: the part's rest, and those after."""
        with self._lock:
            current = self.current
            rest = 0 if current is None else current.end - current.position
            return rest + sum(part.size for part in self._parts[self._next : self._end])

    def unclaimed(self) -> int:
        with self._lock:
            return self._end - self._next

    def steal(self) -> Run | None:
        """Take the later half of the parts not started yet, as a run of their own."""
        with self._lock:
            left = self._end - self._next
            if left < 1:
                return None
            keep = self._next + left // 2
            stolen = self._parts[keep : self._end]
            self._end = keep
        return Run(stolen)

    def give_back(self) -> list[Run]:
        """Everything this run's reader has not received, as runs for other connections:
        the parts not started, and the rest of the part being read (cut where it stands)."""
        with self._lock:
            rest = self._parts[self._next : self._end]
            self._end = self._next
        runs = [Run(rest)] if rest else []
        piece = self.split(1, where_it_stands=True, close=False)
        if piece is not None:
            runs.insert(0, Run.of_piece(piece))
        return runs

    def remaining_in_current(self) -> int:
        """Bytes the part being read still lacks, before its end."""
        with self._lock:
            current = self.current
            if current is None or self._end > self._next:
                return 0
            return current.end - current.position

    def split(
        self, min_size: int, *, where_it_stands: bool = False, close: bool = True
    ) -> Piece | None:
        """Cut the part being read: the rest (half, or all of it for a straggler) becomes
        a :class:`Piece`. ``None`` if too little is left."""
        with self._lock:
            current = self.current
            if current is None or self._end > self._next:
                return None
            left = current.end - current.position
            if left < min_size:
                return None
            cut = current.position + (0 if where_it_stands else left // 2)
            piece = Piece(current, current.part.start + cut, current.part.start + current.end)
            current.end = cut
            reader = current.reader if where_it_stands and close else None
        if reader is not None:
            # It is stuck or crawling: end its read now (best effort).
            with contextlib.suppress(Exception):
                reader.close()
        return piece
