"""Cancellation (event and Ctrl-C) and one downloader per destination."""

from __future__ import annotations

import _thread
import os
import threading
import time
from pathlib import Path

import pytest

from oss_resumable_fs.engine.journal import read_journal
from oss_resumable_fs.errors import DownloadCancelledError, DownloadInProgressError

from .conftest import PART, make_config, make_data
from .fakes import FakeSource

SIZE = 6 * PART


def blocking_source(data: bytes, at: int) -> FakeSource:
    source = FakeSource(data)
    source.add_fault(covering=at, block=True, times=None)
    return source


def test_cancel_with_a_blocked_reader_is_prompt_and_resumable(dest) -> None:
    # The real interruptible sleep and default poll interval: no test doubles.
    from oss_resumable_fs.engine.transfer import download

    data = make_data(SIZE)
    source = blocking_source(data, at=2 * PART)
    cancel = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            download(source, dest, make_config(concurrency=2), cancel=cancel)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert source.blocked_event.wait(5)
    started = time.monotonic()
    cancel.set()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0
    assert len(errors) == 1 and isinstance(errors[0], DownloadCancelledError)
    assert "resume" in str(errors[0])
    assert all(reader.closed.is_set() for reader in source.blocked)
    assert os.path.exists(dest + ".ossr-journal") and os.path.exists(dest + ".ossr-partial")
    assert not os.path.exists(dest) and not os.path.exists(dest + ".ossr-lock")
    assert 2 not in read_journal(dest + ".ossr-journal").parts


def test_cancel_during_backoff(make_downloader, dest) -> None:
    from oss_resumable_fs.errors import TransientError

    source = FakeSource(make_data(SIZE))
    source.add_fault(covering=0, open_error=TransientError("503", retry_after=60), times=None)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    # sleep=None: the default sleep waits on the stop event, so cancel cuts it short.
    with pytest.raises(DownloadCancelledError):
        make_downloader(make_config(concurrency=1), sleep=None).download(
            source, dest, cancel=cancel
        )
    assert time.monotonic() - started < 5


def test_cancel_already_set_does_nothing(make_downloader, dest) -> None:
    source = FakeSource(make_data(SIZE))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelledError):
        make_downloader().download(source, dest, cancel=cancel)
    assert source.requests == []


def test_keyboard_interrupt_stops_workers_and_keeps_the_checkpoint(make_downloader, dest) -> None:
    data = make_data(SIZE)
    source = blocking_source(data, at=3 * PART)
    source.open_hook = lambda start, end: (
        threading.Timer(0.1, _thread.interrupt_main).start() if start == 3 * PART else None
    )
    with pytest.raises(KeyboardInterrupt):
        make_downloader(make_config(concurrency=1)).download(source, dest)
    assert all(reader.closed.is_set() for reader in source.blocked)
    assert sorted(read_journal(dest + ".ossr-journal").parts) == [0, 1, 2]
    assert not os.path.exists(dest + ".ossr-lock")
    # And it resumes.
    second = FakeSource(data)
    result = make_downloader().download(second, dest)
    assert Path(dest).read_bytes() == data
    assert result.bytes_reused == 3 * PART


def test_second_download_to_the_same_destination_is_refused(make_downloader, dest) -> None:
    data = make_data(SIZE)
    first = blocking_source(data, at=0)
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            make_downloader().download(first, dest, cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert first.blocked_event.wait(5)
        second = FakeSource(data)
        with pytest.raises(DownloadInProgressError, match=r"object\.bin"):
            make_downloader().download(second, dest)
        assert second.requests == [] and second.stat_calls == 0
    finally:
        cancel.set()
        thread.join(10)
    assert isinstance(outcome[0], DownloadCancelledError)
    # Once the first is gone, the destination is free again.
    make_downloader().download(FakeSource(data), dest)
    assert Path(dest).read_bytes() == data


class _DeafReader:
    """A reader stuck in a read that close() cannot interrupt (a wedged socket)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.entered = threading.Event()

    def readinto(self, buffer: memoryview) -> int:
        self.entered.set()
        self.release.wait(30)
        raise ConnectionError("gave up")

    def close(self) -> None:
        pass


def test_workers_outliving_ctrl_c_keep_the_destination_locked(
    make_downloader, dest, monkeypatch
) -> None:
    from oss_resumable_fs.engine import pool

    monkeypatch.setattr(pool, "STOP_GRACE", 0.2)
    release = threading.Event()
    deaf = _DeafReader(release)
    source = FakeSource(make_data(SIZE))
    source.open_range = lambda start, end, identity: deaf  # type: ignore[method-assign]
    threading.Thread(
        target=lambda: deaf.entered.wait(5) and _thread.interrupt_main(), daemon=True
    ).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            make_downloader(make_config(concurrency=1)).download(source, dest)
        # The stuck worker may still write: no second download may start beside it.
        assert os.path.exists(dest + ".ossr-lock")
        with pytest.raises(DownloadInProgressError):
            make_downloader().download(FakeSource(make_data(SIZE)), dest)
    finally:
        release.set()
    # Once it has stopped, the same process (a notebook's kernel) can run it again.
    deadline = time.monotonic() + 5
    while True:
        try:
            result = make_downloader().download(FakeSource(make_data(SIZE)), dest)
            break
        except DownloadInProgressError:
            assert time.monotonic() < deadline, "the lock outlived the stuck worker"
            time.sleep(0.05)
    assert Path(dest).read_bytes() == make_data(SIZE) and result.bytes_fetched <= SIZE


def test_a_worker_thread_that_cannot_start_stops_the_others(
    make_downloader, dest, monkeypatch
) -> None:
    real_start = threading.Thread.start
    starts: list[threading.Thread] = []
    source = blocking_source(make_data(SIZE), at=0)

    def start_twice_then_fail(thread: threading.Thread) -> None:
        if thread.name.startswith("ossr-worker-") and len(starts) >= 2:
            raise RuntimeError("can't start new thread")
        starts.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_twice_then_fail)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        make_downloader(make_config(concurrency=4)).download(source, dest)
    monkeypatch.undo()
    # The two threads that did start are let go with the download failed: a read one of
    # them began is closed, and neither outlives the download.
    assert len(starts) == 2
    assert all(reader.closed.is_set() for reader in source.blocked)
    for thread in starts:
        thread.join(5)
        assert not thread.is_alive(), "a started worker outlived the failed download"
    result = make_downloader().download(FakeSource(make_data(SIZE)), dest)
    assert Path(dest).read_bytes() == make_data(SIZE)
    assert result.bytes_fetched + result.bytes_reused == SIZE
