"""Credentials stay secret (journal, errors, reprs, logs); listed keys cannot escape the target."""

from __future__ import annotations

import logging
import os
import stat
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from oss_resumable_fs import DownloadCancelledError, ResumableOSSFileSystem
from oss_resumable_fs.config import MiB
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import RecordingCallback, engine_files, make_data, make_fs

STS_KEY_ID = "STS.ossr-e2e-key-id"
STS_SECRET = "sts-secret-Zq8dWm2LkP0vXr7N"
STS_TOKEN = "CAIS-sts-token-Qm9vbGVhbkZhbHNlVHJ1ZQ-4f1b2c3d"
SIZE = 2 * MiB


@pytest.fixture
def sts_fs(oss_server: OSSServer) -> ResumableOSSFileSystem:
    oss_server.add_sts_credential(STS_KEY_ID, STS_SECRET, STS_TOKEN)
    return make_fs(oss_server, key=STS_KEY_ID, secret=STS_SECRET, token=STS_TOKEN)


def secrets_of(oss_server: OSSServer) -> list[str]:
    return [STS_SECRET, STS_TOKEN, oss_server.access_key_secret, "wrong-secret-Hh3k"]


def assert_clean(text: str | bytes, oss_server: OSSServer) -> None:
    for secret in secrets_of(oss_server):
        needle = secret.encode() if isinstance(text, bytes) else secret
        assert needle not in text, f"{secret!r} leaked"


def full_traceback(error: BaseException) -> str:
    """What a log or a console would show: the error with its whole chain."""
    return "".join(traceback.format_exception(error))


def test_journal_holds_no_credentials_and_is_private(
    sts_fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(SIZE))
    oss_server.add_fault(FaultRule("bandwidth", key="obj", bytes_per_second=MiB, times=None))
    cancel = threading.Event()

    def stop_early(total: int) -> None:
        if total >= SIZE // 4:
            cancel.set()

    target = out / "obj"
    with pytest.raises(DownloadCancelledError) as error:
        sts_fs.get_file(
            f"{oss_bucket}/obj", str(target), callback=RecordingCallback(stop_early), cancel=cancel
        )
    journal = out / "obj.ossr-journal"
    content = journal.read_bytes()
    assert f"oss://{oss_bucket}/obj".encode() in content  # it is the real journal
    assert_clean(content, oss_server)
    assert STS_KEY_ID.encode() not in content
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert_clean(full_traceback(error.value), oss_server)


def test_reprs_hold_no_credentials(
    sts_fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    source = sts_fs.range_source(f"{oss_bucket}/obj")
    config = sts_fs.transfer_config
    for text in (repr(sts_fs), str(sts_fs), repr(source), str(source), repr(config)):
        assert_clean(text, oss_server)
    assert oss_server.endpoint in repr(sts_fs)


@pytest.mark.parametrize("signing", ["v1", "v4"])
@pytest.mark.parametrize("size", [10_000, SIZE], ids=["single", "multipart"])
def test_errors_for_a_wrong_secret_hold_no_credentials(
    oss_server: OSSServer, oss_bucket: str, out: Path, signing: str, size: int
) -> None:
    """The service echoes the string it signed (with the STS token) in its error."""
    oss_server.add_sts_credential(STS_KEY_ID, STS_SECRET, STS_TOKEN)
    oss_server.put_object(oss_bucket, "obj", make_data(size))
    region = oss_server.region if signing == "v4" else None
    fs = make_fs(
        oss_server, key=STS_KEY_ID, secret="wrong-secret-Hh3k", token=STS_TOKEN, region=region
    )
    path = f"{oss_bucket}/obj"
    failures: list[BaseException] = []
    for call in (
        lambda: fs.get_file(path, str(out / "obj")),
        lambda: fs.get(path, str(out / "obj")),
        lambda: fs.info(path),
        lambda: fs.cat_file(path),
        lambda: fs.restore(path, poll_interval=0.01, timeout=0.1),
        lambda: fs.ls(oss_bucket),
        lambda: fs.ls(""),  # the bucket listing: its errors surface while iterating
        lambda: fs.get(f"{oss_bucket}/", str(out / "tree"), recursive=True),
    ):
        with pytest.raises(PermissionError) as error:
            call()
        failures.append(error.value)
    for failure in failures:
        assert_clean(full_traceback(failure), oss_server)
        assert_clean(repr(failure), oss_server)
    assert not (out / "obj").exists()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in ("oss_resumable_fs", "oss2", "urllib3", "ossfs"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


@pytest.mark.parametrize("signing", ["v1", "v4"])
def test_debug_logs_hold_no_credentials(
    oss_server: OSSServer,
    oss_bucket: str,
    out: Path,
    debug_logs: pytest.LogCaptureFixture,
    signing: str,
) -> None:
    oss_server.add_sts_credential(STS_KEY_ID, STS_SECRET, STS_TOKEN)
    data = make_data(SIZE)
    oss_server.put_object(oss_bucket, "obj", data)
    oss_server.add_fault(FaultRule("reset", key="obj", after_bytes=1000))
    region = oss_server.region if signing == "v4" else None
    fs = make_fs(oss_server, key=STS_KEY_ID, secret=STS_SECRET, token=STS_TOKEN, region=region)
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    wrong = make_fs(
        oss_server, key=STS_KEY_ID, secret="wrong-secret-Hh3k", token=STS_TOKEN, region=region
    )
    with pytest.raises(PermissionError):
        wrong.get_file(f"{oss_bucket}/obj", str(out / "again"))

    records = debug_logs.records
    # The loggers were really on: oss2 described its requests, the engine its retry.
    assert any(r.name.startswith("oss2") and r.levelno == logging.DEBUG for r in records)
    assert any(r.name.startswith("oss_resumable_fs") for r in records)
    assert any(r.name.startswith("urllib3") for r in records)
    for record in records:
        assert_clean(record.getMessage(), oss_server)
    assert_clean(debug_logs.text, oss_server)


def test_dotdot_keys_never_write_outside_the_target(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "dir/fine.txt", b"fine")
    oss_server.put_object(oss_bucket, "dir/a/../../evil.txt", b"evil")
    oss_server.put_object(oss_bucket, "dir/../../../evil2.txt", b"evil")
    target = tmp_path / "deep" / "target"
    target.mkdir(parents=True)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(PermissionError, match="outside"):
        fs.get(f"{oss_bucket}/dir/", str(target), recursive=True)
    after = sorted(str(p) for p in tmp_path.rglob("*"))
    assert after == before  # nothing written anywhere, inside or out
    assert not list(tmp_path.parent.glob("evil*"))


def test_symlinks_inside_the_target_cannot_lead_outside(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "link").symlink_to(outside, target_is_directory=True)
    oss_server.put_object(oss_bucket, "dir/link/planted.txt", b"planted")
    with pytest.raises(PermissionError, match="outside"):
        fs.get(f"{oss_bucket}/dir/", str(target), recursive=True)
    assert os.listdir(outside) == []
    assert engine_files(tmp_path) == []


def test_credentials_from_the_environment_stay_out_of_reprs(
    oss_server: OSSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", STS_KEY_ID)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", STS_SECRET)
    monkeypatch.setenv("OSS_SESSION_TOKEN", STS_TOKEN)
    fs = fsspec.filesystem("ossr", endpoint=oss_server.endpoint, skip_instance_cache=True)
    assert_clean(repr(fs), oss_server)
