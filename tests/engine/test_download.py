"""Happy paths: what lands where, how much is requested, progress, memory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.transfer import download, journal_path_for

from .conftest import BUFFER, PART, make_config, make_data
from .fakes import FakeSource, RecordingProgress


def leftovers(dest: str) -> list[str]:
    folder = os.path.dirname(dest)
    return sorted(name for name in os.listdir(folder) if name != os.path.basename(dest))


def test_zero_bytes_makes_no_request(make_downloader, dest) -> None:
    source = FakeSource(b"")
    progress = RecordingProgress()
    result = make_downloader().download(source, dest, progress=progress)
    assert Path(dest).read_bytes() == b""
    assert source.requests == []
    assert (result.parts_total, result.parts_fetched, result.bytes_fetched) == (0, 0, 0)
    assert progress.sizes == [0] and progress.total == 0
    assert leftovers(dest) == []


def test_small_object_is_one_plain_request_without_journal(make_downloader, dest) -> None:
    data = make_data(50_000)
    source = FakeSource(data)
    config = make_config(single_request_threshold=1024 * 1024)
    seen = []
    source.open_hook = lambda start, end: seen.append(os.path.exists(journal_path_for(dest)))
    result = make_downloader(config).download(source, dest)
    assert Path(dest).read_bytes() == data
    assert source.requests == [(0, len(data))]
    assert seen == [False]
    assert result.parts_total == 1 and result.bytes_fetched == len(data)
    assert leftovers(dest) == []


@pytest.mark.parametrize("size", [PART, 4 * PART, 4 * PART + 1, 7 * PART - 12_345])
def test_multipart_sizes(make_downloader, dest, size: int) -> None:
    data = make_data(size, seed=size)
    source = FakeSource(data, chunk=5000)
    result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == data
    expected_parts = -(-size // PART)
    assert sorted(source.requests) == [
        (start, min(start + PART, size)) for start in range(0, size, PART)
    ]
    assert result.parts_total == result.parts_fetched == expected_parts
    assert result.bytes_fetched == size and result.bytes_reused == 0
    assert result.restarts == 0
    assert result.path == os.path.abspath(dest)
    assert result.identity == source.identity
    assert leftovers(dest) == []


def test_overwrites_an_existing_destination(make_downloader, dest) -> None:
    os.makedirs(os.path.dirname(dest))
    Path(dest).write_bytes(b"stale" * 100_000)
    data = make_data(3 * PART + 7)
    make_downloader().download(FakeSource(data), dest)
    assert Path(dest).read_bytes() == data


def test_nothing_partial_at_the_destination_while_downloading(make_downloader, dest) -> None:
    data = make_data(5 * PART)
    source = FakeSource(data)
    observed = []

    def look(start: int, end: int) -> None:
        observed.append(
            (
                os.path.exists(dest),
                os.path.exists(dest + ".ossr-partial"),
                os.path.exists(dest + ".ossr-journal"),
                os.path.exists(dest + ".ossr-lock"),
            )
        )

    source.open_hook = look
    make_downloader(make_config(concurrency=1)).download(source, dest)
    assert observed and all(o == (False, True, True, True) for o in observed)


def test_progress_totals_equal_the_size_and_are_coalesced(make_downloader, dest) -> None:
    data = make_data(6 * PART + 99)
    source = FakeSource(data, chunk=1000)  # ~600 tiny reads
    progress = RecordingProgress()
    make_downloader().download(source, dest, progress=progress)
    assert progress.sizes == [len(data)]
    assert progress.total == len(data)
    assert all(update > 0 for update in progress.updates)
    assert len(progress.updates) <= 7  # one per part at most: never per buffer


def test_memory_bound_buffers_never_exceed_buffer_size(make_downloader, dest) -> None:
    data = make_data(5 * PART + 3)
    source = FakeSource(data, max_buffer=BUFFER)  # asserts on every readinto
    make_downloader(make_config(concurrency=3)).download(source, dest)
    assert Path(dest).read_bytes() == data
    assert max(source.buffer_sizes) == BUFFER


def test_checkpoint_dir_and_default_journal_paths(tmp_path, monkeypatch) -> None:
    dest = str(tmp_path / "a" / "b.bin")
    assert journal_path_for(dest) == dest + ".ossr-journal"
    config = TransferConfig(checkpoint_dir=str(tmp_path / "ckpt"))
    digest = hashlib.sha256(os.fsencode(dest)).hexdigest()[:32]
    assert journal_path_for(dest, config) == str(tmp_path / "ckpt" / f"{digest}.ossr-journal")
    # Relative destinations are made absolute first.
    monkeypatch.chdir(tmp_path)
    assert journal_path_for("a/b.bin", config) == journal_path_for(dest, config)


def test_journal_in_checkpoint_dir(make_downloader, tmp_path, dest) -> None:
    data = make_data(3 * PART)
    source = FakeSource(data)
    config = make_config(checkpoint_dir=str(tmp_path / "ckpt"), concurrency=1)
    journal = journal_path_for(dest, config)
    seen = []
    source.open_hook = lambda start, end: seen.append(os.path.exists(journal))
    make_downloader(config).download(source, dest)
    assert seen == [True, True, True]
    assert not os.path.exists(journal)
    assert leftovers(dest) == []


def test_public_function_uses_defaults(dest) -> None:
    data = make_data(200_000)
    result = download(FakeSource(data), dest)
    assert Path(dest).read_bytes() == data
    assert result.parts_total == 1  # below the default 8 MiB single-request threshold


def test_without_known_crc_still_downloads(make_downloader, dest) -> None:
    data = make_data(2 * PART + 5)
    make_downloader().download(FakeSource(data, with_crc=False), dest)
    assert Path(dest).read_bytes() == data
