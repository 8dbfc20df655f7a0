"""Test data: large incompressible files made cheaply, and their CRC-64 as OSS computes it."""

from __future__ import annotations

import os

from oss_resumable_fs.engine.integrity import file_crc64

__all__ = ["file_crc64", "write_pattern_file"]

MiB = 1024 * 1024


def write_pattern_file(path: str | os.PathLike[str], size: int, block: int = 64 * MiB) -> None:
    """Write ``size`` bytes of incompressible data quickly, in constant memory.

    One ``os.urandom`` block is repeated with its index stamped into its first
    8 bytes, so no two blocks (and no two download parts) are identical.
    """
    base = bytearray(os.urandom(min(block, max(size, 1))))
    with open(path, "wb") as out:
        written, index = 0, 0
        while written < size:
            base[:8] = index.to_bytes(8, "little")
            chunk = memoryview(base)[: min(len(base), size - written)]
            out.write(chunk)
            written += len(chunk)
            index += 1
