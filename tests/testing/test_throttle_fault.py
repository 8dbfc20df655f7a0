"""The ``throttle`` fault: at most N GetObjects in flight, the rest answered 503.

Observed with the real ``oss2`` client over real sockets. A ``bandwidth`` rule
keeps each admitted ranged GET streaming for about two seconds, so the requests
made meanwhile meet a full limit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import oss2
import pytest

from oss_resumable_fs.testing import FaultKind, FaultRule, OSSServer
from oss_resumable_fs.testing.faults import FaultPlan

N, K = 3, 2
PART = 64 * 1024
RATE = 32 * 1024  # bytes per second: an admitted part streams for about 2 s
DATA = os.urandom((N + K) * PART)


def _part(i: int) -> tuple[int, int]:
    """oss2's inclusive byte range of part ``i``."""
    return i * PART, (i + 1) * PART - 1


def _own(bucket: oss2.Bucket) -> oss2.Bucket:
    """A bucket handle with a session (and so a connection) of its own."""
    return oss2.Bucket(bucket.auth, bucket.endpoint, bucket.bucket_name)


def _open_or_refusal(bucket: oss2.Bucket, key: str, i: int) -> oss2.models.GetObjectResult | int:
    """Start a ranged GET of part ``i``: its open body, or the qos delay (ms) of a 503."""
    try:
        return bucket.get_object(key, byte_range=_part(i))
    except oss2.exceptions.ServerError as err:
        assert (err.status, err.code) == (503, "ServiceUnavailable")
        return int(err.headers["x-oss-qos-delay-time"])


def _wait_until_idle(server: OSSServer, timeout: float = 10.0) -> None:
    """Until the server has finished every GetObject (the last byte reaches the
    client a moment before the server stops counting the request)."""
    deadline = time.monotonic() + timeout
    while server.stats().gets_in_flight:
        assert time.monotonic() < deadline, "GETs still in flight"
        time.sleep(0.01)


@pytest.fixture
def slow(bucket: oss2.Bucket, oss_server: OSSServer) -> str:
    oss_server.put_object(bucket.bucket_name, "slow", DATA)
    oss_server.add_fault(FaultRule("bandwidth", key="slow", bytes_per_second=RATE, times=None))
    return "slow"


def test_a_burst_beyond_the_limit_is_refused(
    bucket: oss2.Bucket, oss_server: OSSServer, slow: str
) -> None:
    """N+K ranged GETs at once from N+K threads: exactly N are served, K get 503."""
    rule_id = oss_server.throttle_beyond(N, delay=0.25, key=slow)
    start = threading.Barrier(N + K)

    def get(i: int) -> oss2.models.GetObjectResult | int:
        own = _own(bucket)
        start.wait()
        return _open_or_refusal(own, slow, i)

    with ThreadPoolExecutor(N + K) as pool:
        outcomes = list(pool.map(get, range(N + K)))
        refused = {i for i, got in enumerate(outcomes) if isinstance(got, int)}
        during = oss_server.stats()
        admitted = {i: got for i, got in enumerate(outcomes) if i not in refused}
        bodies = dict(
            zip(admitted, pool.map(lambda got: got.read(), admitted.values()), strict=True)
        )
    assert len(refused) == K and len(admitted) == N
    assert {outcomes[i] for i in refused} == {250}  # x-oss-qos-delay-time in ms
    for i, body in bodies.items():
        assert body == DATA[i * PART : (i + 1) * PART]
    # The server saw the same split: it served exactly the admitted parts, and a
    # refused GET never counted as in flight (the maximum stayed at N).
    assert during.gets_in_flight == N
    assert during.max_concurrent_gets == N
    assert during.throttled == K
    stats = oss_server.stats()
    served = sorted((r.start, r.end, r.status) for r in stats.ranged_gets)
    assert served == [(i * PART, (i + 1) * PART, 206) for i in sorted(admitted)]
    assert stats.requests == {"GetObject": N + K}
    assert stats.throttled == K
    throttles = [f for f in stats.faults_fired if f.kind is FaultKind.THROTTLE]
    assert [(f.rule_id, f.method, f.key) for f in throttles] == [(rule_id, "GET", slow)] * K
    assert stats.faults_by_kind() == {"bandwidth": N, "throttle": K}


