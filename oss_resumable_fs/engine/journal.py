"""The checkpoint journal: one header, then one fixed-size record per finished part.

Layout (little-endian)::

    header  magic "OSSRJRNL" (8s) | version (u16) | payload length (u32)
            | payload: UTF-8 JSON {source, destination, size, etag, last_modified,
                                   crc64, version_id, part_size, created}
            | CRC-64/XZ of everything above (u64)
    record  part index (u32) | part CRC-64/XZ (u64) | CRC-32 of those 12 bytes (u32)

Finishing a part costs one 16-byte ``write`` to a file opened ``O_APPEND``:
O(1), unlike a checkpoint rewritten whole after every part (oss2), which is
O(parts) per part and O(parts²) per download.

Reading stops at the first record that is short or fails its check (a write
torn by a crash, or zeros left by a power loss); the rest is treated as not
done. A damaged header or an unknown version raises :class:`JournalCorrupt`,
which the engine answers with a fresh start. The journal holds the source's
name (``oss://bucket/key``) and never credentials; it is created mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import TypeVar

from oss_resumable_fs.engine.integrity import crc64
from oss_resumable_fs.engine.plan import part_count
from oss_resumable_fs.engine.source import ObjectIdentity

JOURNAL_SUFFIX = ".ossr-journal"
MAGIC = b"OSSRJRNL"
VERSION = 1
_PREFIX = struct.Struct("<8sHI")
_HEADER_CHECK = struct.Struct("<Q")
_RECORD_BODY = struct.Struct("<IQ")
_RECORD = struct.Struct("<IQI")
RECORD_SIZE = _RECORD.size
_MAX_PAYLOAD = 64 * 1024
_T = TypeVar("_T")


class JournalCorrupt(Exception):
    """The journal's header is unreadable, damaged or of an unknown version."""


@dataclass(frozen=True)
class JournalHeader:
    source: str
    destination: str
    identity: ObjectIdentity
    part_size: int
    #: Unix time the download first started.
    created: float

    def encode(self) -> bytes:
        ident = self.identity
        payload = json.dumps(
            {
                "source": self.source,
                "destination": self.destination,
                "size": ident.size,
                "etag": ident.etag,
                "last_modified": ident.last_modified,
                "crc64": ident.crc64,
                "version_id": ident.version_id,
                "part_size": self.part_size,
                "created": self.created,
            },
            sort_keys=True,
        ).encode()
        head = _PREFIX.pack(MAGIC, VERSION, len(payload)) + payload
        return head + _HEADER_CHECK.pack(crc64(head))

    @classmethod
    def decode(cls, payload: bytes) -> JournalHeader:
        try:
            fields = json.loads(payload)
            identity = ObjectIdentity(
                size=_typed(fields["size"], int),
                etag=_optional(fields["etag"], str),
                last_modified=_optional(fields["last_modified"], str),
                crc64=_optional(fields["crc64"], int),
                version_id=_optional(fields["version_id"], str),
            )
            header = cls(
                source=_typed(fields["source"], str),
                destination=_typed(fields["destination"], str),
                identity=identity,
                part_size=_typed(fields["part_size"], int),
                created=float(_typed(fields["created"], float)),
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the parser goes is garbage too.
            raise JournalCorrupt(f"bad journal header: {exc}") from exc
        if header.part_size <= 0 or identity.size < 0:
            raise JournalCorrupt("bad journal header: impossible sizes")
        return header


def _typed(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"unexpected {type(value).__name__} {value!r}")
    return value


def _optional(value: object, kind: type[_T]) -> _T | None:
    return None if value is None else _typed(value, kind)


@dataclass(frozen=True)
class JournalState:
    header: JournalHeader
    #: Part index -> CRC-64 of its bytes; a part recorded twice keeps its last record.
    parts: dict[int, int]
    #: Bytes of the file holding the header and the intact records.
    valid_length: int


def read_journal(path: str) -> JournalState:
    """Parse a journal. ``FileNotFoundError`` if absent, :class:`JournalCorrupt` if unusable."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise JournalCorrupt(f"cannot read journal: {exc}") from exc
    if len(data) < _PREFIX.size:
        raise JournalCorrupt("journal too short")
    magic, version, length = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise JournalCorrupt("not a journal")
    if version != VERSION:
        raise JournalCorrupt(f"unknown journal version {version}")
    if length > _MAX_PAYLOAD:
        raise JournalCorrupt("journal header too long")
    header_end = _PREFIX.size + length
    if len(data) < header_end + _HEADER_CHECK.size:
        raise JournalCorrupt("journal header truncated")
    (check,) = _HEADER_CHECK.unpack_from(data, header_end)
    if check != crc64(data[:header_end]):
        raise JournalCorrupt("journal header checksum mismatch")
    header = JournalHeader.decode(data[_PREFIX.size : header_end])

    total_parts = part_count(header.identity.size, header.part_size)
    parts: dict[int, int] = {}
    offset = header_end + _HEADER_CHECK.size
    while offset + RECORD_SIZE <= len(data):
        index, part_crc, record_check = _RECORD.unpack_from(data, offset)
        body = data[offset : offset + _RECORD_BODY.size]
        if record_check != zlib.crc32(body) or index >= total_parts:
            break
        parts[index] = part_crc
        offset += RECORD_SIZE
    return JournalState(header, parts, offset)


class Journal:
    """An open journal accepting part records from any thread."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: str, header: JournalHeader) -> Journal:
        """Start a new journal at ``path`` (replacing any), durable before any part is fetched."""
        remove(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the mode given to os.open is filtered by the umask
            _write_all(fd, header.encode())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            remove(path)
            raise
        return cls(path, fd)

    @classmethod
    def reopen(cls, path: str, state: JournalState) -> Journal:
        """Append to an existing journal, first cutting off a torn or damaged tail."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, state.valid_length)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def append(self, index: int, part_crc: int) -> None:
        """Record that part ``index`` is on disk with CRC ``part_crc``.

        Call only after the part's bytes were written to the data file. There is
        deliberately no fsync here: if a crash loses the data file's page cache
        but keeps this record, the resume step re-reads every recorded part from
        disk and re-checks its CRC, so the lost write is detected and the part
        fetched again. Durability of records only saves work, never correctness.
        """
        body = _RECORD_BODY.pack(index, part_crc)
        record = body + struct.pack("<I", zlib.crc32(body))
        with self._lock:
            _write_all(self._fd, record)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def discard(self) -> None:
        self.close()
        remove(self.path)


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def new_header(
    source: str, destination: str, identity: ObjectIdentity, part_size: int
) -> JournalHeader:
    return JournalHeader(source, destination, identity, part_size, created=time.time())
