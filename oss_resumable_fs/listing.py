"""Listings in fsspec's terms: entries named ``bucket/key``, directories without a slash.

Directories (OSS common prefixes) are named ``bucket/dir``, not ossfs's
``bucket/dir/``: fsspec's ``glob`` never matches the trailing slash, so ossfs's
names made ``get("b/src/*", recursive=True)`` skip directories. A folder
marker (the zero-byte ``dir/`` object the OSS console creates) is the
directory itself, not a file inside it.
"""

from __future__ import annotations

from typing import Any

from oss_resumable_fs.sources.client import OSSClient

__all__ = ["directory_entry", "list_directory", "list_flat"]


def directory_entry(name: str) -> dict[str, Any]:
    return {"name": name.rstrip("/"), "type": "directory", "size": 0}


def list_directory(client: OSSClient, bucket: str, key: str) -> tuple[list[dict[str, Any]], bool]:
    """The entries directly under ``bucket/key``, and whether a folder marker ``key/`` exists.

    Every page is fetched (1000 keys each, each page retried on its own).
    """
    prefix = key.rstrip("/") + "/" if key.strip("/") else ""
    entries: list[dict[str, Any]] = []
    marker_seen = False
    for page in client.list_objects(bucket, prefix, "/"):
        for listed in page.objects:
            if listed.key == prefix:
                marker_seen = True
                continue
            entries.append(listed.entry(bucket))
        entries += [directory_entry(f"{bucket}/{common}") for common in page.prefixes]
    entries.sort(key=lambda entry: entry["name"])
    return entries, marker_seen


def list_flat(client: OSSClient, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    """Every object whose key starts with ``prefix`` (no delimiter), by name."""
    found: dict[str, dict[str, Any]] = {}
    for page in client.list_objects(bucket, prefix, ""):
        for listed in page.objects:
            entry = listed.entry(bucket)
            found[entry["name"]] = entry
    return dict(sorted(found.items()))
