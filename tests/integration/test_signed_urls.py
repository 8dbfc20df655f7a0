"""Signed URLs: ``oss-resumable sign`` in a child with credentials, then downloads with none.

The URL is signed by the CLI in a subprocess whose environment alone holds the
credentials (V1, or V4 with a region); it is then downloaded by
``oss-resumable get`` in a child with no ``OSS_*`` variable at all, or by
``download_url`` in this process, from the local OSS server, which checks the
query signature and its expiry as OSS does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from oss_resumable_fs import (
    AccessDeniedError,
    DownloadCancelledError,
    IntegrityError,
    ObjectChangedError,
    URLExpiredError,
    download_url,
)
from oss_resumable_fs.engine.journal import read_journal
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.engine.verify import Verified
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import engine_files, make_data
from .killing import reset_stats_once_idle
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
    query_secrets,
    recorded_bytes,
    run_cli,
    start_get,
)

KEY = "data/big.bin"


@pytest.fixture(params=["v1", "v4"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def obj(oss_server: OSSServer, oss_bucket: str) -> Iterator[tuple[str, bytes]]:
    """``oss://bucket/key`` of a fresh object, and its bytes."""
    data = make_data(SIZE, seed=len(oss_bucket))
    oss_server.put_object(oss_bucket, KEY, data)
    yield f"oss://{oss_bucket}/{KEY}", data


def sign(oss_server: OSSServer, target: str, version: str, expires: str = "1h") -> str:
    """``oss-resumable sign`` in a child that alone has the credentials."""
    args = ["sign", target, "--expires", expires]
    if version == "v4":
        args += ["--v4", "--region", oss_server.region]
    done = run_cli(*args, env=oss_server.environment())
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(oss_server.endpoint) and "\n" not in url
    if version == "v4":
        assert "x-oss-signature=" in url and "x-oss-credential=" in url
    else:
        assert "OSSAccessKeyId=" in url and "&Signature=" in url and "Expires=" in url
    return url


def wait_until_expired(url: str) -> None:
    """Until the server refuses ``url`` as expired (at most a few seconds)."""
    deadline = time.monotonic() + 10
    while requests.get(url, headers={"Range": "bytes=0-0"}, timeout=5).status_code != 403:
        assert time.monotonic() < deadline, "the URL did not expire"
        time.sleep(0.2)


