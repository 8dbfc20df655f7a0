"""``get``: many objects at once, recursive, by list and by glob, with branched progress."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import oss2
import pytest
import requests

import oss_resumable_fs.get_many as get_many
from oss_resumable_fs import DownloadCancelledError, ResumableOSSFileSystem, TransientError
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.sources.client import OSSClient
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import RecordingCallback, engine_files, make_data, make_fs

SMALL_FILES = 24
BIG = "data/big/large.bin"
BIG_SIZE = 2 * MiB + 5


@pytest.fixture
def tree(oss_server: OSSServer, oss_bucket: str) -> dict[str, bytes]:
    """``data/``: many small objects at three depths, one larger object, and a neighbour."""
    objects = {}
    for i in range(SMALL_FILES):
        key = ["data/f{:02d}.txt", "data/sub/f{:02d}.csv", "data/sub/deeper/f{:02d}.txt"][i % 3]
        objects[key.format(i)] = make_data(1 + i * 997 % (40 * KiB), seed=i)
    objects[BIG] = make_data(BIG_SIZE, seed=99)
    for key, value in objects.items():
        oss_server.put_object(oss_bucket, key, value)
    oss_server.put_object(oss_bucket, "elsewhere/not-me.txt", b"not part of the prefix")
    oss_server.reset_stats()
    return objects


def local_files(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def under(prefix: str, objects: dict[str, bytes]) -> dict[str, bytes]:
    return {k[len(prefix) :]: v for k, v in objects.items() if k.startswith(prefix)}


def test_recursive_get_of_a_prefix(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    out: Path,
) -> None:
    # Every request waits 20 ms, so files fetched side by side overlap for sure.
    oss_server.add_fault(FaultRule("latency", method=None, key="data/*", times=None, seconds=0.02))
    callback = RecordingCallback()
    fs.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True, callback=callback)

    assert local_files(out / "copy") == under("data/", tree)
    assert engine_files(out) == []
    # One step per (remote, local) pair -- files, and the "directories" fsspec lists too.
    assert len(callback.sizes) == 1
    assert callback.sizes[0] >= len(tree)
    assert callback.total == callback.sizes[0]
    assert all(step == 1 for step in callback.updates)
    # Each file's own progress went to its branched child.
    children = {
        os.path.relpath(local, out / "copy").replace(os.sep, "/"): child
        for (_remote, local), child in callback.children.items()
    }
    for key, data in under("data/", tree).items():
        child = children[key]
        assert child.sizes == [len(data)], key
        assert child.total == len(data), key
    stats = oss_server.stats()
    assert stats.max_concurrent_gets >= 2  # small files were fetched side by side
    big_parts = [g for g in stats.ranged_gets if (g.bucket, g.key) == (oss_bucket, BIG)]
    assert len(big_parts) == 9  # the big one in parts
    assert f"{oss_bucket}/elsewhere/not-me.txt" not in stats.bytes_served


def test_large_files_take_their_own_turn(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Make the 2 MiB object count as large, so get() fetches it on the caller's thread
    # while the small ones share the pool.
    monkeypatch.setattr(get_many, "SMALL_FILE", 1 * MiB)
    callback = RecordingCallback()
    fs.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True, callback=callback)
    assert local_files(out / "copy") == under("data/", tree)
    assert callback.total == callback.sizes[0]
    assert engine_files(out) == []


def test_get_without_trailing_slash_copies_the_directory_itself(
    fs: ResumableOSSFileSystem, oss_bucket: str, tree: dict[str, bytes], out: Path
) -> None:
    fs.get(f"{oss_bucket}/data/sub", str(out), recursive=True)
    assert local_files(out) == {f"sub/{k}": v for k, v in under("data/sub/", tree).items()}


def test_get_a_list_of_paths(
    fs: ResumableOSSFileSystem, oss_bucket: str, tree: dict[str, bytes], out: Path
) -> None:
    keys = ["data/f00.txt", "data/sub/f01.csv", BIG]
    rpaths = [f"{oss_bucket}/{k}" for k in keys]
    lpaths = [str(out / "one" / f"{i}.bin") for i in range(len(keys))]
    callback = RecordingCallback()
    fs.get(rpaths, lpaths, callback=callback)
    assert local_files(out / "one") == {f"{i}.bin": tree[k] for i, k in enumerate(keys)}
    assert callback.sizes == [3] and callback.total == 3

    # A list into a directory: files land flat, by their base names.
    fs.get(rpaths, str(out / "flat") + "/")
    assert local_files(out / "flat") == {k.rsplit("/", 1)[1]: tree[k] for k in keys}


def test_get_a_glob(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    out: Path,
) -> None:
    fs.get(f"{oss_bucket}/data/sub/*.csv", str(out) + "/")
    csv = {k: v for k, v in tree.items() if k.startswith("data/sub/f")}
    assert csv and local_files(out) == {k.rsplit("/", 1)[1]: v for k, v in csv.items()}

    fs.get(f"{oss_bucket}/data/**/*.txt", str(out / "txt") + "/")
    txt = {k: v for k, v in tree.items() if k.endswith(".txt")}
    assert local_files(out / "txt") == {k[len("data/") :]: v for k, v in txt.items()}
    # Only this test's bucket: a previous test's last answer may be counted late.
    served = {
        key.split("/", 1)[1]
        for key in oss_server.stats().bytes_served
        if key.startswith(f"{oss_bucket}/")
    }
    assert served <= csv.keys() | txt.keys()  # nothing else was downloaded


def test_get_of_a_single_object_into_an_existing_directory(
    fs: ResumableOSSFileSystem, oss_bucket: str, tree: dict[str, bytes], out: Path
) -> None:
    fs.get(f"{oss_bucket}/{BIG}", str(out))
    assert local_files(out) == {"large.bin": tree[BIG]}


def test_get_again_into_the_same_tree(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    out: Path,
) -> None:
    """Running the same ``get`` again (to finish an interrupted one) finds its directories."""
    fs.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True)
    (out / "copy" / "sub" / "f01.csv").unlink()  # as if the first run had not got there
    oss_server.reset_stats()
    fs.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True)
    assert local_files(out / "copy") == under("data/", tree)
    fs.get(f"{oss_bucket}/data/sub", str(out / "copy"), recursive=True)
    fs.get(f"{oss_bucket}/data/sub", str(out / "copy"), recursive=True)
    assert local_files(out / "copy" / "sub") == under("data/sub/", tree)


def test_folder_marker_objects_become_directories(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    out: Path,
) -> None:
    """The OSS console makes a zero-byte object "dir/" for each folder it creates."""
    for marker in ("data/", "data/sub/", "data/empty-folder/"):
        oss_server.put_object(oss_bucket, marker, b"")
    fs.invalidate_cache()
    fs.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True)
    assert local_files(out / "copy") == under("data/", tree)
    assert (out / "copy" / "sub").is_dir()
    assert (out / "copy" / "empty-folder").is_dir()
    assert fs.get_file(f"{oss_bucket}/data/sub/", str(out / "marker")) is None
    assert (out / "marker").is_dir()


def test_get_file_of_a_missing_directory(
    fs: ResumableOSSFileSystem, oss_bucket: str, tree: dict[str, bytes], out: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        fs.get_file(f"{oss_bucket}/data/no-such-folder/", str(out / "folder"))
    assert not (out / "folder").exists()


def test_a_failing_object_stops_the_other_downloads_of_the_call(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    """One error ends the whole ``get``: queued files are not fetched after it."""
    for i in range(40):
        oss_server.put_object(oss_bucket, f"many/f{i:02d}.bin", make_data(64 * KiB, seed=i))
    oss_server.put_object(oss_bucket, "many/big.bin", make_data(BIG_SIZE, seed=1))
    oss_server.add_fault(FaultRule("error", key="many/big.bin", status=500, times=None))
    oss_server.add_fault(
        FaultRule("bandwidth", key="many/f*", bytes_per_second=256 * KiB, times=None)
    )
    original = get_many.SMALL_FILE
    get_many.SMALL_FILE = 1 * MiB  # make big.bin take the large-file path
    try:
        with pytest.raises(OSError):
            fs.get(f"{oss_bucket}/many/", str(tmp_path / "out") + "/", recursive=True)
    finally:
        get_many.SMALL_FILE = original
    served = oss_server.stats().bytes_served
    small_served = [key for key in served if key.startswith(f"{oss_bucket}/many/f")]
    # Without the stop, all 40 are served (the pool drains its queue); with it, a few
    # in flight when the error came.
    assert len(small_served) < 20, f"{len(small_served)} small files fetched after the error"


def test_a_failing_small_file_stops_the_large_one(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The error of a small file ends the call now, not after every large file."""
    monkeypatch.setattr(get_many, "SMALL_FILE", 1 * MiB)
    oss_server.put_object(oss_bucket, "mixed/a-small.bin", make_data(10 * KiB))
    for name in ("big0", "big1"):
        oss_server.put_object(oss_bucket, f"mixed/{name}.bin", make_data(BIG_SIZE, seed=3))
    oss_server.add_fault(FaultRule("error", key="mixed/a-small.bin", status=500, times=None))
    # Slow enough that the large files alone would take 16 s.
    oss_server.add_fault(
        FaultRule("bandwidth", key="mixed/big*", bytes_per_second=256 * KiB, times=None)
    )
    cancel = threading.Event()
    with pytest.raises(TransientError, match=r"a-small\.bin"):
        fs.get(f"{oss_bucket}/mixed/", str(tmp_path / "out") + "/", recursive=True, cancel=cancel)
    served = oss_server.stats().bytes_served
    assert f"{oss_bucket}/mixed/big1.bin" not in served  # the second large file never started
    assert served.get(f"{oss_bucket}/mixed/big0.bin", 0) < BIG_SIZE  # the first was cut short
    assert not cancel.is_set()  # the caller's event is read, never set


