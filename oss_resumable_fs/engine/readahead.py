"""Read-ahead for reads that run front to back, exact ranges for those that jump.

A file read by pandas' CSV parser or ``f.read()`` asks for one buffer after
another; fetched one at a time, each waits a full round trip and one
connection's bandwidth. A parquet reader jumps to the footer, then to column
chunks: anything fetched beyond what it asks for is wasted. So the first read,
and any read that does not start where the previous one ended, is fetched
exactly. A read that continues the previous one turns read-ahead on: the
blocks after it are fetched on several connections at once, the window
starting at one small block and doubling with every read that keeps going
(as the kernel's readahead does), up to ``max_blocks`` blocks of
``block_size``. A jump drops the window.

Memory: at most ``max_blocks`` blocks ahead of the reader, plus what a single
read asks for.
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

Fetch = Callable[[int, int], bytes]


@dataclass
class _Block:
    start: int
    end: int
    future: Future[bytes]


class SequentialReadAhead:
    """Serves ``read(start, end)`` on one object through ``fetch(start, end)``."""

    def __init__(self, fetch: Fetch, size: int, *, block_size: int, max_blocks: int) -> None:
        self._fetch = fetch
        self._size = size
        self._block_size = max(block_size, FIRST_BLOCK)
        self._max_blocks = max(1, max_blocks)
        self._blocks: deque[_Block] = deque()
        self._executor: ThreadPoolExecutor | None = None
        #: Where the next read must start to count as sequential.
        self._expected: int | None = None
        self._window_end = 0
        self._next_block = FIRST_BLOCK
        self._depth = 1
        #: Bytes fetched by exact reads and by the window (for tests and stats).
        self.bytes_fetched = 0
        self.blocks_fetched = 0

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self._size)
        if start >= end:
            return b""
        sequential = start == self._expected
        self._expected = end
        if not sequential:
            self._drop()
            self.bytes_fetched += end - start
            return self._fetch(start, end)
        if not (self._blocks and self._blocks[0].start <= start < self._window_end):
            self._restart(start, end)
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

    def _schedule(self, end: int) -> None:
        while self._window_end < end:
            self._add_block()
        ahead = sum(1 for block in self._blocks if block.start >= end)
        while ahead < self._depth and self._window_end < self._size:
            self._add_block()
            ahead += 1
        self._depth = min(self._max_blocks, self._depth * 2)

    def _add_block(self) -> None:
        start = self._window_end
        end = min(self._size, start + self._next_block)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_blocks, thread_name_prefix="ossr-read")
        future = self._executor.submit(self._fetch, start, end)
        self._blocks.append(_Block(start, end, future))
        self._window_end = end
        self._next_block = min(self._block_size, self._next_block * 2)
        self.bytes_fetched += end - start
        self.blocks_fetched += 1

    def _collect(self, start: int, end: int) -> bytes:
        parts = []
        for block in self._blocks:
            if block.start >= end:
                break
            if block.end <= start:
                continue
            data = block.future.result()
            parts.append(
                memoryview(data)[max(start, block.start) - block.start : end - block.start]
            )
        while self._blocks and self._blocks[0].end <= end:
            self._blocks.popleft()
        return b"".join(parts)

    def _drop(self) -> None:
        while self._blocks:
            block = self._blocks.popleft()
            if not block.future.cancel():
                # Running: its bytes are discarded, and so is any error it ends with.
                block.future.add_done_callback(_swallow)


def _swallow(future: Future[bytes]) -> None:
    with contextlib.suppress(BaseException):
        future.exception()
