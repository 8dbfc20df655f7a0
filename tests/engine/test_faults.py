"""Network faults: retries resume from the last byte written; give up cleanly."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from oss_resumable_fs.engine.fetch import RetryPolicy
from oss_resumable_fs.errors import (
    AccessDeniedError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
    TransientError,
)

from .conftest import PART, make_config, make_data
from .fakes import FakeSource

SIZE = 4 * PART + 1000
# An offset inside part 2.
MID = 2 * PART + 10


def run(make_downloader, dest, source, **config):
    result = make_downloader(make_config(**config)).download(source, dest)
    assert Path(dest).read_bytes() == source.data
    return result


@pytest.mark.parametrize(
    "error",
    [
        TransientError("503 slow down"),
        ConnectionResetError("reset"),
        TimeoutError("read timed out"),
    ],
)
def test_mid_part_failure_resumes_from_the_last_byte(make_downloader, dest, error) -> None:
    source = FakeSource(make_data(SIZE), chunk=4096)
    source.add_fault(covering=MID, error=error, after=30_000)
    result = run(make_downloader, dest, source)
    # The part was asked for again from where its first response broke off.
    assert (2 * PART, 3 * PART) in source.requests
    assert (2 * PART + 30_000, 3 * PART) in source.requests
    assert result.bytes_fetched == SIZE  # not one byte fetched twice
    assert source.bytes_served == SIZE


def test_short_body_resumes_from_the_last_byte(make_downloader, dest) -> None:
    source = FakeSource(make_data(SIZE))
    source.add_fault(covering=MID, short=True, after=12_345)
    run(make_downloader, dest, source)
    assert (2 * PART + 12_345, 3 * PART) in source.requests


def test_failure_at_open_retries_the_same_range(make_downloader, dest, sleeps) -> None:
    source = FakeSource(make_data(SIZE))
    source.add_fault(covering=MID, open_error=TimeoutError("connect timeout"), times=2)
    run(make_downloader, dest, source)
    assert source.requests.count((2 * PART, 3 * PART)) == 3
    assert len(sleeps) == 2


def test_backoff_grows_and_honours_retry_after(make_downloader, dest, sleeps) -> None:
    source = FakeSource(make_data(SIZE))
    source.add_fault(covering=MID, open_error=ConnectionError("refused"), times=3)
    source.add_fault(covering=0, open_error=TransientError("503", retry_after=7.0))
    run(make_downloader, dest, source, concurrency=1, backoff_base=1.0, backoff_max=3.0)
    # jitter fixed at 0.5: 0.5 * min(3, 1 * 2**k) for k = 0, 1, 2; retry_after is a floor
    # the jitter goes on top of.
    assert sleeps == [7.5, 0.5, 1.0, 1.5]


def test_retry_policy_full_jitter_is_capped() -> None:
    policy = RetryPolicy(8, 0.2, 20.0, jitter=lambda: 0.999)
    delays = [policy.delay(n) for n in range(1, 12)]
    assert delays == sorted(delays)
    assert max(delays) < 20.0
    assert RetryPolicy(8, 0.2, 20.0, jitter=lambda: 0.0).delay(3) == 0.0
    assert policy.delay(10_000) < 20.0  # no overflow


def test_gives_up_after_max_attempts_without_progress(make_downloader, dest) -> None:
    source = FakeSource(make_data(SIZE))
    source.add_fault(covering=MID, open_error=TransientError("500"), times=None)
    with pytest.raises(TransientError, match="3 times in a row") as info:
        run(make_downloader, dest, source, max_attempts=3)
    assert isinstance(info.value.__cause__, TransientError)
    assert source.requests.count((2 * PART, 3 * PART)) == 3
    assert not os.path.exists(dest)
    # Progress survives for a later resume.
    assert os.path.exists(dest + ".ossr-journal") and os.path.exists(dest + ".ossr-partial")


def test_failures_with_progress_do_not_count(make_downloader, dest) -> None:
    """Ten broken connections in a row, each delivering some bytes, with max_attempts=2."""
    source = FakeSource(make_data(SIZE), chunk=1000)
    source.add_fault(covering=None, error=ConnectionResetError("reset"), after=5000, times=10)
    result = run(make_downloader, dest, source, max_attempts=2, concurrency=1)
    assert result.bytes_fetched == SIZE
    assert len(source.requests) == 5 + 10


@pytest.mark.parametrize(
    "error",
    [ObjectNotFoundError("gone"), AccessDeniedError("403"), ObjectNotRestoredError("archive")],
)
def test_non_transient_errors_are_raised_unchanged(make_downloader, dest, error) -> None:
    source = FakeSource(make_data(SIZE))
    source.add_fault(covering=MID, open_error=error)
    with pytest.raises(type(error)) as info:
        run(make_downloader, dest, source)
    assert info.value is error
    assert not os.path.exists(dest)
    assert source.requests.count((2 * PART, 3 * PART)) == 1
    assert not os.path.exists(dest + ".ossr-lock")


def test_first_error_stops_other_workers(make_downloader, dest) -> None:
    source = FakeSource(make_data(20 * PART))
    for index in (1, 2, 3):
        source.add_fault(covering=index * PART, block=True)
    source.add_fault(covering=0, open_error=ObjectNotFoundError("gone"))

    def fail_once_the_others_are_reading(start: int, end: int) -> None:
        if start == 0:  # part 0 fails only when parts 1-3 are blocked mid-body
            deadline = time.monotonic() + 5
            while len(source.blocked) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)

    source.open_hook = fail_once_the_others_are_reading
    with pytest.raises(ObjectNotFoundError):
        run(make_downloader, dest, source, concurrency=4)
    assert len(source.blocked) == 3
    assert all(reader.closed.is_set() for reader in source.blocked)
    # No worker took a new part after the error: only the first four were asked for.
    assert sorted(source.requests) == [(i * PART, (i + 1) * PART) for i in range(4)]


def test_errors_of_stat_propagate(make_downloader, dest) -> None:
    source = FakeSource(b"abc")

    def missing():
        raise ObjectNotFoundError("oss://bucket/some/key.bin does not exist")

    source.stat = missing  # type: ignore[method-assign]
    with pytest.raises(ObjectNotFoundError):
        make_downloader().download(source, dest)
    assert os.listdir(os.path.dirname(dest)) == []


def test_reader_claiming_more_bytes_than_it_was_given_room_for(make_downloader, dest) -> None:
    """A lying reader is treated as a broken connection, never trusted."""
    source = FakeSource(make_data(SIZE))
    real_open = source.open_range
    lied = []

    def open_range(start, end, identity):
        reader = real_open(start, end, identity)
        if start == 2 * PART and not lied:
            lied.append(True)
            reader.readinto = lambda buffer: len(buffer) + 1  # type: ignore[method-assign]
        return reader

    source.open_range = open_range  # type: ignore[method-assign]
    run(make_downloader, dest, source)
    assert source.requests.count((2 * PART, 3 * PART)) == 2


def test_a_failed_head_is_retried(make_downloader, dest, sleeps) -> None:
    source = FakeSource(make_data(SIZE))
    source.stat_errors = [TransientError("503 slow down", retry_after=0.2), ConnectionResetError()]
    run(make_downloader, dest, source)
    assert source.stat_calls == 3
    assert sleeps[0] >= 0.2  # the service's own delay is honoured
    assert len(sleeps) == 2


def test_a_head_that_keeps_failing_gives_up(make_downloader, dest, sleeps) -> None:
    source = FakeSource(make_data(SIZE))
    source.stat_errors = [TransientError("503 slow down") for _ in range(10)]
    with pytest.raises(TransientError, match="slow down"):
        make_downloader(make_config(max_attempts=3)).download(source, dest)
    assert source.stat_calls == 3
    assert not os.path.exists(dest)


@pytest.mark.parametrize("error", [ObjectNotFoundError("gone"), AccessDeniedError("403")])
def test_a_definite_head_answer_is_not_retried(make_downloader, dest, sleeps, error) -> None:
    source = FakeSource(make_data(SIZE))
    source.stat_errors = [error]
    with pytest.raises(type(error)):
        make_downloader().download(source, dest)
    assert source.stat_calls == 1
    assert sleeps == []
