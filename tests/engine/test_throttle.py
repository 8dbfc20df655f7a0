"""The process-wide bandwidth cap: a token bucket, driven here by a fake clock."""

from __future__ import annotations

import threading
import time

import pytest

from oss_resumable_fs.engine.throttle import ThrottledSource, TokenBucket, shared_bucket, throttled

from .fakes import FakeSource


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_second_of_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, clock=clock)
    assert bucket.consume(1000, clock.sleep) == 0  # the first second's burst
    for _ in range(10):
        bucket.consume(500, clock.sleep)
    assert clock.now == pytest.approx(5.0)  # 5000 more bytes at 1000 B/s


def test_idle_time_refills_at_most_one_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, clock=clock)
    bucket.consume(1000, clock.sleep)
    clock.now += 60  # an idle minute earns one second, not sixty
    assert bucket.consume(1000, clock.sleep) == 0
    assert bucket.consume(1000, clock.sleep) == pytest.approx(1.0)


def test_threads_share_the_rate() -> None:
    clock = FakeClock()
    lock = threading.Lock()
    bucket = TokenBucket(1000, clock=clock)

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleep(seconds)

    threads = [
        threading.Thread(target=lambda: [bucket.consume(100, sleep) for _ in range(20)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 8000 bytes at 1000 B/s after a 1000-byte burst: at least 7 s of waiting in all.
    assert sum(clock.slept) >= 7.0 - 1e-9


def test_one_bucket_per_rate_and_none_without_a_limit() -> None:
    assert shared_bucket(None) is None
    assert shared_bucket(12345) is shared_bucket(12345)
    source = FakeSource(b"x" * 10)
    assert throttled(source, None) is source
    assert isinstance(throttled(source, 4096), ThrottledSource)


def test_closing_a_throttled_reader_ends_its_wait() -> None:
    """A cancel (the coordinator closes readers) must not wait out a bandwidth debt."""
    source = ThrottledSource(FakeSource(b"y" * 8192), TokenBucket(1024))
    reader = source.open_range(0, 8192, source.stat())
    waited: list[float] = []

    def read() -> None:
        started = time.monotonic()
        reader.readinto(memoryview(bytearray(8192)))  # 8 KiB at 1 KiB/s: a 7 s debt
        waited.append(time.monotonic() - started)

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.3)
    reader.close()
    thread.join(5)
    assert waited and waited[0] < 2.0
