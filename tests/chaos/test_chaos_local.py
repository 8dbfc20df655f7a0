"""Case 5: local faults. A full disk, a read-only directory, checkpoint files damaged
between runs, and two processes on one target."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oss_resumable_fs.config import MiB, TransferConfig
from oss_resumable_fs.engine.journal import RECORD_SIZE, read_journal
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.engine.sink import partial_path_for
from oss_resumable_fs.errors import (
    AccessDeniedError,
    DownloadCancelledError,
    DownloadInProgressError,
    InsufficientSpaceError,
)
from oss_resumable_fs.testing import FaultRule, OSSServer

from .outcomes import (
    check_progress,
    cli,
    get_args,
    make_data,
    make_fs,
    record,
    recorded_parts,
    settle,
    signal_and_wait,
    wait_for,
)
from .report import Collector

SIZE = 6 * MiB


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small tmpfs at ``path``; a visible skip where this machine cannot mount one."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; not simulated, so not tested here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); not tested")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _cancel_halfway(fs: Any, remote: str, dest: str, data: bytes) -> int:
    """A first run stopped halfway (its progress kept); the bytes its journal records."""
    cancel = threading.Event()

    class Halfway:
        done = 0

        def set_size(self, size: int) -> None:
            pass

        def relative_update(self, inc: int = 1) -> None:
            self.done += inc
            if self.done > len(data) // 2:
                cancel.set()

    kind = settle(
        lambda: fs.get_file(remote, dest, callback=Halfway(), cancel=cancel), {dest: data}
    )
    assert kind == DownloadCancelledError.__name__
    return check_progress(dest, data, required=True)


@pytest.fixture
def slow(chaos_server: OSSServer, bucket: str) -> None:
    """4 MiB/s per connection: a download is still running when it is cancelled."""
    chaos_server.add_fault(
        FaultRule("bandwidth", key="*.bin", times=None, bytes_per_second=4 * MiB)
    )


def test_disk_full(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector, slow: None
) -> None:
    data = make_data(SIZE, 3)
    chaos_server.put_object(bucket, "obj.bin", data)
    fs = make_fs(chaos_server)
    with tmpfs(tmp_path / "small", "size=4m") as small:
        dest = str(small / "obj.bin")
        # Refused before any byte moves: there is no progress to keep.
        kind = settle(
            lambda: fs.get_file(f"{bucket}/obj.bin", dest), {dest: data}, progress_required=False
        )
        assert kind == InsufficientSpaceError.__name__
        assert os.listdir(small) == []
        record(collector, "disk-full/too-small", kind, chaos_server, minimum=0)
    with tmpfs(tmp_path / "fits", "size=8m") as fits:
        # Stopped halfway, then the disk fills up: the blocks reserved at the start
        # are the partial file's, so the resume still completes.
        dest = str(fits / "obj.bin")
        _cancel_halfway(fs, f"{bucket}/obj.bin", dest, data)
        with open(fits / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\1" * (64 * 1024))
        assert os.statvfs(fits).f_bavail * os.statvfs(fits).f_frsize < 64 * 1024
        kind = settle(lambda: fs.get_file(f"{bucket}/obj.bin", dest), {dest: data})
        assert kind == "file"
        record(collector, "disk-full/after-reserve", kind, chaos_server, minimum=SIZE, kills=1)


def test_read_only_destination(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector
) -> None:
    data = make_data(SIZE, 4)
    chaos_server.put_object(bucket, "obj.bin", data)
    fs = make_fs(chaos_server)
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        dest = str(ro / "obj.bin")
        kind = settle(
            lambda: fs.get_file(f"{bucket}/obj.bin", dest), {dest: data}, progress_required=False
        )
        assert kind == AccessDeniedError.__name__
        record(collector, "read-only-directory", kind, chaos_server, minimum=0)


def _delete(path: str) -> None:
    os.unlink(path)


def _truncate(path: str) -> None:
    os.truncate(path, os.path.getsize(path) // 3)


def _edit(path: str) -> None:
    with open(path, "r+b") as file:  # one byte in every MiB: recorded parts among them
        for offset in range(1000, os.path.getsize(path), MiB):
            file.seek(offset)
            byte = file.read(1)
            file.seek(offset)
            file.write(bytes([byte[0] ^ 0xFF]))


def _journal_cut_header(path: str) -> None:
    os.truncate(path, 20)


def _journal_torn_tail(path: str) -> None:
    os.truncate(path, os.path.getsize(path) - RECORD_SIZE // 2)


def _journal_garbage(path: str) -> None:
    Path(path).write_bytes(os.urandom(os.path.getsize(path)))


def _journal_other_version(path: str) -> None:
    with open(path, "r+b") as file:
        file.seek(8)
        file.write((99).to_bytes(2, "little"))


DAMAGE = {
    "partial-deleted": ("partial", _delete),
    "partial-truncated": ("partial", _truncate),
    "partial-edited": ("partial", _edit),
    "journal-truncated-header": ("journal", _journal_cut_header),
    "journal-torn-tail": ("journal", _journal_torn_tail),
    "journal-garbage": ("journal", _journal_garbage),
    "journal-other-version": ("journal", _journal_other_version),
    "journal-deleted": ("journal", _delete),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_checkpoint_damaged_between_runs(
    chaos_server: OSSServer,
    bucket: str,
    tmp_path: Path,
    collector: Collector,
    slow: None,
    damage: str,
) -> None:
    data = make_data(SIZE, 5)
    chaos_server.put_object(bucket, "obj.bin", data)
    fs = make_fs(chaos_server)
    dest = str(tmp_path / "obj.bin")
    recorded = _cancel_halfway(fs, f"{bucket}/obj.bin", dest, data)
    which, mutate = DAMAGE[damage]
    journal = journal_path_for(dest, TransferConfig())
    mutate(partial_path_for(dest) if which == "partial" else journal)
    chaos_server.clear_faults()
    results: list[Any] = []
    kind = settle(lambda: results.append(fs.get_file(f"{bucket}/obj.bin", dest)), {dest: data})
    assert kind == "file"
    assert results[0].bytes_reused <= recorded
    if damage in ("partial-deleted", "journal-garbage", "journal-other-version"):
        assert results[0].bytes_reused == 0
    record(collector, f"damaged[{damage}]", kind, chaos_server, minimum=SIZE, kills=1)


def test_journal_of_another_object(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector, slow: None
) -> None:
    """A journal and partial file of another object, copied beside the destination."""
    one, two = make_data(SIZE, 6), make_data(SIZE, 7)
    chaos_server.put_object(bucket, "one.bin", one)
    chaos_server.put_object(bucket, "two.bin", two)
    fs = make_fs(chaos_server)
    first, second = str(tmp_path / "one.bin"), str(tmp_path / "two.bin")
    _cancel_halfway(fs, f"{bucket}/one.bin", first, one)
    for suffix in (".ossr-journal", ".ossr-partial"):
        os.rename(first + suffix, second + suffix)
    assert read_journal(second + ".ossr-journal").parts
    chaos_server.clear_faults()
    results: list[Any] = []
    kind = settle(lambda: results.append(fs.get_file(f"{bucket}/two.bin", second)), {second: two})
    assert kind == "file" and results[0].bytes_reused == 0
    record(collector, "damaged[journal-other-object]", kind, chaos_server, minimum=2 * SIZE)


def test_two_processes_one_target(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector
) -> None:
    data = make_data(16 * MiB, 8)
    chaos_server.put_object(bucket, "obj.bin", data)
    rule = chaos_server.add_fault(
        FaultRule("bandwidth", key="*.bin", times=None, bytes_per_second=1 * MiB)
    )
    dest = tmp_path / "obj.bin"
    journal = journal_path_for(str(dest), TransferConfig())
    extra = ["--part-size", "1MiB", "--concurrency", "4", "--quiet"]
    child = cli(chaos_server, *get_args(bucket, "obj.bin", dest, extra))
    try:
        wait_for(child, lambda: len(recorded_parts(journal)) >= 1, "a recorded part")
        fs = make_fs(chaos_server)
        kind = settle(
            lambda: fs.get_file(f"{bucket}/obj.bin", str(dest)),
            {str(dest): data},
            progress_required=False,
        )
        assert kind == DownloadInProgressError.__name__
        second = cli(chaos_server, *get_args(bucket, "obj.bin", dest, extra))
        code, _out, err = second.wait(60), *second.communicate()
        assert (code == 1 and "already" in err.lower()) or "in progress" in err.lower(), err
    finally:
        signal_and_wait(child, 9)
    chaos_server.remove_fault(rule)
    assert (
        settle(
            lambda: make_fs(chaos_server).get_file(f"{bucket}/obj.bin", str(dest)),
            {str(dest): data},
        )
        == "file"
    )
    record(collector, "two-processes-one-target", kind, chaos_server, minimum=len(data), kills=1)
