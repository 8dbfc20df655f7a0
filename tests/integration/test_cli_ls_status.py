"""``oss-resumable ls -l / -r`` and ``status`` (nested folders, a file, ``--checkpoint-dir``).

The console script runs as a subprocess against the local OSS server (see ``test_cli.py``).
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

from oss_resumable_fs.cli.leftovers import ORPHAN_NOTE
from oss_resumable_fs.config import MiB, TransferConfig
from oss_resumable_fs.engine.integrity import crc64
from oss_resumable_fs.engine.journal import Journal, new_header
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.testing import OSSServer

from .test_cli import assert_one_line_failure, make_data, run_cli

# -- ls -l, ls -r -------------------------------------------------------------------------------

ROW = re.compile(
    r" *(?P<size>\d+|DIR) +(?P<modified>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}|-) +"
    r"(?P<storage>\S+) +(?P<etag>\S+) +(?P<name>\S+)"
)


def etag_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()


def long_listing(oss_server: OSSServer, *args: str) -> list[dict[str, str]]:
    done = run_cli(oss_server, "ls", *args, TZ="UTC")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    rows = []
    for line in done.stdout.splitlines():
        match = ROW.fullmatch(line)
        assert match, line
        rows.append(match.groupdict())
    # Columns are aligned: every row's name starts at the same place.
    assert (
        len(
            {
                line.index(row["name"])
                for line, row in zip(done.stdout.splitlines(), rows, strict=True)
            }
        )
        == 1
    )
    return rows


def test_ls_long_shows_size_date_storage_class_and_etag(
    oss_server: OSSServer, oss_bucket: str
) -> None:
    small, big = make_data(10, seed=1), make_data(123_456, seed=2)
    oss_server.put_object(oss_bucket, "d/small.txt", small)
    oss_server.put_object(oss_bucket, "d/big.bin", big, storage_class="IA")
    oss_server.put_object(oss_bucket, "d/sub/inner.bin", b"x")
    before = time.time()

    rows = long_listing(oss_server, "-l", f"oss://{oss_bucket}/d")

    assert [row["name"] for row in rows] == [
        f"{oss_bucket}/d/big.bin",
        f"{oss_bucket}/d/small.txt",
        f"{oss_bucket}/d/sub",
    ]
    big_row, small_row, sub_row = rows
    assert (big_row["size"], big_row["storage"], big_row["etag"]) == ("123456", "IA", etag_of(big))
    assert (small_row["size"], small_row["storage"]) == ("10", "Standard")
    assert small_row["etag"] == etag_of(small)
    assert sub_row == {
        "size": "DIR",
        "modified": "-",
        "storage": "-",
        "etag": "-",
        "name": f"{oss_bucket}/d/sub",
    }
    for row in (big_row, small_row):
        assert row["modified"].endswith(" +0000")  # TZ=UTC: local time is UTC
        stamp = time.mktime(time.strptime(row["modified"][:19], "%Y-%m-%d %H:%M:%S"))
        # (The local server's clock is this machine's.)
        assert abs(stamp - before) < 3600, row["modified"]


def test_ls_plain_is_unchanged(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "d/k.bin", make_data(2048))
    oss_server.put_object(oss_bucket, "d/sub/inner.bin", b"x")
    done = run_cli(oss_server, "ls", f"oss://{oss_bucket}/d/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"     2.0 KiB  {oss_bucket}/d/k.bin",
        f"         DIR  {oss_bucket}/d/sub",
    ]


def test_ls_recursive_lists_every_object_below(oss_server: OSSServer, oss_bucket: str) -> None:
    for key in ("d/a.bin", "d/sub/b.bin", "d/sub/deep/c.bin", "other.bin"):
        oss_server.put_object(oss_bucket, key, b"abc")
    done = run_cli(oss_server, "ls", "-r", f"oss://{oss_bucket}/d")
    assert done.returncode == 0, done.stderr
    assert [line.split()[-1] for line in done.stdout.splitlines()] == [
        f"{oss_bucket}/d/a.bin",
        f"{oss_bucket}/d/sub/b.bin",
        f"{oss_bucket}/d/sub/deep/c.bin",
    ]
    rows = long_listing(oss_server, "-lr", f"oss://{oss_bucket}")
    assert [row["name"] for row in rows] == [
        f"{oss_bucket}/d/a.bin",
        f"{oss_bucket}/d/sub/b.bin",
        f"{oss_bucket}/d/sub/deep/c.bin",
        f"{oss_bucket}/other.bin",
    ]
    assert {row["size"] for row in rows} == {"3"}


def test_ls_long_of_a_single_object(oss_server: OSSServer, oss_bucket: str) -> None:
    data = make_data(77, seed=3)
    oss_server.put_object(oss_bucket, "one.bin", data)
    (row,) = long_listing(oss_server, "-l", f"oss://{oss_bucket}/one.bin")
    assert (row["size"], row["etag"], row["name"]) == ("77", etag_of(data), f"{oss_bucket}/one.bin")


def test_ls_long_of_a_missing_bucket(oss_server: OSSServer) -> None:
    line = assert_one_line_failure(run_cli(oss_server, "ls", "-l", "oss://no-such-bucket-ossr"))
    assert "NoSuchBucket" in line


# -- status -------------------------------------------------------------------------------------

PART = MiB


def interrupted_download(
    dest: Path, size: int, done_parts: int, checkpoint_dir: Path | None = None
) -> Path:
    """The files an interrupted download leaves: a journal recording parts, the partial data."""
    config = TransferConfig(checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None)
    journal_path = Path(journal_path_for(dest, config))
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    identity = ObjectIdentity(size=size, etag='"E"', last_modified=None, crc64=None)
    header = new_header(f"oss://bkt/{dest.name}", str(dest), identity, PART)
    journal = Journal.create(str(journal_path), header)
    for index in range(done_parts):
        journal.append(index, crc64(b"\0" * PART))
    journal.close()
    Path(f"{dest}.ossr-partial").write_bytes(b"")
    return journal_path


def status_lines(oss_server: OSSServer, *args: str, cwd: Path | None = None) -> list[str]:
    done = run_cli(oss_server, "status", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # One line per download (its two joined), without the age of the last progress,
    # which moves on between two runs.
    text = done.stdout.replace("\n  ", ": ")
    return [re.sub(r", last progress \d+ s ago$", "", line) for line in text.splitlines()]


def sources(lines: list[str]) -> list[str]:
    return [line.split(" -> ")[0] for line in lines]


def test_status_searches_nested_folders(oss_server: OSSServer, tmp_path: Path) -> None:
    interrupted_download(tmp_path / "a" / "one.bin", 4 * MiB, 1)
    interrupted_download(tmp_path / "a" / "b" / "c" / "two.bin", 2 * MiB, 1)
    interrupted_download(tmp_path / "elsewhere" / "three.bin", 2 * MiB, 0)

    lines = status_lines(oss_server, str(tmp_path / "a"))
    assert sources(lines) == ["oss://bkt/two.bin", "oss://bkt/one.bin"]  # by destination
    assert lines[0].startswith(f"oss://bkt/two.bin -> {tmp_path / 'a/b/c/two.bin'}: 1.0 MiB of ")
    assert "1/2 parts" in lines[0]
    # Without a PATH: the current folder, and everything below it.
    assert len(status_lines(oss_server, cwd=tmp_path)) == 3
    assert sources(status_lines(oss_server, "a/b", cwd=tmp_path)) == ["oss://bkt/two.bin"]


def test_status_of_a_destination_file(oss_server: OSSServer, tmp_path: Path) -> None:
    dest = tmp_path / "d" / "big.bin"
    interrupted_download(dest, 4 * MiB, 3)
    interrupted_download(tmp_path / "d" / "other.bin", 4 * MiB, 1)
    assert not dest.exists()  # unfinished: nothing at the destination yet

    (line,) = status_lines(oss_server, str(dest))
    assert line.startswith(f"oss://bkt/big.bin -> {dest}: 3.0 MiB of 4.0 MiB (75%), 3/4 parts")
    # One of its own files names it too; a relative path works from the cwd.
    assert status_lines(oss_server, f"{dest}.ossr-partial") == [line]
    assert status_lines(oss_server, "d/big.bin", cwd=tmp_path) == [line]
    # A finished file: nothing unfinished. A path that is nothing at all: an error.
    finished = tmp_path / "d" / "done.bin"
    finished.write_bytes(b"x")
    assert status_lines(oss_server, str(finished)) == ["no unfinished downloads"]
    failure = assert_one_line_failure(run_cli(oss_server, "status", str(tmp_path / "d/nope.bin")))
    assert "no such file or directory" in failure


def test_status_with_a_checkpoint_dir(oss_server: OSSServer, tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    downloads = tmp_path / "downloads"
    journal = interrupted_download(downloads / "x" / "one.bin", 4 * MiB, 2, checkpoints)
    interrupted_download(tmp_path / "other" / "two.bin", 2 * MiB, 1, checkpoints)
    interrupted_download(downloads / "beside.bin", 2 * MiB, 1)  # its journal beside it
    assert journal.parent == checkpoints and re.fullmatch(
        r"[0-9a-f]{32}\.ossr-journal", journal.name
    )
    cp = ["--checkpoint-dir", str(checkpoints)]

    # The folder holds no journal of one.bin; the checkpoint directory does. Without it,
    # one.bin's partial file is listed as what it is: data no journal found describes.
    partial = downloads / "x" / "one.bin.ossr-partial"
    assert sources(status_lines(oss_server, str(downloads))) == [
        "oss://bkt/beside.bin",
        f"{partial}: {ORPHAN_NOTE}",
    ]
    lines = status_lines(oss_server, str(downloads), *cp)
    assert sources(lines) == ["oss://bkt/beside.bin", "oss://bkt/one.bin"]
    assert f"-> {downloads / 'x' / 'one.bin'}: 2.0 MiB of 4.0 MiB (50%)" in lines[1]
    # A destination file whose journal is in the checkpoint directory.
    file_lines = status_lines(oss_server, str(downloads / "x" / "one.bin"), *cp)
    assert file_lines == [lines[1]]
    # Only the checkpoint directory: everything recorded there.
    assert sources(status_lines(oss_server, *cp)) == ["oss://bkt/one.bin", "oss://bkt/two.bin"]
    # The checkpoint directory given as a folder: its journals, found by walking it.
    assert sources(status_lines(oss_server, str(checkpoints))) == [
        "oss://bkt/one.bin",
        "oss://bkt/two.bin",
    ]
    # Both ways at once: each download once.
    assert len(status_lines(oss_server, str(tmp_path), *cp)) == 3


def test_status_with_a_missing_checkpoint_dir(oss_server: OSSServer, tmp_path: Path) -> None:
    done = run_cli(oss_server, "status", "--checkpoint-dir", str(tmp_path / "nope"))
    assert str(tmp_path / "nope") in assert_one_line_failure(done)


def test_status_says_when_the_partial_file_is_gone(oss_server: OSSServer, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    interrupted_download(dest, 4 * MiB, 2)
    Path(f"{dest}.ossr-partial").unlink()
    (line,) = status_lines(oss_server, str(tmp_path))
    assert line.endswith("; its partial file is gone: the next run starts over")


@pytest.mark.parametrize("args", [["--help"], ["get", "--help"], ["status", "--help"]])
def test_help(oss_server: OSSServer, args: list[str]) -> None:
    done = run_cli(oss_server, *args)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: oss-resumable")


def test_status_lists_files_no_journal_describes_as_the_magic_does(
    oss_server: OSSServer, tmp_path: Path
) -> None:
    """A partial whose journal is elsewhere, or someone's notes.ossr-partial: listed after the
    downloads, by ``status`` and ``%oss_status`` alike (one finder for both)."""
    from oss_resumable_fs.magics import unfinished

    work, checkpoints = tmp_path / "work", tmp_path / "checkpoints"
    interrupted_download(work / "big.bin", 4 * MiB, 2)
    interrupted_download(work / "away.bin", 2 * MiB, 1, checkpoints)
    (work / "sub").mkdir()
    (work / "sub" / "notes.ossr-partial").write_text("mine")
    (work / "sub" / "stale.ossr-lock").write_bytes(b"")
    (work / "link.ossr-partial").symlink_to(work / "big.bin.ossr-partial")

    lines = status_lines(oss_server, str(work))
    assert sources(lines) == ["oss://bkt/big.bin"] + [
        f"{work / name}: {ORPHAN_NOTE}"
        for name in ("away.bin.ossr-partial", "sub/notes.ossr-partial", "sub/stale.ossr-lock")
    ]
    magic = unfinished.status(str(work), []).splitlines()[1:-2]
    assert [re.sub(r", last progress \d+ s ago$", "", line.strip()) for line in magic] == lines
    # A destination whose only file is its partial names it, as a destination does.
    assert status_lines(oss_server, str(work / "away.bin")) == [lines[1]]
    # With the checkpoint directory, its journal says what it is.
    cp = ["--checkpoint-dir", str(checkpoints)]
    assert sources(status_lines(oss_server, str(work / "away.bin"), *cp)) == ["oss://bkt/away.bin"]
