"""A ``get`` resumes as a job: a re-run skips what landed (no request), resumes what is
partial, retries what failed; ``status`` shows the job as one line.

Real components over real sockets: the local OSS server, oss2 over loopback,
the engine, the CLI as a child process killed with SIGKILL. "No request" is
proved by the server: every key a re-run must skip answers 403 to any request,
and the server's statistics show no byte of it served.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from oss_resumable_fs import DownloadCancelledError, ResumableOSSFileSystem
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.engine.job_manifest import (
    MANIFEST_NAME,
    FileRecord,
    ManifestCorrupt,
    read_manifest,
)
from oss_resumable_fs.engine.journal import JournalCorrupt, read_journal
from oss_resumable_fs.testing import FaultRule, OSSServer, StatsSnapshot

from .conftest import RecordingCallback, engine_files, make_data
from .test_cli import SCRIPT, cli_env, run_cli

#: A job's line in ``status`` (the bytes part is checked separately).
JOB_LINE = re.compile(
    r"get (?P<source>\S+) -> (?P<root>\S+): (?P<done>\d+)/(?P<files>\d+) files done, "
    r"(?P<partial>\d+) partial, (?P<failed>\d+) failed, (?P<bytes>.+? of .+?)"
    r"(?:, (?P<leftovers>\d+) to start over \(no journal\))?"
)
LIMIT = 120.0


def put_tree(oss_server: OSSServer, bucket: str, prefix: str, sizes: list[int]) -> dict[str, bytes]:
    objects = {f"{prefix}f{i:03d}.bin": make_data(size, seed=i) for i, size in enumerate(sizes)}
    for key, data in objects.items():
        oss_server.put_object(bucket, key, data)
    return objects


def landed_records(root: Path) -> dict[str, FileRecord]:
    """The manifest's landed files, by local path."""
    _, records = read_manifest(str(root / MANIFEST_NAME))
    return {r.local: r for r in records.values() if r.landed}


def refuse_every_request_for(oss_server: OSSServer, bucket: str, keys: list[str]) -> None:
    for key in keys:
        oss_server.add_fault(
            FaultRule("error", method="*", bucket=bucket, key=key, status=403, times=None)
        )


def parts_recorded(root: Path) -> int:
    """Parts recorded in the journals below ``root``."""
    count = 0
    for journal in root.rglob("*.ossr-journal"):
        with contextlib.suppress(FileNotFoundError, JournalCorrupt):
            count += len(read_journal(str(journal)).parts)
    return count