def test_the_limit_covers_its_glob_and_frees_slots(
    bucket: oss2.Bucket, oss_server: OSSServer, slow: str
) -> None:
    oss_server.put_object(bucket.bucket_name, "other", b"x" * 1000)
    oss_server.throttle_beyond(N, delay=0.05, key="sl*")
    with ThreadPoolExecutor(N) as pool:
        streams = list(pool.map(lambda i: _open_or_refusal(_own(bucket), slow, i), range(N)))
        assert not any(isinstance(s, int) for s in streams)  # all N admitted
        # At the limit: every further GET of a matching key is refused, one by one ...
        for i in range(N, N + K):
            assert _open_or_refusal(_own(bucket), slow, i) == 50
        # ... while other keys, and HEADs of this one, are not limited.
        assert bucket.get_object("other").read() == b"x" * 1000
        assert bucket.head_object(slow).content_length == len(DATA)
        bodies = list(pool.map(lambda s: s.read(), streams))
    assert bodies == [DATA[i * PART : (i + 1) * PART] for i in range(N)]
    _wait_until_idle(oss_server)
    # The slots are free again: the parts refused before are served now.
    for rule_id, rule in oss_server.active_faults().items():
        if rule.kind is FaultKind.BANDWIDTH:
            oss_server.remove_fault(rule_id)  # no need to wait for these bodies

    def fetch(i: int) -> bytes:
        return _own(bucket).get_object(slow, byte_range=_part(i)).read()

    with ThreadPoolExecutor(K) as pool:
        got = list(pool.map(fetch, range(N, N + K)))
    assert got == [DATA[i * PART : (i + 1) * PART] for i in range(N, N + K)]
    stats = oss_server.stats()
    assert stats.throttled == K
    assert stats.max_concurrent_gets == N + 1  # N on "slow", one on "other"
    # Every part was served exactly once: the refused GETs left no record.
    assert sorted(r.start for r in stats.ranged_gets) == [i * PART for i in range(N + K)]


def test_throttle_rule_validation_and_round_trip() -> None:
    rule = FaultRule("throttle", key="data/*", times=None, seconds=0.2, max_in_flight=4)
    assert FaultRule.from_dict(rule.to_dict()) == rule
    assert rule.to_dict()["max_in_flight"] == 4
    with pytest.raises(ValueError, match="max_in_flight"):
        FaultRule("throttle")
    with pytest.raises(ValueError, match="GET"):
        FaultRule("throttle", method="HEAD", max_in_flight=1)
    with pytest.raises(ValueError, match="GET"):
        FaultRule("throttle", byte_range=(0, 10), max_in_flight=1)


def test_throttle_spends_times_only_on_refusals() -> None:
    plan = FaultPlan()
    rule_id = plan.add(FaultRule("throttle", bucket="b", key="k*", times=2, max_in_flight=2))
    counted: list[tuple[str, str]] = []

    def in_flight(count: int) -> Callable[[str, str], int]:
        """A fake of the server's count of GETs in flight on a rule's globs."""

        def count_gets(bucket_glob: str, key_glob: str) -> int:
            counted.append((bucket_glob, key_glob))
            return count

        return count_gets

    assert plan.fire("GET", "b", "k1") == []  # never fired with the other rules
    assert plan.throttle("b", "k1", in_flight(1)) is None  # below the limit: admitted
    assert plan.throttle("b", "other", in_flight(9)) is None  # key outside the glob
    assert plan.throttle("b", "k1", in_flight(2)) == (rule_id, plan.rules()[rule_id])
    assert plan.throttle("b", "k2", in_flight(5)) is not None
    assert plan.rules() == {}  # times=2: two refusals spent it
    assert counted == [("b", "k*")] * 3


def test_throttle_in_process_mode(tmp_path: Path) -> None:
    with OSSServer(mode="process", root=tmp_path) as server:
        server.create_bucket("proc")
        server.put_object("proc", "slow", DATA[: 2 * PART])
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        bucket = oss2.Bucket(auth, server.endpoint, "proc")
        server.add_fault(FaultRule("bandwidth", key="slow", bytes_per_second=RATE, times=None))
        rule_id = server.throttle_beyond(1, delay=0.2, key="slow")
        rule = server.active_faults()[rule_id]  # came back through to_dict / from_dict
        assert (rule.kind, rule.max_in_flight, rule.seconds, rule.times) == (
            FaultKind.THROTTLE,
            1,
            0.2,
            None,
        )
        stream = _open_or_refusal(bucket, "slow", 0)
        assert not isinstance(stream, int)
        assert _open_or_refusal(_own(bucket), "slow", 1) == 200
        during = server.stats()
        assert stream.read() == DATA[:PART]
        assert (during.gets_in_flight, during.max_concurrent_gets, during.throttled) == (1, 1, 1)
        _wait_until_idle(server)
        server.clear_faults()
        assert _own(bucket).get_object("slow", byte_range=_part(1)).read() == DATA[PART : 2 * PART]
        assert server.stats().throttled == 1
