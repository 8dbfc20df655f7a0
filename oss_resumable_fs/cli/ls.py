"""``oss-resumable ls``: a bucket or prefix; ``-l`` with details, ``-r`` everything below."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from oss_resumable_fs.cli.common import filesystem, log
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.urls import remote_path

__all__ = ["long_rows", "run_ls"]


def run_ls(args: argparse.Namespace) -> int:
    fs = filesystem(args)
    path = remote_path(args.url, buckets=True)
    started = time.monotonic()
    if args.recursive:
        entries = list(fs.find(path, detail=True).values())  # objects only
    else:
        entries = fs.ls(path, detail=True)
    log.info(
        "listed oss://%s in %.2f s: %d entries", path, time.monotonic() - started, len(entries)
    )
    if args.long:
        for row in long_rows(entries):
            print(row)
        return 0
    for entry in entries:
        kind = "DIR" if entry.get("type") == "directory" else human_size(entry.get("size") or 0)
        print(f"{kind:>12}  {entry['name']}")
    return 0


def long_rows(entries: Iterable[dict[str, Any]]) -> list[str]:
    """One aligned line per entry: size in bytes, last modified, storage class, ETag, name.

    Directories (prefixes) show ``DIR`` and ``-`` for what they do not have.
    """
    cells = [_cells(entry) for entry in entries]
    if not cells:
        return []
    widths = [max(len(row[column]) for row in cells) for column in range(4)]
    return [
        f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
        f"{row[3]:<{widths[3]}}  {row[4]}"
        for row in cells
    ]


def _cells(entry: dict[str, Any]) -> tuple[str, str, str, str, str]:
    name = str(entry["name"])
    if entry.get("type") == "directory":
        return "DIR", "-", "-", "-", name
    return (
        str(entry.get("size") or 0),
        _local_time(entry.get("LastModified")),
        str(entry.get("StorageClass") or "-"),
        str(entry.get("ETag") or "-").strip('"'),
        name,
    )


def _local_time(epoch: Any) -> str:
    """``2024-05-01 12:34:56 +0800``: local time, with its offset from UTC."""
    if not isinstance(epoch, (int, float)):
        return "-"
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
