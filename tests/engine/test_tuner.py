"""The concurrency tuner against a simulated link, in simulated time.

The link: each connection delivers ``per_connection`` bytes/s once ``latency``
seconds have passed since it opened; all of them together at most ``total``;
optionally it throttles (counts a 503) whenever more than ``throttle_above``
connections are open. The tuner is asked every 50 ms, as the scheduler does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oss_resumable_fs.config import MiB
from oss_resumable_fs.engine.tuner import ConcurrencyTuner

TICK = 0.05


@dataclass
class SimulatedLink:
    per_connection: float
    latency: float
    total: float = float("inf")
    throttle_above: int | None = None
    cpu_share: float = 0.3
    #: From this time on, work for only this many connections (the end of a download);
    #: the connections without work deliver nothing. ``None``: work for any number.
    work_ends: tuple[float, int] | None = None
    #: When each open connection started delivering.
    ready_at: list[float] = field(default_factory=list)
    delivered: float = 0.0
    throttles: int = 0

    def run(self, tuner: ConcurrencyTuner, seconds: float) -> list[int]:
        """Drive ``tuner`` for ``seconds``; return the level after each tick."""
        levels = []
        now = 0.0
        self._resize(tuner.level, now)
        while now < seconds:
            now += TICK
            streaming = sum(1 for ready in self.ready_at if ready <= now)
            demand = None
            if self.work_ends is not None and now >= self.work_ends[0]:
                demand = self.work_ends[1]
                streaming = min(streaming, demand)
            self.delivered += min(self.total, streaming * self.per_connection) * TICK
            if self.throttle_above is not None and len(self.ready_at) > self.throttle_above:
                self.throttles += 1
            level = tuner.observe(
                now,
                int(self.delivered),
                latency=self.latency if self.delivered else None,
                throttles=self.throttles,
                cpu_share=self.cpu_share,
                demand=demand,
            )
            self._resize(level, now)
            levels.append(level)
        return levels

    def _resize(self, level: int, now: float) -> None:
        while len(self.ready_at) < level:
            self.ready_at.append(now + self.latency)
        del self.ready_at[level:]


def test_a_per_connection_capped_wan_link_is_filled_fast() -> None:
    # 4 MiB/s per connection, 150 ms: every connection adds throughput.
    link = SimulatedLink(per_connection=4 * MiB, latency=0.15)
    tuner = ConcurrencyTuner(start=16, ceiling=128)
    levels = link.run(tuner, 3.0)
    first_at_ceiling = levels.index(128) * TICK
    assert first_at_ceiling <= 1.0, tuner.history
    assert levels[-1] == 128
    assert tuner.history[0].reason.startswith("round trip 150 ms")


def test_a_link_full_at_the_start_gains_nothing_and_goes_back() -> None:
    # Loopback-like: 2 ms, and 16 connections already take everything there is.
    link = SimulatedLink(per_connection=100 * MiB, latency=0.002, total=800 * MiB)
    tuner = ConcurrencyTuner(start=16, ceiling=128)
    levels = link.run(tuner, 2.0)
    assert max(levels) == 32  # one probe, twice the start (a short round trip)
    assert levels[-1] == 16, tuner.history
    assert "back" in tuner.history[-1].reason
    # The probe was short (a baseline window, a settle, a window), and came early:
    # most of the time ran at the start level.
    assert levels.count(32) * TICK <= 0.4
    assert levels.index(32) * TICK <= 0.1
    assert levels.count(16) >= 0.8 * len(levels)


def test_the_end_of_the_work_is_not_taken_for_a_worse_level() -> None:
    # 16 MiB/s per connection, 30 ms: the probe to 4x pays, then the work runs out
    # (8 connections' worth left). Less throughput then is the end, not the level.
    link = SimulatedLink(per_connection=16 * MiB, latency=0.03, work_ends=(0.35, 8))
    tuner = ConcurrencyTuner(start=26, ceiling=128, reprobe_after=60)
    levels = link.run(tuner, 1.5)
    assert levels[-1] == max(levels) >= 104, tuner.history
    assert not any("back" in step.reason for step in tuner.history)


def test_growth_stops_where_the_link_is_full() -> None:
    # 8 MiB/s per connection, 256 MiB/s in all: 32 connections fill it.
    link = SimulatedLink(per_connection=8 * MiB, latency=0.03, total=256 * MiB)
    tuner = ConcurrencyTuner(start=16, ceiling=128, reprobe_after=60)
    levels = link.run(tuner, 3.0)
    assert 32 <= levels[-1] <= 64, tuner.history
    assert levels[-20:] == [levels[-1]] * 20  # settled, not oscillating


def test_throttling_settles_at_or_below_the_threshold_and_stays() -> None:
    link = SimulatedLink(per_connection=4 * MiB, latency=0.15, throttle_above=24)
    tuner = ConcurrencyTuner(start=16, ceiling=128, reprobe_after=1.0)
    levels = link.run(tuner, 12.0)  # long enough for several re-probes
    assert 20 <= levels[-1] <= 24, tuner.history  # at the threshold, not far below it
    assert max(levels[len(levels) // 2 :]) <= 24, tuner.history  # and it stays there
    throttled = [step for step in tuner.history if "throttled" in step.reason]
    assert 1 <= len(throttled) <= 10, tuner.history
    # Each records what the level delivered until it was throttled, or that it
    # came before any measurement (never a made-up 0 MiB/s).
    assert all(step.measured is None or step.measured > 0 for step in throttled)
    assert any(step.measured for step in throttled), tuner.history
    assert "MiB/s" not in tuner.history[0].describe()  # the round trip's jump


def test_a_cpu_bound_process_does_not_grow() -> None:
    link = SimulatedLink(per_connection=4 * MiB, latency=0.002, cpu_share=0.95)
    tuner = ConcurrencyTuner(start=16, ceiling=128)
    levels = link.run(tuner, 2.0)
    assert max(levels) == 16
    assert "CPU-bound" in tuner.history[-1].reason


def test_the_ceiling_and_the_floor_bound_every_level() -> None:
    link = SimulatedLink(per_connection=1 * MiB, latency=0.5)
    tuner = ConcurrencyTuner(start=16, ceiling=20)
    assert max(link.run(tuner, 5.0)) == 20
    tiny = ConcurrencyTuner(start=16, ceiling=1)
    assert tiny.level == 1
    assert set(SimulatedLink(per_connection=MiB, latency=0.1).run(tiny, 2.0)) == {1}


def test_a_settled_tuner_reprobes_and_finds_a_faster_link() -> None:
    link = SimulatedLink(per_connection=8 * MiB, latency=0.03, total=128 * MiB)
    tuner = ConcurrencyTuner(start=16, ceiling=128, reprobe_after=1.0)
    link.run(tuner, 2.0)
    settled = tuner.level
    link.total = float("inf")  # the link got faster
    levels = link.run(tuner, 6.0)
    assert levels[-1] > settled, tuner.history
    assert any("re-probing" in step.reason for step in tuner.history)


def test_decisions_are_described_for_people() -> None:
    link = SimulatedLink(per_connection=4 * MiB, latency=0.15)
    tuner = ConcurrencyTuner(start=16, ceiling=128)
    link.run(tuner, 2.0)
    text = tuner.history[1].describe()
    assert "connections" in text and "MiB/s" in text and text.endswith(")")
