"""A cancelled download resumes from its checkpoint, fetching only what is missing."""

from __future__ import annotations

import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from oss_resumable_fs import DownloadCancelledError, ResumableOSSFileSystem
from oss_resumable_fs.config import MiB
from oss_resumable_fs.engine.journal import JournalState, read_journal
from oss_resumable_fs.testing import FaultRule, OSSServer, RangedGet

from .conftest import CONFIG, PART, RecordingCallback, engine_files, make_data

SIZE = 4 * MiB  # sixteen parts
KEY = "resumable.bin"
#: Per connection; four connections need about a second for the whole object,
#: so a cancel at half-way lands long before the end.
THROTTLE = 1 * MiB


@dataclass
class Interrupted:
    data: bytes
    target: Path
    partial: Path
    journal: Path
    state: JournalState
    #: Bytes the first run reported as done before it was cancelled.
    reported: int

    @property
    def recorded_bytes(self) -> int:
        return sum(min(PART, SIZE - index * PART) for index in self.state.parts)


@pytest.fixture
def interrupted(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> Interrupted:
    """A download cancelled (through ``cancel=``) once about half the bytes arrived."""
    data = make_data(SIZE, seed=21)
    oss_server.put_object(oss_bucket, KEY, data)
    oss_server.add_fault(FaultRule("bandwidth", key=KEY, bytes_per_second=THROTTLE, times=None))
    cancel = threading.Event()

    def cancel_at_half(total: int) -> None:
        if total >= SIZE // 2:
            cancel.set()

    callback = RecordingCallback(cancel_at_half)
    target = out / KEY
    with pytest.raises(DownloadCancelledError, match="resume"):
        fs.get_file(f"{oss_bucket}/{KEY}", str(target), callback=callback, cancel=cancel)

    assert cancel.is_set()
    assert not target.exists()
    partial = out / f"{KEY}.ossr-partial"
    journal = out / f"{KEY}.ossr-journal"
    assert partial.exists() and journal.exists()
    assert not (out / f"{KEY}.ossr-lock").exists()
    state = read_journal(str(journal))
    assert state.header.identity.size == SIZE
    assert 0 < len(state.parts) < SIZE // PART  # a real interruption, part-way through
    oss_server.clear_faults()
    oss_server.reset_stats()
    return Interrupted(data, target, partial, journal, state, callback.total)


def ranged_gets(oss_server: OSSServer, bucket: str) -> list[RangedGet]:
    return [g for g in oss_server.stats().ranged_gets if (g.bucket, g.key) == (bucket, KEY)]


def served_starts(oss_server: OSSServer, bucket: str) -> set[int]:
    return {g.start for g in ranged_gets(oss_server, bucket) if g.start is not None}


def requested(oss_server: OSSServer, bucket: str) -> int:
    """Bytes the ranged GETs since the last stats reset asked for (and got: 206).

    Counted from the requests rather than ``bytes_served``: the first run's
    throttled answers may still be winding down on the server, adding their bytes.
    """
    gets = ranged_gets(oss_server, bucket)
    assert {g.status for g in gets} <= {206}
    return sum(g.end - g.start for g in gets if g.start is not None and g.end is not None)


def test_resume_fetches_only_the_missing_bytes(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, interrupted: Interrupted
) -> None:
    callback = RecordingCallback()
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(interrupted.target), callback=callback)

    assert interrupted.target.read_bytes() == interrupted.data
    assert result is not None
    assert result.bytes_reused == interrupted.recorded_bytes
    assert result.bytes_fetched == SIZE - interrupted.recorded_bytes
    served = requested(oss_server, oss_bucket)
    assert served == SIZE - interrupted.recorded_bytes
    # Only what the first run had not finished: at most the parts that were in
    # flight when it stopped (one per connection) come on top.
    assert served <= SIZE - interrupted.reported + CONFIG.concurrency * PART
    assert served < SIZE
    assert not served_starts(oss_server, oss_bucket) & {i * PART for i in interrupted.state.parts}
    assert callback.sizes == [SIZE] and callback.total == SIZE
    assert engine_files(interrupted.target.parent) == []


