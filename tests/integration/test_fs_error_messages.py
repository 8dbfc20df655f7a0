"""Errors that tell a user what to do, and carry what a program needs to act on them.

A message says what went wrong and what to change (set OSS_ACCESS_KEY_ID, write
the region as ``cn-hangzhou``, the host that did not answer and how often it
was tried); ``code`` / ``request_id`` / ``target`` hold the same facts for
programs, and survive pickling (dask ships exceptions between processes).
"""

from __future__ import annotations

import logging
import pickle
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oss_resumable_fs import (
    AccessDeniedError,
    ObjectNotFoundError,
    OSSResumableError,
    ResumableOSSFileSystem,
    TransientError,
    errors,
)
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.errors import InvalidArgumentError
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import CONFIG, make_data, make_fs

SIZE = 1 * MiB
SECRET = "never-in-a-log-Kq7vX2"


def _pickled(error: OSSResumableError) -> OSSResumableError:
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert (clone.code, clone.request_id, clone.target) == (
        error.code,
        error.request_id,
        error.target,
    )
    return clone


# -- no credentials -----------------------------------------------------------------------


@pytest.mark.parametrize("call", ["cat_file", "get_file", "ls", "open"])
def test_no_credentials_says_where_they_are_looked_for(
    oss_server: OSSServer, oss_bucket: str, out: Path, call: str
) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(SIZE))
    fs = make_fs(oss_server, key=None, secret=None)
    path = f"{oss_bucket}/obj"
    calls: dict[str, Callable[[], Any]] = {
        "cat_file": lambda: fs.cat_file(path),
        "get_file": lambda: fs.get_file(path, str(out / "obj")),
        "ls": lambda: fs.ls(oss_bucket),
        "open": lambda: fs.open(path, "rb").read(),
    }
    with pytest.raises(PermissionError) as error:
        calls[call]()
    message = str(error.value)
    assert "no credentials were found" in message, message
    assert "OSS_ACCESS_KEY_ID" in message, message
    assert isinstance(error.value, AccessDeniedError)
    assert error.value.code == "AccessDenied"
    assert not (out / "obj").exists()


# -- regions ------------------------------------------------------------------------------


def test_an_endpoint_prefix_given_as_region(oss_server: OSSServer) -> None:
    oss_server.reset_stats()
    with pytest.raises(ValueError) as error:
        make_fs(oss_server, region="oss-cn-hangzhou")
    assert isinstance(error.value, InvalidArgumentError)
    message = str(error.value)
    assert "'cn-hangzhou'" in message, message  # the form to write instead
    assert oss_server.stats().total_requests == 0


