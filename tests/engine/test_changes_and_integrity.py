"""The object changing under us, and bytes that do not match the object's CRC-64."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oss_resumable_fs.errors import IntegrityError, ObjectChangedError

from .conftest import PART, make_config, make_data
from .fakes import FakeSource, RecordingProgress

SIZE = 5 * PART + 321


def test_changed_mid_download_restarts_once(make_downloader, dest) -> None:
    old, new = make_data(SIZE, seed=1), make_data(SIZE + 999, seed=2)
    source = FakeSource(old)
    source.add_fault(covering=3 * PART, action=lambda s: s.replace(new, etag="etag-2"))
    progress = RecordingProgress()
    result = make_downloader(make_config(concurrency=1)).download(source, dest, progress=progress)
    assert Path(dest).read_bytes() == new
    assert result.restarts == 1
    assert result.identity.etag == "etag-2"
    assert result.bytes_reused == 0
    # 3 parts of the old object, then all of the new one.
    assert result.bytes_fetched == 3 * PART + len(new)
    assert progress.sizes == [len(old), len(new)]
    assert progress.total == len(new)
    assert not os.path.exists(dest + ".ossr-journal")


def test_keeps_changing_raises_object_changed(make_downloader, dest) -> None:
    source = FakeSource(make_data(SIZE))
    versions = iter(range(2, 100))

    def change(s: FakeSource) -> None:
        s.replace(make_data(SIZE, seed=next(versions)), etag=f"etag-{next(versions)}")

    source.add_fault(covering=2 * PART, action=change, times=None)
    with pytest.raises(ObjectChangedError, match="changed while it was being downloaded"):
        make_downloader(make_config(concurrency=1, max_restarts_on_change=1)).download(source, dest)
    assert source.stat_calls == 2
    assert not os.path.exists(dest)
    assert not os.path.exists(dest + ".ossr-journal")
    assert not os.path.exists(dest + ".ossr-partial")
    assert not os.path.exists(dest + ".ossr-lock")


def test_no_restart_allowed(make_downloader, dest) -> None:
    source = FakeSource(make_data(SIZE))
    source.add_fault(covering=0, open_error=ObjectChangedError("412"))
    with pytest.raises(ObjectChangedError):
        make_downloader(make_config(max_restarts_on_change=0)).download(source, dest)


def test_small_object_changed_mid_download(make_downloader, dest) -> None:
    old, new = make_data(1000, seed=1), make_data(2000, seed=2)
    source = FakeSource(old)
    source.add_fault(covering=0, action=lambda s: s.replace(new, etag="etag-2"))
    config = make_config(single_request_threshold=1 << 20)
    result = make_downloader(config).download(source, dest)
    assert Path(dest).read_bytes() == new
    assert result.restarts == 1


def test_corrupt_byte_on_the_wire_is_repaired(make_downloader, dest) -> None:
    data = make_data(SIZE)
    source = FakeSource(data)
    source.add_fault(covering=3 * PART + 17, corrupt=True)
    progress = RecordingProgress()
    result = make_downloader().download(source, dest, progress=progress)
    assert Path(dest).read_bytes() == data
    # Every part fetched twice: once, then once more to find and rewrite the bad one.
    assert result.bytes_fetched == 2 * SIZE
    assert result.parts_fetched == 2 * result.parts_total
    assert progress.total == SIZE  # repairs are not double-counted in progress


def test_corrupt_byte_in_a_small_object_is_repaired(make_downloader, dest) -> None:
    data = make_data(5000)
    source = FakeSource(data)
    source.add_fault(covering=4000, corrupt=True)
    make_downloader(make_config(single_request_threshold=1 << 20)).download(source, dest)
    assert Path(dest).read_bytes() == data


def test_persistent_mismatch_raises_integrity_error(make_downloader, dest) -> None:
    data = make_data(SIZE)
    source = FakeSource(data)
    source.add_fault(covering=PART + 5, corrupt=True, times=None)
    with pytest.raises(IntegrityError, match=r"oss://bucket/some/key\.bin"):
        make_downloader().download(source, dest)
    assert not os.path.exists(dest)
    assert os.listdir(os.path.dirname(dest)) == []


def test_wrong_crc_from_the_service_never_lands(make_downloader, dest) -> None:
    data = make_data(SIZE)
    source = FakeSource(data)
    source.identity = source.identity.__class__(**{**source.identity.__dict__, "crc64": 12345})
    with pytest.raises(IntegrityError):
        make_downloader().download(source, dest)
    assert not os.path.exists(dest)


def test_verification_can_be_turned_off(make_downloader, dest) -> None:
    data = make_data(SIZE)
    source = FakeSource(data)
    source.identity = source.identity.__class__(**{**source.identity.__dict__, "crc64": 12345})
    result = make_downloader(make_config(verify_crc64=False)).download(source, dest)
    assert Path(dest).read_bytes() == data
    assert result.bytes_fetched == SIZE
