"""Read-ahead for reads that run front to back, exact ranges for those that jump.

A file read by pandas' CSV parser or ``f.read()`` asks for one buffer after
another; fetched one at a time, each waits a full round trip and one
connection's bandwidth. A parquet reader jumps to the footer, then to column
chunks: anything fetched beyond what it asks for is wasted. So the first read,
and any read that does not start where the previous one ended, is fetched
exactly. A read that continues the previous one (starts inside it or where
it ended) turns read-ahead on: the blocks after it are fetched on several
connections at once, the window starting at one small block and doubling with
every read that keeps going (as the kernel's readahead does), up to
``max_blocks`` blocks of ``block_size``. A jump drops the window.

Memory: at most ``max_blocks`` blocks, the one being read included; a read
wider than the whole window is fetched exactly, outside it. Block buffers are
allocated once and reused: fresh multi-MiB buffers freed from many threads
fragment the C allocator's arenas, and the process keeps the memory
(measured: 4x the in-flight bound while parsing a CSV).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

__all__ = ["SequentialReadAhead"]

#: The first block of a window: small, so a reader that stops early wastes little.
FIRST_BLOCK = 256 * 1024

#: ``fetch(start, end)``: bytes ``[start, end)``.
Fetch = Callable[[int, int], bytes]
#: ``fetch_into(start, view)``: fill ``view`` with the bytes from ``start``.
FetchInto = Callable[[int, memoryview], None]


@dataclass
class _Block:
    start: int
    end: int
    buffer: bytearray
    future: Future[None]


class SequentialReadAhead:
    """Serves ``read(start, end)`` on one object through ``fetch`` / ``fetch_into``."""

    def __init__(
        self,
        fetch: Fetch,
        fetch_into: FetchInto,
        size: int,
        *,
        block_size: int,
        max_blocks: int,
    ) -> None:
        self._fetch = fetch
        self._fetch_into = fetch_into
        self._free: list[bytearray] = []
        self._size = size
        self._block_size = max(block_size, FIRST_BLOCK)
        self._max_blocks = max(1, max_blocks)
        self._blocks: deque[_Block] = deque()
        self._executor: ThreadPoolExecutor | None = None
        #: The last read's range: the next one continues it if it starts inside.
        self._last: tuple[int, int] | None = None
        self._window_end = 0
        self._next_block = FIRST_BLOCK
        self._depth = 1
        #: The window grows once the reader gets past this offset (the end of
        #: the block it was in when the window last grew).
        self._grow_at = 0
        #: Bytes fetched by exact reads and by the window (for tests and stats).
        self.bytes_fetched = 0
        self.blocks_fetched = 0

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self._size)
        if start >= end:
            return b""
        covered = bool(self._blocks) and self._blocks[0].start <= start < self._window_end
        # Going on from inside the last read counts too: ``readline`` reads a block,
        # then steps back to just after the newline and reads on from there.
        sequential = self._last is not None and self._last[0] <= start <= self._last[1]
        self._last = (start, end)
        wider_than_window = end - start > self._block_size * self._max_blocks
        if wider_than_window or not (covered or sequential):
            # A jump, or a read wider than the whole window (``f.read()``): exact.
            self._drop()
            self.bytes_fetched += end - start
            return self._fetch(start, end)
        if not covered:
            self._restart(start, end)
        # Blocks the reader has moved past are released before new ones are taken,
        # and the block being read counts within ``max_blocks``: the window never
        # holds more than ``max_blocks`` buffers.
        while self._blocks and self._blocks[0].end <= start:
            self._release(self._blocks.popleft())
        self._schedule(end)
        try:
            return self._collect(start, end)
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        self._drop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _restart(self, start: int, end: int) -> None:
        self._drop()
        self._window_end = start
        self._next_block = min(self._block_size, max(FIRST_BLOCK, 2 * (end - start)))
        self._depth = 1
        self._grow_at = end

    def _schedule(self, end: int) -> None:
        while self._window_end < end:
            self._add_block()
        growing = end > self._grow_at
        if growing:
            self._depth = min(max(1, self._max_blocks - 1), self._depth * 2)
        ahead = sum(1 for block in self._blocks if block.start >= end)
        # The blocks this read spans count within max_blocks too.
        room = max(1, self._max_blocks - (len(self._blocks) - ahead))
        while ahead < min(self._depth, room) and self._window_end < self._size:
            self._add_block()
            ahead += 1
        if growing:
            # Again once the reader enters the next block: the window doubles per
            # block read through (a few MiB), not per call (readline's calls read
            # a line each) nor per window (too slow to reach full speed).
            self._grow_at = next((b.end for b in self._blocks if b.end >= end), end)

    def _add_block(self) -> None:
        start = self._window_end
        end = min(self._size, start + self._next_block)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_blocks, thread_name_prefix="ossr-read")
        buffer = self._free.pop() if self._free else bytearray(self._block_size)
        view = memoryview(buffer)[: end - start]
        future = self._executor.submit(self._fetch_into, start, view)
        self._blocks.append(_Block(start, end, buffer, future))
        self._window_end = end
        self._next_block = min(self._block_size, self._next_block * 2)
        self.bytes_fetched += end - start
        self.blocks_fetched += 1

    def _collect(self, start: int, end: int) -> bytes:
        # The block the reader is in stays, for one that steps back a little
        # (``readline`` does).
        parts = []
        for block in self._blocks:
            if block.start >= end:
                break
            block.future.result()
            view = memoryview(block.buffer)[: block.end - block.start]
            parts.append(view[max(start, block.start) - block.start : end - block.start])
        return b"".join(parts)  # a copy: the buffers are reused

    def _drop(self) -> None:
        while self._blocks:
            self._release(self._blocks.popleft())

    def _release(self, block: _Block) -> None:
        """Give a block's buffer back, but only once no worker can write into it."""
        if block.future.done() or block.future.cancel():
            _recycle(block.future, block.buffer, self._free, self._max_blocks)
        else:
            # Running: its bytes and any error it ends with are discarded; its
            # buffer comes back when it is done (list.append is atomic).
            block.future.add_done_callback(
                lambda future, buffer=block.buffer: _recycle(
                    future, buffer, self._free, self._max_blocks
                )
            )


def _recycle(future: Future[None], buffer: bytearray, free: list[bytearray], cap: int) -> None:
    if not future.cancelled():
        with contextlib.suppress(BaseException):
            future.exception()
    if len(free) < cap:
        free.append(buffer)
