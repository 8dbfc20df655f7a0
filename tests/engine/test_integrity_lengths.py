"""CRC-64 combination costs nothing per small file, whatever the number of sizes met."""

from __future__ import annotations

import random

from fastcrc import crc64 as fastcrc64

from oss_resumable_fs.engine import integrity
from oss_resumable_fs.engine.integrity import TABLES_FROM, combine_all, crc64, crc64_combine


def test_one_part_is_its_own_crc_and_builds_no_tables() -> None:
    rng = random.Random(4)
    before = dict(integrity._tables)
    for length in rng.sample(range(1, 10**6), 200):  # 200 small objects, 200 sizes
        crc = rng.getrandbits(64)
        assert combine_all([(crc, length)]) == crc
    assert integrity._tables == before


def test_lengths_met_once_combine_right_without_tables() -> None:
    rng = random.Random(5)
    before = dict(integrity._tables)
    for _ in range(30):
        parts = [rng.randbytes(rng.randrange(0, 5000)) for _ in range(rng.randrange(1, 6))]
        assert combine_all((crc64(p), len(p)) for p in parts) == fastcrc64.xz(b"".join(parts))
        a, b = parts[0], parts[-1]
        assert crc64_combine(crc64(a), crc64(b), len(b)) == fastcrc64.xz(a + b)
    assert integrity._tables == before


def test_a_length_met_often_gets_tables_and_combines_the_same() -> None:
    rng = random.Random(6)
    part = 1031  # a size no other test uses
    parts = [rng.randbytes(part) for _ in range(TABLES_FROM)] + [rng.randbytes(17)]
    combined = combine_all((crc64(p), len(p)) for p in parts)
    assert combined == fastcrc64.xz(b"".join(parts))
    assert part in integrity._tables and 17 not in integrity._tables
    # With the tables cached, a single combine uses them and agrees.
    a, b = parts[0], parts[1]
    assert crc64_combine(crc64(a), crc64(b), part) == fastcrc64.xz(a + b)


def test_the_table_cache_stays_bounded() -> None:
    rng = random.Random(7)
    for length in range(2000, 2000 + integrity.MAX_TABLES + 5):
        combine_all([(rng.getrandbits(64), length)] * TABLES_FROM)
    assert len(integrity._tables) <= integrity.MAX_TABLES
