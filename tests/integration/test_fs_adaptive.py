"""One budget of connections per call, tuned from the link, with the real client and server."""

from __future__ import annotations

from pathlib import Path

from oss_resumable_fs import ResumableOSSFileSystem, TransferConfig
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.testing import OSSServer

from .conftest import make_data, make_fs


def test_a_get_keeps_every_file_within_one_connection_budget(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    # Six small files (one GET each) beside two large ones (in parts), slowed so
    # that they overlap: all of them together never exceed `concurrency` GETs.
    files = {f"mix/small{i}.bin": make_data(300 * KiB + i, seed=i) for i in range(6)}
    files |= {f"mix/large{i}.bin": make_data(3 * MiB + i, seed=10 + i) for i in range(2)}
    for key, payload in files.items():
        oss_server.put_object(oss_bucket, key, payload)
    oss_server.simulate_wan(bytes_per_second=2 * MiB, latency=0.01, bucket=oss_bucket)
    config = TransferConfig(
        part_size=256 * KiB, concurrency=3, single_request_threshold=512 * KiB, read_timeout=10
    )
    fs = make_fs(oss_server, config)
    oss_server.reset_stats()
    result = fs.get(f"{oss_bucket}/mix/", str(tmp_path / "mix"), recursive=True)
    for key, payload in files.items():
        assert (tmp_path / key).read_bytes() == payload
    assert sum(outcome.status == "downloaded" for outcome in result.files) == len(files)
    # Before, each large file had its own 3 beside 8 small files at once.
    assert oss_server.stats().max_concurrent_gets <= 3


def test_a_throttling_service_makes_the_tuner_settle_below_its_limit(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(48 * MiB, seed=3)
    oss_server.put_object(oss_bucket, "throttled.bin", data)
    # A long round trip makes the tuner start high (16 x 60/20 = 48 connections);
    # the service refuses any GET beyond 10 in flight, suggesting a 50 ms pause.
    oss_server.simulate_wan(bytes_per_second=2 * MiB, latency=0.06, bucket=oss_bucket)
    oss_server.throttle_beyond(10, delay=0.05, bucket=oss_bucket)
    fs = ResumableOSSFileSystem(
        endpoint=oss_server.endpoint,
        key=oss_server.access_key_id,
        secret=oss_server.access_key_secret,
        backoff_base=0.01,
        max_attempts=20,
        skip_instance_cache=True,
    )
    result = fs.get_file(f"{oss_bucket}/throttled.bin", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == data
    stats = oss_server.stats()
    assert stats.throttled >= 1  # the limit was hit, and no download failed for it
    steps = [step for step in result.tuning if "throttled" in step.reason]
    assert steps, result.tuning
    after = result.tuning[result.tuning.index(steps[-1]) :]
    assert all(step.connections <= 10 for step in after), result.tuning
    assert result.retries >= 1
