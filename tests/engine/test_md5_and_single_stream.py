"""Verification without CRC-64 (an HTTP server's MD5 ETag, or nothing) and single-stream sources."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

import pytest

from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.engine.verify import Verified, method_for
from oss_resumable_fs.errors import IntegrityError

from .conftest import PART, make_config, make_data
from .fakes import FakeSource

SIZE = 8 * PART + 123


def _md5_source(data: bytes, *, md5: str | None = None, with_crc: bool = False) -> FakeSource:
    source = FakeSource(data, with_crc=with_crc)
    digest = md5 if md5 is not None else hashlib.md5(data).hexdigest()
    source.identity = dataclasses.replace(source.identity, md5=digest)
    return source


class SingleStreamSource(FakeSource):
    """A source whose server ignores ranges: the engine must read it with one request."""

    def single_stream_reason(self) -> str:
        return "the server ignored the Range header"


def _engine_files(dest: str) -> list[str]:
    folder = os.path.dirname(dest)
    return sorted(name for name in os.listdir(folder) if ".ossr-" in name)


def test_md5_verifies_a_source_without_crc(make_downloader, dest):
    data = make_data(SIZE)
    result = make_downloader().download(_md5_source(data), dest)
    assert Path(dest).read_bytes() == data
    assert result.verified is Verified.MD5
    assert "MD5 verified" in result.summary()


def test_md5_mismatch_refetches_and_repairs(make_downloader, dest, caplog):
    data = make_data(SIZE, seed=1)
    source = _md5_source(data)
    source.add_fault(covering=3 * PART + 17, corrupt=True, times=1)
    with caplog.at_level(logging.WARNING):
        result = make_downloader().download(source, dest)
    assert Path(dest).read_bytes() == data
    assert result.verified is Verified.MD5
    assert "MD5 mismatch" in caplog.text
    assert "parts that differed on the second fetch: [3]" in caplog.text


def test_md5_mismatch_that_persists_raises_and_lands_nothing(make_downloader, dest):
    data = make_data(SIZE, seed=2)
    source = _md5_source(data)
    # The first fetch of part 5 is damaged at one byte, the second at another.
    source.add_fault(covering=5 * PART, corrupt=True, times=1)
    source.add_fault(covering=5 * PART + 1, corrupt=True, times=1)
    with pytest.raises(IntegrityError, match="MD5") as caught:
        make_downloader().download(source, dest)
    assert "even after fetching every part again" in str(caught.value)
    assert not os.path.exists(dest)
    assert _engine_files(dest) == []


def test_the_same_damage_twice_says_the_source_or_its_etag_is_wrong(make_downloader, dest):
    data = make_data(SIZE, seed=9)
    source = _md5_source(data)
    source.add_fault(covering=5 * PART, corrupt=True, times=None)
    with pytest.raises(IntegrityError, match="the server sent the same bytes twice"):
        make_downloader().download(source, dest)
    assert not os.path.exists(dest)
    assert _engine_files(dest) == []


def test_an_etag_that_is_no_md5_is_said_to_be_one_possibility(make_downloader, dest):
    data = make_data(SIZE, seed=3)
    source = _md5_source(data, md5="0" * 32)  # the same bytes twice, never this digest
    with pytest.raises(IntegrityError, match="ETag is not the MD5 of the content"):
        make_downloader().download(source, dest)
    assert not os.path.exists(dest)


def test_crc64_is_preferred_and_skips_the_md5_pass(make_downloader, dest):
    data = make_data(SIZE, seed=4)
    # A wrong MD5 would fail the download if it were checked: CRC-64 is used instead.
    source = _md5_source(data, md5="0" * 32, with_crc=True)
    result = make_downloader().download(source, dest)
    assert result.verified is Verified.CRC64
    assert Path(dest).read_bytes() == data


@pytest.mark.parametrize("verify", [True, False])
def test_without_checksum_only_size_is_claimed(make_downloader, dest, verify):
    data = make_data(SIZE, seed=5)
    source = _md5_source(data, with_crc=True)
    if verify:
        source.identity = dataclasses.replace(source.identity, crc64=None, md5=None)
    result = make_downloader(make_config(verify_crc64=verify)).download(source, dest)
    assert result.verified is Verified.SIZE
    assert "no checksum to verify with" in result.summary()
    assert Path(dest).read_bytes() == data


def test_method_for():
    identity = ObjectIdentity(10, crc64=1, md5="a" * 32)
    assert method_for(identity, True) is Verified.CRC64
    assert method_for(dataclasses.replace(identity, crc64=None), True) is Verified.MD5
    assert method_for(ObjectIdentity(10), True) is Verified.SIZE
    assert method_for(identity, False) is Verified.SIZE


def test_skip_identical_compares_by_md5(make_downloader, dest):
    data = make_data(SIZE, seed=6)
    downloader = make_downloader(make_config(skip_identical=True))
    downloader.download(_md5_source(data), dest)
    source = _md5_source(data)
    again = downloader.download(source, dest)
    assert again.skipped and again.verified is Verified.MD5
    assert "same size and MD5" in again.summary()
    assert source.requests == []
    with open(dest, "r+b") as local:  # one byte differs: downloaded again
        local.write(b"\x00" if data[0] else b"\x01")
    fresh = downloader.download(_md5_source(data), dest)
    assert not fresh.skipped
    assert Path(dest).read_bytes() == data


def test_single_stream_source_is_read_with_one_request(make_downloader, dest):
    data = make_data(SIZE, seed=7)
    source = SingleStreamSource(data)
    result = make_downloader().download(source, dest)
    assert source.requests == [(0, SIZE)]
    assert result.single_stream == "the server ignored the Range header"
    assert result.parts_total == 1
    assert "one stream (the server ignored the Range header)" in result.summary()
    assert result.verified is Verified.CRC64
    assert Path(dest).read_bytes() == data
    assert _engine_files(dest) == []


def test_single_stream_resumes_a_broken_connection_and_ignores_an_old_journal(
    make_downloader, dest
):
    data = make_data(SIZE, seed=8)
    # A ranged run leaves a checkpoint (it fails midway) ...
    ranged = FakeSource(data)
    ranged.add_fault(covering=6 * PART, open_error=PermissionError("denied"), times=None)
    with pytest.raises(PermissionError):
        make_downloader(make_config(concurrency=1)).download(ranged, dest)
    assert any(name.endswith(".ossr-journal") for name in _engine_files(dest))
    # ... which a server that now ignores ranges cannot use: one stream, from byte 0.
    source = SingleStreamSource(data)
    source.add_fault(covering=0, error=ConnectionResetError("reset"), after=PART)
    result = make_downloader().download(source, dest)
    assert source.requests[0] == (0, SIZE)
    assert source.requests[1] == (PART, SIZE)  # the retry asks from the last byte written
    assert result.bytes_reused == 0
    assert Path(dest).read_bytes() == data
    assert _engine_files(dest) == []
