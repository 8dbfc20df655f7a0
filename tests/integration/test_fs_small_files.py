"""``get`` of many small objects: one GET each, pinned to the listed ETag, still verified.

A small object that the listing just showed needs no HEAD: its GET, with
``If-Match`` set to the listed ETag, answers what a HEAD would (its CRC-64
included). These tests hold that to the guarantees a HEAD gave: the CRC-64 is
checked, an Archive object that is not restored is refused, an object replaced
since the listing never lands mixed or stale, and ``skip_identical`` still
compares CRC-64s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oss_resumable_fs import (
    IntegrityError,
    ObjectChangedError,
    ObjectNotRestoredError,
    ResumableOSSFileSystem,
)
from oss_resumable_fs.config import KiB
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import CONFIG, ENGINE_SUFFIXES, make_data

#: Sizes around the buffer and single-request limits, and an empty object.
SIZES = [0, 1, 10 * KiB, 64 * KiB, 100 * KiB + 7, CONFIG.single_request_threshold - 1]


@pytest.fixture
def small_tree(oss_server: OSSServer, oss_bucket: str) -> dict[str, bytes]:
    objects = {f"small/f{i:02d}.bin": make_data(size, seed=i) for i, size in enumerate(SIZES)}
    objects["small/sub/deeper.bin"] = make_data(33 * KiB, seed=50)
    for key, data in objects.items():
        oss_server.put_object(oss_bucket, key, data)
    oss_server.reset_stats()
    return objects


def engine_files(root: Path) -> list[str]:
    """A download's partial, journal and lock files (a failed get's job manifest stays)."""
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(ENGINE_SUFFIXES))


def local_files(root: Path) -> dict[str, bytes]:
    files = [p for p in root.rglob("*") if p.is_file() and ".ossr-" not in p.name]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def as_local(objects: dict[str, bytes], prefix: str = "small/") -> dict[str, bytes]:
    return {key.removeprefix(prefix): data for key, data in objects.items()}


def test_a_recursive_get_of_small_files_sends_one_pinned_get_each_and_no_head(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    small_tree: dict[str, bytes],
    out: Path,
) -> None:
    result = fs.get(f"{oss_bucket}/small/", str(out) + "/", recursive=True)

    assert local_files(out) == as_local(small_tree)
    assert engine_files(out) == []
    stats = oss_server.stats()
    assert stats.requests.get("HeadObject", 0) == 0
    assert stats.requests["GetObject"] == len(small_tree)
    assert stats.if_match_requests == len(small_tree)  # every GET pinned to the listed ETag
    assert stats.total_bytes_served == sum(map(len, small_tree.values()))
    # What the GET said is what a HEAD would have said: the CRC-64 among it.
    for outcome in result.files:
        if outcome.status != "directory":
            key = "small/" + Path(outcome.local).relative_to(out).as_posix()
            assert outcome.result.identity.size == len(small_tree[key])
            assert outcome.result.identity.crc64 is not None
            assert outcome.result.identity.last_modified  # the HTTP date a HEAD gives


def test_a_large_object_still_takes_its_head(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    # Its checkpoint keeps the HEAD's identity, to be compared on a resume.
    big = make_data(CONFIG.single_request_threshold + 5, seed=3)
    oss_server.put_object(oss_bucket, "mixed/big.bin", big)
    oss_server.put_object(oss_bucket, "mixed/small.bin", b"small")
    oss_server.reset_stats()
    fs.get(f"{oss_bucket}/mixed/", str(out) + "/", recursive=True)
    assert local_files(out) == {"big.bin": big, "small.bin": b"small"}
    assert oss_server.stats().requests["HeadObject"] == 1


@pytest.mark.parametrize("size", [1, 64 * KiB])
def test_a_corrupted_small_file_is_fetched_again_and_lands_right(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    small_tree: dict[str, bytes],
    out: Path,
    size: int,
) -> None:
    key = f"small/f{SIZES.index(size):02d}.bin"
    oss_server.add_fault(FaultRule("corrupt", key=key, after_bytes=size // 2))
    fs.get(f"{oss_bucket}/small/", str(out) + "/", recursive=True)
    assert local_files(out) == as_local(small_tree)
    stats = oss_server.stats()
    assert stats.faults_by_kind() == {"corrupt": 1}
    assert stats.requests["GetObject"] == len(small_tree) + 1  # the corrupted one, again
    assert stats.requests.get("HeadObject", 0) == 0


def test_a_failed_first_get_is_retried_as_a_get_and_a_cut_body_resumes(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    small_tree: dict[str, bytes],
    out: Path,
) -> None:
    oss_server.add_fault(FaultRule("error", key="small/f02.bin", status=503, times=1))
    oss_server.add_fault(FaultRule("reset", key="small/f03.bin", after_bytes=30 * KiB))
    fs.get(f"{oss_bucket}/small/", str(out) + "/", recursive=True)
    assert local_files(out) == as_local(small_tree)
    stats = oss_server.stats()
    assert stats.faults_by_kind() == {"error": 1, "reset": 1}
    assert stats.requests.get("HeadObject", 0) == 0
    assert stats.requests["GetObject"] == len(small_tree) + 2
    # The cut body went on from the last byte received, pinned: not from the start.
    (resumed,) = [g for g in stats.ranged_gets if g.key == "small/f03.bin"]
    assert resumed.start is not None and 0 < resumed.start <= 30 * KiB
    assert stats.bytes_served[f"{oss_bucket}/small/f03.bin"] < 2 * 64 * KiB


def test_a_small_file_that_stays_corrupted_fails_and_never_lands(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    small_tree: dict[str, bytes],
    out: Path,
) -> None:
    key = "small/f03.bin"
    oss_server.add_fault(FaultRule("corrupt", key=key, after_bytes=100, times=None))
    result = fs.get(f"{oss_bucket}/small/", str(out) + "/", recursive=True, on_error="return")
    failed = {Path(f.local).name: f.exception for f in result.failed}
    assert list(failed) == ["f03.bin"]
    assert isinstance(failed["f03.bin"], IntegrityError)
    assert not (out / "f03.bin").exists()
    assert engine_files(out) == []
    expected = as_local(small_tree)
    del expected["f03.bin"]
    assert local_files(out) == expected


@pytest.mark.parametrize("storage_class", ["ColdArchive", "Archive"])
def test_an_unrestored_archive_object_is_refused(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    out: Path,
    storage_class: str,
) -> None:
    oss_server.put_object(oss_bucket, "cold/frozen.bin", b"frozen", storage_class=storage_class)
    oss_server.put_object(oss_bucket, "cold/warm.bin", b"warm")
    oss_server.reset_stats()
    result = fs.get(f"{oss_bucket}/cold/", str(out) + "/", recursive=True, on_error="return")
    assert [Path(f.local).name for f in result.failed] == ["frozen.bin"]
    assert isinstance(result.failed[0].exception, ObjectNotRestoredError)
    assert local_files(out) == {"warm.bin": b"warm"}
    assert engine_files(out) == []
    # The Archive object was looked at with a HEAD, as ever; the Standard one was not.
    assert oss_server.stats().requests["HeadObject"] == 1


def test_an_object_replaced_after_the_listing_lands_as_it_is_now(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    small_tree: dict[str, bytes],
    out: Path,
) -> None:
    fs.ls(f"{oss_bucket}/small/")  # the listing get will use, cached
    replaced = make_data(50 * KiB + 3, seed=77)  # another size, another ETag
    oss_server.put_object(oss_bucket, "small/f02.bin", replaced)
    oss_server.reset_stats()

    fs.get(f"{oss_bucket}/small/", str(out) + "/", recursive=True)

    assert local_files(out) == {**as_local(small_tree), "f02.bin": replaced}
    stats = oss_server.stats()
    # The pinned GET was refused (412), nothing of the old version was kept; a HEAD
    # found the object as it is, and one more GET, pinned to it, fetched it.
    assert stats.requests["HeadObject"] == 1
    assert stats.requests["GetObject"] == len(small_tree) + 1
    assert stats.bytes_served[f"{oss_bucket}/small/f02.bin"] == len(replaced)


def test_an_object_that_keeps_changing_is_an_error_not_a_mixed_file(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    small_tree: dict[str, bytes],
    out: Path,
) -> None:
    # Each GET finds the object rewritten (other bytes, same size) since it was looked at.
    oss_server.add_fault(FaultRule("replace", key="small/f03.bin", times=None))
    result = fs.get(f"{oss_bucket}/small/", str(out) + "/", recursive=True, on_error="return")
    assert [Path(f.local).name for f in result.failed] == ["f03.bin"]
    assert isinstance(result.failed[0].exception, ObjectChangedError)
    assert not (out / "f03.bin").exists()
    assert engine_files(out) == []
    assert oss_server.stats().faults_by_kind()["replace"] >= 2


def test_skip_identical_heads_only_where_a_local_file_could_be_identical(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    small_tree: dict[str, bytes],
    out: Path,
) -> None:
    local = as_local(small_tree)
    (out / "f03.bin").write_bytes(local["f03.bin"])  # identical
    (out / "f04.bin").write_bytes(b"x" * len(local["f04.bin"]))  # same size, other bytes
    (out / "f05.bin").write_bytes(b"shorter")  # another size: cannot be identical
    result = fs.get(f"{oss_bucket}/small/", str(out) + "/", recursive=True, skip_identical=True)

    assert local_files(out) == local
    statuses = {Path(f.local).name: f.status for f in result.files if f.status != "directory"}
    assert statuses["f03.bin"] == "skipped"
    assert statuses["f04.bin"] == statuses["f05.bin"] == "downloaded"
    stats = oss_server.stats()
    assert stats.requests["HeadObject"] == 2  # f03 and f04: a CRC-64 to compare first
    assert stats.requests["GetObject"] == len(small_tree) - 1  # all but the skipped one
    assert f"{oss_bucket}/small/f03.bin" not in stats.bytes_served


def test_a_get_answer_no_read_took_is_released(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    from oss_resumable_fs.sources.oss import ListedVersion, OSSRangeSource

    data = make_data(20 * KiB, seed=5)
    oss_server.put_object(oss_bucket, "one.bin", data)
    listed = ListedVersion.from_entry(fs.ls(f"{oss_bucket}/")[0])
    assert listed is not None
    source = OSSRangeSource(fs.client, oss_bucket, "one.bin", listed=listed)
    identity = source.stat()
    source.close()  # as a skip or an error before the first read would
    reader = source.open_range(0, len(data), identity)  # a new GET, pinned
    received = bytearray()
    buffer = memoryview(bytearray(64 * KiB))
    while count := reader.readinto(buffer):
        received += buffer[:count]
    reader.close()
    assert received == data
    assert oss_server.stats().requests["GetObject"] == 2
