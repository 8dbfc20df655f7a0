"""One pool of connections for every byte of a call: parts of large objects, small objects.

A download (or a whole ``get``) submits *batches* of work to one
:class:`Scheduler`; its worker threads take the next task from whichever batch
has one, so a large object's parts and many small objects interleave on one
set of connections, and nothing waits for the slowest member of a batch.

Budgets. The number of working threads is the *level*: fixed when the caller
gave ``concurrency``, else chosen by :class:`~.tuner.ConcurrencyTuner` from the
measured throughput, never above the ceiling (``max_connections``, and
``max_buffer_memory`` divided by the buffer each thread owns). Memory in
flight is therefore at most ``ceiling * buffer_size``.

Runs and stealing. The parts of an object are small journal units (2 MiB by
default); a thread takes a *run* of consecutive units and reads it with one
GET, so few connections still make large requests. When the queue is empty
an idle thread takes work from a busy one (:mod:`.runs`): the units it has not
started, else half of the unit it is reading, or all the rest of it when that
connection is a straggler. The tail of a download thus spreads over every
connection, and a slow one holds up nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.batches import STRAGGLER_CHECK, Batch
from oss_resumable_fs.engine.meters import CpuMeter, Meter
from oss_resumable_fs.engine.pool import STOP_GRACE, Coordinator, Stopped
from oss_resumable_fs.engine.runs import Run
from oss_resumable_fs.engine.tuner import ConcurrencyTuner, TuningStep

log = logging.getLogger(__name__)

#: How often the tuner looks at the throughput, seconds.
TUNER_TICK = 0.05
#: Per thread: the buffer of each scheduler whose worker the thread is.
_worker_state = threading.local()


class Scheduler:
    """Worker threads shared by every batch submitted to it, at a level the tuner sets."""

    def __init__(
        self,
        *,
        ceiling: int,
        buffer_size: int,
        fixed: int | None = None,
        start: int = 16,
        poll_interval: float = 0.1,
        tuner: ConcurrencyTuner | None = None,
        clock: Callable[[], float] = time.monotonic,
        cpu_busy: Callable[[], float] | None = None,
    ) -> None:
        """``cpu_busy`` returns how busy the CPUs were since its last call (0 to 1);
        the default measures the machine (:class:`CpuMeter`)."""
        self.ceiling = max(1, ceiling)
        self.buffer_size = buffer_size
        self.poll_interval = poll_interval
        self.meter = Meter()
        self._clock = clock
        self._cpu_busy = cpu_busy
        if fixed is not None:
            self.tuner = None
            self.level = min(fixed, self.ceiling)
        else:
            self.tuner = tuner or ConcurrencyTuner(start=start, ceiling=self.ceiling)
            self.level = self.tuner.level
        self._cv = threading.Condition()
        self._batches: list[Batch] = []
        self._threads = 0
        self._idle = 0
        self._submitted = 0
        self._turn = 0
        self._closed = False
        self._closing = threading.Event()
        self._tuning: threading.Thread | None = None
        #: The most threads that worked at once (at most the work there was).
        self.peak = 0

    @classmethod
    def for_config(cls, config: TransferConfig, *, poll_interval: float = 0.1) -> Scheduler:
        """Within ``config``'s budgets: a fixed ``concurrency``, else tuned."""
        return cls(
            ceiling=config.connection_ceiling(),
            buffer_size=config.buffer_size,
            fixed=config.concurrency,
            poll_interval=poll_interval,
        )

    # -- public --------------------------------------------------------------------------

    @property
    def history(self) -> tuple[TuningStep, ...]:
        return tuple(self.tuner.history) if self.tuner is not None else ()

    def run(
        self,
        coordinator: Coordinator,
        items: Sequence[Any],
        work: Callable[[Any, memoryview], None],
        *,
        max_run: int | None = None,
        first: bool = False,
        limit: int | None = None,
    ) -> None:
        """Run ``work(item, buffer)`` for every item; with ``max_run``, items are parts
        and ``work`` receives a :class:`Run` of up to ``max_run`` of them.

        ``first`` puts the batch ahead of the others (a small file's one request);
        ``limit`` caps how many of its items run at once. Called from one of this
        scheduler's own threads (a small file of a ``get`` being fetched there),
        the work runs right there, on that thread's connection and buffer.
        Returns when all are done; raises the first error of any of them, a
        :class:`DownloadCancelledError` if the cancel event was set, or the
        caller's own ``KeyboardInterrupt``, once this batch's work has stopped.
        """
        coordinator.poll_cancel()
        coordinator.check_failed()
        if not items:
            coordinator.workers_done.set()
            return
        own_buffer = getattr(_worker_state, "buffers", {}).get(id(self))
        if own_buffer is not None:
            self._run_here(coordinator, items, work, max_run, own_buffer)
            return
        with self._cv:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            self._submitted += 1
            order = (0 if first else 1, self._submitted)
            batch = Batch(coordinator, items, work, max_run, order, limit, self._clock)
            self._batches.append(batch)
            self._batches.sort(key=lambda b: b.order)
            self._cv.notify_all()
        try:
            if max_run is not None and len(items) > 1:
                self._tune_now()  # a known latency sets the start level before any thread
            self._spawn()
            self._start_tuning(len(items) > 1)
            while not batch.done.wait(self.poll_interval):
                coordinator.poll_cancel()
                if coordinator.stop.is_set():
                    self._drop(batch)
        except BaseException:
            # Ctrl-C in the calling thread, or a thread that could not start: stop
            # this batch's work, and wait for it a while.
            coordinator.halt()
            self._drop(batch)
            coordinator.abandoned = True
            if batch.done.wait(STOP_GRACE):
                coordinator.abandoned = False
            else:
                log.warning("download workers did not stop within %.0f s", STOP_GRACE)
            raise
        finally:
            with self._cv:
                if batch.done.is_set() and batch in self._batches:
                    self._batches.remove(batch)
        coordinator.check_failed()

    @staticmethod
    def _run_here(
        coordinator: Coordinator,
        items: Sequence[Any],
        work: Callable[[Any, memoryview], None],
        max_run: int | None,
        buffer: memoryview,
    ) -> None:
        # Work run here has no batch of its own to give work back to.
        outer, _worker_state.current = getattr(_worker_state, "current", None), None
        try:
            if max_run is not None:
                work(Run(items), buffer)  # one request for all: this is one connection
            else:
                for item in items:
                    coordinator.poll_cancel()
                    coordinator.check_failed()
                    work(item, buffer)
        except Stopped:
            coordinator.check_failed()
            raise
        finally:
            _worker_state.current = outer
            coordinator.workers_done.set()

    def close(self) -> None:
        """Let the threads end once idle; the scheduler takes no more work."""
        with self._cv:
            self._closed = True
            self._closing.set()
            self._cv.notify_all()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- threads -------------------------------------------------------------------------

    def _drop(self, batch: Batch) -> None:
        with self._cv:
            batch.queue.clear()
            batch.returned.clear()
            if batch.in_flight == 0:
                batch.done.set()
            self._cv.notify_all()

    def _spawn(self) -> None:
        """Start threads up to the level, as many as there is queued work for.

        The threads of one call go together once all of them have started (or
        one could not): a thread that took work as soon as it started would hold
        the GIL while it sent its request, and on busy cores the next start waited
        for it, so the last of 128 connections opened a few hundred milliseconds
        after the first. Started outside the lock, so a thread that cannot start
        (the OS refuses) raises here without blocking the threads already running.
        """
        with self._cv:
            waiting = sum(batch.waiting() for batch in self._batches)
            allowed = self._allowed_locked()
            count = max(0, min(allowed - self._threads, waiting - self._idle))
            first = self._threads
            self._threads += count  # their numbers are reserved
            self.peak = max(self.peak, min(self._threads, allowed))
        go = threading.Event()
        started = 0
        try:
            for number in range(first, first + count):
                thread = threading.Thread(
                    target=self._worker,
                    args=(number, go),
                    name=f"ossr-worker-{number}",
                    daemon=True,
                )
                thread.start()
                started += 1
        finally:
            go.set()
            if started < count:
                with self._cv:
                    self._threads -= count - started

    def _allowed_locked(self) -> int:
        """How many threads may work: the tuner's level, or a little more (a quarter at
        most, within the ceiling) when that many would take all the work left at
        once. 122 connections on 128 parts would fetch 6 of them in a second round
        that takes as long as the first."""
        level = self.level
        if self.tuner is None:
            return level
        pending = self._demand_locked()
        if level < pending <= min(self.ceiling, level + level // 4):
            return pending
        return level

    def _demand_locked(self) -> int:
        """How many connections the work there is now could keep busy: running and waiting."""
        return sum(batch.waiting() + batch.in_flight for batch in self._batches)

    def _next_task_locked(self) -> tuple[Batch, Any] | None:
        """The next task: from batches of whole files and batches of parts in turn (so
        neither starves the other), oldest batch first within each kind."""
        kinds = (
            [b for b in self._batches if b.max_run is None],
            [b for b in self._batches if b.max_run is not None],
        )
        self._turn ^= 1
        for batches in (kinds[self._turn], kinds[1 - self._turn]):
            for batch in batches:
                task = batch.take(self.level)
                if task is not None:
                    return batch, task
        for batch in self._batches:
            task = batch.steal(self.meter)
            if task is not None:
                return batch, task
        return None

    def _worker(self, number: int, go: threading.Event) -> None:
        go.wait()  # the rest of this thread's group has started (see _spawn)
        buffer: memoryview | None = None
        while True:
            with self._cv:
                found = None
                while True:
                    if number < self._allowed_locked():
                        found = self._next_task_locked()
                        if found is not None:
                            break
                    if self._closed and not self._batches:
                        self._threads -= 1
                        return
                    self._idle += 1
                    # While parts are being read, look again now and then: one of
                    # them may turn out to be a straggler.
                    reading = any(batch.running for batch in self._batches)
                    self._cv.wait(STRAGGLER_CHECK if reading else None)
                    self._idle -= 1
            batch, task = found
            if buffer is None:
                buffer = memoryview(bytearray(self.buffer_size))
                _worker_state.__dict__.setdefault("buffers", {})[id(self)] = buffer
            _worker_state.current = (self, number, batch)
            try:
                batch.work(task, buffer)
            except Stopped:
                pass
            except BaseException as exc:
                batch.coordinator.fail(exc)
            finally:
                # No wake-up for others: finishing makes no new work (this
                # thread looks for more itself), and the caller waits on the
                # batch's own event.
                with self._cv:
                    batch.finish(task)
                    # A caller that gave up waiting (Ctrl-C) left it here: once its
                    # work is over, nothing keeps the threads from ending at close.
                    if batch.done.is_set() and batch in self._batches:
                        self._batches.remove(batch)

    def make_way(self, runs: Callable[[], list[Run]]) -> bool:
        """Called by a connection the service throttled: if it is above the level (the
        tuner has cut it), the rest of its work (``runs()``) goes back to its batch for
        the connections within the level, and it stops; returns whether it did.

        Without this, a connection cut by the tuner would wait out its backoff
        holding a part that a connection within the level could fetch now.
        """
        current = getattr(_worker_state, "current", None)
        if current is None or current[0] is not self:
            return False
        _, number, batch = current
        if number < self.level:
            return False
        given = runs()
        with self._cv:
            batch.returned.extend(given)
            self._cv.notify_all()
        return True

    # -- tuning --------------------------------------------------------------------------

    def set_level(self, level: int) -> None:
        with self._cv:
            if level == self.level:
                return
            self.level = max(1, min(level, self.ceiling))
            self._cv.notify_all()
        self._spawn()

    def _tune_now(self) -> None:
        if self.tuner is not None and self.meter.latency is not None:
            meter = self.meter
            level = self.tuner.observe(
                self._clock(), meter.bytes, latency=meter.latency, throttles=meter.throttles
            )
            with self._cv:
                self.level = max(1, min(level, self.ceiling))

    def _start_tuning(self, worth_it: bool) -> None:
        if self.tuner is None or not worth_it:
            return
        with self._cv:
            if self._tuning is not None:
                return
            self._tuning = threading.Thread(target=self._tune, name="ossr-tuner", daemon=True)
            self._tuning.start()

    def _tune(self) -> None:
        assert self.tuner is not None
        cpu_busy = self._cpu_busy or CpuMeter().busy
        while not self._closing.wait(TUNER_TICK):
            with self._cv:
                demand = self._demand_locked()
                busy = any(batch.queue or batch.in_flight for batch in self._batches)
            share = cpu_busy()
            if not busy:
                continue
            now = self._clock()
            meter = self.meter
            level = self.tuner.observe(
                now,
                meter.bytes,
                latency=meter.latency,
                throttles=meter.throttles,
                cpu_share=share,
                demand=demand,
            )
            try:
                self.set_level(level)
            except RuntimeError:  # the OS refused another thread: stay where we are
                log.warning("could not start more download threads", exc_info=True)
                self.tuner.hold_at(self.level)
