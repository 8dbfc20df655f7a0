"""Folder marker objects ("dir/", zero bytes, as the OSS console creates) in listings.

OSS (like S3) rolls every key that has the delimiter after the prefix into a
common prefix, the marker "dir/" itself included: ``ListObjects(prefix="data/",
delimiter="/")`` over ``data/sub/``, ``data/sub/c.txt``, ``data/empty/`` and
``data/file.txt`` gives Contents ``[data/file.txt]`` and CommonPrefixes
``[data/empty/, data/sub/]``. ossfs relies on that to tell directories from files.
"""

from __future__ import annotations

from pathlib import Path

import oss2
import pytest

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import OSSServer

KEYS = {
    "data/file.txt": b"file",
    "data/sub/": b"",
    "data/sub/c.txt": b"c",
    "data/empty/": b"",
}


@pytest.fixture
def markers(oss_server: OSSServer, oss_bucket: str) -> str:
    for key, value in KEYS.items():
        oss_server.put_object(oss_bucket, key, value)
    return oss_bucket


def test_marker_keys_are_listed_as_common_prefixes(oss_server: OSSServer, markers: str) -> None:
    """Fails against the local server as it is: it lists "data/empty/" and "data/sub/" as
    objects (Contents), and "data/sub/" a second time as a common prefix.

    Cause: ``testing/bucket_ops.py::_entries`` rolls a key up into a common prefix only
    when the prefix differs from the key (``if entry != key``); a key that ends right
    at the delimiter is the prefix itself. It should test ``cut >= 0`` instead.
    """
    bucket = oss2.Bucket(
        oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret),
        oss_server.endpoint,
        markers,
    )
    for listing in (
        bucket.list_objects(prefix="data/", delimiter="/"),
        bucket.list_objects_v2(prefix="data/", delimiter="/"),
    ):
        assert [o.key for o in listing.object_list] == ["data/file.txt"]
        assert listing.prefix_list == ["data/empty/", "data/sub/"]
    # Under the marker's own prefix, the marker is an object (the empty remainder).
    inside = bucket.list_objects_v2(prefix="data/sub/", delimiter="/")
    assert [o.key for o in inside.object_list] == ["data/sub/", "data/sub/c.txt"]


def test_marked_folders_are_directories(
    fs: ResumableOSSFileSystem, markers: str, out: Path
) -> None:
    """What the listing bug breaks for users: a marked folder is not a directory to ossfs."""
    assert fs.isdir(f"{markers}/data/sub")
    assert fs.isdir(f"{markers}/data/empty")
    assert fs.get_file(f"{markers}/data/sub", str(out / "sub")) is None
    assert (out / "sub").is_dir()


def test_get_of_a_tree_with_markers(fs: ResumableOSSFileSystem, markers: str, out: Path) -> None:
    """Whatever the listing says, a marker is made a directory, never a file."""
    fs.get(f"{markers}/data/", str(out / "copy"), recursive=True)
    files = sorted(p.relative_to(out / "copy").as_posix() for p in (out / "copy").rglob("*"))
    assert files == ["empty", "file.txt", "sub", "sub/c.txt"]
    assert (out / "copy" / "empty").is_dir() and (out / "copy" / "sub").is_dir()
    assert (out / "copy" / "sub" / "c.txt").read_bytes() == b"c"
    assert fs.get_file(f"{markers}/data/empty/", str(out / "marker")) is None
    assert (out / "marker").is_dir()
