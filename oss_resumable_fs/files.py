"""Files opened for reading: pinned to one version of the object, retried, read ahead.

``fs.open(path, "rb")`` sends one HEAD and pins what it answers: every later
ranged GET carries ``If-Match`` with that ETag, so if the object is replaced
while the file is open the next read raises :class:`ObjectChangedError`
instead of returning a mix of old and new bytes. A failed connection resumes
from the last byte received.

The default cache, ``"parallel-readahead"``, serves random access (parquet
footers, column chunks) with exact ranged GETs and streams front-to-back
reads (CSV parsing, ``f.read()``) on several connections ahead of the reader
(:mod:`oss_resumable_fs.engine.readahead`). fsspec's own caches
(``"none"``, ``"bytes"``, ``"readahead"``, ``"blockcache"`` ...) still work,
through the same pinned, retried fetch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fsspec.caching import BaseCache, register_cache
from fsspec.spec import AbstractBufferedFile

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.fetch import RetryPolicy, sleep_polling
from oss_resumable_fs.engine.ranged_read import read_into, read_parallel
from oss_resumable_fs.engine.readahead import SequentialReadAhead
from oss_resumable_fs.engine.throttle import throttled
from oss_resumable_fs.sources.models import ObjectHead
from oss_resumable_fs.sources.oss import OSSRangeSource

__all__ = ["PARALLEL_READAHEAD", "ParallelReadAheadCache", "ResumableOSSFile"]

PARALLEL_READAHEAD = "parallel-readahead"
#: What a file asks its cache for at a time by default (``readline`` reads this much).
READ_BLOCK = 1024 * 1024


class ParallelReadAheadCache(BaseCache):
    """fsspec's cache interface over :class:`SequentialReadAhead`.

    ``blocksize`` is the read-ahead block; ``max_blocks`` (a cache option) how
    many are fetched ahead at once, each on its own connection.
    """

    name = PARALLEL_READAHEAD

    def __init__(
        self,
        blocksize: int,
        fetcher: Any,
        size: int,
        max_blocks: int = 16,
        fetch_into: Any = None,
        readahead_block: int | None = None,
    ) -> None:
        super().__init__(blocksize, fetcher, size)
        if fetch_into is None:

            def fetch_into(start: int, view: memoryview) -> None:
                view[:] = fetcher(start, start + len(view))

        self._reader = SequentialReadAhead(
            fetcher,
            fetch_into,
            size,
            block_size=readahead_block or blocksize,
            max_blocks=max_blocks,
        )

    def _fetch(self, start: int | None, stop: int | None) -> bytes:
        start = 0 if start is None else start
        stop = self.size if stop is None else stop
        if start >= stop:
            return b""
        self.total_requested_bytes += stop - start
        return self._reader.read(start, stop)

    def close(self) -> None:
        self._reader.close()

    @property
    def bytes_fetched(self) -> int:
        return self._reader.bytes_fetched


register_cache(ParallelReadAheadCache, clobber=True)


class ResumableOSSFile(AbstractBufferedFile):
    """An object opened for reading, pinned to the ETag its HEAD answered.

    ``blocksize`` (default 1 MiB) is what ``readline`` asks for at a time and
    fsspec's caches use; the read-ahead fetches ``part_size`` blocks on up to
    ``concurrency`` connections. Closing the file stops its reads in flight.
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        *,
        source: OSSRangeSource,
        head: ObjectHead,
        config: TransferConfig,
        block_size: int | None = None,
        cache_type: str = PARALLEL_READAHEAD,
        cache_options: dict[str, Any] | None = None,
    ) -> None:
        self.source = throttled(source, config.bandwidth_limit)
        self.head = head
        self.identity = head.identity()
        self._policy = RetryPolicy.from_config(config)
        self._pool: ThreadPoolExecutor | None = None
        self._part_size = config.resolve_part_size(head.size)
        self._concurrency = config.concurrency or 16
        if cache_type == PARALLEL_READAHEAD:
            cache_options = {
                "max_blocks": self._concurrency,
                "fetch_into": self._fetch_into,
                "readahead_block": self._part_size,
                **(cache_options or {}),
            }
        self._details = head.entry()
        self.closed = False  # read by _cancelled() before fsspec sets it
        super().__init__(
            fs,
            path,
            mode="rb",
            block_size=block_size or READ_BLOCK,
            cache_type=cache_type,
            cache_options=cache_options,
            size=head.size,
        )

    def _fetch_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the pinned version; large ranges on several connections."""
        end = min(end, self.size)
        if start >= end:
            return b""
        out = bytearray(end - start)
        read_parallel(
            self.source,
            self.identity,
            start,
            memoryview(out),
            self._policy,
            part_size=self._part_size,
            executor=self._executor() if end - start > self._part_size else None,
            sleep=self._sleep,
            cancelled=self._cancelled,
        )
        return bytes(out)

    def _fetch_into(self, start: int, view: memoryview) -> None:
        """One read-ahead block, straight into the cache's reused buffer."""
        read_into(
            self.source,
            self.identity,
            start,
            view,
            self._policy,
            sleep=self._sleep,
            cancelled=self._cancelled,
        )

    def _cancelled(self) -> bool:
        return self.closed

    def _sleep(self, seconds: float) -> None:
        sleep_polling(seconds, self._cancelled, 0.1)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="ossr-file")
        return self._pool

    def close(self) -> None:
        if not self.closed:
            self.closed = True  # stops the reads in flight at their next receive
            close_cache = getattr(self.cache, "close", None)
            if close_cache is not None:
                close_cache()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self.cache = None
        super().close()

    def __reduce__(self) -> Any:
        # Reopened elsewhere (a dask worker), the file stays pinned to this version.
        cache_type = self.cache.name if self.cache is not None else PARALLEL_READAHEAD
        return (
            _reopen_pinned,
            (
                self.fs,
                self.path,
                self.identity.etag,
                self.source.version_id,
                self.loc,
                self.blocksize,
                cache_type,
            ),
        )

    def __repr__(self) -> str:
        return f"<ResumableOSSFile {self.source.name} etag={self.identity.etag}>"


def _reopen_pinned(
    fs: Any,
    path: str,
    etag: str | None,
    version_id: str | None,
    loc: int,
    block_size: int,
    cache_type: str,
) -> ResumableOSSFile:
    file: ResumableOSSFile = fs.open(
        path,
        "rb",
        block_size=block_size,
        cache_type=cache_type,
        version_id=version_id,
        etag=etag,
    )
    file.seek(loc)
    return file
