import os

import pytest

from oss_resumable_fs.fs import ResumableOSSFileSystem, ensure_within


@pytest.mark.parametrize("url", ["ossr://bucket/a/b.csv", "oss://bucket/a/b.csv", "bucket/a/b.csv"])
def test_own_and_ossfs_urls_strip_to_bucket_and_key(url):
    assert ResumableOSSFileSystem._strip_protocol(url) == "bucket/a/b.csv"


def test_paths_inside_the_root_are_accepted(tmp_path):
    ensure_within(str(tmp_path), [str(tmp_path / "a" / "b.bin"), str(tmp_path)])


@pytest.mark.parametrize("escape", ["../evil.txt", "a/../../evil.txt", "/etc/passwd"])
def test_paths_escaping_the_root_are_refused(tmp_path, escape):
    with pytest.raises(PermissionError, match="outside"):
        ensure_within(str(tmp_path), [os.path.join(str(tmp_path), escape)])


def test_a_symlink_leading_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(PermissionError):
        ensure_within(str(root), [str(root / "link" / "x.bin")])
