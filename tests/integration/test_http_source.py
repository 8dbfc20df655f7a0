"""Any ranged HTTP source through the engine: a static file server on loopback.

The server (:class:`~oss_resumable_fs.testing.StaticHTTPServer`) sends ETag,
Last-Modified and Accept-Ranges, honours If-Match / If-Unmodified-Since, and
can replace the object, damage bytes, cut connections, answer an error, or
ignore ``Range`` altogether.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oss_resumable_fs import (
    DownloadCancelledError,
    IntegrityError,
    ObjectChangedError,
    ObjectNotFoundError,
    URLExpiredError,
    download_url,
)
from oss_resumable_fs.engine.journal import read_journal
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.engine.verify import Verified
from oss_resumable_fs.sources.http import HTTPRangeSource
from oss_resumable_fs.testing import StaticHTTPServer

from .conftest import engine_files, make_data
from .url_helpers import (
    CONCURRENCY,
    CONFIG,
    GET_OPTIONS,
    LIMIT,
    PART,
    PARTS,
    SIZE,
    assert_no_secrets,
    kill_at_half,
    recorded_bytes,
    run_cli,
    start_get,
)

KEY = "files/big.bin"
#: A token in the query, as a CDN's or a signing proxy's: never to be seen anywhere.
TOKEN = "tok3n-SECRET-0451"


@pytest.fixture
def server() -> Iterator[StaticHTTPServer]:
    with StaticHTTPServer() as running:
        yield running


class CancelAtHalf:
    """A progress listener that cancels the download once half of it has arrived."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.total = 0

    def set_size(self, size: int) -> None:
        self.size = size

    def relative_update(self, inc: int) -> None:
        self.total += inc
        if self.total >= self.size // 2:
            self.cancel.set()


def _interrupted_at_half(url: str, dest: Path) -> int:
    """Start a download and cancel it half way; the bytes its checkpoint keeps."""
    listener = CancelAtHalf()
    with pytest.raises(DownloadCancelledError):
        download_url(url, dest, CONFIG, progress=listener, cancel=listener.cancel)
    assert not dest.exists()
    return recorded_bytes(Path(journal_path_for(dest)))


def _wait_idle(server: StaticHTTPServer) -> None:
    """Until a killed client's answers have wound down; then forget every request."""
    deadline = time.monotonic() + LIMIT
    while server.in_flight:
        assert time.monotonic() < deadline, "the server kept answering a killed client"
        time.sleep(0.02)
    server.reset_requests()


def test_parts_are_pinned_to_the_etag_and_the_first_answer_is_the_first_part(server, tmp_path):
    data = make_data(SIZE, seed=1)
    server.put(KEY, data)
    dest = tmp_path / "big.bin"
    result = download_url(server.url(KEY), dest, CONFIG)
    assert dest.read_bytes() == data
    assert result.verified is Verified.MD5 and "MD5 verified" in result.summary()
    requests = server.requests
    assert {r.method for r in requests} == {"GET"}  # no HEAD
    first, *rest = requests
    assert first.headers["range"] == f"bytes=0-{PART - 1}"
    assert "if-match" not in first.headers
    etag = requests[0].headers.get("if-match") or rest[0].headers["if-match"]
    assert all(r.headers["if-match"] == etag for r in rest)
    assert all(r.headers["accept-encoding"] == "identity" for r in requests)
    # The first answer's body was the first part: one GET per part, no byte twice.
    assert len(requests) == PARTS
    assert server.bytes_sent == SIZE
    assert engine_files(tmp_path) == []


def test_sigkill_then_resume_with_another_query_fetches_only_the_missing_part(server, tmp_path):
    data = make_data(SIZE, seed=2)
    server.put(KEY, data)
    server.bytes_per_second = 1024 * 1024  # per answer: about 4 s for the whole object
    dest = tmp_path / "big.bin"
    journal = Path(journal_path_for(dest))
    first_url = server.url(KEY) + f"?token={TOKEN}&expires=1"
    out, err = kill_at_half(start_get(first_url, dest, "-vv"), journal)
    assert not dest.exists()
    header = read_journal(str(journal)).header
    assert header.source == server.url(KEY)  # the query is not the download's name
    kept = recorded_bytes(journal)
    assert SIZE // 2 <= kept < SIZE

    _wait_idle(server)
    server.bytes_per_second = None
    second_url = server.url(KEY) + "?token=another-T0KEN-9&expires=2"
    done = run_cli("get", second_url, str(dest), *GET_OPTIONS, "-vv")
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == data
    assert f"{human_size(SIZE - kept)} fetched" in done.stdout
    assert f"{human_size(kept)} reused" in done.stdout and "MD5 verified" in done.stdout
    # Only the missing parts came again; a connection cut at the tail (its rest taken
    # by another) may have had up to a part on its way.
    assert SIZE - kept <= server.bytes_sent <= SIZE - kept + CONCURRENCY * PART
    assert engine_files(tmp_path) == []
    assert_no_secrets([TOKEN, "another-T0KEN-9"], [out, err, done.stdout, done.stderr], [tmp_path])


