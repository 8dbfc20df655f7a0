"""How many connections to use: probe upward while throughput grows, settle when it stops.

No fixed number suits every link. On loopback or a LAN two cores are the limit
and sixteen connections already saturate them; over the internet each TCP
stream is capped (by the path, or by the service per connection) and a link
can take ten times more. So, like azcopy's concurrency tuner, we measure: start
at a modest level, and after each change wait until the new connections have
had time to deliver (one measured time-to-first-byte and a little more), then
compare the aggregate throughput with the level before. The first probe
doubles the level, or quadruples it on a long round trip, where ramping up
slowly costs much.

A long time to first byte says more before any throughput is measured: a
stream's rate falls as the round trip grows (TCP's window), so the start level
is scaled by the first measured latency over 20 ms before probing begins.

* Near-linear gain (the link is far from full): grow fast, four times.
* Real but smaller gain: grow twice.
* A little gain: keep the new level and stop probing.
* No gain: go back to the previous level and stop probing.
* Throttling (503, ``x-oss-qos-delay-time``): never that level again; back to
  the highest level that ran unthrottled (else to half), then a few round
  trips of calm (answers to requests sent before are still coming); later
  probes go only halfway towards the throttled level.
* Every core busy: stop growing (more threads only add contention).

Once settled, it probes +25 % now and then, so a link that got faster is found.
The tuner is pure arithmetic over what :meth:`observe` is told; the scheduler
feeds it, and tests drive it with a simulated link.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Gains as a fraction of the proportional gain (doubling the level and the
#: throughput: 1.0).
_FAST_GROWTH = 0.75
_GROWTH = 0.35
#: Smallest relative gain worth the extra connections.
_WORTH_IT = 0.08
#: Fraction of the level kept after throttling.
_THROTTLE_BACKOFF = 0.5
#: After backing off, throttling answers are not acted on for this long (or four
#: round trips): requests sent before the back-off are still being answered.
_THROTTLE_QUIET = 0.3
#: Share of all cores above which the process counts as CPU-bound.
_CPU_BOUND = 0.9
#: Time to first byte at which the start level is enough; a longer one scales it.
_REFERENCE_LATENCY = 0.02


@dataclass(frozen=True)
class TuningStep:
    """One decision: at ``at`` seconds the level went to ``connections``, and why."""

    at: float
    connections: int
    #: Aggregate throughput measured at the level before, bytes per second;
    #: ``None`` when the change came before a measurement (a round trip, a throttle).
    measured: float | None
    reason: str

    def describe(self) -> str:
        if self.measured is None:
            return f"{self.at:.2f}s: {self.connections} connections ({self.reason})"
        mib = self.measured / (1024 * 1024)
        return f"{self.at:.2f}s: {self.connections} connections ({self.reason}; {mib:.1f} MiB/s)"


class ConcurrencyTuner:
    """Decides the number of connections from the bytes they deliver over time."""

    def __init__(
        self,
        *,
        start: int,
        ceiling: int,
        floor: int = 2,
        min_window: float = 0.1,
        reprobe_after: float = 3.0,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = min(floor, self.ceiling)
        self.level = max(self.floor, min(start, self.ceiling))
        self.min_window = min_window
        self.reprobe_after = reprobe_after
        self.history: list[TuningStep] = []
        #: The highest level used so far.
        self.peak = self.level
        self._probing = True
        #: (level, throughput) before the last change, to compare with.
        self._before: tuple[int, float] | None = None
        self._changed_at: float | None = None
        #: (start time, bytes then, throttles seen then) of the window being measured.
        self._window: tuple[float, int, int] | None = None
        self._throttles_seen = 0
        self._cap = self.ceiling
        #: The highest level that ran a whole window without being throttled.
        self._good = 0
        self._was_throttled = False
        self._quiet_until = 0.0
        self._settled_at = 0.0
        self._started: float | None = None
        self._seeded = False
        self._seeded_from: float | None = None

    def hold_at(self, level: int) -> None:
        """Never go above ``level`` (the machine would not give more threads)."""
        self._cap = max(self.floor, min(self._cap, level))
        self.level = min(self.level, self._cap)

    def observe(
        self,
        now: float,
        total_bytes: int,
        *,
        latency: float | None,
        throttles: int = 0,
        cpu_share: float = 0.0,
        demand: int | None = None,
    ) -> int:
        """Account for the bytes delivered so far; return the level to run at now.

        ``latency`` is the typical time to a request's first byte (``None``
        before any answered); ``throttles`` counts throttling answers so far;
        ``cpu_share`` is how busy the CPUs were lately (0 to 1); ``demand`` is
        how many connections the work there is now could keep busy (``None``:
        not known).
        """
        if self._started is None:
            self._started = now
            self._changed_at = now
        if throttles > self._throttles_seen:
            self._throttles_seen = throttles
            if now >= self._quiet_until:
                self._quiet_until = now + max(_THROTTLE_QUIET, 4 * (latency or 0.0))
                return self._throttled(now, total_bytes)
        if not self._seeded and latency is not None:
            self._seeded = True
            seed = round(self.level * latency / _REFERENCE_LATENCY)
            if seed > self.level and self._probing:
                self._seeded_from = latency
                reason = f"round trip {latency * 1000:.0f} ms"
                return self._record(now, min(seed, self._cap), None, reason)
        if demand is not None and demand < self.level:
            # Too little work left to keep the level busy (the end of a download):
            # what the connections deliver now says nothing about the level.
            self._window = None
            return self.level
        if self._window is None:
            if total_bytes == 0 or latency is None:
                return self.level  # nothing has arrived yet: no basis to judge
            assert self._changed_at is not None
            settle = max(self.min_window / 2, 1.2 * latency)
            if now - self._changed_at >= settle:
                self._window = (now, total_bytes, self._throttles_seen)
            return self.level
        began, bytes_then, throttles_then = self._window
        span = now - began
        # The first window only sets the baseline (the first probe grows anyway): short.
        first = self._probing and self._before is None
        shortest = self.min_window / 2 if first else self.min_window
        if span < max(shortest, 0.5 * (latency or 0.0)):
            return self.level
        throughput = (total_bytes - bytes_then) / span
        self._window = (now, total_bytes, self._throttles_seen)
        if self._throttles_seen == throttles_then:  # also none while quiet
            self._good = max(self._good, self.level)
        return self._decide(now, throughput, cpu_share)

    def _decide(self, now: float, throughput: float, cpu_share: float) -> int:
        level, before = self.level, self._before
        if not self._probing:
            if now - self._settled_at >= self.reprobe_after and level < self._cap:
                self._probing = True
                return self._change(now, self._grow(level, 1.25), throughput, "re-probing")
            self._before = (level, throughput)
            return level
        if before is None:
            if cpu_share >= _CPU_BOUND:
                return self._settle(now, level, throughput, "CPU-bound")
            # Four times on a long round trip (many connections are likely needed),
            # twice on a short one (the machine, not the link, is the likely limit).
            factor = 4 if self._seeded_from is not None else 2
            return self._change(now, self._grow(level, factor), throughput, "first probe")
        old_level, old_throughput = before
        gain = throughput / old_throughput - 1 if old_throughput > 0 else float("inf")
        proportional = level / old_level - 1 if level > old_level else 0.0
        if level <= old_level or proportional <= 0:
            return self._settle(now, level, throughput, "steady")
        if gain >= _FAST_GROWTH * proportional and cpu_share < _CPU_BOUND:
            return self._change(now, self._grow(level, 4), throughput, f"+{gain:.0%} throughput")
        if gain >= _GROWTH * proportional and cpu_share < _CPU_BOUND:
            return self._change(now, self._grow(level, 2), throughput, f"+{gain:.0%} throughput")
        if gain >= _WORTH_IT:
            # Sublinear: the link filled somewhere between the two levels. The old
            # level's rate per connection says where.
            reason = "CPU-bound" if cpu_share >= _CPU_BOUND else f"only +{gain:.0%}"
            per_connection = old_throughput / old_level
            enough = math.ceil(1.1 * throughput / per_connection) if per_connection else level
            return self._settle(now, max(old_level, min(level, enough)), throughput, reason)
        return self._settle(now, old_level, throughput, f"{gain:+.0%} throughput: back")

    def _change(self, now: float, level: int, throughput: float, reason: str) -> int:
        level = max(self.floor, min(level, self._cap))
        if level == self.level:
            return self._settle(now, level, throughput, f"{reason}; at the ceiling")
        self._before = (self.level, throughput)
        return self._record(now, level, throughput, reason)

    def _settle(self, now: float, level: int, throughput: float, reason: str) -> int:
        self._probing = False
        self._settled_at = now
        self._before = (level, throughput)
        if level == self.level:
            self._step(now, level, throughput, f"settled ({reason})")
            return level
        return self._record(now, level, throughput, f"settled ({reason})")

    def _grow(self, level: int, factor: float) -> int:
        """The next level up: by ``factor``; once throttled, halfway to the throttled level."""
        if self._was_throttled:
            return level + max(1, (self._cap - level + 1) // 2)
        return max(level + 1, int(level * factor))

    def _throttled(self, now: float, total_bytes: int) -> int:
        """Never again the throttled level; back to the best level that was not throttled."""
        self._was_throttled = True
        self._cap = max(self.floor, self.level - 1)
        if 0 < self._good < self.level:
            level = self._good
        else:
            level = max(self.floor, int(self.level * _THROTTLE_BACKOFF))
        self._probing = False
        self._settled_at = now
        self._before = None
        return self._record(
            now, level, self._rate_so_far(now, total_bytes), "throttled by the service"
        )

    def _rate_so_far(self, now: float, total_bytes: int) -> float | None:
        """Throughput of the window under way (``None`` before one began): what
        the throttled level delivered, for the record."""
        if self._window is None:
            return None
        began, bytes_then, _ = self._window
        return (total_bytes - bytes_then) / (now - began) if now > began else None

    def _record(self, now: float, level: int, throughput: float | None, reason: str) -> int:
        self.level = level
        self.peak = max(self.peak, level)
        self._changed_at = now
        self._window = None
        self._step(now, level, throughput, reason)
        return level

    def _step(self, now: float, level: int, throughput: float | None, reason: str) -> None:
        step = TuningStep(round(now - (self._started or now), 3), level, throughput, reason)
        self.history.append(step)
        log.info("concurrency: %s", step.describe())
