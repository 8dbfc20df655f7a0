"""Failures end to end: the right exception, a helpful message, and never a file at the target."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest
from fsspec.callbacks import Callback

from oss_resumable_fs import (
    AccessDeniedError,
    DownloadCancelledError,
    DownloadInProgressError,
    InsufficientSpaceError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
    ResumableOSSFileSystem,
)
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.engine import preflight, session
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import CONFIG, engine_files, make_data, make_fs

SIZE = 1 * MiB  # four parts
SMALL = 10 * KiB  # below the single-request threshold


def test_missing_key(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    target = out / "nothing"
    with pytest.raises(FileNotFoundError) as error:
        fs.get_file(f"{oss_bucket}/no/such/key", str(target))
    assert isinstance(error.value, ObjectNotFoundError)
    assert f"oss://{oss_bucket}/no/such/key" in str(error.value)
    assert not target.exists()
    assert os.listdir(out) == []


def test_missing_bucket(fs: ResumableOSSFileSystem, out: Path) -> None:
    target = out / "nothing"
    with pytest.raises(FileNotFoundError):
        fs.get_file("ossr-no-such-bucket-here/key", str(target))
    assert not target.exists()
    assert os.listdir(out) == []


@pytest.mark.parametrize("bucket", ["ab", "Upper-Case", "under_score", "-dash"])
def test_invalid_bucket_name_is_a_missing_bucket(
    fs: ResumableOSSFileSystem, out: Path, bucket: str
) -> None:
    with pytest.raises(FileNotFoundError, match="not a valid OSS bucket name"):
        fs.get_file(f"{bucket}/key", str(out / "nothing"))
    assert os.listdir(out) == []


def test_missing_bucket_through_get_and_listing(fs: ResumableOSSFileSystem, out: Path) -> None:
    """Listing a missing bucket used to leak oss2's own NoSuchBucket out of ossfs."""
    with pytest.raises(FileNotFoundError):
        fs.get("ossr-no-such-bucket-here/key", str(out / "key"))
    with pytest.raises(FileNotFoundError):
        fs.get("ossr-no-such-bucket-here/prefix/", str(out / "tree"), recursive=True)
    with pytest.raises(FileNotFoundError):
        fs.info("ossr-no-such-bucket-here/key")
    assert fs.isdir("ossr-no-such-bucket-here/key") is False
    assert fs.exists("ossr-no-such-bucket-here/key") is False
    assert os.listdir(out) == []


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["single", "multipart"])
def test_wrong_secret(oss_server: OSSServer, oss_bucket: str, out: Path, size: int) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(size))
    fs = make_fs(oss_server, secret="not-the-right-secret")
    target = out / "obj"
    with pytest.raises(PermissionError) as error:
        fs.get_file(f"{oss_bucket}/obj", str(target))
    assert isinstance(error.value, AccessDeniedError)
    assert "SignatureDoesNotMatch" in str(error.value)
    assert not target.exists()
    assert os.listdir(out) == []


def test_anonymous_access_to_a_private_bucket(
    oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(SIZE))
    fs = make_fs(oss_server, key=None, secret=None)
    target = out / "obj"
    with pytest.raises(PermissionError, match="AccessDenied"):
        fs.get_file(f"{oss_bucket}/obj", str(target))
    assert not target.exists()
    assert os.listdir(out) == []


