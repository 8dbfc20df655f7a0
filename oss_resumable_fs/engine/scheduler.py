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
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.pool import STOP_GRACE, Coordinator, Stopped
from oss_resumable_fs.engine.runs import PartProgress, Run
from oss_resumable_fs.engine.tuner import ConcurrencyTuner, TuningStep

log = logging.getLogger(__name__)

#: How often the tuner looks at the throughput, seconds.
TUNER_TICK = 0.05
#: The least of a part worth cutting off for another connection, and the least
#: time (seconds) cutting must save.
MIN_SPLIT = 512 * 1024
MIN_GAIN = 0.05
#: A connection slower than this fraction of the typical one, for longer than
#: :data:`STRAGGLER_PATIENCE` seconds (or four first-byte latencies), is a straggler.
STRAGGLER_RATIO = 0.25
STRAGGLER_PATIENCE = 1.0
#: How often idle connections look for a straggler, seconds.
STRAGGLER_CHECK = 0.25


class Meter:
    """What the connections report to the tuner: bytes, throttling, time to first byte."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.throttles = 0
        self.latency: float | None = None
        #: A typical connection's bytes per second, from the parts finished so far.
        self.rate: float | None = None

    def add_bytes(self, count: int) -> None:
        with self._lock:
            self.bytes += count

    def add_throttle(self) -> None:
        with self._lock:
            self.throttles += 1

    def add_rate(self, rate: float, received: int) -> None:
        if received < 64 * 1024:  # too little to tell a rate from a latency
            return
        with self._lock:
            self.rate = rate if self.rate is None else 0.8 * self.rate + 0.2 * rate

    def add_latency(self, seconds: float) -> None:
        with self._lock:
            if self.latency is None:
                self.latency = seconds
            else:
                self.latency = 0.8 * self.latency + 0.2 * seconds


class CpuMeter:
    """How busy the CPUs were since the last call: the machine's (Linux ``/proc/stat``),
    or else this process's share of all cores.

    The machine's, because on one host the other side of the link (a local
    server, a proxy, other work) competes for the same cores.
    """

    def __init__(self) -> None:
        self._cores = os.cpu_count() or 1
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, bool]:
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                fields = [float(value) for value in stat.readline().split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
            return sum(fields) - idle, sum(fields), True
        except (OSError, ValueError, IndexError):
            return time.process_time(), time.monotonic() * self._cores, False

    def busy(self) -> float:
        now = self._sample()
        busy, total, _ = now
        last_busy, last_total, _ = self._last
        self._last = now
        return (busy - last_busy) / max(total - last_total, 1e-9)


class _Batch:
    def __init__(
        self,
        coordinator: Coordinator,
        items: Sequence[Any],
        work: Callable[[Any, memoryview], None],
        max_run: int | None,
        order: tuple[int, int],
    ) -> None:
        self.coordinator = coordinator
        self.queue: deque[Any] = deque(items)
        self.work = work
        self.max_run = max_run
        self.order = order
        self.running: set[Run] = set()
        self.in_flight = 0
        self.done = coordinator.workers_done

    def take(self, level: int) -> Any | None:
        if self.coordinator.stop.is_set():
            self.queue.clear()
        if not self.queue:
            return None
        if self.max_run is None:
            self.in_flight += 1
            return self.queue.popleft()
        wanted = max(1, min(self.max_run, len(self.queue) // max(1, level)))
        parts = [self.queue.popleft()]
        while len(parts) < wanted and self.queue and self.queue[0].start == parts[-1].end:
            parts.append(self.queue.popleft())
        return self._start(Run(parts))

    def waiting(self) -> int:
        """Parts (or items) not started yet: queued, or at the tail of a running run."""
        return len(self.queue) + sum(run.unclaimed() for run in self.running)

    def steal(self, meter: Meter) -> Run | None:
        """Work for an idle connection from a busy one: unstarted parts, else half of the
        part being read (all of it, where a straggler stands)."""
        if self.max_run is None or self.coordinator.stop.is_set() or not self.running:
            return None
        victim = max(self.running, key=Run.unclaimed)
        stolen = victim.steal()
        if stolen is not None:
            return self._start(stolen)
        now = time.monotonic()
        reading = [(run, run.current) for run in self.running if run.current is not None]
        if not reading:
            return None
        rates = sorted(progress.rate(now) for _, progress in reading)
        typical = meter.rate if meter.rate is not None else rates[len(rates) // 2]
        patience = max(STRAGGLER_PATIENCE, 4 * (meter.latency or 0.0))

        def time_left(item: tuple[Run, PartProgress]) -> float:
            run, progress = item
            return run.remaining_in_current() / max(progress.rate(now), 1.0)

        run, progress = max(reading, key=time_left)
        straggler = progress.age(now) >= patience and progress.rate(now) < typical * STRAGGLER_RATIO
        if not straggler and time_left((run, progress)) < 2 * (meter.latency or 0.0) + MIN_GAIN:
            # Half the rest on a new connection would end no sooner: it first waits
            # a round trip (and the bytes already on their way would be wasted).
            return None
        piece = run.split(MIN_SPLIT // 8 if straggler else MIN_SPLIT, where_it_stands=straggler)
        if piece is None:
            return None
        if straggler:
            log.info(
                "a connection at %.0f KiB/s (others %.0f KiB/s): its part continues elsewhere",
                progress.rate(now) / 1024,
                typical / 1024,
            )
        return self._start(Run.of_piece(piece))

    def _start(self, run: Run) -> Run:
        self.in_flight += 1
        self.running.add(run)
        return run

    def finish(self, task: Any) -> None:
        self.in_flight -= 1
        if isinstance(task, Run):
            self.running.discard(task)
        if self.coordinator.stop.is_set():
            self.queue.clear()
        if not self.queue and self.in_flight == 0:
            self.done.set()


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
        self._batches: list[_Batch] = []
        self._threads = 0
        self._idle = 0
        self._submitted = 0
        self._closed = False
        self._closing = threading.Event()
        self._tuning: threading.Thread | None = None
        self.peak = self.level if fixed is not None else 0

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
    ) -> None:
        """Run ``work(item, buffer)`` for every item; with ``max_run``, items are parts
        and ``work`` receives a :class:`Run` of up to ``max_run`` of them.

        ``first`` puts the batch ahead of the others (a small file's one request).
        Returns when all are done; raises the first error of any of them, a
        :class:`DownloadCancelledError` if the cancel event was set, or the
        caller's own ``KeyboardInterrupt``, once this batch's work has stopped.
        """
        coordinator.poll_cancel()
        coordinator.check_failed()
        if not items:
            coordinator.workers_done.set()
            return
        with self._cv:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            self._submitted += 1
            batch = _Batch(coordinator, items, work, max_run, (0 if first else 1, self._submitted))
            self._batches.append(batch)
            self._batches.sort(key=lambda b: b.order)
            self._cv.notify_all()
        try:
            if max_run is not None and len(items) > 1:
                self._tune_now()  # a known latency sets the start level before any thread
            self._spawn()
            self._start_tuning(max_run is not None and len(items) > 1)
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

    def _drop(self, batch: _Batch) -> None:
        with self._cv:
            batch.queue.clear()
            if batch.in_flight == 0:
                batch.done.set()
            self._cv.notify_all()

    def _spawn(self) -> None:
        """Start threads up to the level, as many as there is queued work for.

        Started outside the lock, so a thread that cannot start (the OS refuses)
        raises here without blocking the threads already running.
        """
        with self._cv:
            waiting = sum(batch.waiting() for batch in self._batches)
            count = max(0, min(self.level - self._threads, waiting - self._idle))
            first = self._threads
            self._threads += count  # their numbers are reserved
            self.peak = max(self.peak, min(self._threads, self.level))
        for number in range(first, first + count):
            thread = threading.Thread(
                target=self._worker, args=(number,), name=f"ossr-worker-{number}", daemon=True
            )
            try:
                thread.start()
            except BaseException:
                with self._cv:
                    self._threads -= first + count - number
                raise

    def _next_task_locked(self) -> tuple[_Batch, Any] | None:
        for batch in self._batches:
            task = batch.take(self.level)
            if task is not None:
                return batch, task
        for batch in self._batches:
            task = batch.steal(self.meter)
            if task is not None:
                return batch, task
        return None

    def _worker(self, number: int) -> None:
        buffer: memoryview | None = None
        while True:
            with self._cv:
                found = None
                while True:
                    if number < self.level:
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
            )
            try:
                self.set_level(level)
            except RuntimeError:  # the OS refused another thread: stay where we are
                log.warning("could not start more download threads", exc_info=True)
                self.tuner.hold_at(self.level)