def test_a_tampered_part_is_fetched_again(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, interrupted: Interrupted
) -> None:
    index = min(interrupted.state.parts)
    with open(interrupted.partial, "r+b") as f:
        f.seek(index * PART + 10)
        byte = f.read(1)
        f.seek(index * PART + 10)
        f.write(bytes([byte[0] ^ 0xFF]))

    result = fs.get_file(f"{oss_bucket}/{KEY}", str(interrupted.target))

    assert interrupted.target.read_bytes() == interrupted.data
    assert result is not None
    assert result.bytes_reused == interrupted.recorded_bytes - PART
    assert index * PART in served_starts(oss_server, oss_bucket)
    assert requested(oss_server, oss_bucket) == SIZE - result.bytes_reused


def test_a_deleted_partial_file_means_a_fresh_start(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, interrupted: Interrupted
) -> None:
    interrupted.partial.unlink()
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(interrupted.target))
    assert interrupted.target.read_bytes() == interrupted.data
    assert result is not None and result.bytes_reused == 0
    assert requested(oss_server, oss_bucket) == SIZE
    assert engine_files(interrupted.target.parent) == []


def test_a_damaged_journal_means_a_fresh_start(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, interrupted: Interrupted
) -> None:
    interrupted.journal.write_bytes(b"not a journal at all" * 10)
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(interrupted.target))
    assert interrupted.target.read_bytes() == interrupted.data
    assert result is not None and result.bytes_reused == 0
    assert requested(oss_server, oss_bucket) == SIZE


def test_an_object_replaced_between_runs_is_downloaded_afresh(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, interrupted: Interrupted
) -> None:
    new = make_data(SIZE, seed=22)
    oss_server.put_object(oss_bucket, KEY, new)
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(interrupted.target))
    assert interrupted.target.read_bytes() == new
    assert result is not None
    assert (result.bytes_reused, result.restarts) == (0, 1)
    assert requested(oss_server, oss_bucket) == SIZE
    assert engine_files(interrupted.target.parent) == []


def test_resume_keeps_the_first_runs_part_size(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, interrupted: Interrupted
) -> None:
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(interrupted.target), part_size=4 * PART)
    assert interrupted.target.read_bytes() == interrupted.data
    assert result is not None and result.bytes_reused == interrupted.recorded_bytes
    assert {g.end - g.start for g in ranged_gets(oss_server, oss_bucket)} == {PART}


def test_checkpoint_dir_keeps_the_journal_elsewhere(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=23)
    oss_server.put_object(oss_bucket, KEY, data)
    oss_server.add_fault(FaultRule("bandwidth", key=KEY, bytes_per_second=THROTTLE, times=None))
    checkpoints = tmp_path / "checkpoints"
    cancel = threading.Event()
    callback = RecordingCallback(lambda total: total >= SIZE // 2 and cancel.set())
    target = out / KEY
    with pytest.raises(DownloadCancelledError):
        fs.get_file(
            f"{oss_bucket}/{KEY}",
            str(target),
            callback=callback,
            cancel=cancel,
            checkpoint_dir=str(checkpoints),
        )
    journals = list(checkpoints.iterdir())
    assert len(journals) == 1 and journals[0].name.endswith(".ossr-journal")
    assert stat.S_IMODE(journals[0].stat().st_mode) == 0o600
    assert sorted(p.name for p in out.iterdir()) == [f"{KEY}.ossr-partial"]
    recorded = read_journal(str(journals[0])).parts
    assert recorded

    oss_server.clear_faults()
    oss_server.reset_stats()
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(target), checkpoint_dir=str(checkpoints))
    assert target.read_bytes() == data
    assert result is not None and result.bytes_reused == len(recorded) * PART
    assert list(checkpoints.iterdir()) == []
    assert engine_files(out) == []
