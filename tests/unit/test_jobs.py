"""The job manifest of a ``get``: what it records, what a re-run trusts, what it ignores.

Real files in a temporary directory; the downloads are played by writing the
local file and handing the job the outcome ``get_pairs`` would.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from oss_resumable_fs.engine.job_manifest import MANIFEST_NAME, manifest_path, read_manifest
from oss_resumable_fs.engine.result import DownloadResult
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.engine.status import UnfinishedDownload, find_jobs
from oss_resumable_fs.jobs import Job, SkippedByJob, get_job
from oss_resumable_fs.results import FileOutcome
from oss_resumable_fs.sources.redact import redact

SECRET_TOKEN = "STS-TOKEN-must-never-be-written"
NAMES = ("a.bin", "b.bin", "sub/c.bin")


class Progress:
    """A child callback that keeps what it was told."""

    def __init__(self) -> None:
        self.size: int | None = None
        self.reused = 0

    def set_size(self, size: int) -> None:
        self.size = size

    def reuse(self, count: int) -> None:
        self.reused += count


def etag(name: str, version: int = 0) -> str:
    return f'"{name.upper().replace("/", "").replace(".", "")}{version}"'


def setup(root: Path, version: int = 0) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    pairs = [(f"bkt/p/{name}", str(root / name)) for name in NAMES]
    infos = {
        remote: {"type": "file", "size": 10 + i, "ETag": etag(remote, version)}
        for i, (remote, _) in enumerate(pairs)
    }
    return pairs, infos


def land(job: Job | None, remote: str, local: str, infos: dict[str, Any]) -> None:
    """What get_pairs does once get_file has landed ``local``."""
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    Path(local).write_bytes(b"x" * infos[remote]["size"])
    identity = ObjectIdentity(infos[remote]["size"], infos[remote]["ETag"], crc64=7)
    result = DownloadResult(local, identity, infos[remote]["size"], 0, 1, 1, 0, 0.1)
    assert job is not None
    job.record(FileOutcome(remote, local, result.status, result))


def fail(job: Job | None, remote: str, local: str, error: str) -> None:
    assert job is not None
    job.record(FileOutcome(remote, local, "failed", error=error))


def test_a_rerun_skips_what_landed_and_unchanged_only(tmp_path: Path) -> None:
    pairs, infos = setup(tmp_path)
    with (
        pytest.raises(KeyboardInterrupt),
        get_job("oss://bkt/p/", str(tmp_path), pairs, infos) as job,
    ):
        land(job, *pairs[0], infos)
        land(job, *pairs[1], infos)
        raise KeyboardInterrupt  # killed before sub/c.bin
    header, records = read_manifest(str(tmp_path / MANIFEST_NAME))
    assert (header.source, header.destination) == ("oss://bkt/p/", str(tmp_path))
    assert (header.files, header.total_bytes) == (3, 10 + 11 + 12)
    assert [r.status for r in records.values()] == ["done", "done"]
    first = records["bkt/p/a.bin", str(tmp_path / "a.bin")]
    assert (first.size, first.etag, first.crc64, first.local_size) == (10, "BKTPABIN0", 7, 10)

    # b.bin changed on the remote side, a.bin did not: only a.bin is skipped.
    infos[pairs[1][0]]["ETag"] = etag(pairs[1][0], 1)
    with get_job("oss://bkt/p/", str(tmp_path), pairs, infos) as job:
        assert job is not None
        progress = Progress()
        skipped = job.skip(*pairs[0], progress)
        assert isinstance(skipped, SkippedByJob) and skipped.status == "skipped"
        assert skipped.identity == ObjectIdentity(10, etag(pairs[0][0]), crc64=7)
        assert (progress.size, progress.reused) == (10, 10)
        assert "earlier run" in skipped.summary()
        assert job.skip(*pairs[1], Progress()) is None
        assert job.skip(*pairs[2], Progress()) is None
        land(job, *pairs[1], infos)
        land(job, *pairs[2], infos)
    # Every file done: the manifest is gone.
    assert not (tmp_path / MANIFEST_NAME).exists()


@pytest.mark.parametrize("change", ["size", "mtime", "replaced", "removed"])
def test_a_local_file_touched_since_it_landed_is_fetched_again(tmp_path: Path, change: str) -> None:
    pairs, infos = setup(tmp_path)
    with pytest.raises(KeyboardInterrupt), get_job("b", str(tmp_path), pairs, infos) as job:
        land(job, *pairs[0], infos)
        raise KeyboardInterrupt
    local = Path(pairs[0][1])
    if change == "size":
        local.write_bytes(b"y" * 11)
    elif change == "mtime":
        os.utime(local, ns=(1, 1))
    elif change == "replaced":  # same size and mtime, another inode (an editor's save)
        before = local.stat()
        copy = local.with_name("copy")
        copy.write_bytes(b"z" * 10)
        os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
        copy.replace(local)
    else:
        local.unlink()
    with get_job("b", str(tmp_path), pairs, infos) as job:
        assert job is not None and job.skip(*pairs[0], Progress()) is None
        for pair in pairs:
            land(job, *pair, infos)


def test_failures_keep_the_manifest_and_only_they_are_retried(tmp_path: Path) -> None:
    pairs, infos = setup(tmp_path)
    with get_job("b", str(tmp_path), pairs, infos, redact=redact) as job:
        land(job, *pairs[0], infos)
        fail(job, *pairs[1], f"403 refused; x-oss-security-token: {SECRET_TOKEN}")
        land(job, *pairs[2], infos)
    text = (tmp_path / MANIFEST_NAME).read_text()
    assert SECRET_TOKEN not in text and "<redacted>" in text
    _, records = read_manifest(str(tmp_path / MANIFEST_NAME))
    assert [r.status for r in records.values()] == ["done", "failed", "done"]

    with get_job("b", str(tmp_path), pairs, infos) as job:
        assert job is not None
        assert [job.skip(*pair, Progress()) is not None for pair in pairs] == [True, False, True]
        land(job, *pairs[1], infos)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_a_get_that_lands_nothing_leaves_nothing(tmp_path: Path) -> None:
    pairs, infos = setup(tmp_path)
    with get_job("b", str(tmp_path), pairs, infos) as job:
        for pair in pairs:
            fail(job, *pair, "no")
    assert os.listdir(tmp_path) == []
    with get_job("b", str(tmp_path), pairs[:1], infos) as job:
        assert job is None  # one file: its journal is enough


def test_the_manifest_is_private_and_holds_no_credentials(tmp_path: Path) -> None:
    pairs, infos = setup(tmp_path)
    old_umask = os.umask(0o002)  # group-writable by default: the file must still be 0600
    try:
        with (
            pytest.raises(KeyboardInterrupt),
            get_job("oss://bkt/p/", str(tmp_path), pairs, infos) as job,
        ):
            land(job, *pairs[0], infos)
            raise KeyboardInterrupt
    finally:
        os.umask(old_umask)
    path = tmp_path / MANIFEST_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert set(lines[0]) == {
        *("format", "version", "source", "destination", "files", "total_bytes", "started")
    }
    assert set(lines[1]) == {
        *("remote", "local", "size", "etag", "crc64", "status", "error"),
        *("local_size", "mtime_ns", "ino"),
    }
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage\n",
        b'{"format": "ossr-job", "version": 2, "source": "s", "destination": "d", "files": 3, '
        b'"total_bytes": 1, "started": 1}\n',
        b'{"format": "ossr-job", "version": 1, "source": "s", "destination": "d", "fil',
        b'{"format": "ossr-job", "version": 1, "source": "s", "destination": "d", "files": "3", '
        b'"total_bytes": 1, "started": 1}\n',
    ],
    ids=["empty", "garbage", "other-version", "torn-header", "wrong-type"],
)
def test_a_damaged_manifest_is_never_trusted(tmp_path: Path, content: bytes) -> None:
    pairs, infos = setup(tmp_path)
    for remote, local in pairs:  # even with every file in place
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        Path(local).write_bytes(b"x" * infos[remote]["size"])
    (tmp_path / MANIFEST_NAME).write_bytes(content)
    with pytest.raises(KeyboardInterrupt), get_job("b", str(tmp_path), pairs, infos) as job:
        assert job is not None
        assert all(job.skip(*pair, Progress()) is None for pair in pairs)
        land(job, *pairs[0], infos)
        raise KeyboardInterrupt
    header, records = read_manifest(str(tmp_path / MANIFEST_NAME))  # replaced by a good one
    assert header.files == 3 and len(records) == 1


def test_a_torn_last_line_costs_that_file_only(tmp_path: Path) -> None:
    pairs, infos = setup(tmp_path)
    with pytest.raises(KeyboardInterrupt), get_job("b", str(tmp_path), pairs, infos) as job:
        land(job, *pairs[0], infos)
        land(job, *pairs[1], infos)
        raise KeyboardInterrupt
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(path.read_bytes()[:-20])
    with get_job("b", str(tmp_path), pairs, infos) as job:
        assert job is not None
        assert [job.skip(*pair, Progress()) is not None for pair in pairs] == [True, False, False]


def test_a_second_get_into_the_same_root_runs_without_a_job(tmp_path: Path) -> None:
    pairs, infos = setup(tmp_path)
    with get_job("b", str(tmp_path), pairs, infos) as first:
        land(first, *pairs[0], infos)
        outcome: list[Job | None] = []

        def second() -> None:  # another thread: another open file description
            with get_job("b", str(tmp_path), pairs, infos) as job:
                outcome.append(job)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
        assert outcome == [None]
        land(first, *pairs[1], infos)
        land(first, *pairs[2], infos)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_with_a_checkpoint_dir_the_manifest_is_there_named_by_a_hash(tmp_path: Path) -> None:
    root, checkpoints = tmp_path / "out", tmp_path / "cp"
    pairs, infos = setup(root)
    rpaths, lpaths = [r for r, _ in pairs], [lp for _, lp in pairs]
    with (
        pytest.raises(KeyboardInterrupt),
        get_job(rpaths, lpaths, pairs, infos, str(checkpoints)) as job,
    ):
        land(job, *pairs[0], infos)
        raise KeyboardInterrupt
    (manifest,) = checkpoints.iterdir()
    assert str(manifest) == manifest_path(str(root), str(checkpoints))
    assert manifest.name.endswith(MANIFEST_NAME) and len(manifest.name) == 32 + len(MANIFEST_NAME)
    assert not (root / MANIFEST_NAME).exists()
    # A list of keys: its source is their common prefix; the root, the lowest common folder.
    header, _ = read_manifest(str(manifest))
    assert (header.source, header.destination) == ("oss://bkt/p/", str(root))


def test_status_counts_a_job_and_claims_its_journals(tmp_path: Path) -> None:
    pairs, infos = setup(tmp_path)
    with get_job("oss://bkt/p/", str(tmp_path), pairs, infos) as job:
        land(job, *pairs[0], infos)
        fail(job, *pairs[1], "AccessDenied")
    partial = UnfinishedDownload(
        journal_path=pairs[2][1] + ".ossr-journal", source="oss://bkt/p/sub/c.bin",
        destination=pairs[2][1], size=12, bytes_done=5, parts_done=1, parts_total=3,
        started=0.0, age=1.0,
    )  # fmt: skip
    elsewhere = UnfinishedDownload(
        journal_path="/elsewhere/x.ossr-journal", source="oss://bkt/x", destination="/elsewhere/x",
        size=1, bytes_done=0, parts_done=0, parts_total=1, started=0.0, age=1.0,
    )  # fmt: skip
    (found,) = find_jobs([tmp_path], (), [partial, elsewhere])
    assert found.partial == (partial,)
    assert found.describe() == (
        f"get oss://bkt/p/ -> {tmp_path}: 1/3 files done, 1 partial, 1 failed, 15 B of 33 B"
    )
    assert found.details() == [
        f"partial: {partial.describe()}",
        f"failed: bkt/p/b.bin -> {pairs[1][1]}: AccessDenied",
    ]
    assert find_jobs([tmp_path / "sub"]) == []  # the root lies above: not "below sub"