def test_a_listing_that_fails_below_the_top_fails_the_get(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fsspec's walk turned such a failure into an empty directory: files went missing."""
    listed: list[str] = []
    original = OSSClient.list_page

    def list_failing_below_the_top(self, bucket, prefix="", *args, **kwargs):
        listed.append(prefix)
        if prefix == "data/sub/":
            oss_server.add_fault(FaultRule("error", method="GET", key="", status=500, times=None))
        return original(self, bucket, prefix, *args, **kwargs)

    monkeypatch.setattr(OSSClient, "list_page", list_failing_below_the_top)
    with pytest.raises(TransientError, match="data/sub/"):
        fs.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True)
    assert "data/sub/" in listed
    assert oss_server.stats().faults_by_kind()["error"] >= 1


def test_a_listing_that_fails_for_a_while_is_retried(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tree: dict[str, bytes]
) -> None:
    # Four failures in a row: more than oss2's iterator (three tries at once) survived.
    oss_server.add_fault(FaultRule("error", method="GET", key="", status=500, times=4))
    names = fs.ls(f"{oss_bucket}/data/sub/", detail=False)
    assert f"{oss_bucket}/data/sub/deeper" in names
    assert oss_server.stats().faults_by_kind() == {"error": 4}
    assert oss_server.stats().requests["ListObjects"] == 5


