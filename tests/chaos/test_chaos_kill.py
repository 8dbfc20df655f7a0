"""Cases 1 and 2: the CLI killed (SIGKILL) at seeded points, and interrupted (SIGINT / SIGTERM).

Each time the same command runs again and resumes; in the end the file is
byte-identical, and the server sent at most one part per connection more
than the bytes each run was missing.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from oss_resumable_fs.config import MiB, TransferConfig
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.engine.sink import partial_path_for
from oss_resumable_fs.testing import FaultRule, OSSServer

from .outcomes import (
    check_progress,
    cli,
    finish,
    get_args,
    make_data,
    record,
    recorded_parts,
    settle,
    signal_and_wait,
    wait_for,
    wait_idle,
)
from .report import Collector

PART = 1 * MiB
CONCURRENCY = 4
#: Per connection: four connections move 8 MiB/s, so runs last long enough to be killed.
RATE = 2 * MiB
FIXED = ["--part-size", "1MiB", "--concurrency", str(CONCURRENCY), "--quiet"]


def _secrets(server: OSSServer) -> list[str]:
    return [server.access_key_secret, server.sts_token, server.sts_secret]  # type: ignore[attr-defined]


def test_kill_loop(
    chaos_server: OSSServer,
    bucket: str,
    tmp_path: Path,
    collector: Collector,
    chaos_long: bool,
    seed: int,
) -> None:
    kills = 20 if chaos_long else 6
    size = (kills * 2 + 8) * MiB + 12345  # an uneven last part
    parts = -(-size // PART)
    data = make_data(size, seed)
    chaos_server.put_object(bucket, "big.bin", data)
    chaos_server.add_fault(FaultRule("bandwidth", key="big.bin", times=None, bytes_per_second=RATE))
    dest = tmp_path / "big.bin"
    journal = journal_path_for(str(dest), TransferConfig())
    rng = random.Random(seed)
    # Kill once the journal records this many parts; 0: as soon as the partial file exists.
    points = sorted(rng.sample(range(0, parts - 2), kills))
    served_before, recorded_before = 0, 0
    worst_waste, total_waste, outputs = 0, 0, []
    for point in points:
        child = cli(chaos_server, *get_args(bucket, "big.bin", dest, FIXED))
        if point == 0:
            wait_for(child, lambda: os.path.exists(partial_path_for(str(dest))), "a partial file")
        else:
            wait_for(child, lambda p=point: len(recorded_parts(journal)) >= p, f"{point} parts")
        assert not dest.exists(), "the destination appeared before the download was complete"
        code, out, err, _ = signal_and_wait(child, signal.SIGKILL)
        outputs += [out, err]
        assert code == -signal.SIGKILL
        assert not dest.exists()
        wait_idle(chaos_server)
        recorded = check_progress(dest, data, required=False)
        served = chaos_server.stats().total_bytes_served - served_before
        served_before += served
        # What this run fetched and did not record: the parts in flight at the kill.
        waste = served - (recorded - recorded_before)
        assert waste <= CONCURRENCY * PART, (point, served, recorded, recorded_before)
        worst_waste, total_waste = max(worst_waste, waste), total_waste + max(waste, 0)
        recorded_before = recorded

    # The last run, unkilled, at DEBUG: it must finish, fetching only what is missing.
    final = cli(chaos_server, *get_args(bucket, "big.bin", dest, [*FIXED, "-vv"]))
    code, out, err = finish(final)
    outputs += [out, err]
    assert code == 0, err
    served = chaos_server.stats().total_bytes_served - served_before
    missing = size - recorded_before
    assert served <= missing + CONCURRENCY * PART, (served, missing)
    total_waste += served - missing
    assert settle(lambda: None, {str(dest): data}) == "file"
    assert os.listdir(tmp_path) == ["big.bin"]
    for text in outputs:
        for secret in _secrets(chaos_server):
            assert secret not in text
    # In all: the object once, plus at most one part per connection per kill.
    total = served_before + served
    assert total <= size + kills * CONCURRENCY * PART + CONCURRENCY * PART, (total, size)
    record(
        collector,
        f"kill-loop[seed{seed}]",
        "file",
        chaos_server,
        minimum=size,
        kills=kills,
        served=total,
    )


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_interrupted_cli_exits_quickly_and_resumes(
    chaos_server: OSSServer,
    bucket: str,
    tmp_path: Path,
    collector: Collector,
    signame: str,
) -> None:
    signum = getattr(signal, signame)
    size = 16 * MiB
    data = make_data(size, 5)
    chaos_server.put_object(bucket, "obj.bin", data)
    rule = chaos_server.add_fault(
        FaultRule("bandwidth", key="obj.bin", times=None, bytes_per_second=RATE // 2)
    )
    dest = tmp_path / "obj.bin"
    journal = journal_path_for(str(dest), TransferConfig())
    child = cli(chaos_server, *get_args(bucket, "obj.bin", dest, FIXED))
    wait_for(child, lambda: len(recorded_parts(journal)) >= 3, "3 parts")
    code, _out, err, elapsed = signal_and_wait(child, signum)
    assert code != 0
    assert code == (130 if signum == signal.SIGINT else -signal.SIGTERM), err
    assert elapsed < 10.0, f"{signame}: the CLI took {elapsed:.1f} s to stop"
    if signum == signal.SIGINT:
        assert "interrupted" in err and "Traceback" not in err
    assert not dest.exists()
    recorded = check_progress(dest, data, required=True)
    assert recorded >= 3 * PART

    chaos_server.remove_fault(rule)
    wait_idle(chaos_server)
    before = chaos_server.stats().total_bytes_served
    started = time.monotonic()
    code, _out, err = finish(cli(chaos_server, *get_args(bucket, "obj.bin", dest, FIXED)))
    assert code == 0, err
    served = chaos_server.stats().total_bytes_served - before
    assert served <= size - recorded + CONCURRENCY * PART
    assert settle(lambda: None, {str(dest): data}) == "file"
    assert time.monotonic() - started < 60
    record(
        collector,
        f"interrupt[{signame}]",
        "file",
        chaos_server,
        minimum=size,
        kills=1,
    )
