"""A bandwidth cap shared by every connection of the process: a token bucket.

For users on shared links: ``bandwidth_limit="50MiB"`` caps what all
downloads and reads of the process receive together, whatever their number
of connections. (OSS's own ``x-oss-traffic-limit`` header caps one request
at a time, on the server; this caps the sum, on the client.)

Each connection takes tokens for the bytes it has just received; when the
bucket runs dry it sleeps off its debt, so the average rate is the cap and a
burst is at most one second's worth plus one buffer per connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from oss_resumable_fs.engine.source import ObjectIdentity, RangeReader, RangeSource

__all__ = ["ThrottledSource", "TokenBucket", "shared_bucket", "throttled"]


class TokenBucket:
    """``rate`` bytes per second, shared by the threads that call :meth:`consume`."""

    def __init__(self, rate: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a bandwidth limit must be positive")
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(rate)  # one second's burst
        self._last = clock()

    def consume(self, count: int, sleep: Callable[[float], object] = time.sleep) -> float:
        """Take ``count`` bytes' tokens; sleep if that leaves a debt. Returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.rate), self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= count
            debt = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if debt > 0:
            sleep(debt)
        return debt


_buckets: dict[int, TokenBucket] = {}
_buckets_lock = threading.Lock()


def shared_bucket(rate: int | None) -> TokenBucket | None:
    """The process's bucket for ``rate``: every transfer with that limit shares it.

    ``None`` (no limit) gives ``None``.
    """
    if not rate:
        return None
    with _buckets_lock:
        bucket = _buckets.get(rate)
        if bucket is None:
            bucket = _buckets[rate] = TokenBucket(rate)
        return bucket


class ThrottledReader:
    """A range reader whose bytes are paid for from a bucket; closing it ends a wait."""

    def __init__(self, reader: RangeReader, bucket: TokenBucket) -> None:
        self._reader = reader
        self._bucket = bucket
        self._closed = threading.Event()

    def readinto(self, buffer: memoryview) -> int:
        count = self._reader.readinto(buffer)
        if count:
            # The wait ends early when another thread closes the reader (a cancel,
            # the first error elsewhere): the next read then fails as closed.
            self._bucket.consume(count, self._closed.wait)
        return count

    def close(self) -> None:
        self._closed.set()
        self._reader.close()


class ThrottledSource:
    """``source`` with every reader it opens paying into ``bucket``."""

    def __init__(self, source: RangeSource, bucket: TokenBucket) -> None:
        self._source = source
        self._bucket = bucket
        self.name = source.name

    def __repr__(self) -> str:
        return f"ThrottledSource({self._source!r}, {self._bucket.rate} B/s)"

    def stat(self) -> ObjectIdentity:
        return self._source.stat()

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> ThrottledReader:
        return ThrottledReader(self._source.open_range(start, end, identity), self._bucket)

    def open_unpinned(
        self, start: int | None, end: int | None
    ) -> tuple[ThrottledReader, ObjectIdentity, int, int]:
        reader, identity, low, high = self._source.open_unpinned(start, end)  # type: ignore[attr-defined]
        return ThrottledReader(reader, self._bucket), identity, low, high

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def throttled(source: RangeSource, rate: int | None) -> RangeSource:
    """``source`` capped by the process-wide bucket for ``rate``; itself when ``rate`` is None."""
    bucket = shared_bucket(rate)
    return source if bucket is None else ThrottledSource(source, bucket)
