"""The read half of ``ResumableOSSFileSystem``: ``cat_file``, ``cat_ranges``, ``open``.

Reads are exact and pinned: ``cat_file`` is usually one GET (its answer
reveals the object's size and ETag, and anything more is fetched pinned to
that ETag), a file opened for reading is pinned to its HEAD's ETag
(:mod:`oss_resumable_fs.files`), and every failure is retried from the last
byte received.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from oss_resumable_fs.config import check_option_names
from oss_resumable_fs.engine.fetch import RetryPolicy
from oss_resumable_fs.engine.ranged_read import read_slice
from oss_resumable_fs.engine.throttle import throttled
from oss_resumable_fs.errors import ObjectChangedError
from oss_resumable_fs.files import ResumableOSSFile

if TYPE_CHECKING:
    from oss_resumable_fs.config import TransferConfig
    from oss_resumable_fs.sources.client import OSSClient

__all__ = ["ReadMethods"]


class ReadMethods:
    """Mixed into ``ResumableOSSFileSystem``; uses its client and transfer settings."""

    client: OSSClient
    transfer_config: TransferConfig
    _default_cache_type: str
    _given_block_size: int | None
    _pool_lock: threading.Lock
    _reads: ThreadPoolExecutor | None = None
    _reads_pid: int = 0

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """Bytes ``[start, end)`` (``end`` exclusive, negative from the end), usually one GET."""
        check_option_names(kwargs, ("version_id",), "cat_file")
        config = self.transfer_config
        source = throttled(
            self.range_source(path, kwargs.get("version_id")), config.bandwidth_limit
        )
        return read_slice(
            source,
            start,
            end,
            RetryPolicy.from_config(config),
            part_size=config.resolve_part_size(0),
            executor=self._read_pool(),
            sleep=self.client.sleep,
        )

    def cat_ranges(
        self,
        paths: list[str],
        starts: int | list[int | None] | None,
        ends: int | list[int | None] | None,
        max_gap: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """fsspec's ``cat_ranges``, the ranges fetched at once on ``concurrency`` connections."""
        if max_gap is not None:
            raise NotImplementedError("max_gap")
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        starts = starts if isinstance(starts, list) else [starts] * len(paths)
        ends = ends if isinstance(ends, list) else [ends] * len(paths)
        if not len(starts) == len(ends) == len(paths):
            raise ValueError("paths, starts and ends must have the same length")

        def one(args: tuple[str, int | None, int | None]) -> Any:
            try:
                return self.cat_file(*args, **kwargs)
            except Exception as error:
                if on_error == "return":
                    return error
                raise

        workers = max(1, min(len(paths), self.transfer_config.concurrency or 16))
        with ThreadPoolExecutor(workers, thread_name_prefix="ossr-ranges") as pool:
            return list(pool.map(one, zip(paths, starts, ends, strict=True)))

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if mode != "rb":
            return super()._open(path, mode, block_size, autocommit, cache_options, **kwargs)
        check_option_names(kwargs, ("version_id", "etag", "size", "cache_type"), "open")
        version_id = kwargs.get("version_id")
        source = self.range_source(path, version_id)
        head = self.object_head(path, version_id)
        source.check_readable(head)
        pinned = kwargs.get("etag")
        if pinned is not None and head.etag != pinned:
            raise ObjectChangedError(
                f"{source.name}: ETag is {head.etag}, not {pinned} as when it was opened",
                target=source.name,
            )
        # The size is the pinned version's, from its HEAD: a ``size=`` given is not used.
        return ResumableOSSFile(
            self,
            path,
            source=source,
            head=head,
            config=self.transfer_config,
            block_size=block_size or self._given_block_size,
            cache_type=kwargs.get("cache_type", self._default_cache_type),
            cache_options=cache_options,
        )

    def _read_pool(self) -> ThreadPoolExecutor:
        """Threads for ``cat_file``'s parallel parts: one pool per process, made on first use."""
        with self._pool_lock:
            if self._reads is None or self._reads_pid != os.getpid():
                # After a fork the parent's pool has no threads here: a new one.
                self._reads = ThreadPoolExecutor(
                    self.transfer_config.concurrency or 16, thread_name_prefix="ossr-cat"
                )
                self._reads_pid = os.getpid()
            return self._reads
