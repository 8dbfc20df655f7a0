"""The manifest of a ``get`` job: one header line, then one JSON line per file outcome.

::

    {"format": "ossr-job", "version": 1, "source": "oss://b/p/", "destination": "/out",
     "files": 200, "total_bytes": 123456, "started": 1700000000.0}
    {"remote": "b/p/x", "local": "/out/x", "size": 5, "etag": "9A0...", "crc64": 123,
     "status": "done", "error": null, "local_size": 5, "mtime_ns": 1700..., "ino": 42}

An outcome costs one appended line (no fsync: a crash of the process loses
nothing, a power loss at worst the last lines, whose files are then fetched
again). It lives at ``<destination root>/.ossr-job``, or with a
``checkpoint_dir`` at ``<checkpoint_dir>/<sha256(root)[:32]>.ossr-job``; it is
created 0600 and holds object names and local paths, never credentials. A
manifest that is garbage, has a damaged header or is of another version is
not trusted (:class:`ManifestCorrupt`); lines are read up to the first one
that does not parse (a torn tail). :mod:`oss_resumable_fs.jobs` writes it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "VERSION",
    "FileRecord",
    "JobHeader",
    "ManifestCorrupt",
    "encode_line",
    "manifest_path",
    "read_manifest",
]

MANIFEST_NAME = ".ossr-job"
FORMAT = "ossr-job"
VERSION = 1
Pair = tuple[str, str]


class ManifestCorrupt(Exception):
    """The manifest is unreadable, damaged or of an unknown version: it is not trusted."""


@dataclass(frozen=True)
class JobHeader:
    #: What was asked for: ``oss://bucket/prefix/``, or the common prefix of a list of keys.
    source: str
    #: The directory every file of the job lands below.
    destination: str
    files: int
    total_bytes: int
    #: Unix time the job (this run of it) started.
    started: float

    def headline(self) -> str:
        return f"get {self.source} -> {self.destination}"


@dataclass(frozen=True)
class FileRecord:
    """One file's outcome: the object (as listed) and, once landed, the local file's stat."""

    remote: str
    local: str
    size: int
    etag: str | None
    crc64: int | None
    #: ``done``, ``skipped`` (landed by an earlier run, unchanged) or ``failed``.
    status: str
    error: str | None = None
    local_size: int | None = None
    mtime_ns: int | None = None
    ino: int | None = None

    @property
    def landed(self) -> bool:
        return self.status in ("done", "skipped")

    def still_there(self) -> bool:
        """Whether the local file is the one recorded: same size, mtime and inode."""
        try:
            st = os.stat(self.local)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns, st.st_ino) == (self.local_size, self.mtime_ns, self.ino)


_HEADER_TYPES: dict[str, Any] = {
    "source": str,
    "destination": str,
    "files": int,
    "total_bytes": int,
    "started": (int, float),
}
_RECORD_TYPES: dict[str, Any] = {"remote": str, "local": str, "size": int, "status": str}
_OPTIONAL_TYPES: dict[str, Any] = {
    "etag": str,
    "crc64": int,
    "error": str,
    "local_size": int,
    "mtime_ns": int,
    "ino": int,
}
_STATUSES = ("done", "skipped", "failed")


def _checked(fields: Any, required: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(fields, dict):
        raise ValueError("not an object")
    for name, kind in required.items():
        if not isinstance(fields.get(name), kind) or isinstance(fields.get(name), bool):
            raise ValueError(f"bad {name}")
    return fields


def _record(fields: Any) -> FileRecord:
    fields = _checked(fields, _RECORD_TYPES)
    for name, kind in _OPTIONAL_TYPES.items():
        value = fields.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"bad {name}")
    if fields["status"] not in _STATUSES or fields["size"] < 0:
        raise ValueError("bad status or size")
    return FileRecord(**{name: fields.get(name) for name in FileRecord.__dataclass_fields__})


def read_manifest(path: str) -> tuple[JobHeader, dict[Pair, FileRecord]]:
    """The header and each file's last recorded outcome, by (remote, local).

    ``FileNotFoundError`` if there is none; :class:`ManifestCorrupt` if unusable.
    """
    try:
        with open(path, "rb") as file:
            lines = file.read().split(b"\n")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ManifestCorrupt(f"{path}: {exc}") from exc
    try:
        head = _checked(json.loads(lines[0]), {**_HEADER_TYPES, "version": int})
        if head.get("format") != FORMAT or head["version"] != VERSION or len(lines) < 2:
            raise ValueError("not a complete job manifest of this version")
        header = JobHeader(**{name: head[name] for name in _HEADER_TYPES})
    except (ValueError, RecursionError) as exc:  # json's errors; nesting beyond the parser
        raise ManifestCorrupt(f"{path}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    records: dict[Pair, FileRecord] = {}
    for line in lines[1:-1]:  # the last piece has no newline: empty, or a torn line
        try:
            record = _record(json.loads(line))
        except (ValueError, RecursionError):
            break
        records[record.remote, record.local] = record
    return header, records


def manifest_path(root: str, checkpoint_dir: str | None = None) -> str:
    """Where the manifest of a job into ``root`` lives (keyed by the root alone)."""
    if not checkpoint_dir:
        return os.path.join(root, MANIFEST_NAME)
    digest = hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:32]
    directory = os.path.abspath(os.path.expanduser(checkpoint_dir))
    return os.path.join(directory, digest + MANIFEST_NAME)


def encode_line(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n"
