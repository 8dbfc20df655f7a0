"""``%oss_ls`` (a DataFrame, or a printed table without pandas) and ``%oss_info`` (a dict)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.urls import remote_path

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

__all__ = ["COLUMNS", "info", "ls"]

COLUMNS = ("name", "type", "size", "last_modified", "storage_class", "etag")


def ls(fs: ResumableOSSFileSystem, url: str) -> Any:
    """The entries under ``url`` (buckets for ``oss://``): a DataFrame, or None once printed."""
    path = remote_path(url, buckets=True)
    rows = [_row(entry) for entry in fs.ls(path, detail=True, refresh=True)]
    try:
        import pandas as pd
    except ImportError:
        print(_table(rows))
        return None
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["size"] = frame["size"].astype("Int64")  # directories have none
    frame["last_modified"] = pd.to_datetime(frame["last_modified"], utc=True)
    return frame


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    is_file = entry.get("type") == "file"
    stamp = entry.get("LastModified") or entry.get("CreateTime")
    return {
        "name": entry["name"],
        "type": entry.get("type"),
        "size": int(entry.get("size") or 0) if is_file else None,
        "last_modified": _from_epoch(stamp),
        "storage_class": entry.get("StorageClass"),
        "etag": entry.get("ETag"),
    }


def _from_epoch(stamp: Any) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(int(stamp), tz=timezone.utc)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(nothing)"
    lines = []
    for row in rows:
        size = "DIR" if row["size"] is None else human_size(row["size"])
        when = row["last_modified"].strftime("%Y-%m-%d %H:%M") if row["last_modified"] else ""
        lines.append(f"{size:>10}  {when:<16}  {row['storage_class'] or '':<12}  {row['name']}")
    return "\n".join(lines)


def info(fs: ResumableOSSFileSystem, url: str) -> dict[str, Any]:
    """What one object is: a fresh HEAD (a prefix or bucket says it is a directory)."""
    path = remote_path(url)
    bucket, key = fs.split_path(path)
    if key and not path.endswith("/"):
        try:
            head = fs.object_head(path)
        except FileNotFoundError:
            pass  # perhaps a prefix: fs.info says so, or raises its own not-found
        else:
            found: dict[str, Any] = {
                "name": f"{bucket}/{key}",
                "type": "file",
                "size": head.size,
                "etag": head.etag,
                "crc64": head.crc64,
                "storage_class": head.storage_class,
                "last_modified": _from_http_date(head.last_modified),
            }
            extras = {
                "version_id": head.version_id,
                "content_type": head.content_type,
                "object_type": head.object_type,
                "restore": head.restore,
            }
            found.update({k: v for k, v in extras.items() if v is not None})
            return found
    entry = fs.info(path, refresh=True)
    return {"name": entry["name"], "type": entry["type"]}


def _from_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
