"""What every chaos case must end in, asserted in one place.

Either a byte-identical file at the destination (and none of our files left
beside it), or a typed :class:`OSSResumableError` with nothing at the
destination and the progress kept: the journal and the partial file are
there, and every part the journal records holds the object's own bytes. An
``ObjectChangedError`` or ``IntegrityError`` instead discards both.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from oss_resumable_fs import ResumableOSSFileSystem, TransferConfig
from oss_resumable_fs.config import KiB
from oss_resumable_fs.engine.journal import JournalCorrupt, read_journal
from oss_resumable_fs.engine.plan import plan_parts
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.engine.sink import partial_path_for
from oss_resumable_fs.errors import IntegrityError, ObjectChangedError, OSSResumableError
from oss_resumable_fs.testing import OSSServer

from .report import CaseRecord, Collector

#: Errors after which nothing of the download is kept.
DISCARDING = (ObjectChangedError, IntegrityError)
#: Generous: only there so a broken child fails the case instead of hanging it.
WAIT_LIMIT = 120.0

#: Small parts and short waits: many parts, retries and resumes, quickly.
CONFIG = TransferConfig(
    part_size=256 * KiB,
    concurrency=4,
    single_request_threshold=512 * KiB,
    read_timeout=2.0,
    connect_timeout=2.0,
    backoff_base=0.01,
    backoff_max=0.1,
)


def make_data(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def make_fs(server: OSSServer, config: TransferConfig = CONFIG, **options: Any) -> Any:
    kwargs: dict[str, Any] = {
        "endpoint": server.endpoint,
        "key": server.access_key_id,
        "secret": server.access_key_secret,
    }
    kwargs.update(options)
    return ResumableOSSFileSystem(transfer_config=config, skip_instance_cache=True, **kwargs)


def recorded_parts(journal: str | os.PathLike[str]) -> dict[int, int]:
    try:
        return read_journal(str(journal)).parts
    except (FileNotFoundError, JournalCorrupt):
        return {}


def check_progress(
    dest: str | os.PathLike[str], data: bytes, *, required: bool, corrupted: bool = False
) -> int:
    """The journal beside ``dest`` (if ``required``, it must be there) records only true parts.

    ``corrupted``: the case flipped bytes on the wire. A part is journalled with the
    CRC of the bytes it received, and only the whole object's CRC-64 can tell them
    wrong: a download that failed before that check may record such a part (the
    next run's check catches and repairs it; the matrix's last run proves that).
    Returns the bytes it records.
    """
    journal = journal_path_for(str(dest), TransferConfig())
    partial = partial_path_for(str(dest))
    if not os.path.exists(journal):
        assert not required, f"progress lost: no journal {journal}"
        return 0
    state = read_journal(journal)
    assert os.path.exists(partial), f"journal {journal} kept but its partial file is gone"
    on_disk = Path(partial).read_bytes()
    recorded = 0
    for part in plan_parts(len(data), state.header.part_size):
        if part.index in state.parts:
            # A part recorded but not holding the object's bytes is acceptable only
            # if a resume would notice it; here the engine itself wrote it, so no.
            if on_disk[part.start : part.end] != data[part.start : part.end]:
                assert corrupted, part
                continue
            recorded += part.end - part.start
    return recorded


def engine_files(directory: str | os.PathLike[str]) -> list[str]:
    found = []
    for root, _dirs, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if ".ossr-" in f]
    return sorted(found)


def settle(
    call: Callable[[], Any],
    dests: Mapping[str, bytes | Callable[[], bytes]],
    *,
    progress_required: bool = True,
    corrupted: bool = False,
) -> str:
    """Run ``call`` and check it ended as a chaos case must; return the outcome's kind.

    ``dests`` maps each destination path to the bytes it must hold (or a function
    giving them, called after ``call``: the object may have changed meanwhile).
    ``progress_required``: an error other than a discarding one must leave a
    journal for every destination that did not land (a multipart download
    that got past its start).
    """
    try:
        call()
    except OSSResumableError as error:
        dests = {d: _bytes(b) for d, b in dests.items()}
        assert type(error) is not OSSResumableError, "errors must be of a typed subclass"
        for dest, data in dests.items():
            if os.path.exists(dest):
                # In a get, files that landed before the error are complete ones.
                assert Path(dest).read_bytes() == data, f"{dest}: a wrong file landed"
                continue
            if isinstance(error, DISCARDING):
                assert not os.path.exists(journal_path_for(dest, TransferConfig()))
                assert not os.path.exists(partial_path_for(dest))
            else:
                check_progress(dest, data, required=progress_required, corrupted=corrupted)
        return type(error).__name__
    for dest, data in dests.items():
        assert Path(dest).read_bytes() == _bytes(data), f"{dest}: not byte-identical"
        assert not os.path.exists(partial_path_for(dest))
        assert not os.path.exists(journal_path_for(dest, TransferConfig()))
    return "file"


def _bytes(data: bytes | Callable[[], bytes]) -> bytes:
    return data if isinstance(data, bytes) else data()


def record(
    collector: Collector,
    case: str,
    kind: str,
    server: OSSServer,
    *,
    minimum: int,
    kills: int = 0,
    served: int | None = None,
    faults: dict[str, int] | None = None,
) -> None:
    stats = server.stats()
    collector.record(
        CaseRecord(
            case=case,
            kind=kind,
            faults=faults if faults is not None else stats.faults_by_kind(),
            kills=kills,
            served=stats.total_bytes_served if served is None else served,
            minimum=minimum,
        )
    )


# -- the CLI in a child process ----------------------------------------------------------


def cli(server: OSSServer, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "oss_resumable_fs.cli", *args],
        env=env or server.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen, timeout: float = WAIT_LIMIT) -> tuple[int, str, str]:
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        raise AssertionError(f"the CLI did not end in {timeout} s: {err}") from None
    return child.returncode, out, err


def wait_for(
    child: subprocess.Popen, ready: Callable[[], bool], what: str, limit: float = WAIT_LIMIT
) -> None:
    deadline = time.monotonic() + limit
    while not ready():
        if child.poll() is not None:
            _, _out, err = finish(child)
            raise AssertionError(f"the CLI ended (exit {child.returncode}) before {what}: {err}")
        if time.monotonic() > deadline:
            child.kill()
            finish(child)
            raise AssertionError(f"no {what} in {limit} s")
        time.sleep(0.005)


def wait_idle(server: OSSServer) -> None:
    """Wait until the server sends nothing more to a killed child."""
    deadline = time.monotonic() + WAIT_LIMIT
    last = -1
    while True:
        stats = server.stats()
        if stats.gets_in_flight == 0 and stats.total_bytes_served == last:
            return
        last = stats.total_bytes_served
        assert time.monotonic() < deadline, "the server kept serving the killed child"
        time.sleep(0.05)


def signal_and_wait(child: subprocess.Popen, signum: int) -> tuple[int, str, str, float]:
    started = time.monotonic()
    child.send_signal(signum)
    code, out, err = finish(child)
    return code, out, err, time.monotonic() - started


def get_args(bucket: str, key: str, dest: Path, extra: Sequence[str] = ()) -> list[str]:
    return ["get", f"oss://{bucket}/{key}", str(dest), *extra]


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
