"""``oss_resumable_fs.dask``: ``get_many`` on a ``distributed.LocalCluster`` of two worker
processes (two threads each), and the ``UseResumableForOSS`` worker plugin.

The workers reach the local OSS server (running in the pytest process) over
loopback, and write to the same ``tmp_path``: a shared destination, as NFS
would be on a real cluster.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import os
import pickle
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import distributed
import fsspec
import oss2
import pandas as pd
import pytest
from fsspec.registry import _registry

from oss_resumable_fs import InvalidArgumentError, UnknownOptionError, use_for_oss_urls
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.dask import (
    GetManyError,
    GetManyResult,
    LazyCredentialsProvider,
    ObjectOutcome,
    UseResumableForOSS,
    get_many,
)
from oss_resumable_fs.dask._client import _largest_first
from oss_resumable_fs.dask._worker import Job
from oss_resumable_fs.engine.status import list_unfinished
from oss_resumable_fs.results import GetResult
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import engine_files, local_cluster, make_data

PART = 256 * KiB
#: Small parts (objects from 512 KiB up are fetched in parts) and short waits.
FAST = {
    "part_size": PART,
    "single_request_threshold": 2 * PART,
    "read_timeout": 5.0,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
}
#: 20 objects, 1 KiB to 4 MiB: one GET each below 512 KiB, in parts above.
SIZES = [1 * KiB] * 4 + [10 * KiB] * 3 + [100 * KiB] * 3 + [300 * KiB] * 3
SIZES += [700 * KiB] * 2 + [3 * MiB // 2] * 2 + [3 * MiB] * 2 + [4 * MiB + 17]


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[distributed.Client]:
    """Two worker processes with two threads each; closed with bounded waits."""
    with local_cluster(threads_per_worker=2) as client:
        yield client


@pytest.fixture
def client(cluster_client: distributed.Client) -> distributed.Client:
    """The module's client, with both workers up (a test may have killed one)."""
    cluster_client.wait_for_workers(2, timeout=60)
    return cluster_client


def seed(server: OSSServer, bucket: str, sizes: list[int], prefix: str = "") -> dict[str, bytes]:
    objects = {f"{prefix}obj-{i:02d}.bin": make_data(size, seed=i) for i, size in enumerate(sizes)}
    for key, data in objects.items():
        server.put_object(bucket, key, data)
    server.reset_stats()
    return objects


def local_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_get_many(paths: Any, out: Path, client: distributed.Client, opts: dict, **kw: Any) -> Any:
    kw = {**FAST, "per_worker_connections": 4, **kw}
    return get_many(paths, str(out), client=client, storage_options=opts, **kw)


# -- landing ----------------------------------------------------------------------------


def test_every_object_lands_byte_identical(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, SIZES)
    paths = [f"ossr://{oss_bucket}/{key}" for key in objects]
    result = run_get_many(paths, tmp_path, client, oss_storage_options)

    assert isinstance(result, GetManyResult) and result.ok
    assert local_files(tmp_path) == objects  # under their base names, nothing else
    assert [f.status for f in result.files] == ["downloaded"] * len(objects)
    assert [f.remote for f in result.files] == [f"{oss_bucket}/{key}" for key in objects]
    assert [f.local for f in result.files] == [str(tmp_path / key) for key in objects]
    workers = set(client.scheduler_info()["workers"])
    assert {f.worker for f in result.files} == workers  # both workers took a share
    assert {f.host for f in result.files} == {socket.gethostname()}
    assert result.bytes_fetched == sum(SIZES)
    assert engine_files(tmp_path) == []

    stats = oss_server.stats()
    assert stats.bytes_served == {f"{oss_bucket}/{k}": len(v) for k, v in objects.items()}
    ranged_keys = {g.key for g in stats.ranged_gets}
    big = {k for k, v in objects.items() if len(v) >= 2 * PART}
    assert big and big <= ranged_keys  # the big ones came in parts
    for outcome in result.files:
        assert outcome.result is not None
        if len(objects[outcome.remote.split("/", 1)[1]]) >= 2 * PART:
            assert outcome.result.parts_total > 1

    # Small, picklable, readable.
    assert pickle.loads(pickle.dumps(result)) == result
    assert "20 files (20 downloaded)" in repr(result) and "2 worker(s) on 1 host(s)" in repr(result)
    assert "ObjectOutcome(downloaded" in repr(result.files[0])
    assert socket.gethostname() in result._repr_html_()
    assert set(result.by_host()) == {socket.gethostname()}