def test_anonymous_access_to_a_public_bucket(oss_server: OSSServer, out: Path) -> None:
    name = f"ossr-public-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    oss_server.create_bucket(name, acl="public-read")
    data = make_data(SIZE, seed=1)
    oss_server.put_object(name, "obj", data)
    fs = make_fs(oss_server, key=None, secret=None)
    fs.get_file(f"{name}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["single", "multipart"])
def test_cold_archive_needs_a_restore(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path, size: int
) -> None:
    oss_server.put_object(oss_bucket, "frozen", make_data(size), storage_class="ColdArchive")
    target = out / "frozen"
    with pytest.raises(ObjectNotRestoredError, match="restore") as error:
        fs.get_file(f"{oss_bucket}/frozen", str(target))
    assert f"oss://{oss_bucket}/frozen" in str(error.value)
    assert not target.exists()
    assert os.listdir(out) == []  # refused before anything was written
    assert oss_server.stats().bytes_served == {}  # its first GET was refused, no byte sent


def test_archive_object_refused_by_get(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    """Archive may be readable in real time, so only the GET (403 InvalidObjectState) tells."""
    data = make_data(SIZE, seed=2)
    oss_server.put_object(oss_bucket, "archived", data, storage_class="Archive")
    target = out / "archived"
    with pytest.raises(ObjectNotRestoredError, match="restore"):
        fs.get_file(f"{oss_bucket}/archived", str(target))
    assert not target.exists()
    assert oss_server.stats().requests.get("GetObject", 0) >= 1

    # Once restored, the same call succeeds (resuming whatever was kept).
    fs.restore(f"{oss_bucket}/archived", wait=True, poll_interval=0.05)
    fs.get_file(f"{oss_bucket}/archived", str(target))
    assert target.read_bytes() == data
    assert engine_files(out) == []


def test_get_file_with_restore(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path, caplog
) -> None:
    data = make_data(SIZE, seed=3)
    oss_server.put_object(oss_bucket, "frozen", data, storage_class="ColdArchive")
    with caplog.at_level(logging.INFO, logger="oss_resumable_fs.restore"):
        result = fs.get_file(f"{oss_bucket}/frozen", str(out / "frozen"), restore=True)
    assert (out / "frozen").read_bytes() == data
    assert any("restored" in record.getMessage() for record in caplog.records)
    assert result is not None and result.bytes_fetched == SIZE
    assert oss_server.stats().requests.get("RestoreObject") == 1


def test_restore_flag_on_objects_that_need_no_restore(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    """``restore=True`` is safe on Standard objects and on a prefix (a whole ``get``)."""
    data = make_data(SIZE, seed=6)
    oss_server.put_object(oss_bucket, "tree/standard.bin", data)
    oss_server.put_object(oss_bucket, "tree/cold.bin", data, storage_class="ColdArchive")
    fs.get_file(f"{oss_bucket}/tree/standard.bin", str(out / "standard.bin"), restore=True)
    assert (out / "standard.bin").read_bytes() == data
    fs.get(f"{oss_bucket}/tree/", str(out / "tree"), recursive=True, restore=True)
    assert sorted(os.listdir(out / "tree")) == ["cold.bin", "standard.bin"]
    assert (out / "tree" / "cold.bin").read_bytes() == data
    assert oss_server.stats().requests.get("RestoreObject") == 1  # only the cold one


def test_restore_waits_for_the_restore_to_finish(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    data = make_data(SIZE, seed=4)
    oss_server.put_object(oss_bucket, "frozen", data, storage_class="ColdArchive")
    oss_server.set_restore_delay(1.0)
    statuses: list[str] = []
    started = time.monotonic()
    fs.restore(f"{oss_bucket}/frozen", wait=True, poll_interval=0.1, callback=statuses.append)
    assert time.monotonic() - started >= 0.9
    assert statuses[-1].endswith("restored")
    assert any("restoring" in status for status in statuses[:-1])
    fs.get_file(f"{oss_bucket}/frozen", str(out / "frozen"))
    assert (out / "frozen").read_bytes() == data


def test_restore_timeout(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "frozen", b"cold", storage_class="ColdArchive")
    oss_server.set_restore_delay(30.0)
    with pytest.raises(ObjectNotRestoredError, match="still restoring"):
        fs.restore(f"{oss_bucket}/frozen", wait=True, poll_interval=0.05, timeout=0.2)


def test_a_cancel_ends_the_wait_for_a_restore(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "frozen", b"cold", storage_class="ColdArchive")
    oss_server.set_restore_delay(30.0)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(DownloadCancelledError, match="restore"):
        fs.restore(f"{oss_bucket}/frozen", wait=True, poll_interval=10.0, cancel=cancel)
    assert time.monotonic() - started < 5  # not the 10 s poll, nor the 30 s restore


def test_destination_under_a_file(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(SIZE))
    (out / "blocker").write_bytes(b"a file, not a directory")
    with pytest.raises(NotADirectoryError):
        fs.get_file(f"{oss_bucket}/obj", str(out / "blocker" / "obj"))
    assert sorted(os.listdir(out)) == ["blocker"]
    assert (out / "blocker").read_bytes() == b"a file, not a directory"


def test_destination_directory_not_writable(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # We run as root, where chmod cannot make a directory unwritable: fake os.access.
    oss_server.put_object(oss_bucket, "obj", make_data(SIZE))
    locked = out / "locked"
    locked.mkdir()
    real_access = os.access

    def access(path: str | os.PathLike[str], mode: int, **kwargs: object) -> bool:
        if os.path.abspath(path) == str(locked) and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(PermissionError, match="not writable"):
        fs.get_file(f"{oss_bucket}/obj", str(locked / "obj"))
    assert os.listdir(locked) == []
    assert oss_server.stats().requests.get("GetObject", 0) == 0


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["single", "multipart"])
def test_insufficient_space(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(size))
    usage = namedtuple("usage", "total used free")
    probed: list[str] = []

    def tiny_disk(path: str) -> usage:
        probed.append(path)
        return usage(10 * size, 9 * size, size // 2)

    # The engine binds its disk probe (shutil.disk_usage) when it is imported, so
    # replace the probe where the session passes it to the real space check.
    real_check = preflight.check_space
    monkeypatch.setattr(
        session,
        "check_space",
        lambda _probe, name, destination, needed: real_check(tiny_disk, name, destination, needed),
    )
    target = out / "obj"
    with pytest.raises(InsufficientSpaceError, match="not enough space"):
        fs.get_file(f"{oss_bucket}/obj", str(target))
    assert probed == [str(out)]
    assert not target.exists()
    assert os.listdir(out) == []
    # Refused before the parts: only the first GET (which told the size) was made.
    assert oss_server.stats().requests.get("GetObject", 0) <= 1


def test_second_download_into_the_same_target(
    oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    data = make_data(SIZE, seed=5)
    oss_server.put_object(oss_bucket, "obj", data)
    oss_server.add_fault(FaultRule("bandwidth", key="obj", bytes_per_second=256 * KiB, times=None))
    target = out / "obj"
    first_fs, second_fs = make_fs(oss_server), make_fs(oss_server)
    outcome: dict[str, object] = {}

    # The lock file appears an instant before it is locked: wait for the first
    # download to be past its lock (it sizes the progress after its HEAD).
    locked = threading.Event()

    class SignalWhenSized(Callback):
        def set_size(self, size: int) -> None:
            locked.set()
            super().set_size(size)

    def first() -> None:
        try:
            outcome["result"] = first_fs.get_file(
                f"{oss_bucket}/obj", str(target), callback=SignalWhenSized()
            )
        except BaseException as exc:  # reported to the test thread below
            outcome["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert locked.wait(30), outcome
    assert (out / "obj.ossr-lock").exists()

    with pytest.raises(DownloadInProgressError, match="in progress"):
        second_fs.get_file(f"{oss_bucket}/obj", str(target))
    assert not target.exists()

    thread.join(60)
    assert "error" not in outcome, outcome
    assert target.read_bytes() == data  # the first download was left undisturbed
    assert engine_files(out) == []


def test_exists_under_a_policy_granting_objects_only(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    """GetObject allowed; bucket info and listing denied: ``exists`` answers right, a bool."""
    oss_server.put_object(oss_bucket, "here.bin", b"x")
    # Every bucket-level GET (GetBucketInfo, ListObjects) is refused.
    oss_server.add_fault(FaultRule("error", method="GET", key="", status=403, times=None))
    assert fs.exists(f"{oss_bucket}/here.bin") is True
    assert fs.exists(f"{oss_bucket}/missing.bin") is False
    with pytest.raises(PermissionError):  # what cannot be listed is not "empty"
        fs.ls(f"{oss_bucket}/")


def test_exists_without_credentials_on_a_private_bucket(
    oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "here.bin", b"x")
    anonymous = make_fs(oss_server, key=None, secret=None)
    assert anonymous.exists(f"{oss_bucket}/here.bin") is False  # not visible to us


def test_exists_is_not_fooled_by_a_failed_bucket_check(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    """A 5xx on a bucket-level request is no "missing": callers write over what is missing."""
    oss_server.put_object(oss_bucket, "precious.bin", b"precious")
    oss_server.add_fault(FaultRule("error", method="GET", key="", status=500, times=None))
    assert fs.exists(f"{oss_bucket}/precious.bin") is True
    # Not an object, and whether it is a directory cannot be known: no "no" either.
    with pytest.raises(OSError, match="gave up after"):
        fs.exists(f"{oss_bucket}/missing.bin")
    # A bucket alone: an unknown answer raises, it is not a "yes" either.
    with pytest.raises(OSError, match="gave up after"):
        fs.exists("ossr-no-such-bucket-anywhere")
    assert oss_server.stats().faults_by_kind()["error"] >= CONFIG.max_attempts
    oss_server.clear_faults()
    assert fs.exists(f"{oss_bucket}/missing.bin") is False
    assert fs.exists("ossr-no-such-bucket-anywhere/key") is False
    assert fs.exists("ossr-no-such-bucket-anywhere") is False
    assert fs.exists(oss_bucket) is True
