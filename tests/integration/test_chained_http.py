"""``resumable::http://``: fsspec's HTTPFileSystem as the target, downloads through the
HTTP range source, against a static ranged HTTP server and the local OSS server's
public-read bucket, over loopback sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from oss_resumable_fs.chained import ResumableFileSystem
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.engine.journal import read_journal
from oss_resumable_fs.engine.plan import bytes_in, plan_parts
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.errors import (
    DownloadCancelledError,
    IntegrityError,
    ObjectChangedError,
    ObjectNotFoundError,
)
from oss_resumable_fs.testing import OSSServer, StaticHTTPServer

from .conftest import RecordingCallback, engine_files, make_data
from .killing import kill_when_recorded

PART = 128 * KiB
SIZE = 2 * MiB + 4321  # 17 parts
CONFIG = dict(
    part_size=PART,
    concurrency=4,
    single_request_threshold=256 * KiB,
    read_timeout=5.0,
    backoff_base=0.01,
    backoff_max=0.05,
)
SECRET_HEADER = "token-that-must-stay-secret-1234"


@pytest.fixture
def http() -> Iterator[StaticHTTPServer]:
    with StaticHTTPServer() as server:
        yield server


def make_fs(**options: Any) -> ResumableFileSystem:
    return fsspec.filesystem(
        "resumable",
        target_protocol="http",
        target_options={"headers": {"X-Token": SECRET_HEADER}},
        skip_instance_cache=True,
        **{**CONFIG, **options},
    )


def test_get_file_is_byte_identical_pinned_and_md5_verified(
    http: StaticHTTPServer, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=1)
    http.put("d/big.bin", data)
    callback = RecordingCallback()
    result = make_fs().get_file(http.url("d/big.bin"), str(tmp_path / "big.bin"), callback=callback)

    assert (tmp_path / "big.bin").read_bytes() == data
    assert result is not None and result.parts_total == 17
    assert result.verified is not None and result.verified.value == "md5"
    assert callback.sizes == [SIZE] and callback.total == SIZE
    gets = [r for r in http.requests if r.method == "GET"]
    # The target's headers go with every request; every request after the first is pinned.
    assert all(r.headers.get("x-token") == SECRET_HEADER for r in gets)
    assert all(r.headers.get("if-match") for r in gets[1:])
    assert engine_files(tmp_path) == []


def test_a_missing_url_is_object_not_found(http: StaticHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError):
        make_fs().get_file(http.url("nope"), str(tmp_path / "nope"))
    assert os.listdir(tmp_path) == []


def test_get_of_several_urls(http: StaticHTTPServer, tmp_path: Path) -> None:
    files = {"a.txt": b"a", "sub/b.bin": make_data(SIZE, seed=2)}
    for name, body in files.items():
        http.put(name, body)
    result = make_fs().get(
        [http.url(name) for name in files], [str(tmp_path / name) for name in files]
    )
    assert result.count("downloaded") == 2
    assert {n: (tmp_path / n).read_bytes() for n in files} == files


def test_a_change_mid_download_starts_over_on_the_new_version(
    http: StaticHTTPServer, tmp_path: Path
) -> None:
    http.put("k.bin", make_data(SIZE, seed=3))
    new = make_data(SIZE, seed=4)
    http.replace_after("k.bin", new, gets=6)
    result = make_fs().get_file(http.url("k.bin"), str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == new
    assert result is not None and result.restarts == 1


def test_a_change_with_no_restart_left_fails_and_leaves_nothing(
    http: StaticHTTPServer, tmp_path: Path
) -> None:
    http.put("k.bin", make_data(SIZE, seed=5))
    http.replace_after("k.bin", make_data(SIZE, seed=6), gets=6)
    with pytest.raises(ObjectChangedError):
        make_fs(max_restarts_on_change=0).get_file(http.url("k.bin"), str(tmp_path / "k.bin"))
    assert os.listdir(tmp_path) == []


def test_a_change_between_runs_restarts_cleanly(http: StaticHTTPServer, tmp_path: Path) -> None:
    http.put("k.bin", make_data(SIZE, seed=13))
    cancel = threading.Event()
    callback = RecordingCallback(on_update=lambda total: total > SIZE // 2 and cancel.set())
    with pytest.raises(DownloadCancelledError):
        make_fs().get_file(
            http.url("k.bin"), str(tmp_path / "k.bin"), callback=callback, cancel=cancel
        )
    assert read_journal(journal_path_for(tmp_path / "k.bin")).parts
    new = make_data(SIZE, seed=14)
    http.put("k.bin", new)
    result = make_fs().get_file(http.url("k.bin"), str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == new
    assert result is not None and result.bytes_reused == 0 and result.restarts == 1
    assert engine_files(tmp_path) == []


def test_corrupted_bytes_are_repaired_or_refused(http: StaticHTTPServer, tmp_path: Path) -> None:
    data = make_data(SIZE, seed=7)
    http.put("k.bin", data)
    http.corrupt("k.bin", offset=5 * PART + 10)
    result = make_fs().get_file(http.url("k.bin"), str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == data
    assert result is not None and result.bytes_fetched > SIZE  # the MD5 mismatch: fetched again

    http.corrupt("k.bin", offset=5 * PART + 10, times=100)
    with pytest.raises(IntegrityError):
        make_fs().get_file(http.url("k.bin"), str(tmp_path / "again.bin"))
    assert not (tmp_path / "again.bin").exists()
    assert engine_files(tmp_path) == []


def test_dropped_connections_are_retried(http: StaticHTTPServer, tmp_path: Path) -> None:
    data = make_data(SIZE, seed=8)
    http.put("k.bin", data)
    http.drop_after("k.bin", 50_000, times=3)
    result = make_fs().get_file(http.url("k.bin"), str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == data
    assert result is not None and result.retries >= 3


def test_a_server_that_ignores_ranges_is_read_in_one_stream(tmp_path: Path) -> None:
    with StaticHTTPServer(ignore_ranges=True) as http:
        data = make_data(SIZE, seed=9)
        http.put("k.bin", data)
        result = make_fs().get_file(http.url("k.bin"), str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == data
    assert result is not None and result.single_stream


def test_oss_public_bucket_over_plain_http_is_crc64_verified(
    oss_server: OSSServer, tmp_path: Path
) -> None:
    oss_server.create_bucket("ossr-chained-public", acl="public-read")
    data = make_data(SIZE, seed=10)
    oss_server.put_object("ossr-chained-public", "x/y.bin", data)
    url = f"resumable::{oss_server.endpoint}/ossr-chained-public/x/y.bin"
    fs, path = fsspec.core.url_to_fs(url, **CONFIG)
    result = fs.get_file(path, str(tmp_path / "y.bin"))
    assert (tmp_path / "y.bin").read_bytes() == data
    assert result is not None and result.verified is not None
    assert result.verified.value == "crc64"
    with fsspec.open(url, "rb") as f:
        assert f.read(10) == data[:10]


CHILD = textwrap.dedent(
    """
    import json, os, sys
    import fsspec
    fs = fsspec.filesystem("resumable", target_protocol="http",
                           target_options=json.loads(os.environ["OSSR_TEST_HTTP_OPTIONS"]),
                           part_size=128 * 1024, concurrency=2,
                           single_request_threshold=256 * 1024)
    fs.get_file(sys.argv[1], sys.argv[2])
    """
)


def test_sigkill_at_half_way_then_resume_fetches_only_what_is_missing(
    http: StaticHTTPServer, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=11)
    http.put("big.bin", data)
    http.bytes_per_second = 512 * KiB
    dest = tmp_path / "big.bin"
    journal = journal_path_for(dest)
    parts = plan_parts(SIZE, PART)
    env = {**os.environ, "OSSR_TEST_HTTP_OPTIONS": json.dumps({"headers": {"X-Token": "t"}})}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, http.url("big.bin"), str(dest)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_when_recorded(child, journal, len(parts) // 2)
    assert not dest.exists()
    state = read_journal(journal)
    assert state.header.source == http.url("big.bin")
    recorded = bytes_in(parts, state.parts)
    assert 0 < recorded < SIZE

    http.bytes_per_second = None
    time.sleep(0.2)  # let the killed child's responses end
    http.reset_requests()
    result = make_fs(concurrency=2).get_file(http.url("big.bin"), str(dest))

    assert dest.read_bytes() == data
    assert result is not None and result.status == "resumed" and result.restarts == 0
    assert result.bytes_reused == recorded
    assert result.bytes_fetched <= SIZE - recorded + PART
    assert engine_files(tmp_path) == []


def test_the_target_headers_stay_out_of_reprs_and_journals(
    http: StaticHTTPServer, tmp_path: Path
) -> None:
    http.put("k.bin", make_data(SIZE, seed=12))
    fs = make_fs()
    assert SECRET_HEADER not in repr(fs)
    cancel = threading.Event()
    callback = RecordingCallback(on_update=lambda total: total > SIZE // 2 and cancel.set())
    with pytest.raises(DownloadCancelledError) as caught:
        fs.get_file(http.url("k.bin"), str(tmp_path / "k.bin"), callback=callback, cancel=cancel)
    assert SECRET_HEADER not in str(caught.value)
    assert os.path.exists(journal_path_for(tmp_path / "k.bin"))
    for path in tmp_path.iterdir():
        assert SECRET_HEADER.encode() not in path.read_bytes()