def test_object_replaced_between_runs_starts_afresh(server, tmp_path):
    server.put(KEY, make_data(SIZE, seed=3))
    server.bytes_per_second = 4 * 1024 * 1024
    dest = tmp_path / "big.bin"
    assert _interrupted_at_half(server.url(KEY), dest) > 0
    server.bytes_per_second = None
    new = make_data(SIZE, seed=4)
    server.put(KEY, new)
    result = download_url(server.url(KEY), dest, CONFIG)
    assert dest.read_bytes() == new
    assert result.restarts == 1 and result.bytes_reused == 0
    assert engine_files(tmp_path) == []


@pytest.mark.parametrize("etag", ["md5", None], ids=["if-match", "if-unmodified-since"])
def test_object_replaced_mid_download_restarts_cleanly(tmp_path, etag):
    with StaticHTTPServer(etag=etag) as server:
        server.put(KEY, make_data(SIZE, seed=5))
        new = make_data(SIZE, seed=6)
        server.replace_after(KEY, new, gets=6)
        dest = tmp_path / "big.bin"
        result = download_url(server.url(KEY), dest, CONFIG)
        assert dest.read_bytes() == new
        assert result.restarts == 1
        assert result.verified is (Verified.MD5 if etag else Verified.SIZE)
        refused = [r for r in server.requests if r.status == 412]
        assert refused, "no request was refused: the change went unnoticed"
        pin = "if-match" if etag else "if-unmodified-since"
        assert all(pin in r.headers for r in refused)
    assert engine_files(tmp_path) == []


def test_object_replaced_mid_download_without_restarts_is_a_clear_error(server, tmp_path):
    server.put(KEY, make_data(SIZE, seed=7))
    server.replace_after(KEY, make_data(SIZE, seed=8), gets=6)
    dest = tmp_path / "big.bin"
    config = CONFIG.replace(max_restarts_on_change=0)
    with pytest.raises(ObjectChangedError, match="changed while it was being downloaded"):
        download_url(server.url(KEY), dest, config)
    assert not dest.exists()
    assert engine_files(tmp_path) == []


def test_corrupted_bytes_are_fetched_again(server, tmp_path, caplog):
    data = make_data(SIZE, seed=9)
    server.put(KEY, data)
    server.corrupt(KEY, offset=5 * PART + 10)
    dest = tmp_path / "big.bin"
    with caplog.at_level(logging.WARNING):
        result = download_url(server.url(KEY), dest, CONFIG)
    assert dest.read_bytes() == data
    assert result.verified is Verified.MD5
    assert "MD5 mismatch" in caplog.text
    assert "parts that differed on the second fetch: [5]" in caplog.text


def test_bytes_damaged_every_time_are_an_integrity_error(server, tmp_path):
    server.put(KEY, make_data(SIZE, seed=10))
    server.corrupt(KEY, offset=5 * PART + 10, times=100)
    dest = tmp_path / "big.bin"
    with pytest.raises(IntegrityError, match="MD5"):
        download_url(server.url(KEY), dest, CONFIG)
    assert not dest.exists()
    assert engine_files(tmp_path) == []


def test_without_an_md5_etag_only_size_and_pinning_are_claimed(tmp_path):
    with StaticHTTPServer(etag="opaque") as server:  # nginx's mtime-size
        data = make_data(SIZE, seed=11)
        server.put(KEY, data)
        result = download_url(server.url(KEY), tmp_path / "x", CONFIG)
    assert (tmp_path / "x").read_bytes() == data
    assert result.verified is Verified.SIZE
    assert "no checksum to verify with" in result.summary()


def test_a_server_that_ignores_ranges_is_read_in_one_stream(tmp_path, caplog):
    with StaticHTTPServer(ignore_ranges=True) as server:
        data = make_data(SIZE, seed=12)
        server.put(KEY, data)
        dest = tmp_path / "big.bin"
        with caplog.at_level(logging.WARNING):
            result = download_url(server.url(KEY), dest, CONFIG)
        assert len(server.requests) == 1
    assert dest.read_bytes() == data
    assert result.single_stream == "the server ignored the Range header"
    assert result.parts_total == 1 and result.verified is Verified.MD5
    assert "ignored the Range header; downloading it in one stream" in caplog.text
    assert "one stream (the server ignored the Range header)" in result.summary()
    assert engine_files(tmp_path) == []


