"""Reads and writes that stay right where users' environments get unusual.

Forked workers (torch DataLoader, gunicorn), pickled open files (dask tasks),
files closed mid-stream, large uploads through ossfs, and options misspelled
on the read path.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import traceback
from pathlib import Path

import pytest

from oss_resumable_fs import ObjectChangedError, ObjectNotFoundError, ResumableOSSFileSystem
from oss_resumable_fs.config import MiB
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import make_data, make_fs


def test_a_forked_child_reads_with_its_own_connections_and_threads(
    oss_server: OSSServer, oss_bucket: str
) -> None:
    data = make_data(3 * MiB, seed=5)
    oss_server.put_object(oss_bucket, "obj", data)
    fs = make_fs(oss_server)
    assert fs.cat_file(f"{oss_bucket}/obj") == data  # the parent's pool and client exist
    pid = os.fork()
    if pid == 0:  # the child: hangs forever on the parent's thread-less pool if reused
        signal.alarm(20)
        try:
            os._exit(0 if fs.cat_file(f"{oss_bucket}/obj") == data else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_a_pickled_open_file_stays_pinned_to_its_version(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "obj", b"A" * 1000)
    with fs.open(f"{oss_bucket}/obj", "rb", cache_type="none") as file:
        assert file.read(500) == b"A" * 500
        blob = pickle.dumps(file)
    copy = pickle.loads(blob)
    assert copy.tell() == 500 and copy.read(10) == b"A" * 10
    oss_server.put_object(oss_bucket, "obj", b"B" * 1000)
    with pytest.raises(ObjectChangedError):
        pickle.loads(blob)  # reopened after the object changed: never half old, half new


def test_closing_a_file_stops_its_reads_in_flight(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "big", make_data(24 * MiB, seed=6))
    oss_server.add_fault(FaultRule("bandwidth", key="big", bytes_per_second=4 * MiB, times=None))
    file = fs.open(f"{oss_bucket}/big", "rb", block_size=256 * 1024)
    for _ in range(6):
        file.read(64 * 1024)  # the window ramps up: several blocks in flight
    file.close()
    served_at_close = oss_server.stats().bytes_served.get(f"{oss_bucket}/big", 0)
    time.sleep(1.5)
    after = oss_server.stats().bytes_served.get(f"{oss_bucket}/big", 0)
    assert after - served_at_close < 2 * MiB, (served_at_close, after)
    deadline = time.monotonic() + 5
    while any(t.name.startswith("ossr-read") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "read-ahead threads outlived close()"
        time.sleep(0.05)
    with pytest.raises(ValueError):
        file.read(1)


@pytest.mark.parametrize(
    ("call", "bad"),
    [
        (lambda fs, p: fs.open(p, "rb", cahce_type="none"), "cahce_type"),
        (lambda fs, p: fs.open(p, "rb", verison_id="v"), "verison_id"),
        (lambda fs, p: fs.cat_file(p, verison_id="v"), "verison_id"),
        (lambda fs, p: fs.cat(p, versoin_id="v"), "versoin_id"),
    ],
)
def test_misspelled_read_options_fail_loudly(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, call, bad: str
) -> None:
    oss_server.put_object(oss_bucket, "obj", b"data")
    with pytest.raises(TypeError, match=bad):
        call(fs, f"{oss_bucket}/obj")


def test_a_large_put_through_ossfs_is_translated_and_scrubbed(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    """ossfs hands files of 100 MiB and more to oss2.resumable_upload with our bucket."""
    token = "STS-SECRET-TOKEN-for-a-test"
    oss_server.add_sts_credential("STSKEYFORPUT", "right-secret", token)
    fs = make_fs(oss_server, key="STSKEYFORPUT", secret="wrong-secret", token=token)
    big = tmp_path / "big.bin"
    with open(big, "wb") as out:
        out.truncate(100 * MiB)
    with pytest.raises(PermissionError) as error:
        fs.put_file(str(big), f"{oss_bucket}/big.bin")
    assert token not in "".join(traceback.format_exception(error.value))
    assert error.value.code == "SignatureDoesNotMatch"
    with pytest.raises(ObjectNotFoundError) as missing:
        make_fs(oss_server).put_file(str(big), "ossr-no-such-bucket-for-put/big.bin")
    assert missing.value.code == "NoSuchBucket"
