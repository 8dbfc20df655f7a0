"""Checks before any data moves, the status listing, and the engine's import boundary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from oss_resumable_fs.engine import transfer
from oss_resumable_fs.engine.transfer import list_unfinished
from oss_resumable_fs.errors import (
    AccessDeniedError,
    InsufficientSpaceError,
    ObjectNotRestoredError,
)

from .conftest import PART, make_config, make_data
from .fakes import FakeSource

Usage = namedtuple("Usage", "total used free")
SIZE = 5 * PART


def test_insufficient_space_before_any_data_moves(make_downloader, dest) -> None:
    source = FakeSource(make_data(SIZE))
    downloader = make_downloader(disk_usage=lambda path: Usage(10**9, 10**9, SIZE - 1))
    with pytest.raises(InsufficientSpaceError, match="still to fetch"):
        downloader.download(source, dest)
    assert source.requests == []
    assert os.listdir(os.path.dirname(dest)) == []


def test_space_check_counts_only_what_is_left_to_fetch(make_downloader, dest) -> None:
    data = make_data(SIZE)
    crashing = FakeSource(data)
    crashing.add_fault(covering=3 * PART, open_error=ObjectNotRestoredError("x"))
    with pytest.raises(ObjectNotRestoredError):
        make_downloader(make_config(concurrency=1)).download(crashing, dest)
    # The partial file's blocks are already allocated: only 2 parts more are needed.
    roomy = make_downloader(disk_usage=lambda path: Usage(10**9, 10**9, 2 * PART + 8192))
    roomy.download(FakeSource(data), dest)
    assert Path(dest).read_bytes() == data


@pytest.mark.parametrize("suffix", [".ossr-partial", ".ossr-journal", ".ossr-lock"])
def test_destinations_named_like_the_engine_files_are_refused(
    make_downloader, dest, suffix
) -> None:
    source = FakeSource(make_data(SIZE))
    with pytest.raises(ValueError, match="reserved"):
        make_downloader().download(source, dest + suffix)
    assert source.requests == []


def test_non_writable_directory(make_downloader, dest, monkeypatch) -> None:
    # We run as root, so chmod cannot make a directory unwritable: fake os.access.
    folder = os.path.dirname(dest)
    os.makedirs(folder)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode, **kw: False if path == folder else real_access(path, mode)
    )
    source = FakeSource(make_data(SIZE))
    with pytest.raises(AccessDeniedError, match="not writable") as info:
        make_downloader().download(source, dest)
    assert isinstance(info.value, PermissionError)
    assert source.requests == [] and source.stat_calls == 0


def test_lock_file_creation_refused_is_access_denied(make_downloader, dest, monkeypatch) -> None:
    os.makedirs(os.path.dirname(dest))
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".ossr-lock"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(AccessDeniedError):
        make_downloader().download(FakeSource(make_data(10)), dest)


def test_parent_is_a_regular_file(make_downloader, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    source = FakeSource(make_data(10))
    with pytest.raises(NotADirectoryError):
        make_downloader().download(source, str(blocker / "dest.bin"))
    assert source.stat_calls == 0


def test_destination_is_a_directory(make_downloader, tmp_path) -> None:
    with pytest.raises(IsADirectoryError):
        make_downloader().download(FakeSource(b"x"), str(tmp_path))


def test_missing_parent_directories_are_created(make_downloader, tmp_path) -> None:
    dest = tmp_path / "a" / "b" / "c.bin"
    make_downloader().download(FakeSource(b"hello"), str(dest))
    assert dest.read_bytes() == b"hello"


def test_list_unfinished(make_downloader, tmp_path) -> None:
    data = make_data(SIZE)
    source = FakeSource(data)
    source.add_fault(covering=2 * PART, open_error=ObjectNotRestoredError("x"))
    dest = str(tmp_path / "big.bin")
    with pytest.raises(ObjectNotRestoredError):
        make_downloader(make_config(concurrency=1)).download(source, dest)
    (tmp_path / "junk.ossr-journal").write_bytes(b"not a journal")
    (tmp_path / "other.txt").write_text("x")
    [item] = list_unfinished(tmp_path)
    assert item.source == "oss://bucket/some/key.bin"
    assert item.destination == dest
    assert item.size == SIZE
    assert item.bytes_done == 2 * PART
    assert (item.parts_done, item.parts_total) == (2, 5)
    assert item.age >= 0
    assert item.journal_path == dest + ".ossr-journal"
    line = item.describe()
    assert "oss://bucket/some/key.bin" in line and dest in line and "2/5 parts" in line


def test_engine_imports_neither_oss2_nor_fsspec() -> None:
    code = (
        "import oss_resumable_fs.engine.transfer, oss_resumable_fs.engine, sys; "
        "assert 'oss2' not in sys.modules and 'fsspec' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('oss2', 'fsspec')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_transfer_public_names() -> None:
    assert set(transfer.__all__) == {
        "DownloadResult",
        "Downloader",
        "ProgressListener",
        "Scheduler",
        "UnfinishedDownload",
        "download",
        "journal_path_for",
        "list_unfinished",
    }
