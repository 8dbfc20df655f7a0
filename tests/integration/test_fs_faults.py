"""Every fault kind of the local server, survived (or reported) by ``get_file`` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from oss_resumable_fs import (
    IntegrityError,
    ObjectChangedError,
    ResumableOSSFileSystem,
    TransientError,
)
from oss_resumable_fs.config import MiB
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import CONFIG, PART, RecordingCallback, engine_files, make_data, make_fs

SIZE = 2 * MiB  # eight parts
KEY = "faulty.bin"
#: The second part: faults aimed at it strike mid-download, with other parts around it.
PART_1 = (PART, 2 * PART)


@pytest.fixture
def data(oss_server: OSSServer, oss_bucket: str) -> bytes:
    payload = make_data(SIZE, seed=11)
    oss_server.put_object(oss_bucket, KEY, payload)
    return payload


def gets_of_part(
    oss_server: OSSServer, bucket: str, part: tuple[int, int]
) -> list[tuple[int, int]]:
    """The (start, end) of every ranged GET served within ``part`` of the object, in order."""
    start, end = part
    return [
        (g.start, g.end)
        for g in oss_server.stats().ranged_gets
        if (g.bucket, g.key) == (bucket, KEY)
        and g.start is not None
        and g.end is not None
        and start <= g.start < end
    ]


def download(fs: ResumableOSSFileSystem, bucket: str, out: Path, **kwargs: object) -> Path:
    target = out / KEY
    fs.get_file(f"{bucket}/{KEY}", str(target), **kwargs)
    return target


def test_reset_resumes_from_the_last_byte(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    after = 100_000
    # A TCP reset makes the client's kernel drop bytes it received but the client has
    # not read yet: a short pause before the reset lets the bytes sent reach the client.
    oss_server.add_fault(
        FaultRule("stall", key=KEY, after_bytes=after, seconds=0.2, byte_range=PART_1)
    )
    oss_server.add_fault(FaultRule("reset", key=KEY, after_bytes=after, byte_range=PART_1))
    assert download(fs, oss_bucket, out).read_bytes() == data
    gets = gets_of_part(oss_server, oss_bucket, PART_1)
    assert len(gets) == 2, gets
    assert gets[0] == PART_1
    retry_start, retry_end = gets[1]
    # The retry asks for the rest of the part only: it starts past the part's first
    # byte (bytes received before the reset were kept), never past the reset point.
    assert PART < retry_start <= PART + after
    assert retry_end == PART_1[1]
    assert oss_server.stats().faults_by_kind() == {"stall": 1, "reset": 1}
    assert engine_files(out) == []


def test_short_body_resumes_exactly_where_it_ended(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    after = 100_000
    oss_server.add_fault(FaultRule("short_body", key=KEY, after_bytes=after, byte_range=PART_1))
    target = out / KEY
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(target))
    assert target.read_bytes() == data
    assert gets_of_part(oss_server, oss_bucket, PART_1) == [PART_1, (PART + after, PART_1[1])]
    assert oss_server.stats().faults_by_kind() == {"short_body": 1}
    assert result is not None and result.bytes_fetched == SIZE  # not one byte fetched twice


def test_internal_errors_are_retried(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.add_fault(FaultRule("error", key=KEY, status=500, times=3, byte_range=PART_1))
    assert download(fs, oss_bucket, out).read_bytes() == data
    stats = oss_server.stats()
    assert stats.faults_by_kind() == {"error": 3}
    assert stats.requests["GetObject"] == SIZE // PART + 3
    assert engine_files(out) == []


def test_a_throttled_first_request_is_retried(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    # The first GET (which tells the object's identity, no HEAD before it) gets 503s.
    first = FaultRule("error", method="GET", key=KEY, status=503, times=2, byte_range=(0, 1))
    oss_server.add_fault(first)
    assert download(fs, oss_bucket, out).read_bytes() == data
    stats = oss_server.stats()
    assert stats.faults_by_kind() == {"error": 2}
    assert stats.requests["GetObject"] == SIZE // PART + 2 and "HeadObject" not in stats.requests
    assert engine_files(out) == []


def test_503_waits_the_suggested_qos_delay(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    # x-oss-qos-delay-time: 600 ms, far above the configured backoff (at most 50 ms).
    assert CONFIG.backoff_max < 0.6
    oss_server.add_fault(FaultRule("error", key=KEY, status=503, seconds=0.6, byte_range=PART_1))
    target = out / KEY
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(target))
    assert target.read_bytes() == data
    assert result is not None and result.elapsed >= 0.6
    assert oss_server.stats().faults_by_kind() == {"error": 1}


def test_stall_longer_than_the_read_timeout(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    fs = make_fs(oss_server, CONFIG.replace(read_timeout=1.0))
    after = 50_000
    oss_server.add_fault(
        FaultRule("stall", key=KEY, after_bytes=after, seconds=4.0, byte_range=PART_1)
    )
    target = out / KEY
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(target))
    assert target.read_bytes() == data
    assert result is not None and result.elapsed >= 1.0  # it did wait for the timeout
    gets = gets_of_part(oss_server, oss_bucket, PART_1)
    # Resumed after the bytes that did arrive: by the stalled connection itself once
    # the timeout ends its read, or by an idle one that took it for a straggler.
    assert 2 <= len(gets) <= 3, gets
    assert all(PART < start <= PART + after for start, _ in gets[1:]), gets


def test_corrupt_byte_is_repaired_by_crc64(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.add_fault(FaultRule("corrupt", key=KEY, after_bytes=1000, byte_range=PART_1))
    assert download(fs, oss_bucket, out).read_bytes() == data
    stats = oss_server.stats()
    assert stats.faults_by_kind() == {"corrupt": 1}
    # The whole-object CRC-64 caught it; every part was fetched a second time.
    assert stats.requests["GetObject"] == 2 * (SIZE // PART)
    assert engine_files(out) == []


def test_corruption_that_persists_is_an_integrity_error(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.add_fault(
        FaultRule("corrupt", key=KEY, after_bytes=1000, byte_range=PART_1, times=None)
    )
    with pytest.raises(IntegrityError, match="CRC-64"):
        download(fs, oss_bucket, out)
    assert not (out / KEY).exists()
    assert engine_files(out) == []


def test_object_replaced_mid_download_restarts_once(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    old_etag = fs.range_source(f"{oss_bucket}/{KEY}").stat().etag
    oss_server.add_fault(FaultRule("replace", key=KEY, byte_range=(4 * PART, 5 * PART)))
    callback = RecordingCallback()
    target = out / KEY
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(target), callback=callback)
    new = fs.cat_file(f"{oss_bucket}/{KEY}")
    assert len(new) == SIZE and new != data
    assert target.read_bytes() == new
    assert result is not None and result.restarts == 1
    assert result.identity.etag != old_etag  # the download landed the new version
    assert callback.total == SIZE  # progress of the abandoned attempt was taken back
    assert oss_server.stats().faults_by_kind() == {"replace": 1}
    assert engine_files(out) == []


def test_object_that_keeps_changing_fails_cleanly(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.add_fault(FaultRule("replace", key=KEY, byte_range=(4 * PART, 5 * PART), times=None))
    with pytest.raises(ObjectChangedError, match="changed"):
        download(fs, oss_bucket, out)
    assert not (out / KEY).exists()
    assert engine_files(out) == []
    assert oss_server.stats().faults_by_kind()["replace"] >= 2


def test_errors_without_progress_give_up_and_keep_the_checkpoint(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.add_fault(FaultRule("error", key=KEY, status=500, byte_range=PART_1, times=None))
    with pytest.raises(TransientError, match="in a row"):
        download(fs, oss_bucket, out)
    assert not (out / KEY).exists()
    assert {Path(p).name for p in engine_files(out)} == {
        f"{KEY}.ossr-partial",
        f"{KEY}.ossr-journal",
    }
    assert oss_server.stats().faults_by_kind() == {"error": CONFIG.max_attempts}

    oss_server.clear_faults()
    oss_server.reset_stats()
    target = out / KEY
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(target))
    assert target.read_bytes() == data
    # Only the failed part was missing (parts in flight when it failed may have
    # been cut short too, at most one per other connection).
    assert result is not None and result.bytes_reused >= SIZE - CONFIG.concurrency * PART
    gets = [g for g in oss_server.stats().ranged_gets if g.bucket == oss_bucket]
    assert sum(g.end - g.start for g in gets) == SIZE - result.bytes_reused  # type: ignore[operator]
    assert PART_1 in gets_of_part(oss_server, oss_bucket, PART_1)
    assert engine_files(out) == []


def test_bandwidth_and_latency(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.simulate_wan(bytes_per_second=4 * MiB, latency=0.05, bucket=oss_bucket)
    target = out / KEY
    result = fs.get_file(f"{oss_bucket}/{KEY}", str(target))
    assert target.read_bytes() == data
    assert result is not None and result.elapsed >= 0.1  # HEAD and a GET, 50 ms each
    assert engine_files(out) == []
