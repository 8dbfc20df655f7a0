"""``resumable::s3://``: the engine's downloads through real s3fs, against the local
server's S3-compatible API over loopback sockets.

Objects are small (a few MiB) and parts small (128 KiB), so that many parts,
retries, restarts and resumes happen in well under a second each.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fsspec
import pytest
import s3fs

from oss_resumable_fs.chained import ResumableFileSystem
from oss_resumable_fs.chained.s3 import S3FS_NAMES
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.engine.job_manifest import manifest_path, read_manifest
from oss_resumable_fs.engine.journal import read_journal
from oss_resumable_fs.engine.plan import bytes_in, plan_parts
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.errors import (
    AccessDeniedError,
    IntegrityError,
    InvalidArgumentError,
    ObjectChangedError,
    ObjectNotFoundError,
    UnknownOptionError,
)
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import RecordingCallback, engine_files, make_data
from .killing import kill_when_recorded, reset_stats_once_idle

#: The region S3 clients sign with: OSS's region id for the server's region.
S3_REGION = "oss-cn-hangzhou"
PART = 128 * KiB
SIZE = 2 * MiB + 12345  # 17 parts, the last one short
CONFIG = dict(
    part_size=PART,
    concurrency=4,
    single_request_threshold=256 * KiB,
    read_timeout=5.0,
    backoff_base=0.01,
    backoff_max=0.05,
)


def s3_options(server: OSSServer, secret: str | None = None) -> dict[str, Any]:
    """s3fs options for the server; botocore's own retries off, so the engine's are seen."""
    return {
        "key": server.access_key_id,
        "secret": secret or server.access_key_secret,
        "endpoint_url": server.endpoint,
        "client_kwargs": {"region_name": S3_REGION},
        "config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 1}},
        "skip_instance_cache": True,
    }


def make_fs(server: OSSServer, secret: str | None = None, **options: Any) -> ResumableFileSystem:
    return fsspec.filesystem(
        "resumable",
        target_protocol="s3",
        target_options=s3_options(server, secret),
        skip_instance_cache=True,
        **{**CONFIG, **options},
    )


@pytest.fixture
def fs(oss_server: OSSServer) -> ResumableFileSystem:
    return make_fs(oss_server)


def current(server: OSSServer, bucket: str, key: str) -> bytes:
    """The object's bytes now, read with plain s3fs."""
    return bytes(s3fs.S3FileSystem(**s3_options(server)).cat_file(f"{bucket}/{key}"))


# -- the s3fs internals the adapter relies on -----------------------------------------------


def test_the_s3fs_names_we_rely_on_exist(oss_server: OSSServer) -> None:
    target = s3fs.S3FileSystem(**s3_options(oss_server))
    for name in S3FS_NAMES:
        assert hasattr(target, name), f"s3fs {s3fs.__version__} has no {name}"
    assert inspect.iscoroutinefunction(target.set_session)
    assert inspect.iscoroutinefunction(target.get_s3)
    assert list(inspect.signature(target._get_s3_method_kwargs).parameters)[:1] == ["method"]
    assert target.split_path("b/k/x.bin") == ("b", "k/x.bin", None)
    assert isinstance(target.req_kw, dict)


# -- get_file -------------------------------------------------------------------------------


def test_get_file_is_byte_identical_pinned_and_crc64_verified(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=1)
    oss_server.put_object(oss_bucket, "dir/big.bin", data)
    callback = RecordingCallback()
    result = fs.get_file(f"{oss_bucket}/dir/big.bin", str(tmp_path / "big.bin"), callback=callback)

    assert (tmp_path / "big.bin").read_bytes() == data
    assert result is not None
    assert result.parts_total == 17 and result.bytes_fetched == SIZE
    assert result.identity.crc64 is not None  # OSS's S3 API sends x-oss-hash-crc64ecma
    assert result.verified is not None and result.verified.value == "crc64"
    assert callback.sizes == [SIZE] and callback.total == SIZE
    stats = oss_server.stats()
    # Every part is a ranged GET carrying If-Match: none can mix two versions.
    assert len(stats.ranged_gets) == 17
    assert stats.if_match_requests >= 17
    assert engine_files(tmp_path) == []


def test_small_and_empty_files_and_full_urls(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "small.txt", b"hello")
    oss_server.put_object(oss_bucket, "empty", b"")
    fs.get_file(f"resumable::s3://{oss_bucket}/small.txt", str(tmp_path / "small.txt"))
    fs.get_file(f"s3://{oss_bucket}/empty", str(tmp_path / "empty"))
    assert (tmp_path / "small.txt").read_bytes() == b"hello"
    assert (tmp_path / "empty").read_bytes() == b""


