"""Skipping what is already there; what get_file and get return; progress that users see."""

from __future__ import annotations

import io
import pickle
import threading
import time
from pathlib import Path

import pytest
from fsspec.callbacks import Callback

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.config import MiB
from oss_resumable_fs.progress import TransferProgress
from oss_resumable_fs.results import GetResult
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import RecordingCallback, make_data, make_fs

SIZE = 2 * MiB + 5


@pytest.fixture
def obj(oss_server: OSSServer, oss_bucket: str) -> bytes:
    data = make_data(SIZE, seed=21)
    oss_server.put_object(oss_bucket, "obj", data)
    return data


def test_skip_identical_fetches_no_object_bytes(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    first = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert first is not None and first.status == "downloaded" and not first.skipped
    oss_server.reset_stats()
    again = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), skip_identical=True)
    assert again is not None and again.skipped and again.status == "skipped"
    assert again.bytes_fetched == 0
    stats = oss_server.stats()
    assert stats.requests.get("GetObject", 0) == 0 and stats.bytes_served == {}
    assert "skipped" in again.summary() and "skipped" in repr(again)
    assert (out / "obj").read_bytes() == obj


def test_skip_identical_still_fetches_a_different_file(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    """Same size, other bytes: the CRC-64 tells them apart; fsspec's default copies anyway."""
    target = out / "obj"
    changed = bytearray(obj)
    changed[SIZE // 2] ^= 0xFF
    target.write_bytes(bytes(changed))
    result = fs.get_file(f"{oss_bucket}/obj", str(target), skip_identical=True)
    assert result is not None and not result.skipped and result.bytes_fetched == SIZE
    assert target.read_bytes() == obj
    # Without skip_identical (fsspec's semantics), an identical file is fetched again.
    oss_server.reset_stats()
    result = fs.get_file(f"{oss_bucket}/obj", str(target))
    assert result is not None and result.bytes_fetched == SIZE


def test_skip_identical_from_the_constructor_and_for_get(
    oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "tree/a.bin", make_data(5000, seed=1))
    oss_server.put_object(oss_bucket, "tree/b.bin", obj)
    fs = make_fs(oss_server, skip_identical=True)
    first = fs.get(f"{oss_bucket}/tree/", str(out / "tree"), recursive=True)
    assert isinstance(first, GetResult)
    assert first.count("downloaded") == 2 and first.bytes_fetched == 5000 + SIZE
    (out / "tree" / "a.bin").write_bytes(b"stale")
    oss_server.reset_stats()
    again = fs.get(f"{oss_bucket}/tree/", str(out / "tree"), recursive=True)
    assert again.count("skipped") == 1 and again.count("downloaded") == 1
    assert again.bytes_fetched == 5000 and again.bytes_skipped == SIZE
    assert oss_server.stats().bytes_served == {f"{oss_bucket}/tree/a.bin": 5000}
    summary = again.summary()
    assert "2 files" in summary and "1 skipped" in summary and "1 downloaded" in summary
    assert "<table>" in again._repr_html_() and "skipped" in again._repr_html_()
    assert pickle.loads(pickle.dumps(again)).summary() == summary


def test_get_result_lists_each_file_in_order(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    for name in ("c", "a", "b"):
        oss_server.put_object(oss_bucket, f"d/{name}.txt", name.encode() * 10)
    result = fs.get(f"{oss_bucket}/d/", str(out / "d"), recursive=True)
    files = [(Path(f.local).name, f.status) for f in result.files if f.status != "directory"]
    assert files == [("a.txt", "downloaded"), ("b.txt", "downloaded"), ("c.txt", "downloaded")]
    assert result.bytes_total == 30 and result.bytes_fetched == 30


def test_a_resumed_download_says_so(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    oss_server.add_fault(FaultRule("error", method="GET", status=403, byte_range=(SIZE - 10, SIZE)))
    with pytest.raises(PermissionError):
        fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    oss_server.clear_faults()
    result = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert result is not None and result.status == "resumed" and result.bytes_reused > 0
    assert "reused" in result.summary()


def test_retries_are_counted(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    # The first GET (it tells the object's identity), then two resets of parts.
    oss_server.add_fault(FaultRule("error", method="GET", status=503, times=1, byte_range=(0, 1)))
    oss_server.add_fault(FaultRule("reset", after_bytes=1000, times=2, byte_range=(MiB, SIZE)))
    result = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert result is not None and result.retries == 3
    assert (out / "obj").read_bytes() == obj


class Exploding(RecordingCallback):
    def relative_update(self, inc: int = 1) -> None:
        super().relative_update(inc)
        raise RuntimeError("a broken progress display")


def test_a_callback_that_raises_breaks_nothing(
    fs: ResumableOSSFileSystem, oss_bucket: str, obj: bytes, out: Path, caplog
) -> None:
    result = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), callback=Exploding())
    assert result is not None and (out / "obj").read_bytes() == obj
    assert any("progress callback" in record.getMessage() for record in caplog.records)


def test_progress_of_a_get_counts_bytes_and_files(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "g/big.bin", obj)
    oss_server.put_object(oss_bucket, "g/small.bin", b"s" * 100)
    screen = io.StringIO()
    progress = TransferProgress("g", display="text", file=screen, mininterval=0)
    fs.get(f"{oss_bucket}/g/", str(out / "g"), recursive=True, callback=progress)
    progress.close()
    assert progress.size == SIZE + 100 and progress.value == SIZE + 100
    assert progress.files_done == 2 and progress.files_total == 2
    text = screen.getvalue()
    assert "2/2 files" in text and "100%" in text and "B/s" in text


def test_progress_of_one_object_stays_steady_through_a_resume(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    oss_server.add_fault(FaultRule("error", method="GET", status=403, byte_range=(SIZE - 10, SIZE)))
    with pytest.raises(PermissionError):
        fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    oss_server.clear_faults()
    progress = TransferProgress(display="none")
    result = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), callback=progress)
    assert result is not None and result.bytes_reused > 0
    assert progress.size == SIZE and progress.value == SIZE


@pytest.mark.parametrize("on_error", ["return", "omit"])
def test_get_tries_every_file_when_asked_and_reports_each_failure(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path, on_error: str
) -> None:
    for name in ("a", "b", "c", "d"):
        oss_server.put_object(oss_bucket, f"e/{name}.bin", name.encode() * 100)
    # Any request: a small listed object is fetched by one GET, with no HEAD.
    oss_server.add_fault(FaultRule("error", method=None, key="e/b.bin", status=403, times=None))
    result = fs.get(f"{oss_bucket}/e/", str(out / "e"), recursive=True, on_error=on_error)
    landed = sorted(p.name for p in (out / "e").iterdir())
    # The job's manifest stays (a re-run retries only b.bin): see test_get_job.py.
    assert landed == [".ossr-job", "a.bin", "c.bin", "d.bin"]
    assert result.count("downloaded") == 3
    if on_error == "omit":
        assert not result.failed and "b.bin" not in repr(result._repr_html_())
        return
    (failed,) = result.failed
    assert failed.remote.endswith("e/b.bin") and isinstance(failed.exception, PermissionError)
    assert "1 failed" in result.summary()


def test_get_stops_at_the_first_error_by_default_and_refuses_a_bad_on_error(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "e/a.bin", b"a")
    oss_server.add_fault(FaultRule("error", method=None, key="e/a.bin", status=403, times=None))
    with pytest.raises(PermissionError):
        fs.get(f"{oss_bucket}/e/", str(out / "e"), recursive=True)
    oss_server.reset_stats()
    with pytest.raises(ValueError, match="on_error"):
        fs.get(f"{oss_bucket}/e/", str(out / "e"), recursive=True, on_error="ignore")
    assert oss_server.stats().total_requests == 0


def test_a_bandwidth_limit_caps_downloads_and_reads_together(
    oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    """2 MiB through a 1 MiB/s cap shared by a download and a read: about 1 s past the burst."""
    data = make_data(1 * MiB, seed=8)
    oss_server.put_object(oss_bucket, "a", data)
    oss_server.put_object(oss_bucket, "b", data)
    fs = make_fs(oss_server, bandwidth_limit="1MiB")
    started = time.monotonic()
    reader = threading.Thread(target=lambda: fs.cat_file(f"{oss_bucket}/b"))
    reader.start()
    fs.get_file(f"{oss_bucket}/a", str(out / "a"))
    reader.join()
    elapsed = time.monotonic() - started
    assert (out / "a").read_bytes() == data
    assert elapsed >= 0.8, elapsed  # one second's burst, then 1 MiB more at 1 MiB/s


class RaisingEverywhere(Callback):
    def set_size(self, size: int) -> None:
        raise RuntimeError("set_size")

    def relative_update(self, inc: int = 1) -> None:
        raise RuntimeError("relative_update")

    def branched(self, path_1: str, path_2: str, **kwargs) -> Callback:
        raise RuntimeError("branched")


class RaisingProgress(TransferProgress):
    def file_done(self, outcome=None) -> None:
        raise RuntimeError("file_done")


@pytest.mark.parametrize("callback", [RaisingEverywhere(), RaisingProgress(display="none")])
def test_a_raising_callback_breaks_no_get(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path, callback
) -> None:
    for name in ("a", "b"):
        oss_server.put_object(oss_bucket, f"cb/{name}.bin", name.encode() * 50)
    result = fs.get(f"{oss_bucket}/cb/", str(out / "cb"), recursive=True, callback=callback)
    assert result.count("downloaded") == 2 and not result.failed
    assert sorted(p.name for p in (out / "cb").iterdir()) == ["a.bin", "b.bin"]


def test_two_keys_for_one_local_file_are_refused_before_any_transfer(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "k/a.txt", b"one")
    oss_server.put_object(oss_bucket, "k/b.txt", b"two")
    oss_server.reset_stats()
    with pytest.raises(ValueError, match="would both be written"):
        fs.get(
            [f"{oss_bucket}/k/a.txt", f"{oss_bucket}/k/b.txt"],
            [str(out / "x.txt"), str(out / "." / "x.txt")],
        )
    assert oss_server.stats().total_requests == 0


def test_skipping_removes_an_older_attempts_leftovers(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    target = out / "obj"
    fs.get_file(f"{oss_bucket}/obj", str(target))
    oss_server.add_fault(FaultRule("error", method="GET", status=403, byte_range=(SIZE - 10, SIZE)))
    with pytest.raises(PermissionError):  # a forced re-fetch that fails midway
        fs.get_file(f"{oss_bucket}/obj", str(target) + ".new")
    for suffix in (".ossr-partial", ".ossr-journal"):
        (out / ("obj" + suffix)).write_bytes((out / ("obj.new" + suffix)).read_bytes())
    oss_server.clear_faults()
    result = fs.get_file(f"{oss_bucket}/obj", str(target), skip_identical=True)
    assert result is not None and result.skipped
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("obj.ossr")) == []


def test_skip_identical_needs_no_restore_of_an_archived_object(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    data = make_data(300_000, seed=9)
    oss_server.put_object(oss_bucket, "cold", data, storage_class="ColdArchive")
    (out / "cold").write_bytes(data)
    oss_server.reset_stats()
    result = fs.get_file(f"{oss_bucket}/cold", str(out / "cold"), restore=True, skip_identical=True)
    assert result is not None and result.skipped
    assert "RestoreObject" not in oss_server.stats().requests


def test_reused_bytes_do_not_count_as_speed(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, obj: bytes, out: Path
) -> None:
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    progress = TransferProgress(display="text", file=io.StringIO())
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), skip_identical=True, callback=progress)
    bar = progress._bar
    assert progress.value == SIZE and bar.n == SIZE and bar.n - bar.initial == 0
    progress.close()


def test_a_key_that_is_both_an_object_and_a_prefix_is_not_silently_dropped(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "d/sub", b"file")
    oss_server.put_object(oss_bucket, "d/sub/inner", b"inner")
    oss_server.put_object(oss_bucket, "d/other", b"other")
    with pytest.raises(ValueError, match="both an object and a prefix"):
        fs.get(f"{oss_bucket}/d/", str(out / "d"), recursive=True)
    result = fs.get(f"{oss_bucket}/d/", str(out / "r"), recursive=True, on_error="return")
    (failed,) = result.failed
    assert failed.remote.endswith("d/sub") and "both an object and a prefix" in failed.error
    assert (out / "r" / "other").read_bytes() == b"other"