def test_one_stream_survives_a_cut_and_repairs_damage(tmp_path):
    with StaticHTTPServer(ignore_ranges=True) as server:
        data = make_data(SIZE, seed=13)
        server.put(KEY, data)
        server.drop_after(KEY, 3 * PART)
        server.corrupt(KEY, offset=SIZE - 5)
        dest = tmp_path / "big.bin"
        result = download_url(server.url(KEY), dest, CONFIG)
        statuses = [r.status for r in server.requests]
    assert dest.read_bytes() == data
    assert result.retries >= 1 and result.verified is Verified.MD5
    # The cut whole-body GET, its retry (re-read from byte 0, skipped), then the repair.
    assert statuses == [200, 200, 200]


def test_one_stream_from_the_cli_says_so(tmp_path):
    with StaticHTTPServer(ignore_ranges=True) as server:
        data = make_data(SIZE, seed=14)
        server.put(KEY, data)
        done = run_cli("get", server.url(KEY), str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "big.bin").read_bytes() == data
    assert "one stream (the server ignored the Range header), MD5 verified" in done.stdout
    assert "ignored the Range header; downloading it in one stream" in done.stderr


def test_no_etag_nor_last_modified_means_one_stream(tmp_path):
    with StaticHTTPServer(etag=None, last_modified=False) as server:
        data = make_data(SIZE, seed=15)
        server.put(KEY, data)
        result = download_url(server.url(KEY), tmp_path / "x", CONFIG)
    assert (tmp_path / "x").read_bytes() == data
    assert result.single_stream is not None and "neither ETag nor Last-Modified" in (
        result.single_stream
    )
    assert result.verified is Verified.SIZE


def test_transient_failures_are_retried(server, tmp_path):
    data = make_data(SIZE, seed=16)
    server.put(KEY, data)
    server.answer(KEY, 503, times=2)  # the first GET (the size and ETag) and its retry
    server.drop_after(KEY, 1000, times=3)  # then short bodies
    result = download_url(server.url(KEY), tmp_path / "x", CONFIG)
    assert (tmp_path / "x").read_bytes() == data
    assert result.retries >= 5


def test_not_found(server, tmp_path):
    with pytest.raises(ObjectNotFoundError, match="not found"):
        download_url(server.url("missing.bin"), tmp_path / "x", CONFIG)
    assert engine_files(tmp_path) == []


def test_a_refusal_of_an_expired_signed_url_keeps_the_checkpoint(server, tmp_path):
    data = make_data(SIZE, seed=17)
    server.put(KEY, data)
    server.bytes_per_second = 4 * 1024 * 1024
    dest = tmp_path / "big.bin"
    # An S3-style signed URL, expired long ago (the server says only 403).
    signed = "?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-Signature=" + TOKEN
    kept = _interrupted_at_half(server.url(KEY) + signed, dest)
    server.bytes_per_second = None
    server.answer(KEY, 403)
    with pytest.raises(URLExpiredError) as caught:
        download_url(server.url(KEY) + signed, dest, CONFIG)
    message = str(caught.value)
    assert "the signed URL expired at 2020-01-01 00:01:00 UTC" in message
    assert "get a new signed URL for the same object" in message and TOKEN not in message
    assert recorded_bytes(Path(journal_path_for(dest))) == kept  # nothing lost
    result = download_url(server.url(KEY) + "?X-Amz-Signature=fresh", dest, CONFIG)
    assert dest.read_bytes() == data and result.bytes_reused == kept


def test_secrets_reach_no_journal_log_error_or_repr(server, tmp_path, caplog):
    server.put(KEY, make_data(SIZE, seed=18))
    server.bytes_per_second = 4 * 1024 * 1024
    url = server.url(KEY).replace("http://", "http://user:pa55-w0rd@") + f"?token={TOKEN}"
    dest = tmp_path / "big.bin"
    with caplog.at_level(logging.DEBUG):
        _interrupted_at_half(url, dest)
        server.answer(KEY, 403)
        with pytest.raises(PermissionError) as caught:
            download_url(url, dest, CONFIG)
    texts = [caplog.text, str(caught.value), repr(caught.value), repr(HTTPRangeSource(url))]
    assert_no_secrets([TOKEN, "pa55-w0rd"], texts, [tmp_path])
    assert "access denied (HTTP 403)" in str(caught.value)