def set_when(event: threading.Event, condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + LIMIT
    while not event.is_set() and time.monotonic() < deadline:
        if condition():
            event.set()
        time.sleep(0.005)


def assert_tree(root: Path, objects: dict[str, bytes], prefix: str) -> None:
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert files == {key[len(prefix) :]: data for key, data in objects.items()}


def test_an_interrupted_get_rerun_skips_what_landed_without_a_request(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    # 24 small files, and two of 2 MiB (journaled: above CONFIG's 512 KiB threshold),
    # throttled so that they are partial when the get is cancelled.
    sizes = [1 + i * 1499 % (40 * KiB) for i in range(26)]
    sizes[3] = sizes[9] = 2 * MiB + 5
    objects = put_tree(oss_server, oss_bucket, "job/", sizes)
    big = ["job/f003.bin", "job/f009.bin"]
    oss_server.add_fault(FaultRule("latency", key="job/*", times=None, seconds=0.05))
    for key in big:  # one connection each, a 256 KiB part a second: 8 s to land
        rule = FaultRule("bandwidth", key=key, times=None, bytes_per_second=256 * KiB)
        oss_server.add_fault(rule)
        oss_server.throttle_beyond(1, delay=0.2, key=key)  # (503s to the others: retried)
    root = out / "copy"
    callback = RecordingCallback()  # fsspec's way: one unit per file done
    cancel = threading.Event()
    # Cancel once 12 files landed and a large one has recorded a part.
    watcher = threading.Thread(
        target=set_when, args=(cancel, lambda: callback.total >= 12 and parts_recorded(root))
    )
    watcher.start()
    try:
        with pytest.raises(DownloadCancelledError):
            fs.get(
                f"{oss_bucket}/job/",
                str(root),
                recursive=True,
                callback=callback,
                cancel=cancel,
                max_attempts=100,
            )
    finally:
        cancel.set()
        watcher.join()

    landed = landed_records(root)
    assert len(landed) >= 11  # the twelve steps counted include the directory
    for local, record in landed.items():
        assert record.status == "done"
        assert Path(local).read_bytes() == objects[record.remote.split("/", 1)[1]]
    assert parts_recorded(root) >= 1, "no file was partial when the get was cancelled"
    assert not any((root / Path(key).name).exists() for key in big)

    oss_server.clear_faults()
    landed_keys = [record.remote.split("/", 1)[1] for record in landed.values()]
    refuse_every_request_for(oss_server, oss_bucket, landed_keys)
    oss_server.reset_stats()
    result = fs.get(f"{oss_bucket}/job/", str(root), recursive=True)

    stats = oss_server.stats()
    assert stats.faults_fired == ()  # no request at all for a file that landed
    assert not set(stats.bytes_served) & {f"{oss_bucket}/{key}" for key in landed_keys}
    by_local = {outcome.local: outcome for outcome in result.files}
    assert {local for local, o in by_local.items() if o.status == "skipped"} == set(landed)
    assert result.count("resumed") >= 1  # a partial one went on from its journal
    assert result.bytes_reused > 0
    assert result.bytes_skipped == sum(record.size for record in landed.values())
    assert_tree(root, objects, "job/")
    assert engine_files(root) == []  # every file done: the manifest is gone too


def test_a_rerun_retries_only_the_files_that_failed(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    objects = put_tree(oss_server, oss_bucket, "r/", [1000 + i for i in range(12)])
    failing = ["r/f002.bin", "r/f005.bin", "r/f011.bin"]
    refuse_every_request_for(oss_server, oss_bucket, failing)
    root = out / "r"

    first = fs.get(f"{oss_bucket}/r/", str(root), recursive=True, on_error="return")

    assert {Path(f.local).name for f in first.failed} == {Path(k).name for k in failing}
    assert (root / MANIFEST_NAME).exists()
    lines = run_cli(oss_server, "status", str(out)).stdout.splitlines()
    assert lines == [
        f"get oss://{oss_bucket}/r/ -> {root}: 9/12 files done, 0 partial, 3 failed, "
        f"8.8 KiB of 11.8 KiB"
    ]
    verbose = run_cli(oss_server, "status", "-v", str(out)).stdout.splitlines()
    assert verbose[0] == lines[0] and len(verbose) == 4
    assert all(line.startswith("  failed: ") and "access denied" in line for line in verbose[1:])

    oss_server.clear_faults()
    done = [key for key in objects if key not in failing]
    refuse_every_request_for(oss_server, oss_bucket, done)
    oss_server.reset_stats()
    second = fs.get(f"{oss_bucket}/r/", str(root), recursive=True, on_error="return")

    stats = oss_server.stats()
    assert stats.faults_fired == ()
    assert set(stats.bytes_served) == {f"{oss_bucket}/{key}" for key in failing}
    assert (second.count("skipped"), second.count("downloaded"), second.failed) == (9, 3, ())
    assert_tree(root, objects, "r/")
    assert not (root / MANIFEST_NAME).exists()
    assert run_cli(oss_server, "status", str(out)).stdout == "no unfinished downloads\n"


# -- the CLI killed at half way, status, and the re-run ------------------------------------

FILES = 200
LARGE = 9 * MiB  # above the 8 MiB single-request threshold: journaled, resumable
SMALL = 16 * KiB
PART = 1 * MiB
CONCURRENCY = 2
#: Files open at once: the filesystem's default of 8 small ones, and 2 large ones beside.
FILES_AT_ONCE = 8 + 2


def job_sizes() -> list[int]:
    """Ten large files among the small ones (one every twenty), so some are partial."""
    return [LARGE if i % 20 == 10 else SMALL for i in range(FILES)]


def settled_stats(oss_server: OSSServer) -> StatsSnapshot:
    """The statistics once the server has stopped sending to a killed child."""
    deadline, last = time.monotonic() + LIMIT, -1
    while True:
        time.sleep(0.3)
        stats = oss_server.stats()
        if stats.total_bytes_served == last:
            return stats
        last = stats.total_bytes_served
        assert time.monotonic() < deadline, "the server kept serving the killed child"


def kill_when_half_landed(oss_server: OSSServer, url: str, dest: Path, total: int) -> None:
    """``oss-resumable get -r URL DEST``, SIGKILLed once the manifest records half the bytes
    (large files take most of the connections' turns, so half the files come later)."""
    command = [SCRIPT, "get", "-r", url, str(dest), "--quiet"]
    command += ["--part-size", "1MiB", "--concurrency", str(CONCURRENCY)]
    child = subprocess.Popen(
        command, env=cli_env(oss_server), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + LIMIT
        while True:
            try:
                landed = landed_records(dest).values()
                if sum(record.size for record in landed) >= total // 2:
                    break
            except (FileNotFoundError, ManifestCorrupt):
                pass  # not written yet
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "half the files never landed"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.communicate()
    assert child.returncode == -signal.SIGKILL


def test_a_cli_get_killed_half_way_resumes_as_a_job(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    objects = put_tree(oss_server, oss_bucket, "big/", job_sizes())
    total = sum(len(data) for data in objects.values())
    # Slow enough to kill half way: every request waits, large files crawl.
    oss_server.add_fault(FaultRule("latency", key="big/*", times=None, seconds=0.02))
    oss_server.add_fault(FaultRule("bandwidth", key="big/*", times=None, bytes_per_second=4 * MiB))
    dest = tmp_path / "dest"
    url = f"oss://{oss_bucket}/big/"
    kill_when_half_landed(oss_server, url, dest, total)
    first = settled_stats(oss_server)

    # Status, against what is on disk.
    landed = landed_records(dest)
    on_disk = [p for p in dest.iterdir() if p.is_file() and ".ossr-" not in p.name]
    journals = [p for p in dest.iterdir() if p.name.endswith(".ossr-journal")]
    status = run_cli(oss_server, "status", str(dest))
    assert status.returncode == 0 and status.stderr == ""
    (line,) = status.stdout.splitlines()  # the job, and nothing else: one line
    match = JOB_LINE.fullmatch(line)
    assert match, line
    assert (match["source"], match["root"], int(match["files"])) == (url, str(dest), FILES)
    assert int(match["done"]) == len(landed) >= 1
    # A file lands, then its line is written: a kill in between leaves one more on disk.
    assert len(landed) <= len(on_disk) <= len(landed) + FILES_AT_ONCE
    assert int(match["partial"]) == len(journals) >= 1
    assert int(match["failed"]) == 0
    assert match["bytes"].endswith(f" of {total / MiB:.1f} MiB")
    verbose = run_cli(oss_server, "status", "-v", str(dest)).stdout.splitlines()
    assert verbose[0] == line
    assert sum(entry.startswith("  partial: ") for entry in verbose) == len(journals)

    # The re-run: nothing recorded as landed may even be asked for.
    oss_server.clear_faults()
    oss_server.reset_stats()
    landed_keys = [record.remote.split("/", 1)[1] for record in landed.values()]
    refuse_every_request_for(oss_server, oss_bucket, landed_keys)
    done = subprocess.run(
        [SCRIPT, "get", "-r", url, str(dest), "--part-size", "1MiB", "--concurrency", "2"],
        env=cli_env(oss_server),
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    assert done.returncode == 0, done.stderr
    second = oss_server.stats()
    assert second.faults_fired == ()
    skipped = re.search(r"(\d+) skipped", done.stdout)
    assert skipped and int(skipped[1]) >= len(landed), done.stdout
    assert_tree(dest, objects, "big/")
    assert run_cli(oss_server, "status", str(dest)).stdout == "no unfinished downloads\n"

    # No file fetched twice beyond one part per connection: a part in flight on
    # each of its connections at the kill, and in the re-run a part's tail that
    # the engine drops when another connection takes it over; a small file in
    # flight at the kill is one GET, fetched again whole.
    for key, data in objects.items():
        name = f"{oss_bucket}/{key}"
        served = (first.bytes_served.get(name, 0), second.bytes_served.get(name, 0))
        bound = 2 * CONCURRENCY * PART if len(data) >= LARGE else len(data)
        assert len(data) <= sum(served) <= len(data) + bound, (key, served)


# -- %oss_status ---------------------------------------------------------------------------


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A fresh IPython shell with the extension loaded, working in ``tmp_path/work``."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    try:
        shell = InteractiveShell.instance(config=config)
        shell.run_line_magic("load_ext", "oss_resumable_fs")
        yield shell
    finally:
        InteractiveShell.clear_instance()


def test_oss_status_shows_a_job_as_one_line(
    shell: InteractiveShell, fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    put_tree(oss_server, oss_bucket, "m/", [2048] * 5)
    refuse_every_request_for(oss_server, oss_bucket, ["m/f004.bin"])
    root = Path.cwd() / "m"
    fs.get(f"{oss_bucket}/m/", str(root), recursive=True, on_error="return")

    with capture_output() as io:
        assert shell.run_cell("%oss_status", store_history=False).success
    assert io.stdout.splitlines() == [
        f"1 unfinished get job(s) below {Path.cwd()}:",
        f"  get oss://{oss_bucket}/m/ -> {root}: 4/5 files done, 0 partial, 1 failed, "
        "8.0 KiB of 10.0 KiB",
        "Run the same %oss_get again to resume; %oss_clean --yes removes their files.",
    ]
    with capture_output() as io:
        assert shell.run_cell("%oss_status -v", store_history=False).success
    (failed,) = [line for line in io.stdout.splitlines() if line.startswith("    failed: ")]
    assert f"m/f004.bin -> {root / 'f004.bin'}: " in failed
