from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

import pytest

from oss_resumable_fs.engine.journal import (
    RECORD_SIZE,
    Journal,
    JournalCorrupt,
    JournalHeader,
    new_header,
    read_journal,
)
from oss_resumable_fs.engine.source import ObjectIdentity

IDENTITY = ObjectIdentity(
    size=10_000, etag='"abc"', last_modified="Mon", crc64=123, version_id="v1"
)


def header(**changes: object) -> JournalHeader:
    base = new_header("oss://b/k", "/tmp/dest", IDENTITY, 100)
    return JournalHeader(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_round_trip(tmp_path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    journal.append(3, 0xDEADBEEF)
    journal.append(0, 1)
    journal.append(99, (1 << 64) - 1)
    journal.close()
    state = read_journal(path)
    assert state.header == header(created=state.header.created)
    assert state.header.identity == IDENTITY
    assert state.parts == {3: 0xDEADBEEF, 0: 1, 99: (1 << 64) - 1}
    assert state.valid_length == os.path.getsize(path)


def test_last_record_wins(tmp_path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    journal.append(5, 1)
    journal.append(5, 2)
    journal.close()
    assert read_journal(path).parts == {5: 2}


def test_each_part_appends_one_fixed_size_record(tmp_path) -> None:
    """O(1) per part: the file grows by exactly one record, never rewritten."""
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    sizes = [os.path.getsize(path)]
    for index in range(100):
        journal.append(index, index * 31)
        sizes.append(os.path.getsize(path))
    journal.close()
    assert {b - a for a, b in itertools.pairwise(sizes)} == {RECORD_SIZE}
    assert RECORD_SIZE == 16


def test_mode_is_0600_whatever_the_umask(tmp_path) -> None:
    path = str(tmp_path / "j")
    old = os.umask(0)
    try:
        Journal.create(path, header()).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_holds_no_secrets(tmp_path) -> None:
    path = str(tmp_path / "j")
    Journal.create(path, header()).close()
    text = Path(path).read_bytes()
    assert b"oss://b/k" in text
    assert b"AccessKey" not in text and b"secret" not in text.lower()


def test_torn_last_record_is_ignored(tmp_path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    journal.append(0, 10)
    journal.append(1, 11)
    journal.close()
    full = os.path.getsize(path)
    with open(path, "r+b") as file:
        file.truncate(full - 5)
    state = read_journal(path)
    assert state.parts == {0: 10}
    assert state.valid_length == full - RECORD_SIZE


def test_garbage_record_stops_reading(tmp_path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    journal.append(0, 10)
    journal.close()
    with open(path, "ab") as file:
        file.write(bytes(RECORD_SIZE))  # zeros, as a power loss can leave
    assert read_journal(path).parts == {0: 10}


def test_record_for_a_part_that_cannot_exist_stops_reading(tmp_path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    journal.append(100, 1)  # 10,000 bytes / 100 = parts 0..99
    journal.close()
    assert read_journal(path).parts == {}


def test_reopen_cuts_the_torn_tail_then_appends(tmp_path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    journal.append(0, 10)
    journal.close()
    with open(path, "ab") as file:
        file.write(b"\x01\x02\x03")
    journal = Journal.reopen(path, read_journal(path))
    journal.append(1, 11)
    journal.close()
    assert read_journal(path).parts == {0: 10, 1: 11}


@pytest.mark.parametrize("damage", ["flip_header", "bad_magic", "truncated", "empty", "version"])
def test_damaged_header_is_reported(tmp_path, damage: str) -> None:
    path = str(tmp_path / "j")
    Journal.create(path, header()).close()
    data = bytearray(Path(path).read_bytes())
    if damage == "flip_header":
        data[30] ^= 0x01
    elif damage == "bad_magic":
        data[0:8] = b"NOTAJRNL"
    elif damage == "truncated":
        data = data[:20]
    elif damage == "empty":
        data = bytearray()
    elif damage == "version":
        data[8] = 99
    Path(path).write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        read_journal(path)


def test_missing_journal_is_file_not_found(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        read_journal(str(tmp_path / "nope"))


def test_create_replaces_an_old_journal(tmp_path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.create(path, header())
    journal.append(0, 1)
    journal.close()
    Journal.create(path, header(part_size=200)).close()
    state = read_journal(path)
    assert state.parts == {} and state.header.part_size == 200