class CancelAtHalf:
    """A progress listener that cancels the download once half of it has arrived."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.total = 0
        self.size = 1

    def set_size(self, size: int) -> None:
        self.size = size

    def relative_update(self, inc: int) -> None:
        self.total += inc
        if self.total >= self.size // 2:
            self.cancel.set()


def interrupted_at_half(url: str, dest: Path) -> int:
    listener = CancelAtHalf()
    with pytest.raises(DownloadCancelledError):
        download_url(url, dest, CONFIG, progress=listener, cancel=listener.cancel)
    return recorded_bytes(Path(journal_path_for(dest)))


def test_a_signed_url_downloads_with_no_credentials(oss_server, oss_bucket, obj, version, tmp_path):
    target, data = obj
    url = sign(oss_server, target, version)
    oss_server.reset_stats()
    dest = tmp_path / "big.bin"
    done = run_cli("get", url, str(dest), "--part-size", "256KiB")
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == data
    assert done.stdout.startswith(f"{dest}: 8.3 MiB downloaded in ")
    assert done.stdout.rstrip().endswith("CRC-64 verified")
    stats = oss_server.stats()
    assert stats.requests.get("HeadObject", 0) == 0  # a signed GET URL allows no HEAD
    gets = stats.ranged_gets
    assert gets[0].header == f"bytes=0-{PART - 1}"
    # The first GET's body is the first part: one GET per part, every byte sent once.
    assert len(gets) == PARTS and all(g.status == 206 for g in gets)
    assert stats.if_match_requests == PARTS - 1
    assert stats.bytes_served[f"{oss_bucket}/{KEY}"] == SIZE
    assert engine_files(tmp_path) == []
    assert_no_secrets(query_secrets(url), [done.stdout, done.stderr], [tmp_path])


def test_sigkill_then_resume_with_a_newly_signed_url(
    oss_server, oss_bucket, obj, version, tmp_path
):
    target, data = obj
    first = sign(oss_server, target, version, "1h")
    oss_server.add_fault(FaultRule("bandwidth", key=KEY, times=None, bytes_per_second=1024 * 1024))
    dest = tmp_path / "big.bin"
    journal = Path(journal_path_for(dest))
    out, err = kill_at_half(start_get(first, dest, "-vv"), journal)
    assert not dest.exists()
    assert read_journal(str(journal)).header.source == first.split("?")[0]
    kept = recorded_bytes(journal)
    assert SIZE // 2 <= kept < SIZE

    second = sign(oss_server, target, version, "2h")
    assert second.split("?")[1] != first.split("?")[1]
    oss_server.clear_faults()
    reset_stats_once_idle(oss_server)
    done = run_cli("get", second, str(dest), *GET_OPTIONS, "-vvv")  # urllib3 lines too
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == data
    assert f"{human_size(SIZE - kept)} fetched" in done.stdout
    assert f"{human_size(kept)} reused" in done.stdout and "CRC-64 verified" in done.stdout
    # Only the missing parts came again; a connection cut at the tail (its rest taken
    # by another) may have had up to a part on its way.
    served = oss_server.stats().bytes_served[f"{oss_bucket}/{KEY}"]
    assert SIZE - kept <= served <= SIZE - kept + CONCURRENCY * PART
    assert engine_files(tmp_path) == []
    texts = [out, err, done.stdout, done.stderr]
    assert_no_secrets(query_secrets(first, second), texts, [tmp_path])


def test_an_object_replaced_between_runs_starts_afresh(oss_server, oss_bucket, obj, tmp_path):
    target, _ = obj
    url = sign(oss_server, target, "v1")
    dest = tmp_path / "big.bin"
    oss_server.add_fault(
        FaultRule("bandwidth", key=KEY, times=None, bytes_per_second=4 * 1024 * 1024)
    )
    assert interrupted_at_half(url, dest) > 0
    oss_server.clear_faults()
    new = make_data(SIZE, seed=99)
    oss_server.put_object(oss_bucket, KEY, new)
    result = download_url(url, dest, CONFIG)
    assert dest.read_bytes() == new
    assert result.restarts == 1 and result.bytes_reused == 0
    assert engine_files(tmp_path) == []


def test_an_object_replaced_mid_download_restarts_cleanly(oss_server, obj, tmp_path):
    target, data = obj
    url = sign(oss_server, target, "v4")
    oss_server.add_fault(FaultRule("replace", key=KEY, byte_range=(10 * PART, 10 * PART + 1)))
    dest = tmp_path / "big.bin"
    result = download_url(url, dest, CONFIG)
    now = requests.get(url, timeout=LIMIT).content  # what the object is after the change
    assert now != data and dest.read_bytes() == now
    assert result.restarts == 1 and result.verified is Verified.CRC64
    assert engine_files(tmp_path) == []


def test_an_object_replaced_mid_download_without_restarts_is_a_clear_error(
    oss_server, obj, tmp_path
):
    target, _ = obj
    url = sign(oss_server, target, "v1")
    oss_server.add_fault(FaultRule("replace", key=KEY, byte_range=(10 * PART, 10 * PART + 1)))
    dest = tmp_path / "big.bin"
    with pytest.raises(ObjectChangedError, match="changed while it was being downloaded"):
        download_url(url, dest, CONFIG.replace(max_restarts_on_change=0))
    assert not dest.exists() and engine_files(tmp_path) == []


def test_corrupted_bytes_are_fetched_again(oss_server, obj, tmp_path, caplog):
    target, data = obj
    url = sign(oss_server, target, "v1")
    oss_server.add_fault(FaultRule("corrupt", key=KEY, byte_range=(5 * PART, 5 * PART + 1)))
    with caplog.at_level(logging.WARNING):
        result = download_url(url, tmp_path / "big.bin", CONFIG)
    assert (tmp_path / "big.bin").read_bytes() == data
    assert result.verified is Verified.CRC64
    assert "parts that differed on the second fetch: [5]" in caplog.text


def test_bytes_damaged_every_time_are_an_integrity_error(oss_server, obj, tmp_path):
    target, _ = obj
    url = sign(oss_server, target, "v4")
    oss_server.add_fault(
        FaultRule("corrupt", key=KEY, byte_range=(5 * PART, 5 * PART + 1), times=None)
    )
    with pytest.raises(IntegrityError, match="CRC-64"):
        download_url(url, tmp_path / "big.bin", CONFIG)
    assert engine_files(tmp_path) == [] and not (tmp_path / "big.bin").exists()


def test_an_expired_url_on_a_fresh_start_says_so(oss_server, oss_bucket, obj, version, tmp_path):
    target, _ = obj
    url = sign(oss_server, target, version, "1s")
    wait_until_expired(url)
    done = run_cli("get", url, str(tmp_path / "big.bin"))
    assert done.returncode == 1 and done.stdout == ""
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert message.startswith(f"oss-resumable: {url.split('?')[0]}: the signed URL expired at ")
    assert f"(oss-resumable sign oss://{oss_bucket}/{KEY})" in message
    assert engine_files(tmp_path) == []
    assert_no_secrets(query_secrets(url), [done.stderr], [tmp_path])


def test_an_expired_url_on_resume_says_to_sign_a_new_one(oss_server, obj, tmp_path):
    target, data = obj
    dest = tmp_path / "big.bin"
    oss_server.add_fault(
        FaultRule("bandwidth", key=KEY, times=None, bytes_per_second=4 * 1024 * 1024)
    )
    kept = interrupted_at_half(sign(oss_server, target, "v4"), dest)
    oss_server.clear_faults()
    expired = sign(oss_server, target, "v4", "1s")
    wait_until_expired(expired)
    done = run_cli("get", expired, str(dest))
    assert done.returncode == 1
    assert "the signed URL expired" in done.stderr
    assert "run the download again with it: what was already downloaded is kept" in done.stderr
    assert recorded_bytes(Path(journal_path_for(dest))) == kept  # the checkpoint is intact
    result = download_url(sign(oss_server, target, "v1"), dest, CONFIG)
    assert dest.read_bytes() == data and result.bytes_reused == kept


def test_a_url_that_expires_during_the_download_keeps_its_checkpoint(oss_server, obj, tmp_path):
    target, data = obj
    dest = tmp_path / "big.bin"
    oss_server.add_fault(FaultRule("bandwidth", key=KEY, times=None, bytes_per_second=512 * 1024))
    short = sign(oss_server, target, "v1", "2s")
    with pytest.raises(URLExpiredError, match="the signed URL expired") as caught:
        download_url(short, dest, CONFIG)
    assert isinstance(caught.value, AccessDeniedError)
    kept = recorded_bytes(Path(journal_path_for(dest)))
    assert 0 < kept < SIZE
    oss_server.clear_faults()
    result = download_url(sign(oss_server, target, "v4"), dest, CONFIG)
    assert dest.read_bytes() == data and result.bytes_reused == kept


def test_another_refusal_is_access_denied_without_the_query(oss_server, obj, tmp_path):
    target, _ = obj
    url = sign(oss_server, target, "v1")
    forged = url.replace("Signature=", "Signature=AAAA")
    done = run_cli("get", forged, str(tmp_path / "big.bin"))
    assert done.returncode == 1
    assert "access denied (HTTP 403 SignatureDoesNotMatch" in done.stderr
    assert "expired" not in done.stderr
    assert_no_secrets(query_secrets(url, forged), [done.stderr, done.stdout], [tmp_path])


def test_resets_errors_and_short_bodies_are_retried(oss_server, obj, tmp_path):
    target, data = obj
    url = sign(oss_server, target, "v4")
    oss_server.add_fault(FaultRule("error", key=KEY, status=503, seconds=0.01, times=2))
    oss_server.add_fault(FaultRule("reset", key=KEY, byte_range=(3 * PART, 4 * PART)))
    oss_server.add_fault(
        FaultRule("short_body", key=KEY, byte_range=(7 * PART, 8 * PART), after_bytes=1000)
    )
    result = download_url(url, tmp_path / "big.bin", CONFIG)
    assert (tmp_path / "big.bin").read_bytes() == data
    fired = {fault.kind.value for fault in oss_server.stats().faults_fired}
    assert fired == {"error", "reset", "short_body"}
    assert result.retries >= 4 and result.verified is Verified.CRC64
