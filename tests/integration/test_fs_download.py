"""Happy paths of ``get_file`` end to end, and the fsspec / pandas entry points."""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path

import fsspec
import ossfs
import pandas as pd
import pytest

import oss_resumable_fs
from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import (
    CONFIG,
    PART,
    RecordingCallback,
    RecordingProxy,
    engine_files,
    make_data,
    make_fs,
)

SIZE = 2 * MiB + 123  # nine parts of 256 KiB, the last one 123 bytes


def part_ranges(size: int, part: int = PART) -> list[tuple[int, int]]:
    return [(start, min(start + part, size)) for start in range(0, size, part)]


def test_multipart_download(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    data = make_data(SIZE)
    oss_server.put_object(oss_bucket, "big.bin", data)
    target = out / "big.bin"

    result = fs.get_file(f"{oss_bucket}/big.bin", str(target))

    assert target.read_bytes() == data
    assert result is not None
    assert (result.bytes_fetched, result.bytes_reused) == (SIZE, 0)
    assert (result.parts_total, result.parts_fetched, result.restarts) == (9, 9, 0)
    assert result.path == str(target)
    stats = oss_server.stats()
    assert stats.requests.get("GetObject") == 9
    gets = sorted((g.start, g.end) for g in stats.ranged_gets)
    assert gets == part_ranges(SIZE)
    assert {g.status for g in stats.ranged_gets} == {206}
    # Every part after the first was pinned to the ETag the first one's answer told.
    assert stats.if_match_requests == 8
    assert "HeadObject" not in stats.requests
    # (bytes_served is not checked: the server may count a body's bytes only after the
    # client has read them all, so it can lag behind the return of get_file.)
    assert engine_files(out) == []
    assert os.listdir(out) == ["big.bin"]


def test_requests_on_the_wire(
    oss_server: OSSServer, oss_bucket: str, out: Path, proxy: RecordingProxy
) -> None:
    """What oss2 really sends: ranges in standard mode, pinned by If-Match, few connections."""
    data = make_data(4 * MiB, seed=3)
    oss_server.put_object(oss_bucket, "wire.bin", data)
    fs = make_fs(oss_server, endpoint=proxy.endpoint)

    result = fs.get_file(f"{oss_bucket}/wire.bin", str(out / "wire.bin"))

    assert (out / "wire.bin").read_bytes() == data
    assert result is not None
    requests = proxy.requests()
    gets = [headers for line, headers in requests if line.startswith("GET ")]
    assert len(gets) == 16
    assert all(h.get("x-oss-range-behavior") == "standard" for h in gets)
    # The first GET (no HEAD before it) tells the ETag every later one is pinned to.
    assert gets[0].get("if-match") is None and gets[0]["range"] == f"bytes=0-{PART - 1}"
    assert {h.get("if-match") for h in gets[1:]} == {result.identity.etag}
    assert sorted(h["range"] for h in gets) == sorted(
        f"bytes={start}-{end - 1}" for start, end in part_ranges(4 * MiB)
    )
    # Connections are reused from part to part: no new handshake per part.
    assert proxy.connections <= CONFIG.concurrency


def test_zero_byte_object(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "empty", b"")
    result = fs.get_file(f"{oss_bucket}/empty", str(out / "empty"))
    assert (out / "empty").read_bytes() == b""
    assert result is not None and result.identity.size == 0
    stats = oss_server.stats()
    # Its first GET finds no first byte (416); a HEAD then tells its identity.
    assert [g.status for g in stats.ranged_gets] == [416]
    assert stats.requests == {"GetObject": 1, "HeadObject": 1}
    assert engine_files(out) == []


def test_small_object_takes_one_get_and_no_head(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    data = make_data(100 * KiB, seed=1)
    assert len(data) < CONFIG.single_request_threshold
    oss_server.put_object(oss_bucket, "small.bin", data)
    result = fs.get_file(f"{oss_bucket}/small.bin", str(out / "small.bin"))
    assert (out / "small.bin").read_bytes() == data
    assert result is not None and result.parts_total == 1
    stats = oss_server.stats()
    # One GET of the first part's bytes: the object came whole, with its identity.
    assert stats.requests == {"GetObject": 1}
    assert [(g.start, g.end, g.status) for g in stats.ranged_gets] == [(0, len(data), 206)]
    assert result.verified is not None and result.identity.crc64 is not None
    assert engine_files(out) == []


def test_destination_is_replaced_atomically(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    data = make_data(SIZE, seed=2)
    oss_server.put_object(oss_bucket, "obj", data)
    target = out / "obj"
    old = b"old content " * 1000
    target.write_bytes(old)
    old_inode = target.stat().st_ino
    seen_during: list[bytes] = []

    def peek(total: int) -> None:
        if total < SIZE:
            seen_during.append(target.read_bytes())

    with open(target, "rb") as held:
        fs.get_file(f"{oss_bucket}/obj", str(target), callback=RecordingCallback(peek))
        # The old file was renamed over, never rewritten in place.
        assert held.read() == old
    assert target.read_bytes() == data
    assert target.stat().st_ino != old_inode
    assert seen_during and all(content == old for content in seen_during)
    assert engine_files(out) == []


def test_into_a_file_object(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    data = make_data(SIZE, seed=4)
    oss_server.put_object(oss_bucket, "obj", data)
    sink = io.BytesIO()
    fs.get_file(f"{oss_bucket}/obj", sink)
    assert sink.getvalue() == data
    assert len(oss_server.stats().ranged_gets) == 9


def test_into_a_file_object_leaves_no_journal_in_checkpoint_dir(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=6)
    oss_server.put_object(oss_bucket, "obj", data)
    checkpoints = tmp_path / "checkpoints"
    oss_server.add_fault(FaultRule("error", key="obj", status=500, byte_range=(0, 1), times=None))
    with pytest.raises(OSError):
        fs.get_file(f"{oss_bucket}/obj", io.BytesIO(), checkpoint_dir=str(checkpoints))
    # A file object's download cannot be resumed: its checkpoint must not outlive it.
    assert not checkpoints.exists() or list(checkpoints.iterdir()) == []
    oss_server.clear_faults()
    sink = io.BytesIO()
    fs.get_file(f"{oss_bucket}/obj", sink, checkpoint_dir=str(checkpoints))
    assert sink.getvalue() == data


def test_progress_callback(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    data = make_data(SIZE, seed=5)
    oss_server.put_object(oss_bucket, "obj", data)
    callback = RecordingCallback()
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), callback=callback)
    assert callback.sizes == [SIZE]
    assert callback.updates and all(step > 0 for step in callback.updates)
    assert callback.total == SIZE
    assert (callback.size, callback.value) == (SIZE, SIZE)


def test_fsspec_filesystem_and_open_by_protocol(
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    out: Path,
) -> None:
    data = make_data(SIZE, seed=6)
    oss_server.put_object(oss_bucket, "obj", data)
    assert fsspec.get_filesystem_class("ossr") is ResumableOSSFileSystem
    fs = fsspec.filesystem("ossr", **oss_storage_options, transfer_config=CONFIG)
    assert isinstance(fs, ResumableOSSFileSystem)
    fs.get_file(f"ossr://{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    assert len(oss_server.stats().ranged_gets) == 9  # the resumable engine did the work
    with fsspec.open(f"ossr://{oss_bucket}/obj", "rb", **oss_storage_options) as f:
        assert isinstance(f.fs, ResumableOSSFileSystem)
        assert f.read() == data


@pytest.fixture
def saved_registry():
    """``use_for_oss_urls`` changes fsspec's process-wide registry: put it back afterwards."""
    registry = importlib.import_module("fsspec.registry")._registry
    before = dict(registry)
    yield registry
    registry.clear()
    registry.update(before)


def test_use_for_oss_urls(
    saved_registry: dict,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    out: Path,
) -> None:
    data = make_data(SIZE, seed=7)
    oss_server.put_object(oss_bucket, "obj", data)
    assert fsspec.get_filesystem_class("oss") is ossfs.OSSFileSystem

    oss_resumable_fs.use_for_oss_urls()

    assert fsspec.get_filesystem_class("oss") is ResumableOSSFileSystem
    fs = fsspec.filesystem("oss", **oss_storage_options, transfer_config=CONFIG)
    assert isinstance(fs, ResumableOSSFileSystem)
    fs.get(f"oss://{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    assert len(oss_server.stats().ranged_gets) == 9
    with fsspec.open(f"oss://{oss_bucket}/obj", "rb", **oss_storage_options) as f:
        assert isinstance(f.fs, ResumableOSSFileSystem)
        assert f.read() == data


def test_registry_is_restored_after_use_for_oss_urls() -> None:
    """Runs after ``test_use_for_oss_urls``: the fixture must have undone the switch."""
    assert fsspec.get_filesystem_class("oss") is ossfs.OSSFileSystem


def test_simplecache_chain(
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    data = make_data(SIZE, seed=8)
    oss_server.put_object(oss_bucket, "obj", data)
    cache = tmp_path / "cache"
    url = f"simplecache::ossr://{oss_bucket}/obj"
    options = {
        "ossr": {**oss_storage_options, "transfer_config": CONFIG},
        "simplecache": {"cache_storage": str(cache)},
    }
    with fsspec.open(url, "rb", **options) as f:
        assert f.read() == data
    # Downloaded through get_file: ranged parts, landed complete in the cache.
    assert len(oss_server.stats().ranged_gets) == 9
    cached = [p for p in cache.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in cached] == [data]
    assert engine_files(cache) == []
    oss_server.reset_stats()
    with fsspec.open(url, "rb", **options) as f:  # served from the cache
        assert f.read() == data
    assert oss_server.stats().requests.get("GetObject", 0) == 0


def test_pandas_read_csv(
    oss_server: OSSServer, oss_bucket: str, oss_storage_options: dict[str, str]
) -> None:
    frame = pd.DataFrame({"n": range(500), "square": [i * i for i in range(500)]})
    frame["name"] = [f"row-{i}" for i in range(500)]
    oss_server.put_object(oss_bucket, "table.csv", frame.to_csv(index=False).encode())
    read = pd.read_csv(f"ossr://{oss_bucket}/table.csv", storage_options=oss_storage_options)
    pd.testing.assert_frame_equal(read, frame)
    cached = pd.read_csv(
        f"simplecache::ossr://{oss_bucket}/table.csv",
        storage_options={"ossr": oss_storage_options},
    )
    pd.testing.assert_frame_equal(cached, frame)
