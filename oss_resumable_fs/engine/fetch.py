"""Fetching one part: stream into a reused buffer, write in place, retry from the last byte."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.integrity import crc64
from oss_resumable_fs.engine.meters import Meter
from oss_resumable_fs.engine.plan import Part
from oss_resumable_fs.engine.pool import Coordinator, ProgressReporter
from oss_resumable_fs.engine.runs import PartProgress, Run, completed
from oss_resumable_fs.engine.sink import PartialFile
from oss_resumable_fs.engine.source import ObjectIdentity, RangeReader, RangeSource
from oss_resumable_fs.errors import TransientError

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def sleep_polling(seconds: float, cancelled: Callable[[], bool], poll: float) -> bool:
    """Sleep ``seconds``, asking ``cancelled()`` every ``poll``; True if it cut the sleep short.

    Polled rather than waited on: a cancel flag may be a caller's event or any
    ``is_set`` (``fs.get`` passes one that follows the caller's event).
    """
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancelled():
            return True
        time.sleep(min(left, poll))
    return cancelled()


#: The longest a service-suggested delay (``x-oss-qos-delay-time``) is honoured, seconds.
MAX_RETRY_AFTER = 300.0

#: How often a throttled request's backoff doubles at most: the service's delay is
#: the floor, and the scheduler meanwhile cuts the number of connections.
THROTTLED_DOUBLINGS = 3

#: Failures after which the same range is worth asking for again.
RETRYABLE: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, floored by the service's ``retry_after``."""

    max_attempts: int
    backoff_base: float
    backoff_max: float
    #: Returns a float in [0, 1); injectable so tests are deterministic.
    jitter: Callable[[], float]

    @classmethod
    def from_config(
        cls, config: TransferConfig, jitter: Callable[[], float] = random.random
    ) -> RetryPolicy:
        return cls(config.max_attempts, config.backoff_base, config.backoff_max, jitter)

    def delay(
        self, failures: int, retry_after: float | None = None, *, throttled: bool = False
    ) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (counting from 1).

        A throttled request (the service asked us to slow down) grows its wait only
        three times over: the service's own delay is the floor, and the scheduler
        slows the whole transfer down by using fewer connections.
        """
        doublings = min(failures - 1, THROTTLED_DOUBLINGS if throttled else 62)
        ceiling = min(self.backoff_max, self.backoff_base * 2**doublings)
        delay = self.jitter() * ceiling
        if retry_after is not None:
            # The service's hint is a floor, within reason: a bogus one must not stall
            # us. The jitter goes on top, or every connection it turned away at once
            # would come back at once.
            delay += min(retry_after, MAX_RETRY_AFTER)
        return delay

    def call(
        self,
        attempt: Callable[[], _T],
        sleep: Callable[[float], object],
        what: str,
        *,
        log: logging.Logger = log,
    ) -> _T:
        """``attempt()`` until it returns; a :data:`RETRYABLE` failure waits, then tries again.

        For one request that either answers or not (a HEAD, a listing page); a
        part's read, which makes progress, keeps its own count (:class:`PartFetcher`).
        Each retry is logged at INFO on ``log``; giving up raises a
        :class:`TransientError` that says how many attempts were made.
        """
        failures = 0
        while True:
            try:
                return attempt()
            except RETRYABLE as exc:
                failures += 1
                if failures >= self.max_attempts:
                    raise gave_up(exc, failures) from exc
                delay = self.delay(failures, getattr(exc, "retry_after", None))
                log.info(
                    "%s: attempt %d of %d failed (%s); retrying in %.2f s",
                    what,
                    failures,
                    self.max_attempts,
                    exc,
                    delay,
                )
                sleep(delay)


def gave_up(exc: BaseException, attempts: int) -> TransientError:
    fields = {name: getattr(exc, name, None) for name in ("code", "request_id", "target")}
    noun = "attempt" if attempts == 1 else "attempts"
    return TransientError(
        f"{exc} (gave up after {attempts} {noun})",
        retry_after=getattr(exc, "retry_after", None),
        **fields,
    )


class TransferStats:
    """Counters shared by the workers of one download."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_fetched = 0
        self.parts_fetched = 0
        self.retries = 0

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_bytes(self, count: int) -> None:
        with self._lock:
            self.bytes_fetched += count

    def add_part(self) -> None:
        with self._lock:
            self.parts_fetched += 1


class PartFetcher:
    """Downloads parts of one pinned object version into the partial file."""

    def __init__(
        self,
        source: RangeSource,
        identity: ObjectIdentity,
        sink: PartialFile,
        coordinator: Coordinator,
        policy: RetryPolicy,
        sleep: Callable[[float], object] | None,
        stats: TransferStats,
        progress: ProgressReporter | None,
        meter: Meter | None = None,
        make_way: Callable[[Callable[[], list[Run]]], bool] | None = None,
    ) -> None:
        self._source = source
        self._identity = identity
        self._sink = sink
        self._coordinator = coordinator
        self._policy = policy
        # Default: a sleep that ends early when the work is stopped (cancel, error).
        self._sleep = sleep if sleep is not None else coordinator.stop.wait
        self._stats = stats
        self._progress = progress
        self._meter = meter or Meter()
        #: Asked when the service throttles us: whether to hand the run back (the
        #: scheduler's :meth:`~.scheduler.Scheduler.make_way`).
        self._make_way = make_way or (lambda runs: False)

    def fetch(self, part: Part, buffer: memoryview) -> int:
        """Write one ``part`` to the partial file and return its CRC-64."""
        crcs: list[int] = []
        self.fetch_run(Run([part]), buffer, lambda _, crc: crcs.append(crc))
        return crcs[0]

    def fetch_run(
        self, run: Run, buffer: memoryview, part_done: Callable[[Part, int], None]
    ) -> None:
        """Write the parts of ``run`` to the partial file, with one request if all goes well.

        ``part_done(part, crc)`` is called as each part is complete (for a part cut
        in two, by whichever half ends last). The buffer is filled (several
        ``readinto`` calls if the network hands out less) before one ``pwrite`` and
        one CRC update, never beyond a part's end. A failed connection resumes at
        the first byte not yet written, up to the run's end as it is then (another
        connection may have taken its tail). Only ``max_attempts`` failures in a
        row *without progress* abandon it.
        """
        state = run.claim()
        failures = 0
        while state is not None:
            if state.done():  # cut where it stood: the rest is another connection's
                state = self._finish(run, state, part_done)
                continue
            self._coordinator.check()
            part = state.part
            start = part.start + state.written
            before = state.written
            try:
                opened = time.monotonic()
                reader = self._source.open_range(start, run.end, self._identity)
                self._meter.add_latency(time.monotonic() - opened)
                with self._coordinator.track(reader):
                    while state is not None:
                        state.reader = reader
                        state.restart()
                        self._stream(reader, state, buffer)
                        state = self._finish(run, state, part_done)
                        failures = 0
            except RETRYABLE as exc:
                # A read that failed because we closed it on purpose is not a failure.
                self._coordinator.check()
                assert state is not None
                self._flush(state, buffer)
                if state.done():
                    continue  # closed because another connection took the rest
                if state.written > before:
                    failures = 0  # bytes flowed: the connection was not hopeless
                failures += 1
                throttled = getattr(exc, "throttled", False)
                if throttled:
                    self._meter.add_throttle()
                    if self._make_way(run.give_back):
                        continue  # the rest is another connection's now
                if failures >= self._policy.max_attempts:
                    raise TransientError(
                        f"{self._source.name}: bytes {part.start + state.written}-{part.end - 1} "
                        f"failed {failures} times in a row without progress; last error: {exc}"
                    ) from exc
                retry_after = getattr(exc, "retry_after", None)
                delay = self._policy.delay(failures, retry_after, throttled=throttled)
                self._stats.add_retry()
                log.info(
                    "%s: part %d failed (%s); retrying from byte %d in %.2f s",
                    self._source.name,
                    part.index,
                    exc,
                    part.start + state.written,
                    delay,
                )
                self._sleep(delay)

    def _finish(
        self, run: Run, state: PartProgress, part_done: Callable[[Part, int], None]
    ) -> PartProgress | None:
        """Report a part whose bytes (up to its end) are written; return the next one."""
        self._meter.add_rate(state.rate(time.monotonic()), state.received)
        crc = state.finish(0, state.crc, state.end)
        done = None if crc is None else completed(state, crc)
        if done is not None:
            part_done(*done)
        return run.claim()

    def _stream(self, reader: RangeReader, state: PartProgress, buffer: memoryview) -> None:
        part = state.part
        while not state.done():
            self._coordinator.check()
            end = min(len(buffer), state.end - state.written)
            if state.filled >= end:  # the end moved back below what is buffered
                self._flush(state, buffer)
                continue
            view = buffer[state.filled : end]
            count = reader.readinto(view)
            if count is None or not 0 <= count <= len(view):
                raise TransientError(
                    f"{self._source.name}: reader returned {count!r} for a {len(view)}-byte buffer"
                )
            if count == 0:
                raise TransientError(
                    f"{self._source.name}: short body for bytes {part.start}-{part.end - 1}: "
                    f"ended at {part.start + state.position}"
                )
            self._meter.add_bytes(count)
            state.accept(count)
            if state.filled >= min(len(buffer), state.end - state.written):
                self._flush(state, buffer)

    def _flush(self, state: PartProgress, buffer: memoryview) -> None:
        """Write the buffer's received bytes in place and fold them into the CRC."""
        count = state.to_write()
        if count <= 0:
            state.wrote(0, state.crc)
            return
        chunk = buffer[:count]
        self._sink.write_at(state.part.start + state.written, chunk)
        state.wrote(count, crc64(chunk, state.crc))
        self._stats.add_bytes(count)
        if self._progress is not None:
            self._progress.add(count)
