"""What the connections tell the scheduler: bytes, throttling, latency, and the CPUs."""

from __future__ import annotations

import os
import threading
import time


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
