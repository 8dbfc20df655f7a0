"""CRC-64/XZ (OSS's ``x-oss-hash-crc64ecma``): running checksums and combining.

Parts are checksummed independently, in parallel, as they stream in; the
object's CRC is then derived from the part CRCs without reading any byte again.
Combining uses the GF(2) matrix method of zlib's ``crc32_combine``: appending
``n`` bytes to a message is a linear operator on the CRC register, "shift by
``n`` zero bytes", built by repeated squaring of the one-zero-bit operator.
Building one costs a few hundred thousand bit operations (1.5 ms), so only a
length met many times (the part size) gets one, turned into eight 256-entry
byte tables: combining the CRCs of 10,000 equal parts then costs 10,000 x 8
table lookups. A length met once (a small object, the last part) is shifted
by the cached power-of-two operators of its set bits (tens of microseconds),
and a zero register needs no shift at all, so the one part of a small object
costs nothing: time per file does not depend on how many sizes a ``get`` meets.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable

from fastcrc import crc64 as _fastcrc64

#: The CRC-64/XZ (ECMA-182) polynomial, bit-reflected.
_POLY_REFLECTED = 0xC96C5795D7870F42
_MASK = (1 << 64) - 1

_Matrix = tuple[int, ...]  # 64 columns: column i is the image of register bit i
_Tables = tuple[tuple[int, ...], ...]  # 8 byte tables of 256 entries

#: How many parts of one length in a :func:`combine_all` make its tables worth
#: building (a build costs as much as some 30 shifts without tables).
TABLES_FROM = 16
#: Lengths whose tables are kept.
MAX_TABLES = 64


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/XZ of ``data``, continuing from ``crc`` (the CRC of the bytes before it).

    ``crc64(b + c) == crc64(c, crc64(b))``; ``crc64(b"") == 0``. fastcrc releases
    the GIL, so worker threads checksum in parallel.
    """
    return _fastcrc64.xz(data, initial=crc)


def file_crc64(path: str | os.PathLike[str], chunk: int = 16 * 1024 * 1024) -> int:
    """CRC-64/XZ of a local file: what OSS sends as ``x-oss-hash-crc64ecma``.

    One reused buffer, no page-cache pollution beyond the read itself;
    fastcrc checksums at several GB/s, so a local file is checked far faster
    than it could be fetched again.
    """
    crc = 0
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as data:
        while count := data.readinto(buffer):
            crc = crc64(view[:count], crc)
    return crc


def local_file_holds(path: str | os.PathLike[str], size: int, crc64_value: int | None) -> bool:
    """Whether the file at ``path`` has exactly ``size`` bytes whose CRC-64 is ``crc64_value``.

    What ``skip_identical`` relies on. CRC-64 catches accidental differences
    (all but one in 2**64), not deliberate ones: it is no tamper check. A
    symlink is followed (its target's bytes are compared). Without a CRC to
    compare with, the answer is no.
    """
    if crc64_value is None:
        return False
    try:
        if not os.path.isfile(path) or os.path.getsize(path) != size:
            return False
        return file_crc64(path) == crc64_value
    except OSError:
        return False


def _times(matrix: _Matrix, vector: int) -> int:
    result = 0
    column = 0
    while vector:
        if vector & 1:
            result ^= matrix[column]
        vector >>= 1
        column += 1
    return result


def _compose(outer: _Matrix, inner: _Matrix) -> _Matrix:
    """The operator ``outer(inner(x))``."""
    return tuple(_times(outer, column) for column in inner)


_powers_lock = threading.Lock()
#: _byte_powers[k] shifts the register by 2**k zero bytes.
_byte_powers: list[_Matrix] = []


def _byte_power(k: int) -> _Matrix:
    with _powers_lock:
        if not _byte_powers:
            one_bit = (_POLY_REFLECTED, *(1 << (n - 1) for n in range(1, 64)))
            two_bits = _compose(one_bit, one_bit)
            four_bits = _compose(two_bits, two_bits)
            _byte_powers.append(_compose(four_bits, four_bits))
        while len(_byte_powers) <= k:
            last = _byte_powers[-1]
            _byte_powers.append(_compose(last, last))
        return _byte_powers[k]


_tables_lock = threading.Lock()
_tables: dict[int, _Tables] = {}


def _tables_for(length: int, *, build: bool) -> _Tables | None:
    """The cached tables for ``length``; built first if ``build``, else ``None`` if absent."""
    tables = _tables.get(length)
    if tables is None and build:
        tables = _shift_tables(length)
        with _tables_lock:
            if len(_tables) >= MAX_TABLES:
                _tables.pop(next(iter(_tables)), None)  # the oldest
            _tables[length] = tables
    return tables


def _shift_tables(length: int) -> _Tables:
    """Byte tables applying "append ``length`` zero bytes" to a CRC register."""
    operator: _Matrix | None = None
    k = 0
    remaining = length
    while remaining:
        if remaining & 1:
            power = _byte_power(k)
            operator = power if operator is None else _compose(power, operator)
        remaining >>= 1
        k += 1
    assert operator is not None
    tables = []
    for byte in range(8):
        columns = operator[8 * byte : 8 * byte + 8]
        table = [0] * 256
        for value in range(1, 256):
            low = (value & -value).bit_length() - 1
            table[value] = table[value & (value - 1)] ^ columns[low]
        tables.append(tuple(table))
    return tuple(tables)


def _shift(crc: int, length: int, tables: _Tables | None) -> int:
    """The register ``crc`` after ``length`` zero bytes (a linear map: zero stays zero)."""
    if not crc or not length:
        return crc
    if tables is not None:
        t = tables
        return (
            t[0][crc & 0xFF]
            ^ t[1][(crc >> 8) & 0xFF]
            ^ t[2][(crc >> 16) & 0xFF]
            ^ t[3][(crc >> 24) & 0xFF]
            ^ t[4][(crc >> 32) & 0xFF]
            ^ t[5][(crc >> 40) & 0xFF]
            ^ t[6][(crc >> 48) & 0xFF]
            ^ t[7][(crc >> 56) & 0xFF]
        )
    k = 0
    while length:
        if length & 1:
            crc = _times(_byte_power(k), crc)
        length >>= 1
        k += 1
    return crc


def crc64_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC of ``A + B`` from ``crc1 = crc64(A)``, ``crc2 = crc64(B)`` and ``length2 = len(B)``."""
    if length2 < 0:
        raise ValueError("length2 must not be negative")
    return (_shift(crc1, length2, _tables_for(length2, build=False)) ^ crc2) & _MASK


def combine_all(parts: Iterable[tuple[int, int]]) -> int:
    """CRC of the concatenation of parts given in order as ``(crc, length)`` pairs."""
    parts = list(parts)
    if any(length < 0 for _, length in parts):
        raise ValueError("part lengths must not be negative")
    uses = Counter(length for _, length in parts)
    total = 0
    for crc, length in parts:
        tables = _tables_for(length, build=uses[length] >= TABLES_FROM)
        total = _shift(total, length, tables) ^ crc
    return total & _MASK
