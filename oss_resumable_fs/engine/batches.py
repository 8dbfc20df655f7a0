"""A batch of work submitted to the scheduler, and how idle connections take from it.

See :mod:`oss_resumable_fs.engine.scheduler` and :mod:`oss_resumable_fs.engine.runs`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from oss_resumable_fs.engine.meters import Meter
from oss_resumable_fs.engine.pool import Coordinator
from oss_resumable_fs.engine.runs import Run

log = logging.getLogger(__name__)

_time_left_first = itemgetter(0)

#: The least of a part worth cutting off for another connection, and the least
#: time (seconds) cutting must save.
MIN_SPLIT = 512 * 1024
MIN_GAIN = 0.1
#: A connection slower than this fraction of the typical one, for longer than
#: :data:`STRAGGLER_PATIENCE` seconds (or four first-byte latencies), is a straggler.
STRAGGLER_RATIO = 0.25
STRAGGLER_PATIENCE = 1.0
#: How often idle connections look for a straggler, seconds.
STRAGGLER_CHECK = 0.25
#: After a look that found nothing worth taking, how long (seconds) the next idle
#: connections take that answer instead of looking again. A part's time left can
#: grow meanwhile (its connection slowing down), but a straggler needs a second to
#: be one and idle connections look only every :data:`STRAGGLER_CHECK` anyway.
STEAL_RECHECK = 0.05


class Batch:
    """One submission to the scheduler: its items (parts are handed out as runs), the
    coordinator that owns their outcome, and how many of them may run at once."""

    def __init__(
        self,
        coordinator: Coordinator,
        items: Sequence[Any],
        work: Callable[[Any, memoryview], None],
        max_run: int | None,
        order: tuple[int, int],
        limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.coordinator = coordinator
        #: The most of this batch's items running at once (``None``: the level).
        self.limit = limit
        self.queue: deque[Any] = deque(items)
        self.work = work
        self.max_run = max_run
        self.order = order
        self.running: set[Run] = set()
        #: Runs a connection gave back (it had to make way): taken before the queue.
        self.returned: deque[Run] = deque()
        self.in_flight = 0
        self.done = coordinator.workers_done
        self._clock = clock
        #: Until when :meth:`steal` answers "nothing" without looking (``clock`` time).
        self._nothing_until = 0.0

    def take(self, level: int) -> Any | None:
        if self.coordinator.stop.is_set():
            self.queue.clear()
            self.returned.clear()
        if self.returned:
            return self._start(self.returned.popleft())
        if not self.queue or (self.limit is not None and self.in_flight >= self.limit):
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
        unclaimed = sum(run.unclaimed() for run in self.running)
        return len(self.queue) + len(self.returned) + unclaimed

    def steal(self, meter: Meter) -> Run | None:
        """Work for an idle connection from a busy one: unstarted parts, else half of the
        part being read (all of it, where a straggler stands).

        Only where it pays: a new request first waits a round trip, and the bytes
        already on their way to the busy connection are dropped. Taking work must
        save at least :data:`MIN_GAIN` seconds. A look costs a pass over every
        running part, under the scheduler's lock, and when a download ends 128
        connections fall idle together: each looking in turn was a third of the
        workers' time holding the GIL (py-spy, 127 connections), 6% once a look
        that finds nothing stands for :data:`STEAL_RECHECK` seconds.
        """
        if self.max_run is None or self.coordinator.stop.is_set() or not self.running:
            return None
        now = self._clock()
        if now < self._nothing_until:
            return None
        stolen = self._steal(meter, now)
        return None if stolen is None else self._start(stolen)

    def _steal(self, meter: Meter, now: float) -> Run | None:
        worth_it = 2 * ((meter.latency or 0.0) + MIN_GAIN)

        def time_left(run: Run) -> float:
            progress = run.current
            rate = progress.rate(now) if progress is not None else meter.rate or 0.0
            return run.remaining_bytes() / max(rate, 1.0)

        waiting = [run for run in self.running if run.unclaimed()]
        if waiting:
            left, victim = max(((time_left(run), run) for run in waiting), key=_time_left_first)
            if left < worth_it:
                return self._nothing_for_now(now)
            return victim.steal()  # None only if its reader claimed the rest meanwhile
        reading = [run for run in self.running if run.current is not None]
        if not reading:
            return self._nothing_for_now(now)
        left, run = max(((time_left(run), run) for run in reading), key=_time_left_first)
        progress = run.current
        assert progress is not None
        typical = meter.rate
        if typical is None:
            rates = sorted(other.current.rate(now) for other in reading if other.current)
            typical = rates[len(rates) // 2]
        patience = max(STRAGGLER_PATIENCE, 4 * (meter.latency or 0.0))
        rate = progress.rate(now)
        straggler = progress.age(now) >= patience and rate < typical * STRAGGLER_RATIO
        if not straggler and left < worth_it:
            return self._nothing_for_now(now)
        piece = run.split(MIN_SPLIT // 8 if straggler else MIN_SPLIT, where_it_stands=straggler)
        if piece is None:
            return self._nothing_for_now(now)  # too little left to cut
        if straggler:
            log.info(
                "a connection at %.0f KiB/s (others %.0f KiB/s): its part continues elsewhere",
                rate / 1024,
                typical / 1024,
            )
        return Run.of_piece(piece)

    def _nothing_for_now(self, now: float) -> None:
        self._nothing_until = now + STEAL_RECHECK

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
            self.returned.clear()
        if not self.queue and not self.returned and self.in_flight == 0:
            self.done.set()