def test_get_of_a_private_tree_without_credentials_is_a_permission_error(
    oss_server: OSSServer, oss_bucket: str, tree: dict[str, bytes], out: Path
) -> None:
    anonymous = make_fs(oss_server, key=None, secret=None)
    with pytest.raises(PermissionError, match="access denied"):
        anonymous.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True)
    with pytest.raises(PermissionError):
        anonymous.ls(f"{oss_bucket}/data/")
    assert not (out / "copy").exists()


@pytest.mark.parametrize("sizes", ["small", "large"])
def test_get_with_the_cancel_already_set_raises(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    sizes: str,
) -> None:
    """A cancelled get says so; it never returns as if it had downloaded the tree."""
    monkeypatch.setattr(get_many, "SMALL_FILE", 1 if sizes == "large" else 64 * MiB)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelledError):
        fs.get(f"{oss_bucket}/data/", str(out / "copy"), recursive=True, cancel=cancel)
    assert "HeadObject" not in oss_server.stats().requests
    assert local_files(out) == {}


def test_files_queued_behind_an_error_send_no_request(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    fs = make_fs(oss_server, file_concurrency=1)  # strictly one after another, by name
    oss_server.put_object(oss_bucket, "q/a-bad.bin", b"refused")
    for i in range(5):
        oss_server.put_object(oss_bucket, f"q/f{i}.bin", make_data(1000, seed=i))
    oss_server.add_fault(FaultRule("error", method="HEAD", key="q/a-bad.bin", status=403))
    oss_server.reset_stats()
    with pytest.raises(PermissionError):
        fs.get(f"{oss_bucket}/q/", str(tmp_path / "out") + "/", recursive=True, restore=True)
    assert oss_server.stats().requests.get("HeadObject") == 1  # a-bad.bin's only
    assert "RestoreObject" not in oss_server.stats().requests
    assert local_files(tmp_path) == {}


def test_a_failed_page_is_retried_from_its_own_marker(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = [f"paged/k{i:04d}" for i in range(1500)]  # two pages of at most 1000
    for key in keys:
        oss_server.put_object(oss_bucket, key, b"")
    oss_server.reset_stats()
    original = OSSClient.list_page

    def fail_the_second_page_once(self, bucket, prefix="", delimiter="", marker="", **kwargs):
        if marker and not oss_server.stats().faults_fired:
            oss_server.add_fault(FaultRule("error", method="GET", key="", status=500))
        return original(self, bucket, prefix, delimiter, marker, **kwargs)

    monkeypatch.setattr(OSSClient, "list_page", fail_the_second_page_once)
    assert fs.ls(f"{oss_bucket}/paged/", detail=False) == [f"{oss_bucket}/{k}" for k in keys]
    # Page 1, page 2 refused, page 2 again: the first page is not listed twice.
    assert oss_server.stats().requests["ListObjects"] == 3


def test_a_listing_cut_mid_body_is_retried(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    tree: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server cuts object bodies, not listing documents: the client's side of a
    # connection broken mid-listing is raised by hand, once.
    real_list_objects = oss2.Bucket.list_objects
    broken = []

    def break_once(self, *args, **kwargs):
        if not broken:
            broken.append(True)
            raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
        return real_list_objects(self, *args, **kwargs)

    monkeypatch.setattr(oss2.Bucket, "list_objects", break_once)
    assert f"{oss_bucket}/data/sub/deeper" in fs.ls(f"{oss_bucket}/data/sub/", detail=False)
    assert broken == [True]


def test_a_filtered_find_does_not_stand_in_for_the_directory(
    fs: ResumableOSSFileSystem, oss_bucket: str, tree: dict[str, bytes], out: Path
) -> None:
    """ossfs cached find(prefix=...)'s flat, filtered listing as the directory's own."""
    before = fs.ls(f"{oss_bucket}/data/sub/", detail=False)
    found = fs.find(f"{oss_bucket}/data/sub/", prefix="f0")
    assert found and all(p.startswith(f"{oss_bucket}/data/sub/f0") for p in found)
    assert fs.ls(f"{oss_bucket}/data/sub/", detail=False) == before
    fs.get(f"{oss_bucket}/data/sub/", str(out / "copy"), recursive=True)
    assert local_files(out / "copy") == under("data/sub/", tree)


def test_get_file_of_a_missing_key_lists_one_key_not_the_directory(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    for i in range(1200):  # more than one page of the parent
        oss_server.put_object(oss_bucket, f"wide/k{i:04d}", b"")
    oss_server.reset_stats()
    with pytest.raises(FileNotFoundError):
        fs.get_file(f"{oss_bucket}/wide/missing.bin", str(tmp_path / "x"))
    assert oss_server.stats().requests.get("ListObjects") == 1
    assert list(tmp_path.iterdir()) == []


def test_ls_of_a_url_sees_writes(fs: ResumableOSSFileSystem, oss_bucket: str) -> None:
    """ossfs cached "oss://b/d" apart from "b/d", and writes never invalidated it."""
    fs.pipe(f"{oss_bucket}/urls/a", b"a")
    assert fs.ls(f"ossr://{oss_bucket}/urls", detail=False) == [f"{oss_bucket}/urls/a"]
    fs.pipe(f"{oss_bucket}/urls/b", b"b")
    assert fs.ls(f"ossr://{oss_bucket}/urls", detail=False) == [
        f"{oss_bucket}/urls/a",
        f"{oss_bucket}/urls/b",
    ]


def test_get_file_of_a_bucket_root(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    assert fs.get_file(f"{oss_bucket}/", str(tmp_path / "root")) is None
    assert (tmp_path / "root").is_dir()
    with pytest.raises(FileNotFoundError, match="NoSuchBucket"):
        fs.get_file("ossr-no-such-bucket-here/", str(tmp_path / "missing"))
    anonymous = make_fs(oss_server, key=None, secret=None)
    with pytest.raises(PermissionError):
        anonymous.get_file(f"{oss_bucket}/", str(tmp_path / "refused"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
