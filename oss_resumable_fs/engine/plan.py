"""Splitting an object into parts, and re-planning from what is already done."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """Bytes ``[start, end)`` of the object; ``index`` counts from 0."""

    index: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def plan_parts(size: int, part_size: int) -> list[Part]:
    """Equal parts of ``part_size`` bytes covering ``size`` bytes; the last may be shorter.

    A zero-byte object has no parts.
    """
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    if part_size <= 0:
        raise ValueError(f"part_size must be positive, got {part_size}")
    return [
        Part(index, start, min(start + part_size, size))
        for index, start in enumerate(range(0, size, part_size))
    ]


def part_count(size: int, part_size: int) -> int:
    return -(-size // part_size)


def missing_parts(parts: Sequence[Part], done: Container[int]) -> list[Part]:
    """The parts whose index is not in ``done``, in order."""
    return [part for part in parts if part.index not in done]


def bytes_in(parts: Sequence[Part], indexes: Container[int]) -> int:
    """Total size of the parts whose index is in ``indexes``."""
    return sum(part.size for part in parts if part.index in indexes)
