"""``resumable::`` over filesystems with no conditional read (local files, memory):
ranges read with ``cat_file``, the file's identity re-checked with ``info``."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from oss_resumable_fs.chained import ResumableFileSystem
from oss_resumable_fs.chained.sources import identity_from_info, is_pinned
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.errors import (
    DownloadCancelledError,
    InvalidArgumentError,
    ObjectChangedError,
)

from .conftest import RecordingCallback, engine_files, make_data

SIZE = 1 * MiB + 777
CONFIG = dict(
    part_size=128 * KiB,
    concurrency=2,
    single_request_threshold=256 * KiB,
    buffer_size=64 * KiB,
    backoff_base=0.01,
    backoff_max=0.05,
)


def local_fs(**options: Any) -> ResumableFileSystem:
    return fsspec.filesystem(
        "resumable", target_protocol="file", skip_instance_cache=True, **{**CONFIG, **options}
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "remote" / "data.bin"
    path.parent.mkdir()
    path.write_bytes(make_data(SIZE, seed=1))
    return path


def test_a_local_target_downloads_in_parts_checked_by_size_and_mtime(
    source: Path, tmp_path: Path
) -> None:
    result = local_fs().get_file(str(source), str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()
    assert result is not None and result.parts_total == 9
    assert result.identity.last_modified is not None and result.identity.crc64 is None
    assert result.verified is not None and result.verified.value == "size"
    assert engine_files(tmp_path) == []


def test_a_change_mid_download_starts_over_on_the_new_content(source: Path, tmp_path: Path) -> None:
    new = make_data(SIZE, seed=2)
    changed = threading.Event()

    def change(total: int) -> None:
        if total > SIZE // 3 and not changed.is_set():
            changed.set()
            source.write_bytes(new)
            os.utime(source, ns=(1, 1))  # another mtime, whatever the clock's resolution

    result = local_fs().get_file(
        str(source), str(tmp_path / "out.bin"), callback=RecordingCallback(on_update=change)
    )
    assert changed.is_set()
    assert (tmp_path / "out.bin").read_bytes() == new
    assert result is not None and result.restarts == 1


def test_a_change_with_no_restart_left_fails_and_leaves_nothing(
    source: Path, tmp_path: Path
) -> None:
    def change(total: int) -> None:
        if total > SIZE // 3:
            os.utime(source, ns=(2, 2))

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ObjectChangedError, match="changed"):
        local_fs(max_restarts_on_change=0).get_file(
            str(source), str(out / "x.bin"), callback=RecordingCallback(on_update=change)
        )
    assert os.listdir(out) == []


def test_a_change_between_runs_restarts_cleanly(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    cancel = threading.Event()

    def stop(total: int) -> None:
        if total > SIZE // 2:
            cancel.set()

    with pytest.raises(DownloadCancelledError):
        local_fs().get_file(
            str(source), str(out), callback=RecordingCallback(on_update=stop), cancel=cancel
        )
    assert os.path.exists(journal_path_for(out))
    new = make_data(SIZE, seed=3)
    source.write_bytes(new)
    os.utime(source, ns=(3, 3))
    result = local_fs().get_file(str(source), str(out))
    assert out.read_bytes() == new
    assert result is not None and result.bytes_reused == 0 and result.restarts == 1


def test_a_resume_keeps_the_parts_of_an_unchanged_file(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    cancel = threading.Event()
    with pytest.raises(DownloadCancelledError):
        local_fs().get_file(
            str(source),
            str(out),
            callback=RecordingCallback(on_update=lambda total: total > SIZE // 2 and cancel.set()),
            cancel=cancel,
        )
    result = local_fs().get_file(str(source), str(out))
    assert out.read_bytes() == source.read_bytes()
    assert result is not None and result.status == "resumed" and result.bytes_reused > 0
    assert result.bytes_reused + result.bytes_fetched == SIZE


class SizeOnlyFileSystem(MemoryFileSystem):
    """A memory filesystem whose ``info`` tells nothing but name, size and type."""

    protocol = "sizeonly"

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        info = super().info(path, **kwargs)
        return {k: info[k] for k in ("name", "size", "type")}


def test_a_file_with_no_identity_is_refused_unless_allowed(tmp_path: Path) -> None:
    target = SizeOnlyFileSystem(skip_instance_cache=True)
    target.pipe_file("/b/x.bin", b"x" * 1000)
    fs = fsspec.filesystem("resumable", fs=target, skip_instance_cache=True)
    with pytest.raises(InvalidArgumentError, match="allow_unpinned=True"):
        fs.get_file("/b/x.bin", str(tmp_path / "x.bin"))
    assert os.listdir(tmp_path) == []
    allowed = fsspec.filesystem("resumable", fs=target, allow_unpinned=True)
    result = allowed.get_file("/b/x.bin", str(tmp_path / "x.bin"))
    assert (tmp_path / "x.bin").read_bytes() == b"x" * 1000
    assert result is not None and result.verified is not None
    assert result.verified.value == "size"


def test_memory_target_get_open_and_chained_urls(tmp_path: Path) -> None:
    target = fsspec.filesystem("memory")
    target.pipe({"/tree/a.txt": b"a", "/tree/sub/b.bin": make_data(SIZE, seed=4)})
    fs = fsspec.filesystem("resumable", target_protocol="memory", **CONFIG)
    result = fs.get("/tree", str(tmp_path / "out"), recursive=True)
    assert result.count("downloaded") == 2
    assert (tmp_path / "out" / "sub" / "b.bin").read_bytes() == make_data(SIZE, seed=4)
    with fsspec.open("resumable::memory://tree/a.txt", "rb") as f:
        assert f.read() == b"a"
    assert fs.cat("resumable::memory://tree/a.txt") == b"a"
    assert fs.unstrip_protocol("/tree/a.txt") == "resumable::memory:///tree/a.txt"


def test_identities_from_info_entries() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    s3 = identity_from_info({"size": 3, "ETag": '"abc"', "LastModified": when, "VersionId": "v1"})
    assert (s3.etag, s3.last_modified, s3.version_id) == (
        '"abc"',
        "2026-01-01T19:04:05+00:00",
        "v1",
    )
    md5 = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    gcs = identity_from_info({"size": 3, "etag": "CJ", "md5Hash": md5, "generation": "17"})
    assert gcs.md5 == hashlib.md5(b"abc").hexdigest() and gcs.version_id == "17"
    local = identity_from_info({"size": 3, "mtime": 1.5, "type": "file"})
    assert local.last_modified == "1.5" and is_pinned(local)
    assert not is_pinned(identity_from_info({"size": 3}))
    with pytest.raises(InvalidArgumentError):
        identity_from_info({"name": "x"})
