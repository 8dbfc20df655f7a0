"""fsspec's own ``get`` conformance suite, run against ResumableOSSFileSystem.

As gcsfs does (``gcsfs/tests/derived``): the abstract fixtures build their
scenarios on the filesystem under test (``touch`` / ``makedirs`` / ``pipe``), here
on a fresh bucket of the local OSS server, and ``AbstractGetTests`` downloads them
with our ``get`` / ``get_file``.

All of it passes, unmodified. Two fixes made that so: the local server's
AppendObject (ossfs's ``touch`` and writes use it) and directory names without
ossfs's trailing slash (fsspec's ``glob`` never matched ``bucket/dir/``).
"""

from __future__ import annotations

import posixpath

import pytest
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.get import AbstractGetTests

from oss_resumable_fs.fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import OSSServer


class OSSRFixtures(AbstractFixtures):
    """The fixtures ``AbstractFixtures`` asks a filesystem to provide."""

    @pytest.fixture
    def fs(self, oss_storage_options: dict[str, str]) -> ResumableOSSFileSystem:
        # A private instance: no listing cache shared with other tests.
        return ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options)

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, oss_bucket: str) -> str:
        # A fresh bucket per test: nothing another test left behind can leak in.
        return oss_bucket

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        # OSS has keys, not directories: a "directory" exists while a key lies below it.
        return False


class TestResumableOSSGet(AbstractGetTests, OSSRFixtures):
    """Every test of fsspec's suite, unmodified."""


# -- the smallest reproductions of what once stood in the suite's way ---------------------


def test_touch_creates_an_empty_object(
    oss_server: OSSServer, oss_bucket: str, oss_storage_options: dict[str, str]
) -> None:
    """The abstract fixtures create their files with ``fs.touch``, which ossfs (like
    every ``fs.open(..., "wb")``) implements with OSS AppendObject."""
    fs = ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options)
    fs.touch(f"{oss_bucket}/empty")
    assert fs.cat_file(f"{oss_bucket}/empty") == b""
    with fs.open(f"{oss_bucket}/written", "wb") as file:
        file.write(b"hello ")
        file.write(b"world")
    assert fs.cat_file(f"{oss_bucket}/written") == b"hello world"


def test_get_of_a_directory_into_an_existing_local_directory(
    oss_server: OSSServer, oss_bucket: str, oss_storage_options: dict[str, str], tmp_path
) -> None:
    """``fs.get(dir + "/", existing_local_dir, recursive=True)``: the expansion pairs the
    directory itself with the existing local directory, as fsspec does; ``get_file``
    must then just make sure the directory exists."""
    oss_server.put_object(oss_bucket, "src/file", b"data")
    fs = ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options)
    target = tmp_path / "target"
    target.mkdir()
    assert fs.get_file(f"{oss_bucket}/src", str(target)) is None
    assert fs.get_file(f"{oss_bucket}/src/", str(target)) is None
    fs.get(f"{oss_bucket}/src/", str(target), recursive=True)
    assert (target / "file").read_bytes() == b"data"
    assert sorted(p.name for p in target.iterdir()) == ["file"]
