from __future__ import annotations

import random

import pytest
from fastcrc import crc64 as fastcrc64

from oss_resumable_fs.engine.integrity import combine_all, crc64, crc64_combine


def test_known_value() -> None:
    # The CRC-64/XZ check value.
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA
    assert crc64(b"") == 0


def test_running_crc_equals_whole() -> None:
    data = random.Random(1).randbytes(10_000)
    running = 0
    for start in range(0, len(data), 777):
        running = crc64(memoryview(data)[start : start + 777], running)
    assert running == fastcrc64.xz(data)


@pytest.mark.parametrize(
    ("len_a", "len_b"), [(0, 0), (0, 5), (5, 0), (1, 1), (1000, 17), (3, 65536)]
)
def test_combine_matches_concatenation(len_a: int, len_b: int) -> None:
    rng = random.Random(len_a * 7 + len_b)
    a, b = rng.randbytes(len_a), rng.randbytes(len_b)
    assert crc64_combine(crc64(a), crc64(b), len(b)) == fastcrc64.xz(a + b)


def test_combine_many_parts_with_odd_tail() -> None:
    rng = random.Random(2)
    parts = [rng.randbytes(4096) for _ in range(200)] + [rng.randbytes(123)]
    combined = combine_all((crc64(p), len(p)) for p in parts)
    assert combined == fastcrc64.xz(b"".join(parts))


def test_combine_ten_thousand_equal_parts_is_cheap() -> None:
    # 10,000 parts of 8 MiB: the shift operator is built once and cached.
    result = combine_all((i * 2654435761 % (1 << 64), 8 * 1024 * 1024) for i in range(10_000))
    assert 0 <= result < 1 << 64


def test_combine_large_length_is_linear() -> None:
    # crc(A + zeros(n)) from crc(A) and crc(zeros(n)), n above 2**20.
    a = b"head"
    zeros = bytes(3 * 1024 * 1024 + 5)
    assert crc64_combine(crc64(a), crc64(zeros), len(zeros)) == fastcrc64.xz(a + zeros)


def test_negative_length_rejected() -> None:
    with pytest.raises(ValueError):
        crc64_combine(1, 2, -1)