@pytest.mark.parametrize("region", ["cn hangzhou", "CN-HANGZHOU", "hangzhou", "cn_hangzhou"])
def test_a_malformed_region(oss_server: OSSServer, region: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        make_fs(oss_server, region=region)
    assert isinstance(error.value, ValueError)
    message = str(error.value)
    assert repr(region) in message and "cn-hangzhou" in message, message


def test_a_malformed_region_from_the_environment(
    oss_server: OSSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSS_REGION", "oss-cn-hangzhou")
    with pytest.raises(InvalidArgumentError, match="'cn-hangzhou'"):
        make_fs(oss_server)


# -- an endpoint that does not answer -----------------------------------------------------


@pytest.fixture
def dead_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unreachable_fs(oss_server: OSSServer, dead_port: int) -> ResumableOSSFileSystem:
    config = CONFIG.replace(
        connect_timeout=0.5, read_timeout=0.5, max_attempts=3, backoff_base=0.01
    )
    return make_fs(
        oss_server, config, endpoint=f"http://127.0.0.1:{dead_port}", key="AKID", secret=SECRET
    )


@pytest.mark.parametrize("call", ["info", "get_file", "cat_file"])
def test_an_endpoint_that_does_not_answer(
    unreachable_fs: ResumableOSSFileSystem,
    dead_port: int,
    out: Path,
    caplog: pytest.LogCaptureFixture,
    call: str,
) -> None:
    calls: dict[str, Callable[[], Any]] = {
        "info": lambda: unreachable_fs.info("b-bucket/k"),
        "get_file": lambda: unreachable_fs.get_file("b-bucket/k", str(out / "k")),
        "cat_file": lambda: unreachable_fs.cat_file("b-bucket/k"),
    }
    caplog.set_level(logging.INFO, logger="oss_resumable_fs")
    started = time.monotonic()
    with pytest.raises(TransientError) as error:
        calls[call]()
    assert time.monotonic() - started < 30
    assert isinstance(error.value, OSError)
    message = str(error.value)
    assert f"127.0.0.1:{dead_port}" in message, message
    assert "after 3 attempts" in message, message
    assert error.value.target == "oss://b-bucket/k"
    assert not (out / "k").exists()

    retries = [
        r
        for r in caplog.records
        if r.name.startswith("oss_resumable_fs.") and r.levelno == logging.INFO
    ]
    assert len(retries) >= 2, [r.getMessage() for r in caplog.records]
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in caplog.text
    assert SECRET not in message and SECRET not in repr(error.value)

    clone = _pickled(error.value)
    assert isinstance(clone, TransientError)
    assert clone.retry_after == error.value.retry_after


# -- structured fields --------------------------------------------------------------------


@pytest.mark.parametrize("call", ["info", "cat_file", "get_file", "open"])
def test_a_missing_key_has_code_request_id_and_target(
    fs: ResumableOSSFileSystem, oss_bucket: str, out: Path, call: str
) -> None:
    path = f"{oss_bucket}/no/such/key"
    calls: dict[str, Callable[[], Any]] = {
        "info": lambda: fs.info(path),
        "cat_file": lambda: fs.cat_file(path),
        "get_file": lambda: fs.get_file(path, str(out / "key")),
        "open": lambda: fs.open(path, "rb").read(),
    }
    with pytest.raises(FileNotFoundError) as error:
        calls[call]()
    assert isinstance(error.value, ObjectNotFoundError)
    assert error.value.code == "NoSuchKey"
    assert error.value.request_id
    assert error.value.target is not None and error.value.target.endswith("no/such/key")
    assert error.value.request_id in str(error.value)  # for a support ticket
    _pickled(error.value)


@pytest.mark.parametrize("call", ["info", "get_file"])
def test_a_refused_first_request_is_access_denied(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    out: Path,
    call: str,
) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(10 * KiB))
    # info's HEAD; get_file's first request, a GET that tells the object's identity.
    oss_server.add_fault(FaultRule("error", method="HEAD" if call == "info" else "GET", status=403))
    path = f"{oss_bucket}/obj"
    calls: dict[str, Callable[[], Any]] = {
        "info": lambda: fs.info(path),
        "get_file": lambda: fs.get_file(path, str(out / "obj")),
    }
    with pytest.raises(PermissionError) as error:
        calls[call]()
    assert isinstance(error.value, AccessDeniedError)
    assert error.value.code == "AccessDenied"
    assert error.value.request_id
    assert error.value.target is not None and error.value.target.endswith("/obj")
    assert not (out / "obj").exists()
    _pickled(error.value)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_class_pickles_with_its_fields(name: str) -> None:
    cls = getattr(errors, name)
    error = cls("oss://b/k: something", code="Code", request_id="RID", target="oss://b/k")
    assert isinstance(_pickled(error), OSError)


def test_a_transient_error_pickles_with_its_retry_after() -> None:
    error = TransientError("slow down", retry_after=1.5, code="Throttled", target="oss://b/k")
    clone = _pickled(error)
    assert isinstance(clone, TransientError) and clone.retry_after == 1.5


# -- throttling ---------------------------------------------------------------------------


def test_a_503_storm_on_head_is_retried_and_honours_the_qos_delay(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "obj", make_data(10 * KiB))
    # x-oss-qos-delay-time: 200 ms, well above the configured backoff (at most 50 ms).
    assert CONFIG.backoff_max < 0.2
    oss_server.add_fault(FaultRule("error", method="HEAD", status=503, times=2, seconds=0.2))
    started = time.monotonic()
    info = fs.info(f"{oss_bucket}/obj", refresh=True)
    elapsed = time.monotonic() - started
    assert info["size"] == 10 * KiB
    assert elapsed >= 2 * 0.2  # two refusals, each followed by the suggested wait
    stats = oss_server.stats()
    assert stats.faults_by_kind() == {"error": 2}
    assert stats.requests["HeadObject"] == 3
