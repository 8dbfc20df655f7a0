"""Statistics: counters, bytes per object, ranged GETs, concurrency, faults."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import oss2
import pytest

from oss_resumable_fs.testing import FaultRule, OSSServer, RangedGet, StatsSnapshot


def test_counters_bytes_and_ranged_gets(bucket: oss2.Bucket, oss_server: OSSServer) -> None:
    name = bucket.bucket_name
    oss_server.put_object(name, "k", bytes(1000))
    bucket.head_object("k")
    bucket.get_object("k").read()
    bucket.get_object("k", byte_range=(10, 19)).read()
    etag = bucket.head_object("k").etag
    bucket.get_object("k", byte_range=(500, None), headers={"If-Match": f'"{etag}"'}).read()
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("k", byte_range=(0, 9), headers={"If-Match": '"bad"'})
    stats = oss_server.stats()
    assert stats.requests == {"HeadObject": 2, "GetObject": 4}
    assert stats.bytes_served == {f"{name}/k": 1000 + 10 + 500}
    assert stats.ranged_gets == (
        RangedGet(name, "k", "bytes=10-19", 10, 20, 206),
        RangedGet(name, "k", "bytes=500-", 500, 1000, 206),
        RangedGet(name, "k", "bytes=0-9", None, None, 412),
    )
    assert stats.if_match_requests == 2
    assert stats.total_requests == 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.if_match_requests = 0  # type: ignore[misc]
    oss_server.reset_stats()
    assert oss_server.stats().total_requests == 0


def test_concurrency_and_faults_fired(bucket: oss2.Bucket, oss_server: OSSServer) -> None:
    name = bucket.bucket_name
    oss_server.put_object(name, "k", bytes(64 * 1024))
    oss_server.add_fault(FaultRule("latency", key="k", seconds=0.3, times=None))

    def fetch(_: int) -> bytes:
        own = oss2.Bucket(bucket.auth, bucket.endpoint, name)  # one connection each
        return own.get_object("k").read()

    with ThreadPoolExecutor(4) as pool:
        assert all(len(body) == 64 * 1024 for body in pool.map(fetch, range(4)))
    stats = oss_server.stats()
    assert stats.max_concurrent_gets == 4
    assert stats.max_concurrent_requests >= 4
    assert stats.max_concurrent_connections >= 4
    assert stats.faults_by_kind() == {"latency": 4}


def test_snapshot_json_round_trip(bucket: oss2.Bucket, oss_server: OSSServer) -> None:
    oss_server.put_object(bucket.bucket_name, "k", b"abc")
    oss_server.add_fault(FaultRule("corrupt", key="k"))
    bucket.get_object("k", byte_range=(0, 1)).read()
    snapshot = oss_server.stats()
    assert StatsSnapshot.from_dict(snapshot.to_dict()) == snapshot
