"""Unfinished downloads, as their checkpoint journals describe them (for a ``status`` command)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from oss_resumable_fs.engine.journal import JOURNAL_SUFFIX, JournalCorrupt, read_journal
from oss_resumable_fs.engine.plan import bytes_in, plan_parts


@dataclass(frozen=True)
class UnfinishedDownload:
    journal_path: str
    #: The object, e.g. ``oss://bucket/key``.
    source: str
    destination: str
    size: int
    #: Bytes in the parts the journal records as done (re-verified when resumed).
    bytes_done: int
    parts_done: int
    parts_total: int
    #: Unix time the download first started.
    started: float
    #: Seconds since the journal last recorded progress.
    age: float

    def describe(self) -> str:
        """One line for humans, e.g. for a ``status`` command."""
        percent = 100.0 * self.bytes_done / self.size if self.size else 100.0
        return (
            f"{self.source} -> {self.destination}: {human_size(self.bytes_done)} of "
            f"{human_size(self.size)} ({percent:.0f}%), "
            f"{self.parts_done}/{self.parts_total} parts, last progress {_human_age(self.age)} ago"
        )


def list_unfinished(directory: str | os.PathLike[str]) -> list[UnfinishedDownload]:
    """Every readable ``*.ossr-journal`` in ``directory``, sorted by destination.

    Unreadable or damaged journals are skipped: a download would start those afresh.
    """
    found = []
    now = time.time()
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.endswith(JOURNAL_SUFFIX) or not entry.is_file():
                continue
            try:
                state = read_journal(entry.path)
                modified = entry.stat().st_mtime
            except (JournalCorrupt, OSError):
                continue
            header = state.header
            parts = plan_parts(header.identity.size, header.part_size)
            found.append(
                UnfinishedDownload(
                    journal_path=entry.path,
                    source=header.source,
                    destination=header.destination,
                    size=header.identity.size,
                    bytes_done=bytes_in(parts, state.parts),
                    parts_done=len(state.parts),
                    parts_total=len(parts),
                    started=header.created,
                    age=max(0.0, now - modified),
                )
            )
    return sorted(found, key=lambda item: item.destination)


def human_size(count: float) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _human_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
