"""A download killed with SIGKILL resumes from its checkpoint, fetching only what is missing.

A child process (``python -m oss_resumable_fs.cli get``) downloads a throttled
object from the local OSS server over loopback; once its journal records a few
parts it is killed, ``oss-resumable status`` is asked about it, and the test
process resumes the download with ``ResumableOSSFileSystem.get_file``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oss_resumable_fs.config import MiB, TransferConfig
from oss_resumable_fs.engine.journal import read_journal
from oss_resumable_fs.engine.plan import bytes_in, plan_parts
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import FaultRule, OSSServer

from .killing import recorded_parts, reset_stats_once_idle

SIZE = 32 * MiB
PART = 1 * MiB
CONCURRENCY = 4
#: Per connection: four connections move 4 MiB/s, so the whole object would take ~8 s.
THROTTLE = 1 * MiB
#: Kill the child once its journal records this many parts.
KILL_AFTER_PARTS = 4
#: Generous: only there so a broken child fails the test instead of hanging it.
WAIT_LIMIT = 120.0


def _child_env(oss_server: OSSServer) -> dict[str, str]:
    return oss_server.environment()


def _status(oss_server: OSSServer, directory: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "oss_resumable_fs.cli", "status", str(directory)],
        env=_child_env(oss_server),
        capture_output=True,
        text=True,
        timeout=WAIT_LIMIT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def _ossr_files(*directories: Path) -> list[str]:
    return sorted(
        str(path)
        for directory in directories
        for path in directory.iterdir()
        if ".ossr-" in path.name
    )


@pytest.mark.parametrize("use_checkpoint_dir", [False, True], ids=["beside", "checkpoint-dir"])
def test_sigkill_then_resume_fetches_only_missing_parts(
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    tmp_path: Path,
    use_checkpoint_dir: bool,
) -> None:
    data = random.Random(7).randbytes(SIZE)
    oss_server.put_object(oss_bucket, "big.bin", data)
    oss_server.add_fault(
        FaultRule("bandwidth", key="big.bin", times=None, bytes_per_second=THROTTLE)
    )
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    dest = downloads / "big.bin"
    checkpoints = tmp_path / "checkpoints" if use_checkpoint_dir else downloads
    config = TransferConfig(checkpoint_dir=str(checkpoints) if use_checkpoint_dir else None)
    journal = journal_path_for(dest, config)
    assert os.path.dirname(journal) == str(checkpoints)

    command = [
        sys.executable, "-m", "oss_resumable_fs.cli", "get", f"oss://{oss_bucket}/big.bin",
        str(dest), "--part-size", "1MiB", "--concurrency", str(CONCURRENCY), "--quiet",
    ]  # fmt: skip
    if use_checkpoint_dir:
        command += ["--checkpoint-dir", str(checkpoints)]
    child = subprocess.Popen(
        command,
        env=_child_env(oss_server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        dest_appeared = False
        deadline = time.monotonic() + WAIT_LIMIT
        while len(recorded_parts(journal)) < KILL_AFTER_PARTS:
            dest_appeared = dest_appeared or dest.exists()
            if child.poll() is not None:
                pytest.fail(
                    f"the child ended (exit {child.returncode}) before it could be killed: "
                    f"{child.stderr.read() if child.stderr else ''}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {KILL_AFTER_PARTS} parts recorded in {journal} in time")
            time.sleep(0.01)
        dest_appeared = dest_appeared or dest.exists()
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL
    assert not dest_appeared, "the destination existed before the download was complete"
    assert not dest.exists()
    served_before_kill = oss_server.stats().bytes_served.get(f"{oss_bucket}/big.bin", 0)
    assert served_before_kill < SIZE, "the child fetched everything: nothing was left to resume"

    # What the checkpoint says survived the crash.
    state = read_journal(journal)
    parts = plan_parts(SIZE, PART)
    assert state.header.part_size == PART
    recorded = bytes_in(parts, state.parts)
    missing = SIZE - recorded
    assert KILL_AFTER_PARTS <= len(state.parts) < len(parts)

    # `status` lists the killed download (its journal), by source and destination.
    listing = _status(oss_server, checkpoints)
    assert f"oss://{oss_bucket}/big.bin -> {dest}" in listing
    assert f"{len(state.parts)}/{len(parts)} parts" in listing

    # Resume in this process, unthrottled, counting what the server sends.
    oss_server.clear_faults()
    reset_stats_once_idle(oss_server)
    fs = ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options)
    result = fs.get_file(
        f"{oss_bucket}/big.bin",
        str(dest),
        concurrency=CONCURRENCY,
        checkpoint_dir=str(checkpoints) if use_checkpoint_dir else None,
    )

    assert dest.read_bytes() == data
    assert result is not None
    assert result.path == str(dest)
    assert result.restarts == 0
    # Every recorded part was re-verified on disk and kept; only the rest was fetched.
    assert result.bytes_reused == recorded
    assert result.bytes_fetched == missing
    assert result.bytes_fetched <= SIZE - len(state.parts) * PART + CONCURRENCY * PART
    assert result.parts_fetched == len(parts) - len(state.parts)
    stats = oss_server.stats()
    # Bytes on their way to a connection whose last part another one took are
    # dropped: at most a part per connection.
    served = stats.bytes_served[f"{oss_bucket}/big.bin"]
    assert result.bytes_fetched <= served <= result.bytes_fetched + CONCURRENCY * PART
    # No ranged GET of the resumed run touched a part the journal had recorded.
    recorded_spans = [(p.start, p.end) for p in parts if p.index in state.parts]
    for get in stats.ranged_gets:
        assert get.status == 206 and get.start is not None and get.end is not None
        for start, end in recorded_spans:
            assert get.end <= start or end <= get.start, (get, (start, end))

    assert _ossr_files(downloads, checkpoints) == []
    assert "no unfinished downloads" in _status(oss_server, checkpoints)
