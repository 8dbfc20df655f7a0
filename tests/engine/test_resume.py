"""Resuming from a checkpoint, and never trusting it blindly."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import pytest

from oss_resumable_fs.engine.journal import RECORD_SIZE, read_journal
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.errors import DownloadCancelledError, ObjectNotRestoredError

from .conftest import PART, make_config, make_data
from .fakes import FakeSource, RecordingProgress

SIZE = 8 * PART + 777


def crash_after_parts(make_downloader, dest, data: bytes, parts_done: int) -> FakeSource:
    """A first run that dies (non-transient error) when asking for part ``parts_done``."""
    source = FakeSource(data)
    source.add_fault(covering=parts_done * PART, open_error=ObjectNotRestoredError("boom"))
    with pytest.raises(ObjectNotRestoredError):
        make_downloader(make_config(concurrency=1)).download(source, dest)
    assert not os.path.exists(dest)
    assert sorted(read_journal(dest + ".ossr-journal").parts) == list(range(parts_done))
    return source


def test_resume_fetches_only_the_missing_parts(make_downloader, dest) -> None:
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=5)
    source = FakeSource(data)
    progress = RecordingProgress()
    result = make_downloader().download(source, dest, progress=progress)
    assert Path(dest).read_bytes() == data
    assert sorted(source.requests) == [
        (5 * PART, 6 * PART),
        (6 * PART, 7 * PART),
        (7 * PART, 8 * PART),
        (8 * PART, SIZE),
    ]
    assert result.bytes_reused == 5 * PART
    assert result.bytes_fetched == SIZE - 5 * PART
    assert result.parts_fetched == 4 and result.parts_total == 9
    # Reused bytes are reported at once, then the rest as it lands.
    assert progress.updates[0] == 5 * PART
    assert progress.total == SIZE
    assert not os.path.exists(dest + ".ossr-journal")
    assert not os.path.exists(dest + ".ossr-partial")


def test_resume_keeps_the_journals_part_size(make_downloader, dest) -> None:
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=3)
    source = FakeSource(data)
    make_downloader(make_config(part_size=2 * PART)).download(source, dest)
    assert Path(dest).read_bytes() == data
    assert all(end - start <= PART for start, end in source.requests)


def test_tampered_partial_file_refetches_that_part(make_downloader, dest) -> None:
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=5)
    with open(dest + ".ossr-partial", "r+b") as file:
        file.seek(3 * PART + 100)
        byte = file.read(1)
        file.seek(3 * PART + 100)
        file.write(bytes([byte[0] ^ 0x55]))
    source = FakeSource(data)
    result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == data
    assert (3 * PART, 4 * PART) in source.requests
    assert not any(start < 3 * PART for start, _ in source.requests)
    assert result.bytes_reused == 4 * PART


def test_truncated_partial_file(make_downloader, dest) -> None:
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=5)
    with open(dest + ".ossr-partial", "r+b") as file:
        file.truncate(2 * PART + 5)
    source = FakeSource(data)
    result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == data
    assert result.bytes_reused == 2 * PART
    assert min(start for start, _ in source.requests) == 2 * PART


def test_deleted_partial_file_with_journal_left(make_downloader, dest) -> None:
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=5)
    os.unlink(dest + ".ossr-partial")
    source = FakeSource(data)
    result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == data
    assert result.bytes_reused == 0 and result.bytes_fetched == SIZE


def test_partial_replaced_by_zeros_is_not_trusted(make_downloader, dest) -> None:
    """What a Java-SDK-style tool would do after a delete: recreate it full of zeros."""
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=5)
    with open(dest + ".ossr-partial", "wb") as file:
        file.truncate(SIZE)
    result = make_downloader().download(FakeSource(data), dest)
    assert Path(dest).read_bytes() == data
    assert result.bytes_reused == 0


@pytest.mark.parametrize("damage", ["garbage", "empty", "torn_tail"])
def test_damaged_journal(make_downloader, dest, damage: str) -> None:
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=5)
    journal = dest + ".ossr-journal"
    if damage == "garbage":
        Path(journal).write_bytes(b"\x00garbage" * 10)
    elif damage == "empty":
        Path(journal).write_bytes(b"")
    else:
        with open(journal, "r+b") as file:
            file.truncate(os.path.getsize(journal) - 3)
    source = FakeSource(data)
    result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == data
    if damage == "torn_tail":
        assert result.bytes_reused == 4 * PART  # the torn fifth record is ignored
    else:
        assert result.bytes_reused == 0 and result.bytes_fetched == SIZE


def test_object_changed_between_runs_starts_afresh(make_downloader, dest) -> None:
    old = make_data(SIZE, seed=1)
    crash_after_parts(make_downloader, dest, old, parts_done=5)
    new = make_data(SIZE - 5000, seed=2)
    source = FakeSource(new, etag="etag-2")
    result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == new
    assert result.bytes_reused == 0 and result.bytes_fetched == len(new)
    assert result.restarts == 1


def test_journal_of_another_object_is_not_used(make_downloader, dest) -> None:
    data = make_data(SIZE)
    crash_after_parts(make_downloader, dest, data, parts_done=5)
    source = FakeSource(data)
    source.name = "oss://other-bucket/key"
    result = make_downloader().download(source, dest)
    assert result.bytes_reused == 0 and result.restarts == 0


def test_resume_after_cancel_requests_only_missing_bytes(make_downloader, dest) -> None:
    data = make_data(SIZE)
    first = FakeSource(data)
    first.add_fault(covering=4 * PART, block=True)
    cancel = threading.Event()
    first.open_hook = lambda start, end: cancel.set() if start == 4 * PART else None
    with pytest.raises(DownloadCancelledError):
        make_downloader(make_config(concurrency=1)).download(first, dest, cancel=cancel)
    done = read_journal(dest + ".ossr-journal").parts
    assert sorted(done) == [0, 1, 2, 3]
    second = FakeSource(data)
    result = make_downloader().download(second, dest)
    assert Path(dest).read_bytes() == data
    assert second.requested_bytes() == SIZE - 4 * PART == result.bytes_fetched


def test_crash_before_landing_resumes_without_fetching(make_downloader, dest, monkeypatch) -> None:
    data = make_data(SIZE)
    real_replace = os.replace

    def power_cut(src, dst, *args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="simulated crash"):
        make_downloader().download(FakeSource(data), dest)
    monkeypatch.setattr(os, "replace", real_replace)
    source = FakeSource(data)
    result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == data
    assert source.requests == [] and result.bytes_reused == SIZE


def test_journal_grows_by_one_record_per_part(make_downloader, dest) -> None:
    source = FakeSource(make_data(SIZE))
    sizes: list[int] = []
    source.open_hook = lambda start, end: sizes.append(os.path.getsize(dest + ".ossr-journal"))
    make_downloader(make_config(concurrency=1)).download(source, dest)
    assert len(sizes) == 9
    assert {b - a for a, b in itertools.pairwise(sizes)} == {RECORD_SIZE}


@pytest.mark.parametrize("checkpoint_dir", [None, "journals"])
def test_resume_through_another_spelling_of_the_destination(
    make_downloader, tmp_path, checkpoint_dir
) -> None:
    """A symlinked directory on one run, its real path on the next: one download."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    config = {"checkpoint_dir": str(tmp_path / checkpoint_dir)} if checkpoint_dir else {}
    data = make_data(SIZE)
    first = FakeSource(data)
    first.add_fault(covering=5 * PART, open_error=ObjectNotRestoredError("boom"))
    with pytest.raises(ObjectNotRestoredError):
        make_downloader(make_config(concurrency=1, **config)).download(
            first, str(tmp_path / "link" / "obj")
        )
    result = make_downloader(make_config(**config)).download(FakeSource(data), str(real / "obj"))
    assert (real / "obj").read_bytes() == data
    assert result.bytes_reused == 5 * PART


def test_checkpoint_names_follow_directories_not_a_symlinked_destination(tmp_path) -> None:
    """Journal, partial and lock files share a rule: the directory resolved, the name kept."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "dirlink").symlink_to(real)
    (tmp_path / "filelink.bin").symlink_to(real / "obj")
    config = make_config(checkpoint_dir=str(tmp_path / "journals"))
    assert journal_path_for(str(tmp_path / "dirlink" / "obj"), config) == journal_path_for(
        str(real / "obj"), config
    )
    # A destination that is itself a symlink has its own partial file and lock
    # (the rename replaces the link): its own journal too.
    assert journal_path_for(str(tmp_path / "filelink.bin"), config) != journal_path_for(
        str(real / "obj"), config
    )