def test_a_missing_key_is_object_not_found(
    fs: ResumableFileSystem, oss_bucket: str, tmp_path: Path
) -> None:
    with pytest.raises(ObjectNotFoundError, match=f"s3://{oss_bucket}/nope") as caught:
        fs.get_file(f"{oss_bucket}/nope", str(tmp_path / "nope"))
    assert isinstance(caught.value, FileNotFoundError)
    assert os.listdir(tmp_path) == []


# -- get of a prefix ------------------------------------------------------------------------


def test_get_of_a_prefix_lands_the_nested_tree(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    files = {
        "data/a.txt": b"a",
        "data/sub/b.bin": make_data(SIZE, seed=2),
        "data/sub/deeper/c.txt": b"c" * 1000,
        "other/not-me.txt": b"no",
    }
    for key, body in files.items():
        oss_server.put_object(oss_bucket, key, body)
    callback = RecordingCallback()
    result = fs.get(f"{oss_bucket}/data/", str(tmp_path / "out"), recursive=True, callback=callback)

    landed = {
        str(p.relative_to(tmp_path / "out")): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    assert landed == {k[len("data/") :]: v for k, v in files.items() if k.startswith("data/")}
    assert result.failed == ()
    assert result.count("downloaded") == 3 and result.bytes_fetched == SIZE + 1001
    assert set(callback.children) >= {(f"{oss_bucket}/data/a.txt", str(tmp_path / "out/a.txt"))}
    assert engine_files(tmp_path) == []


def test_dotdot_keys_never_write_outside_the_target(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "dir/fine.txt", b"fine")
    oss_server.put_object(oss_bucket, "dir/a/../../evil.txt", b"evil")
    target = tmp_path / "deep" / "target"
    target.mkdir(parents=True)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(AccessDeniedError, match="outside"):
        fs.get(f"{oss_bucket}/dir/", str(target), recursive=True)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert not list(tmp_path.parent.glob("evil*"))


# -- kill and resume ------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import fsspec
    options = json.loads(os.environ["OSSR_TEST_S3_OPTIONS"])
    fs = fsspec.filesystem("resumable", target_protocol="s3", target_options=options,
                           part_size=128 * 1024, concurrency=2,
                           single_request_threshold=256 * 1024)
    fs.get_file(sys.argv[1], sys.argv[2])
    """
)


def test_sigkill_at_half_way_then_resume_fetches_only_what_is_missing(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=3)
    oss_server.put_object(oss_bucket, "big.bin", data)
    # Two connections of 256 KiB/s: the whole object would take about 4 s.
    oss_server.add_fault(
        FaultRule("bandwidth", key="big.bin", times=None, bytes_per_second=256 * KiB)
    )
    dest = tmp_path / "big.bin"
    journal = journal_path_for(dest)
    parts = plan_parts(SIZE, PART)
    options = {k: v for k, v in s3_options(oss_server).items() if k != "skip_instance_cache"}
    env = {**os.environ, "OSSR_TEST_S3_OPTIONS": json.dumps(options)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"{oss_bucket}/big.bin", str(dest)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_when_recorded(child, journal, len(parts) // 2)
    assert not dest.exists()
    state = read_journal(journal)
    assert state.header.source == f"s3://{oss_bucket}/big.bin"
    recorded = bytes_in(parts, state.parts)
    assert 0 < recorded < SIZE

    oss_server.clear_faults()
    reset_stats_once_idle(oss_server)
    result = make_fs(oss_server, concurrency=2).get_file(f"{oss_bucket}/big.bin", str(dest))

    assert dest.read_bytes() == data
    assert result is not None and result.status == "resumed" and result.restarts == 0
    assert result.bytes_reused == recorded
    assert result.bytes_fetched == SIZE - recorded
    served = oss_server.stats().bytes_served[f"{oss_bucket}/big.bin"]
    assert SIZE - recorded <= served <= SIZE - recorded + 2 * PART
    assert engine_files(tmp_path) == []


# -- the object changes ---------------------------------------------------------------------


def test_a_change_mid_download_starts_over_on_the_new_version(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "k.bin", make_data(SIZE, seed=4))
    oss_server.add_fault(FaultRule("replace", key="k.bin", byte_range=(8 * PART, 9 * PART)))
    result = fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))

    new = current(oss_server, oss_bucket, "k.bin")
    assert new != make_data(SIZE, seed=4)
    assert (tmp_path / "k.bin").read_bytes() == new  # all of the new version, nothing mixed
    assert result is not None and result.restarts == 1
    assert engine_files(tmp_path) == []


def test_a_change_with_no_restart_left_fails_clearly_and_leaves_nothing(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    fs = make_fs(oss_server, max_restarts_on_change=0)
    oss_server.put_object(oss_bucket, "k.bin", make_data(SIZE, seed=5))
    oss_server.add_fault(FaultRule("replace", key="k.bin", byte_range=(8 * PART, 9 * PART)))
    with pytest.raises(ObjectChangedError, match=f"s3://{oss_bucket}/k.bin"):
        fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    assert os.listdir(tmp_path) == []


def test_a_change_between_runs_restarts_cleanly(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "k.bin", make_data(SIZE, seed=6))
    # The first run fails half way (a refusal is not retried), keeping its checkpoint.
    oss_server.add_fault(
        FaultRule("error", status=403, key="k.bin", byte_range=(12 * PART, 13 * PART), times=None)
    )
    with pytest.raises(AccessDeniedError):
        fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    assert read_journal(journal_path_for(tmp_path / "k.bin")).parts
    oss_server.clear_faults()
    new = make_data(SIZE, seed=7)
    oss_server.put_object(oss_bucket, "k.bin", new)

    result = fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == new
    assert result is not None and result.bytes_reused == 0 and result.restarts == 1
    assert engine_files(tmp_path) == []


# -- bad bytes and transient failures --------------------------------------------------------


def test_corrupted_bytes_are_repaired(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=8)
    oss_server.put_object(oss_bucket, "k.bin", data)
    oss_server.add_fault(
        FaultRule("corrupt", key="k.bin", byte_range=(5 * PART, 6 * PART), after_bytes=100)
    )
    result = fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == data
    assert result is not None and result.verified is not None
    assert result.verified.value == "crc64"
    assert oss_server.stats().faults_by_kind() == {"corrupt": 1}
    assert result.bytes_fetched > SIZE  # the CRC-64 mismatch fetched the parts again


def test_bytes_corrupted_every_time_fail_with_integrity_error_and_no_file(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "k.bin", make_data(SIZE, seed=9))
    oss_server.add_fault(
        FaultRule("corrupt", key="k.bin", byte_range=(5 * PART, 6 * PART), times=None)
    )
    with pytest.raises(IntegrityError, match=f"s3://{oss_bucket}/k.bin"):
        fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    assert os.listdir(tmp_path) == []


def test_503s_resets_and_short_bodies_are_retried_from_the_last_byte(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(SIZE, seed=10)
    oss_server.put_object(oss_bucket, "k.bin", data)
    # The 503s hit the first GETs (parts 0-3), the broken bodies later ones: each fires alone.
    oss_server.add_fault(FaultRule("error", status=503, key="k.bin", times=3, seconds=0.01))
    oss_server.add_fault(
        FaultRule("reset", key="k.bin", byte_range=(12 * PART, 13 * PART), after_bytes=50_000)
    )
    oss_server.add_fault(
        FaultRule("short_body", key="k.bin", byte_range=(9 * PART, 10 * PART), after_bytes=70_000)
    )
    result = fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == data
    assert result is not None and result.retries >= 5
    assert oss_server.active_faults() == {}
    # Only what was lost was fetched again: a retry resumes from the last byte received.
    assert result.bytes_fetched == SIZE


# -- delegation, options, credentials --------------------------------------------------------


def test_fsspec_open_and_pandas_read_through_the_target(
    oss_server: OSSServer, oss_bucket: str
) -> None:
    pandas = pytest.importorskip("pandas")
    oss_server.put_object(oss_bucket, "t.csv", b"a,b\n1,2\n3,4\n")
    options = {"s3": s3_options(oss_server)}
    with fsspec.open(f"resumable::s3://{oss_bucket}/t.csv", "rb", **options) as f:
        assert f.read() == b"a,b\n1,2\n3,4\n"
    frame = pandas.read_csv(f"resumable::s3://{oss_bucket}/t.csv", storage_options=options)
    assert frame.to_dict("list") == {"a": [1, 3], "b": [2, 4]}
    fs, path = fsspec.core.url_to_fs(f"resumable::s3://{oss_bucket}/t.csv", **options)
    assert isinstance(fs, ResumableFileSystem) and path == f"{oss_bucket}/t.csv"
    assert fs.cat_file(path) == b"a,b\n1,2\n3,4\n"
    assert fs.info(path)["size"] == 12
    assert fs.ls(oss_bucket, detail=False) == [f"{oss_bucket}/t.csv"]


def test_misspelled_options_fail_loudly(oss_server: OSSServer, oss_bucket: str) -> None:
    with pytest.raises(UnknownOptionError, match="part_size"):
        make_fs(oss_server, part_sise="1MiB")
    fs = make_fs(oss_server)
    with pytest.raises(UnknownOptionError, match="concurrency"):
        fs.get_file(f"{oss_bucket}/k", "/nonexistent/k", concurency=4)
    with pytest.raises(UnknownOptionError, match="on_error"):
        fs.get(f"{oss_bucket}/", "/nonexistent/", recursive=True, on_eror="omit")
    with pytest.raises(InvalidArgumentError, match="target_protocol"):
        ResumableFileSystem(skip_instance_cache=True)


def test_credentials_stay_out_of_reprs_journals_and_errors(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    secret = oss_server.access_key_secret
    data = make_data(SIZE, seed=11)
    oss_server.put_object(oss_bucket, "k.bin", data)
    fs = make_fs(oss_server)
    assert secret not in repr(fs) and oss_server.access_key_id not in repr(fs)
    # A run that stops half way leaves a journal: no credential in it.
    oss_server.add_fault(
        FaultRule("error", status=403, key="k.bin", byte_range=(12 * PART, 13 * PART), times=None)
    )
    with pytest.raises(AccessDeniedError) as caught:
        fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    journal = Path(journal_path_for(tmp_path / "k.bin")).read_bytes()
    assert secret.encode() not in journal and oss_server.access_key_id.encode() not in journal
    assert secret not in str(caught.value)
    oss_server.clear_faults()
    # Wrong credentials: a clear refusal that does not echo them.
    wrong = "not-the-secret-" + "x" * 20
    with pytest.raises(AccessDeniedError) as caught:
        make_fs(oss_server, secret=wrong).get_file(f"{oss_bucket}/k.bin", str(tmp_path / "w"))
    error: BaseException | None = caught.value
    while error is not None:
        assert wrong not in str(error) and secret not in str(error)
        error = error.__cause__ or error.__context__


def test_botocore_debug_logs_carry_no_sts_token_or_signature(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = "sts-token-" + "t" * 40
    oss_server.add_sts_credential("STS.chained-key", "sts-secret-" + "s" * 30, token)
    options = {
        **s3_options(oss_server),
        "key": "STS.chained-key",
        "secret": "sts-secret-" + "s" * 30,
        "token": token,
    }
    fs = ResumableFileSystem(target_protocol="s3", target_options=options, skip_instance_cache=True)
    data = make_data(SIZE, seed=13)
    oss_server.put_object(oss_bucket, "k.bin", data)
    with caplog.at_level(logging.DEBUG):
        fs.get_file(f"{oss_bucket}/k.bin", str(tmp_path / "k.bin"))
    assert (tmp_path / "k.bin").read_bytes() == data
    assert "x-amz-security-token" in caplog.text.lower()  # botocore did log the headers
    assert token not in caplog.text and "sts-secret-" not in caplog.text
    signatures = re.findall(r"Signature=([0-9a-f]{64})", caplog.text)
    assert signatures == [], signatures[:1]


def test_a_pickled_filesystem_downloads_and_get_file_fills_a_file_object(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    data = make_data(SIZE, seed=12)
    oss_server.put_object(oss_bucket, "k.bin", data)
    clone = pickle.loads(pickle.dumps(fs))  # as dask ships it to a worker
    buffer = io.BytesIO()
    result = clone.get_file(f"{oss_bucket}/k.bin", buffer)
    assert buffer.getvalue() == data
    assert result is not None and result.verified is not None


def test_a_rerun_of_an_unfinished_get_skips_what_landed(
    fs: ResumableFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    for name in ("a", "b", "c", "d"):
        oss_server.put_object(oss_bucket, f"p/{name}.txt", name.encode() * 100)
    oss_server.add_fault(FaultRule("error", status=403, key="p/d.txt", times=None))
    first = fs.get(f"{oss_bucket}/p/", str(tmp_path / "out"), recursive=True, on_error="return")
    assert first.count("downloaded") == 3 and len(first.failed) == 1
    assert isinstance(first.failed[0].exception, AccessDeniedError)
    header, _ = read_manifest(manifest_path(str(tmp_path / "out")))
    assert header.source == f"s3://{oss_bucket}/p/"  # as `oss-resumable status` names it
    oss_server.clear_faults()
    oss_server.reset_stats()

    again = fs.get(f"{oss_bucket}/p/", str(tmp_path / "out"), recursive=True)
    assert again.count("skipped") == 3 and again.count("downloaded") == 1
    assert (tmp_path / "out" / "d.txt").read_bytes() == b"d" * 100
    assert oss_server.stats().requests.get("GetObject") == 1
