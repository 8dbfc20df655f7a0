"""Killing a download in a child process half way, and what the tests check after.

Shared by the kill-and-resume tests of every source (OSS, signed URLs, plain
HTTP, ``resumable::``): the child is SIGKILLed once its journal records enough
parts, and the server's statistics are reset only once the killed child's
GETs have wound down, so nothing of the old run leaks into the new counts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from oss_resumable_fs.engine.journal import JournalCorrupt, read_journal
from oss_resumable_fs.testing import OSSServer

#: Seconds a child may take to record its parts, and the server to wind down.
LIMIT = 60.0


def recorded_parts(journal: str | os.PathLike[str]) -> dict[int, int]:
    """The parts a journal records; none while it is not there or its header is written."""
    try:
        return read_journal(os.fspath(journal)).parts
    except (FileNotFoundError, JournalCorrupt):
        return {}


def kill_when_recorded(
    child: subprocess.Popen[str], journal: str | os.PathLike[str], parts: int
) -> tuple[str, str]:
    """SIGKILL ``child`` once its journal records ``parts`` parts; its (stdout, stderr)."""
    deadline = time.monotonic() + LIMIT
    try:
        while len(recorded_parts(journal)) < parts:
            if child.poll() is not None:
                pytest.fail(
                    f"the child ended (exit {child.returncode}) before it could be killed: "
                    f"{child.stderr.read() if child.stderr else ''}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{parts} parts were not recorded in {journal} in time")
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=LIMIT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    return out, err


def reset_stats_once_idle(server: OSSServer) -> None:
    """Zero the server's statistics once a killed child's GETs have wound down.

    A reset sets ``max_concurrent_gets`` to the GETs still in flight, so a
    snapshot right after a reset showing none in flight and no bytes sent means
    nothing of the old run can leak into the new counts.
    """
    deadline = time.monotonic() + LIMIT
    while True:
        server.reset_stats()
        time.sleep(0.05)
        stats = server.stats()
        if stats.max_concurrent_gets == 0 and stats.total_bytes_served == 0:
            return
        assert time.monotonic() < deadline, "the server kept serving the killed child"