def test_a_second_run_skips_everything_and_fetches_no_byte(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, SIZES)
    prefix = f"oss://{oss_bucket}/"
    first = run_get_many(prefix, tmp_path, client, oss_storage_options)
    assert first.count("downloaded") == len(objects)

    oss_server.reset_stats()
    again = run_get_many(prefix, tmp_path, client, oss_storage_options)
    assert [f.status for f in again.files] == ["skipped"] * len(objects)
    assert oss_server.stats().bytes_served == {}
    assert oss_server.stats().requests.get("GetObject", 0) == 0
    assert again.bytes_fetched == 0 and again.bytes_skipped == sum(SIZES)
    assert local_files(tmp_path) == objects


def test_a_prefix_lands_each_object_at_its_key_relative_to_the_prefix(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = {
        "data/top.bin": make_data(3 * KiB, seed=1),
        "data/sub/mid.bin": make_data(900 * KiB, seed=2),
        "data/sub/deeper/low.csv": make_data(12 * KiB, seed=3),
        "data/sub/deeper/big.bin": make_data(2 * MiB + 1, seed=4),
    }
    for key, data in objects.items():
        oss_server.put_object(oss_bucket, key, data)
    oss_server.put_object(oss_bucket, "data2/neighbour.bin", b"same string prefix, other directory")
    oss_server.put_object(oss_bucket, "elsewhere.bin", b"outside the prefix")
    oss_server.reset_stats()

    result = run_get_many(
        f"ossr://{oss_bucket}/data", tmp_path / "copy", client, oss_storage_options
    )
    expected = {key.removeprefix("data/"): data for key, data in objects.items()}
    assert local_files(tmp_path / "copy") == expected
    assert {f.status for f in result.files} == {"downloaded"}
    # In listing order, the big ones included (they ran first, but are reported in order).
    assert [f.remote for f in result.files] == sorted(f"{oss_bucket}/{k}" for k in objects)
    # The small ones were listed: one GET each, pinned to the listed ETag; the large
    # ones' first GET tells their identity. No HEAD at all.
    assert "HeadObject" not in oss_server.stats().requests


def test_without_a_client_or_a_default_one_it_says_what_is_missing(
    oss_bucket: str, oss_storage_options: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgumentError, match="needs a dask cluster"):
        get_many(f"{oss_bucket}/", str(tmp_path), storage_options=oss_storage_options)


def test_an_empty_prefix_is_an_error(
    client: distributed.Client, oss_bucket: str, oss_storage_options: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="nothing"):
        run_get_many(f"{oss_bucket}/nothing/", tmp_path, client, oss_storage_options)


def test_keys_that_would_escape_local_dir_fail_alone(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    oss_server.put_object(oss_bucket, "dir/fine.txt", b"fine")
    oss_server.put_object(oss_bucket, "dir/a/../../evil.txt", b"evil")
    target = tmp_path / "deep" / "target"
    target.mkdir(parents=True)
    result = run_get_many(
        f"{oss_bucket}/dir/", target, client, oss_storage_options, raise_on_error=False
    )
    statuses = {f.remote: f.status for f in result.files}
    assert statuses == {
        f"{oss_bucket}/dir/fine.txt": "downloaded",
        f"{oss_bucket}/dir/a/../../evil.txt": "failed",
    }
    assert "outside" in (result.failed[0].error or "")
    assert result.failed[0].worker is None  # refused on the client: no task ran
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "deep",
        "deep/target",
        "deep/target/fine.txt",
    ]


def test_objects_landing_at_one_path_fail_up_front_and_the_others_land(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    keys = ["p/a.txt", "p/./a.txt", "p/x", "p/x/y.txt", "p/ok.bin", "q/ok.bin", "q/z.bin"]
    for key in keys:
        oss_server.put_object(oss_bucket, key, key.encode() * 10)

    # A prefix: "a.txt" and "./a.txt" are one path; "x" is where "x/y.txt" needs a directory.
    result = run_get_many(
        f"{oss_bucket}/p", tmp_path / "tree", client, oss_storage_options, raise_on_error=False
    )
    status = {f.remote.split("/", 1)[1]: f.status for f in result.files}
    assert status == {
        "p/./a.txt": "failed",
        "p/a.txt": "failed",
        "p/ok.bin": "downloaded",
        "p/x": "failed",
        "p/x/y.txt": "downloaded",
    }
    error = {f.remote.split("/", 1)[1]: f.error or "" for f in result.failed}
    assert f"oss://{oss_bucket}/p/./a.txt" in error["p/a.txt"]
    assert f"oss://{oss_bucket}/p/a.txt" in error["p/./a.txt"]
    assert f"both land at {str(tmp_path / 'tree' / 'a.txt')!r}" in error["p/a.txt"]
    assert f"oss://{oss_bucket}/p/x/y.txt" in error["p/x"] and "needs a directory" in error["p/x"]
    assert all(f.worker is None for f in result.failed)  # refused on the client
    assert local_files(tmp_path / "tree") == {
        "ok.bin": b"p/ok.bin" * 10,
        "x/y.txt": b"p/x/y.txt" * 10,
    }

    # A list: one object named twice is fetched once; two equal base names both fail.
    oss_server.reset_stats()
    paths = [
        f"{oss_bucket}/p/ok.bin",
        f"oss://{oss_bucket}/q/ok.bin",
        f"{oss_bucket}/q/z.bin",
        f"ossr://{oss_bucket}/q/z.bin",
    ]
    with pytest.raises(GetManyError, match="2 of 3 objects failed") as caught:
        run_get_many(paths, tmp_path / "list", client, oss_storage_options)
    files = caught.value.result.files
    assert [(f.remote, f.status) for f in files] == [
        (f"{oss_bucket}/p/ok.bin", "failed"),
        (f"{oss_bucket}/q/ok.bin", "failed"),
        (f"{oss_bucket}/q/z.bin", "downloaded"),
    ]
    assert f"oss://{oss_bucket}/q/ok.bin" in (files[0].error or "")
    assert "common prefix" in (files[0].error or "")
    assert local_files(tmp_path / "list") == {"z.bin": b"q/z.bin" * 10}
    assert set(oss_server.stats().bytes_served) == {f"{oss_bucket}/q/z.bin"}


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"concurrency": 4}, InvalidArgumentError, "per_worker_connections"),
        ({"part_sise": "1MiB"}, UnknownOptionError, "part_size"),
        ({"part_size": "1KiB"}, InvalidArgumentError, "part_size"),
        ({"per_worker_connections": 0}, InvalidArgumentError, "per_worker_connections"),
        ({"max_connections": 0}, InvalidArgumentError, "max_connections"),
        ({"max_connections": "8"}, TypeError, "max_connections"),
        ({"retries": -1}, InvalidArgumentError, "retries"),
    ],
)
def test_bad_options_fail_before_any_request(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
    options: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        run_get_many(f"{oss_bucket}/k", tmp_path, client, oss_storage_options, **options)
    assert oss_server.stats().total_requests == 0


# -- failures ---------------------------------------------------------------------------


def test_a_missing_object_is_reported_failed_and_the_rest_land(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, [5 * KiB, 600 * KiB, 2 * MiB])
    paths = [f"{oss_bucket}/{key}" for key in objects]
    paths.insert(1, f"{oss_bucket}/missing.bin")
    result = run_get_many(paths, tmp_path, client, oss_storage_options, raise_on_error=False)

    assert [f.status for f in result.files] == ["downloaded", "failed", "downloaded", "downloaded"]
    missing = result.files[1]
    assert missing.result is None and missing.host == socket.gethostname()
    assert missing.error is not None and missing.error.startswith("ObjectNotFoundError")
    assert "missing.bin" in missing.error
    assert result.failed == (missing,) and not result.ok
    assert local_files(tmp_path) == objects
    # Not found is final: one first request per object, none repeated by dask's retries.
    # (Each object's first request is a GET of its first bytes, which tells its identity.)
    first_requests = [g for g in oss_server.stats().ranged_gets if g.header.startswith("bytes=0-")]
    assert len(first_requests) == len(paths)
    assert [g.status for g in first_requests].count(404) == 1


def test_failures_raise_once_every_object_is_done(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, [5 * KiB] * 3 + [1 * MiB])
    paths = [f"{oss_bucket}/missing-{i}" for i in range(2)] + [f"{oss_bucket}/{k}" for k in objects]
    with pytest.raises(GetManyError, match="2 of 6 objects failed") as caught:
        run_get_many(paths, tmp_path, client, oss_storage_options)
    error = caught.value
    assert isinstance(error, OSError)
    assert error.target == f"oss://{oss_bucket}/missing-0"
    assert [f.status for f in error.result.files] == ["failed"] * 2 + ["downloaded"] * 4
    assert local_files(tmp_path) == objects  # the others landed all the same
    with pytest.raises(GetManyError):
        error.result.raise_for_errors()


@pytest.mark.parametrize(("retries", "status"), [(1, "downloaded"), (0, "failed")])
def test_a_transient_failure_is_retried_by_dask(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
    retries: int,
    status: str,
) -> None:
    objects = seed(oss_server, oss_bucket, [40 * KiB] * 3)
    flaky = next(iter(objects))
    # The engine gives up at the first 503 (max_attempts=1); only dask can try again.
    oss_server.add_fault(FaultRule("error", key=flaky, status=503, times=1))
    result = run_get_many(
        [f"{oss_bucket}/{k}" for k in objects],
        tmp_path,
        client,
        oss_storage_options,
        retries=retries,
        max_attempts=1,
        raise_on_error=False,
    )
    assert [f.status for f in result.files] == [status, "downloaded", "downloaded"]
    assert oss_server.stats().requests["GetObject"] == len(objects) + retries
    if status == "failed":
        error = result.files[0].error or ""
        assert error.startswith("TransientError") and "ServiceUnavailable" in error
        assert result.files[0].worker in client.scheduler_info()["workers"]
    else:
        assert local_files(tmp_path) == objects


# -- connections ------------------------------------------------------------------------


def semaphores_on_the_scheduler(client: distributed.Client) -> list[str]:
    def names(dask_scheduler: Any) -> list[str]:
        return [str(name) for name in dask_scheduler.extensions["semaphores"].max_leases]

    return client.run_on_scheduler(names)  # type: ignore[no-any-return]


def slow_links(server: OSSServer) -> None:
    """2 MiB/s per connection (downloads overlap for a couple of seconds), 50 ms per HEAD.

    The server counts a GET as in flight until the pacing sleep after its last
    chunk ends, up to 20 ms after the client has every byte and has given its
    lease back. Every object starts with a HEAD: at 50 ms, the next lease
    holder's first GET cannot overlap that tail.
    """
    server.add_fault(FaultRule("bandwidth", times=None, bytes_per_second=2 * MiB))
    server.add_fault(FaultRule("latency", method="HEAD", times=None, seconds=0.05))


def test_max_connections_bounds_the_gets_in_flight_on_the_whole_cluster(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, [1 * MiB] * 6 + [100 * KiB] * 6)
    slow_links(oss_server)
    before = semaphores_on_the_scheduler(client)
    result = run_get_many(
        f"{oss_bucket}/", tmp_path, client, oss_storage_options, max_connections=3
    )
    assert result.ok and local_files(tmp_path) == objects
    peak = oss_server.stats().max_concurrent_gets
    # Without the cap: 2 workers x 2 threads x 4 connections = 16.
    assert 2 <= peak <= 3
    assert semaphores_on_the_scheduler(client) == before  # closed after the call


def test_a_shared_semaphore_caps_connections_and_is_left_open(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, [1 * MiB] * 4)
    slow_links(oss_server)
    semaphore = distributed.Semaphore(
        max_leases=2, name="ossr-test-shared", scheduler_rpc=client.scheduler, loop=client.loop
    )
    try:
        # A list: sizes unknown on the client, so each task HEADs its object to size its lease.
        paths = [f"{oss_bucket}/{key}" for key in objects]
        opts = oss_storage_options
        result = run_get_many(paths, tmp_path, client, opts, max_connections=semaphore)
        assert result.ok and local_files(tmp_path) == objects
        assert oss_server.stats().max_concurrent_gets == 2
        # One HEAD each to size its lease; the download's first GET tells the rest.
        assert oss_server.stats().requests["HeadObject"] == len(objects)
        assert "ossr-test-shared" in semaphores_on_the_scheduler(client)
        assert semaphore.get_value() == 0  # every lease given back
    finally:
        semaphore.close()


def test_progress_draws_dasks_progress_bar(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    objects = seed(oss_server, oss_bucket, [2 * KiB] * 3)
    result = run_get_many(f"{oss_bucket}/", tmp_path, client, oss_storage_options, progress=True)
    assert result.ok and local_files(tmp_path) == objects
    assert "100% Completed" in capsys.readouterr().out


def test_largest_objects_are_submitted_first() -> None:
    jobs = [Job(f"b/{i}", f"/t/{i}", "/t", size) for i, size in enumerate([5, 100, None, 30, 300])]
    assert _largest_first(jobs, [0, 1, 2, 3, 4], threshold=30) == [4, 1, 3, 0, 2]


# -- credentials ------------------------------------------------------------------------


def test_credentials_from_each_processs_environment(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = seed(oss_server, oss_bucket, [3 * KiB, 800 * KiB])
    env = oss_server.environment(base={})
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def set_env(values: dict[str, str]) -> None:  # runs in each worker process
        os.environ.update(values)

    def unset(names: list[str]) -> None:
        for name in names:
            os.environ.pop(name, None)

    client.run(set_env, env)
    try:
        result = get_many(f"oss://{oss_bucket}/", str(tmp_path), client=client, **FAST)
    finally:
        client.run(unset, list(env))
    assert result.ok and local_files(tmp_path) == objects


def test_a_lazy_credentials_provider_travels_to_the_workers(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, [3 * KiB, 800 * KiB])
    provider = LazyCredentialsProvider(
        oss2.credentials.StaticCredentialsProvider,
        oss_server.access_key_id,
        oss_server.access_key_secret,
    )
    assert oss_server.access_key_secret not in repr(provider)
    assert oss_server.access_key_id not in repr(provider)
    assert repr(pickle.loads(pickle.dumps(provider))) == repr(provider)  # one fsspec cache token
    options = {"endpoint": oss_server.endpoint, "credentials_provider": provider}
    result = get_many(
        f"{oss_bucket}/", str(tmp_path), client=client, storage_options=options, **FAST
    )
    assert result.ok and local_files(tmp_path) == objects


# -- oss:// on the workers --------------------------------------------------------------


def oss_class_name() -> str:
    return fsspec.get_filesystem_class("oss").__name__


def test_the_worker_plugin_makes_oss_urls_use_resumable_fs(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = pd.DataFrame({"id": range(20_000), "x": [i * 0.5 for i in range(20_000)]})
    frame.to_csv(tmp_path / "data.csv", index=False)
    oss_server.put_object(oss_bucket, "data.csv", (tmp_path / "data.csv").read_bytes())
    url = f"oss://{oss_bucket}/data.csv"

    before = set(client.run(oss_class_name).values())
    assert before == {"OSSFileSystem"}  # plain ossfs until the plugin runs
    client.register_plugin(UseResumableForOSS())
    try:
        assert set(client.run(oss_class_name).values()) == {"ResumableOSSFileSystem"}

        # oss:// resolved inside a task, on a worker: our reads pin the ETag (If-Match).
        oss_server.reset_stats()
        read = client.submit(pd.read_csv, url, storage_options=oss_storage_options, pure=False)
        pd.testing.assert_frame_equal(read.result(timeout=60), frame)
        assert oss_server.stats().if_match_requests > 0

        # dask.dataframe: the client builds the filesystem (use_for_oss_urls there too),
        # the workers read with it.
        monkeypatch.setitem(_registry, "oss", _registry.get("oss"))
        use_for_oss_urls()
        ddf = dd.read_csv(url, storage_options=oss_storage_options, blocksize=100_000)
        assert ddf.npartitions > 1
        oss_server.reset_stats()
        computed = client.compute(ddf).result(timeout=120)
        pd.testing.assert_frame_equal(computed.reset_index(drop=True), frame)
        assert oss_server.stats().if_match_requests > 0
    finally:
        client.unregister_worker_plugin(UseResumableForOSS.name)
    assert set(client.run(oss_class_name).values()) == before  # teardown put ossfs back


# -- a worker dies mid-run --------------------------------------------------------------


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_worker_killed_mid_run_neither_fails_the_call_nor_refetches_finished_objects(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    size = 3 * MiB
    objects = seed(oss_server, oss_bucket, [size] * 8)
    # 4 connections x 512 KiB/s: each object takes about 1.5 s, a part 0.5 s.
    oss_server.add_fault(FaultRule("bandwidth", times=None, bytes_per_second=512 * KiB))
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_get_many, f"{oss_bucket}/", tmp_path, client, oss_storage_options)

        def journals_with_parts() -> int:
            return sum(1 for u in list_unfinished(tmp_path) if u.parts_done >= 1)

        # All four objects in flight have recorded parts: kill one of their workers.
        wait_for(lambda: journals_with_parts() >= 4 or running.done(), 60, "recorded parts")
        assert not running.done()
        busy = [w for w, keys in client.processing().items() if keys]
        victim = busy[0]
        landed_before = {p.name for p in tmp_path.iterdir() if p.name in objects}
        with contextlib.suppress(Exception):
            client.run(os._exit, 1, workers=[victim])
        result = running.result(timeout=180)

    assert result.ok, result.failed
    assert local_files(tmp_path) == objects
    assert engine_files(tmp_path) == []
    statuses = [f.status for f in result.files]
    assert set(statuses) <= {"downloaded", "resumed"}
    assert "resumed" in statuses  # a task of the dead worker went on from its journal
    assert victim not in {f.worker for f in result.files if f.status == "resumed"}
    served = oss_server.stats().bytes_served
    for key in objects:
        # At most the parts in flight when the worker died are fetched twice.
        assert served[f"{oss_bucket}/{key}"] <= size + 4 * PART, key
    for key in landed_before:
        assert served[f"{oss_bucket}/{key}"] == size, key  # finished: never fetched again
    in_flight_on_victim = 2 * 4 * PART  # two threads, four connections each
    assert sum(served.values()) <= len(objects) * size + in_flight_on_victim


# -- Ctrl-C -----------------------------------------------------------------------------


def tasks_running_on_the_workers(client: distributed.Client) -> list[str]:
    """Tasks still executing on any worker, cancelled ones included."""

    def running(dask_worker: Any) -> list[str]:
        return [str(ts) for ts in dask_worker.state.executing | dask_worker.state.long_running]

    return [task for tasks in client.run(running).values() for task in tasks]


# distributed warns that the semaphore is closed with leases out: the tasks are stopping.
@pytest.mark.filterwarnings("ignore:Closing semaphore:RuntimeWarning")
def test_ctrl_c_stops_every_task_waiting_for_a_lease_or_downloading(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    seed(oss_server, oss_bucket, [1 * MiB] * 6)
    # One connection at a time, 8 s per object: one task downloads, three wait for the lease.
    oss_server.add_fault(FaultRule("bandwidth", times=None, bytes_per_second=128 * KiB))
    before = semaphores_on_the_scheduler(client)
    calling = threading.Event()

    def press_ctrl_c_once_downloading() -> None:
        deadline = time.monotonic() + 30
        while oss_server.stats().requests.get("GetObject", 0) < 1:
            if time.monotonic() > deadline or not calling.is_set():
                return
            time.sleep(0.02)
        time.sleep(0.3)
        if calling.is_set():
            _thread.interrupt_main()

    # interrupt_main does nothing if SIGINT is ignored (pytest started in the background).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    calling.set()
    pressing = threading.Thread(target=press_ctrl_c_once_downloading, daemon=True)
    pressing.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_get_many(f"{oss_bucket}/", tmp_path, client, oss_storage_options, max_connections=1)
    finally:
        calling.clear()
        pressing.join()
        signal.signal(signal.SIGINT, previous)
    interrupted = time.monotonic()

    running = tasks_running_on_the_workers(client)
    while running and time.monotonic() - interrupted < 5:
        time.sleep(0.1)
        running = tasks_running_on_the_workers(client)
    assert running == []  # none left waiting on the semaphore, nor downloading for 8 s
    assert semaphores_on_the_scheduler(client) == before
    assert oss_server.stats().max_concurrent_gets == 1
    # The download that was stopped kept its partial file and journal, to resume.
    assert [u.destination for u in list_unfinished(tmp_path)] != []


# -- how it is called -------------------------------------------------------------------


def test_an_asynchronous_client_is_told_to_call_it_in_a_thread(
    cluster_client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    objects = seed(oss_server, oss_bucket, [2 * KiB])
    address = cluster_client.scheduler.address

    async def main() -> GetManyResult:
        async with distributed.Client(address, asynchronous=True) as aclient:
            with pytest.raises(InvalidArgumentError, match=r"asyncio\.to_thread"):
                run_get_many(f"{oss_bucket}/", tmp_path, aclient, oss_storage_options)
            assert oss_server.stats().total_requests == 0
            # What the message says to do works.
            return await asyncio.to_thread(
                run_get_many, f"{oss_bucket}/", tmp_path, aclient, oss_storage_options
            )

    pool = ThreadPoolExecutor(1)  # it used to hang for good: bounded here
    try:
        result = pool.submit(asyncio.run, main()).result(timeout=60)
    finally:
        pool.shutdown(wait=False)
    assert result.ok and local_files(tmp_path) == objects


class LockedProvider(oss2.credentials.CredentialsProvider):  # type: ignore[misc]
    """A provider holding a lock, as refreshing ones do: it does not pickle."""

    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret, self.lock = key, secret, threading.Lock()

    def get_credentials(self) -> Any:
        return oss2.credentials.Credentials(self.key, self.secret)


def formatted(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def test_options_that_do_not_pickle_are_refused_without_showing_a_secret(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
) -> None:
    seed(oss_server, oss_bucket, [2 * KiB])
    secret = oss_server.access_key_secret
    options = {
        **oss_storage_options,
        "credentials_provider": LockedProvider(oss_server.access_key_id, secret),
    }
    before = semaphores_on_the_scheduler(client)
    with pytest.raises(InvalidArgumentError, match="credentials_provider") as caught:
        run_get_many(f"{oss_bucket}/", tmp_path, client, options, max_connections=2)
    assert "LazyCredentialsProvider" in str(caught.value)
    assert secret not in str(caught.value) and secret not in formatted(caught.value)
    assert semaphores_on_the_scheduler(client) == before
    assert oss_server.stats().total_requests == 0


def test_a_failed_submission_closes_the_semaphore_and_hides_the_secret(
    client: distributed.Client,
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(oss_server, oss_bucket, [2 * KiB])
    secret = oss_server.access_key_secret

    def failing_map(*args: Any, **kwargs: Any) -> Any:  # as dask's serialisation errors read
        raise TypeError(f"Failed to serialize _MapExpr(kwargs={kwargs!r})")

    monkeypatch.setattr(client, "map", failing_map)
    before = semaphores_on_the_scheduler(client)
    with pytest.raises(Exception, match="could not submit the tasks") as caught:
        run_get_many(f"{oss_bucket}/", tmp_path, client, oss_storage_options, max_connections=2)
    assert secret not in str(caught.value) and secret not in formatted(caught.value)
    assert semaphores_on_the_scheduler(client) == before


# -- the result -------------------------------------------------------------------------


def test_the_notebook_table_shows_the_first_rows_and_every_failure() -> None:
    outcomes = [
        ObjectOutcome(f"b/k{i}", f"/t/k{i}", "failed" if i in (3, 70, 150) else "skipped", None)
        for i in range(200)
    ]
    result = GetManyResult(tuple(outcomes), 1.0)
    html = result._repr_html_()
    assert html.count("<tr>") == 1 + 50 + 2  # the header, the first 50, the 2 failures after
    assert "b/k49<" in html and "b/k50<" not in html
    assert "b/k70<" in html and "b/k150<" in html
    assert "… 148 more" in html
    assert GetManyResult.failed is GetResult.failed  # one definition
    assert [f.remote for f in result.failed] == ["b/k3", "b/k70", "b/k150"]
    small = GetManyResult(tuple(outcomes[:5]), 1.0)._repr_html_()
    assert small.count("<tr>") == 6 and "more" not in small


def test_the_distributed_flag_get_many_sets_still_exists() -> None:
    """get_many marks a semaphore it made as registered (``_registered``), so a task's first
    acquire does not bring it back after the call closed it: the name must still mean that."""
    import inspect

    import distributed.semaphore

    source = inspect.getsource(distributed.semaphore.Semaphore)
    assert "self._registered = False" in source and "if self._registered:" in source
