from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from oss_resumable_fs.engine import sink as sink_module
from oss_resumable_fs.engine.lock import TargetLock
from oss_resumable_fs.engine.sink import PartialFile, partial_path_for
from oss_resumable_fs.errors import DownloadInProgressError, InsufficientSpaceError


def test_partial_file_positional_writes_and_commit(tmp_path) -> None:
    dest = str(tmp_path / "d.bin")
    Path(dest).write_bytes(b"old content")
    sink = PartialFile.create(partial_path_for(dest))
    sink.ensure_size(10)
    sink.write_at(5, b"world")
    sink.write_at(0, memoryview(b"hello"))
    buffer = memoryview(bytearray(4))
    assert sink.read_at(3, buffer) == 4 and bytes(buffer) == b"lowo"
    assert sink.read_at(8, buffer) == 2
    sink.commit(dest)
    assert Path(dest).read_bytes() == b"helloworld"
    assert not os.path.exists(partial_path_for(dest))


def test_background_datasync_runs_as_bytes_arrive_and_close_waits_for_it(
    tmp_path, monkeypatch
) -> None:
    release = threading.Event()
    synced: list[int] = []

    def slow_datasync(fd: int) -> None:
        release.wait(5)
        synced.append(fd)

    monkeypatch.setattr(sink_module, "_datasync", slow_datasync)
    monkeypatch.setattr(sink_module, "DATASYNC_EVERY", 1000)
    sink = PartialFile.create(str(tmp_path / "f.partial"))
    sink.ensure_size(4000)
    sink.write_at(0, b"a" * 999)
    assert not synced  # under the threshold: nothing started
    sink.write_at(999, b"b" * 1001)  # crosses it: a sync starts, writers do not wait
    sink.write_at(2000, b"c" * 1000)  # one sync at a time: none more while it runs
    closer = threading.Thread(target=sink.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive(), "close() must wait for the running datasync"
    release.set()
    closer.join(5)
    assert not closer.is_alive()
    assert len(synced) == 1


def test_a_failed_background_datasync_fails_the_commit(tmp_path, monkeypatch) -> None:
    def failing_datasync(fd: int) -> None:
        raise OSError(errno.EIO, "writeback failed")

    monkeypatch.setattr(sink_module, "_datasync", failing_datasync)
    monkeypatch.setattr(sink_module, "DATASYNC_EVERY", 10)
    sink = PartialFile.create(str(tmp_path / "f.partial"))
    sink.ensure_size(20)
    sink.write_at(0, b"x" * 20)
    destination = tmp_path / "f"
    with pytest.raises(OSError, match="writeback failed"):
        sink.commit(str(destination))
    assert not destination.exists()
    sink.close()


def test_preallocation_without_space_is_insufficient_space(tmp_path, monkeypatch) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    sink = PartialFile.create(str(tmp_path / "f.partial"))
    with pytest.raises(InsufficientSpaceError):
        sink.ensure_size(1 << 20)
    sink.abort()


def test_reopen_resizes_and_abort_removes(tmp_path) -> None:
    path = str(tmp_path / "p")
    Path(path).write_bytes(b"x" * 100)
    sink = PartialFile.open_existing(path)
    sink.ensure_size(10)
    sink.close()
    assert os.path.getsize(path) == 10
    sink = PartialFile.open_existing(path)
    sink.ensure_size(20)
    sink.abort()
    assert not os.path.exists(path)
    with pytest.raises(FileNotFoundError):
        PartialFile.open_existing(path)


def test_lock_excludes_a_second_holder_and_is_removed(tmp_path) -> None:
    dest = str(tmp_path / "d.bin")
    with TargetLock(dest) as lock:
        assert os.path.exists(lock.path)
        with pytest.raises(DownloadInProgressError, match=r"d\.bin"):
            TargetLock(dest).acquire()
    assert not os.path.exists(dest + ".ossr-lock")
    with TargetLock(dest):  # free again
        pass


def test_lock_survives_the_unlink_race(tmp_path, monkeypatch) -> None:
    """A contender that opened the file just before the holder unlinked it must not
    believe it holds the lock on the dead inode."""
    dest = str(tmp_path / "d.bin")
    holder = TargetLock(dest).acquire()
    real_open = os.open
    raced = threading.Event()

    def open_then_holder_releases(path, *args, **kwargs):
        fd = real_open(path, *args, **kwargs)
        if path == holder.path and not raced.is_set():
            raced.set()
            holder.release()  # unlinks the inode we just opened
        return fd

    monkeypatch.setattr(os, "open", open_then_holder_releases)
    contender = TargetLock(dest).acquire()
    monkeypatch.undo()
    assert raced.is_set()
    held = os.fstat(contender._fd)
    current = os.stat(contender.path)
    assert (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)
    with pytest.raises(DownloadInProgressError):
        TargetLock(dest).acquire()
    contender.release()
