"""Reading byte ranges of a pinned object into memory: exact, retried, parallel when large.

The read path of the filesystem (``open``, ``cat_file``) lands here. Every
request after the first carries the object's identity (OSS: ``If-Match``), so
bytes of two versions are never mixed; a failed connection resumes from the
last byte received, as a download's part does.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

from oss_resumable_fs.engine.fetch import RETRYABLE, RetryPolicy, gave_up
from oss_resumable_fs.engine.source import ObjectIdentity, RangeReader, RangeSource
from oss_resumable_fs.errors import (
    DownloadCancelledError,
    InvalidArgumentError,
    RangeNotSatisfiableError,
    TransientError,
)

__all__ = ["SliceSource", "read_into", "read_parallel", "read_slice", "resolve_slice"]

log = logging.getLogger(__name__)


class SliceSource(RangeSource, Protocol):
    """A range source that can also answer one GET before it knows the object."""

    def open_unpinned(
        self, start: int | None, end: int | None
    ) -> tuple[RangeReader, ObjectIdentity, int, int]:
        """GET bytes ``[start, end)`` (``start=None``: the last ``end`` bytes) unpinned.

        Returns the reader, the identity the answer reveals and the range served.
        Raises :class:`RangeNotSatisfiableError` when ``start`` is at or past the end.
        """
        ...


def read_into(
    source: RangeSource,
    identity: ObjectIdentity,
    start: int,
    out: memoryview,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], object],
    first: RangeReader | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Fill ``out`` with bytes ``[start, start + len(out))`` of ``identity``.

    ``first`` is an already opened reader positioned at ``start``. A failure
    resumes from the first byte not yet received; ``max_attempts`` failures in
    a row without progress give up. ``cancelled()`` is asked before every
    receive and retry: when it says so, :class:`DownloadCancelledError`.
    """
    got, failures, reader = 0, 0, first
    while got < len(out):
        before = got
        try:
            if reader is None:
                _check(cancelled, source.name)
                reader = source.open_range(start + got, start + len(out), identity)
            try:
                while got < len(out):
                    _check(cancelled, source.name)
                    count = reader.readinto(out[got:])
                    if not count:
                        raise TransientError(
                            f"{source.name}: short body: ended at byte {start + got}",
                            target=source.name,
                        )
                    got += count
            finally:
                reader.close()
                reader = None
        except RETRYABLE as exc:
            failures = 1 if got > before else failures + 1
            if failures >= policy.max_attempts:
                raise gave_up(exc, failures) from exc
            delay = policy.delay(failures, getattr(exc, "retry_after", None))
            log.info(
                "%s: read failed (%s); retrying from byte %d in %.2f s",
                source.name,
                exc,
                start + got,
                delay,
            )
            sleep(delay)


def _check(cancelled: Callable[[], bool], name: str) -> None:
    if cancelled():
        raise DownloadCancelledError(f"{name}: read cancelled", target=name)


def read_parallel(
    source: RangeSource,
    identity: ObjectIdentity,
    start: int,
    out: memoryview,
    policy: RetryPolicy,
    *,
    part_size: int,
    executor: Executor | None,
    sleep: Callable[[float], object],
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """:func:`read_into`, split into ``part_size`` pieces read at once on ``executor``.

    Each piece lands straight in its slice of ``out``: no copies, and memory
    is what the caller asked for.
    """
    pieces = max(1, math.ceil(len(out) / part_size))
    if pieces == 1 or executor is None:
        read_into(source, identity, start, out, policy, sleep=sleep, cancelled=cancelled)
        return
    stop = threading.Event()

    def stopped() -> bool:
        return stop.is_set() or cancelled()

    def piece(index: int) -> None:
        if stopped():
            return
        low = index * part_size
        view = out[low : min(len(out), low + part_size)]
        read_into(source, identity, start + low, view, policy, sleep=sleep, cancelled=stopped)

    futures = [executor.submit(piece, index) for index in range(pieces)]
    try:
        for future in futures:
            future.result()
    finally:
        stop.set()
        for future in futures:
            future.cancel()


def resolve_slice(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    """fsspec's ``cat_file`` offsets (negative from the end, ``None`` for the ends) -> [a, b).

    Matches what fsspec's own ``cat_file`` does on a local file: a negative
    start is clipped at 0, an end past the object at its size, and a range
    that ends before it starts is an error (Python's ``read`` of a negative
    length), not an empty answer.
    """
    low = 0 if start is None else (start if start >= 0 else max(0, size + start))
    high = size if end is None else (end if end >= 0 else size + end)
    if high < low:
        raise InvalidArgumentError(f"the range ends (byte {high}) before it starts (byte {low})")
    return min(low, size), min(high, size)


def read_slice(
    source: SliceSource,
    start: int | None,
    end: int | None,
    policy: RetryPolicy,
    *,
    part_size: int,
    executor: Executor | None,
    sleep: Callable[[float], object],
) -> bytes:
    """Bytes ``[start, end)`` of the object now, fsspec offsets; usually one request.

    The first GET asks for at most ``part_size`` bytes and reveals the object's
    size and ETag; the rest, if any, is read in parallel pinned to that ETag.
    Only offsets counted from the end with a bound on both sides need a HEAD.
    """
    if start is not None and start >= 0 and end is not None and end >= 0:
        if end < start:
            raise InvalidArgumentError(f"the range ends (byte {end}) before it starts ({start})")
        if end == start:
            policy.call(source.stat, sleep, source.name)  # a missing object still says so
            return b""
    if (start is None or start >= 0) and (end is None or end >= 0):
        low = start or 0
        first_end = low + part_size if end is None else min(end, low + part_size)
        return _read_from(source, low, first_end, end, policy, part_size, executor, sleep)
    if start is not None and start < 0 and end is None:
        # A suffix range: the service clips it to the object, as fsspec clips at 0.
        try:
            reader, identity, low, high = policy.call(
                lambda: source.open_unpinned(None, -start), sleep, source.name
            )
        except RangeNotSatisfiableError:  # an empty object
            return b""
        out = bytearray(high - low)
        read_into(source, identity, low, memoryview(out), policy, sleep=sleep, first=reader)
        return bytes(out)
    identity = policy.call(source.stat, sleep, source.name)
    low, high = resolve_slice(start, end, identity.size)
    out = bytearray(high - low)
    read_parallel(
        source,
        identity,
        low,
        memoryview(out),
        policy,
        part_size=part_size,
        executor=executor,
        sleep=sleep,
    )
    return bytes(out)


def _read_from(
    source: SliceSource,
    low: int,
    first_end: int,
    end: int | None,
    policy: RetryPolicy,
    part_size: int,
    executor: Executor | None,
    sleep: Callable[[float], object],
) -> bytes:
    try:
        reader, identity, served_low, served_high = policy.call(
            lambda: source.open_unpinned(low, first_end), sleep, source.name
        )
    except RangeNotSatisfiableError:
        return b""  # at or past the end, as reading a local file there gives
    if served_low != low:
        reader.close()
        raise TransientError(
            f"{source.name}: asked for bytes from {low}, got {served_low}-{served_high - 1}",
            target=source.name,
        )
    high = identity.size if end is None else min(end, identity.size)
    out = bytearray(high - low)
    view = memoryview(out)
    head = view[: served_high - served_low]
    read_into(source, identity, low, head, policy, sleep=sleep, first=reader)
    if served_high < high:
        read_parallel(
            source,
            identity,
            served_high,
            view[served_high - low :],
            policy,
            part_size=part_size,
            executor=executor,
            sleep=sleep,
        )
    return bytes(out)
