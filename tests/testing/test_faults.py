"""Every fault kind, observed from the client side (oss2 over real sockets)."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import oss2
import pytest
import requests

from oss_resumable_fs.testing import FaultKind, FaultRule, OSSServer
from oss_resumable_fs.testing.faults import FaultPlan

DATA = os.urandom(512 * 1024)
BROKEN = (requests.exceptions.RequestException, oss2.exceptions.RequestError)


@pytest.fixture
def obj(bucket: oss2.Bucket, oss_server: OSSServer) -> str:
    oss_server.put_object(bucket.bucket_name, "obj", DATA)
    return "obj"


def test_reset_after_bytes(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.add_fault(FaultRule(FaultKind.RESET, key=obj, after_bytes=100_000))
    with pytest.raises(BROKEN, match=r"reset|broken|aborted"):
        bucket.get_object(obj).read()
    assert bucket.get_object(obj).read() == DATA  # times=1: the next GET is clean


def test_short_body(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.add_fault(FaultRule("short_body", key=obj, after_bytes=1234))
    response = requests.get(bucket.sign_url("GET", obj, 60), stream=True, timeout=10)
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.raw.read(1234) == DATA[:1234]
    with pytest.raises(Exception, match="IncompleteRead"):
        response.raw.read(1)


def test_error_503_and_500(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.add_fault(FaultRule("error", key=obj, status=503, seconds=2.0))
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.get_object(obj)
    assert (err.value.status, err.value.code) == (503, "ServiceUnavailable")
    assert err.value.headers["x-oss-qos-delay-time"] == "2000"
    oss_server.add_fault(FaultRule("error", method="HEAD", key=obj, status=500))
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.head_object(obj)
    assert (err.value.status, err.value.code) == (500, "InternalError")
    assert bucket.head_object(obj).content_length == len(DATA)


def test_error_403_is_a_policy_denial(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.add_fault(FaultRule("error", method="GET", key="", status=403))  # ListObjects
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.list_objects()
    assert bucket.get_object(obj).read() == DATA  # objects themselves stay readable
    assert [o.key for o in bucket.list_objects().object_list] == [obj]


def test_stall_then_continue(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.add_fault(FaultRule("stall", key=obj, after_bytes=4096, seconds=0.3))
    started = time.monotonic()
    assert bucket.get_object(obj).read() == DATA
    assert time.monotonic() - started >= 0.3


def test_stall_makes_a_client_time_out(
    bucket: oss2.Bucket, oss_server: OSSServer, obj: str
) -> None:
    oss_server.add_fault(FaultRule("stall", key=obj, after_bytes=0, seconds=2.0))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(bucket.sign_url("GET", obj, 60), timeout=(5, 0.3))


def test_corrupt_one_byte(
    bucket: oss2.Bucket, oss_server: OSSServer, obj: str, tmp_path: Path
) -> None:
    oss_server.add_fault(FaultRule("corrupt", key=obj, after_bytes=70_000))
    got = requests.get(bucket.sign_url("GET", obj, 60), timeout=10).content
    assert len(got) == len(DATA)
    assert [i for i in range(len(DATA)) if got[i] != DATA[i]] == [70_000]
    # oss2 checks the whole-object CRC-64 against x-oss-hash-crc64ecma and notices.
    oss_server.add_fault(FaultRule("corrupt", key=obj, after_bytes=5))
    with pytest.raises(oss2.exceptions.InconsistentError):
        bucket.get_object_to_file(obj, str(tmp_path / "copy"))


def test_corrupt_offset_is_within_the_ranged_body(
    bucket: oss2.Bucket, oss_server: OSSServer, obj: str
) -> None:
    rule = FaultRule("corrupt", key=obj, byte_range=(200_000, 300_000), after_bytes=10)
    oss_server.add_fault(rule)
    assert bucket.get_object(obj, byte_range=(0, 99_999)).read() == DATA[:100_000]  # no overlap
    got = bucket.get_object(obj, byte_range=(250_000, 259_999)).read()
    assert got[10] == DATA[250_010] ^ 0xFF and got[:10] == DATA[250_000:250_010]


def test_wrong_range_moves_the_range_or_drops_it(
    bucket: oss2.Bucket, oss_server: OSSServer, obj: str
) -> None:
    url = bucket.sign_url("GET", obj, 60)
    oss_server.add_fault(FaultRule("wrong_range", key=obj, after_bytes=4096))
    moved = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert moved.status_code == 206
    assert moved.headers["Content-Range"] == f"bytes 5096-6095/{len(DATA)}"  # truthful
    assert moved.content == DATA[5096:6096]
    near_end = len(DATA) - 10
    oss_server.add_fault(FaultRule("wrong_range", key=obj, after_bytes=4096))
    clipped = requests.get(url, headers={"Range": f"bytes={near_end - 100}-{near_end}"}, timeout=10)
    assert clipped.headers["Content-Range"] == f"bytes {len(DATA) - 1}-{len(DATA) - 1}/{len(DATA)}"
    oss_server.add_fault(FaultRule("wrong_range", key=obj, after_bytes=0))
    whole = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert whole.status_code == 200 and whole.content == DATA
    exact = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)  # times=1
    assert exact.headers["Content-Range"].startswith("bytes 1000-1999/")


def test_replace_changes_identity(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    before = bucket.head_object(obj)
    oss_server.add_fault(FaultRule("replace", method="HEAD", key=obj))
    after = bucket.head_object(obj)  # replaced before this request was answered
    assert after.etag != before.etag
    assert after.server_crc != before.server_crc
    assert after.last_modified > before.last_modified
    assert after.content_length == before.content_length
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object(obj, headers={"If-Match": f'"{before.etag}"'})
    content = bucket.get_object(obj).read()
    assert hashlib.md5(content).hexdigest().upper() == after.etag and content != DATA


def test_bandwidth_cap(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.add_fault(FaultRule("bandwidth", key=obj, bytes_per_second=1024 * 1024, times=None))
    started = time.monotonic()
    assert bucket.get_object(obj).read() == DATA
    assert time.monotonic() - started >= 0.45  # 512 KiB at 1 MiB/s


def test_latency_and_wan_preset(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.add_fault(FaultRule("latency", method=None, key=obj, seconds=0.25))
    started = time.monotonic()
    bucket.head_object(obj)
    assert time.monotonic() - started >= 0.25
    ids = oss_server.simulate_wan(bytes_per_second=2 * 1024 * 1024, latency=0.05)
    assert len(ids) == 2
    started = time.monotonic()
    for _ in range(2):
        assert bucket.get_object(obj).read() == DATA
    assert time.monotonic() - started >= 2 * (0.05 + 0.24)
    assert {r.kind for r in oss_server.active_faults().values()} == {
        FaultKind.BANDWIDTH,
        FaultKind.LATENCY,
    }
    oss_server.clear_faults()
    assert oss_server.active_faults() == {}


def test_times_and_globs(bucket: oss2.Bucket, oss_server: OSSServer, obj: str) -> None:
    oss_server.put_object(bucket.bucket_name, "other", b"x")
    oss_server.add_fault(FaultRule("error", method="*", key="o?j", times=2, status=500))
    for _ in range(2):
        with pytest.raises(oss2.exceptions.ServerError):
            bucket.head_object(obj)
    bucket.head_object(obj)
    bucket.head_object("other")
    fired = oss_server.stats().faults_fired
    assert [(f.kind, f.key) for f in fired] == [(FaultKind.ERROR, obj)] * 2


def test_probability_is_deterministic_under_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan(seed)
        plan.add(FaultRule("error", times=None, probability=0.5, status=500))
        return [bool(plan.fire("GET", "b", "k")) for _ in range(64)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 10 < sum(pattern(7)) < 54


def test_rule_validation_and_round_trip() -> None:
    rule = FaultRule("corrupt", bucket="b*", byte_range=(1, 5), after_bytes=3, times=None)
    assert FaultRule.from_dict(rule.to_dict()) == rule
    with pytest.raises(ValueError):
        FaultRule("error", status=404)
    with pytest.raises(ValueError):
        FaultRule("bandwidth")
    with pytest.raises(ValueError):
        FaultRule.from_dict({"kind": "reset", "colour": "red"})


@pytest.mark.parametrize("after", [0, 1000, 300_000])
def test_reset_delivers_exactly_the_promised_bytes(
    bucket: oss2.Bucket, oss_server: OSSServer, obj: str, after: int
) -> None:
    """At the socket level: exactly ``after`` body bytes, then ECONNRESET."""
    oss_server.add_fault(FaultRule("reset", key=obj, after_bytes=after))
    host, port = oss_server.endpoint.removeprefix("http://").rsplit(":", 1)
    path = bucket.sign_url("GET", obj, 60).split(port, 1)[1]
    received = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    body = received.partition(b"\r\n\r\n")[2]
    assert body == DATA[:after]
