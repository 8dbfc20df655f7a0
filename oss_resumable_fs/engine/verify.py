"""Checking a finished download against the object's checksum: CRC-64, else MD5, else none.

CRC-64 (OSS's ``x-oss-hash-crc64ecma``) costs nothing: each part's CRC is
computed as it streams in and the object's is combined from them. MD5 (an
HTTP server whose ETag is the MD5 of a single-part upload) cannot be combined
from parts: it is one more sequential pass over the finished file, at about
700 MB/s on one core, so it is used only when there is no CRC-64. Without
either, only the size and the identity pinning (ETag / Last-Modified on every
request) vouch for the bytes; the result says so.

A mismatch fetches every part again (writing only what differs) and checks
once more; a second mismatch raises :class:`IntegrityError`.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Protocol

from oss_resumable_fs.config import MiB
from oss_resumable_fs.engine.integrity import combine_all, crc64, local_file_holds
from oss_resumable_fs.engine.plan import Part
from oss_resumable_fs.engine.sink import PartialFile
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import IntegrityError

__all__ = [
    "Verified",
    "file_md5",
    "local_copy_matches",
    "method_for",
    "part_on_disk_crc",
    "verify",
]

log = logging.getLogger(__name__)

#: Bytes read per call of the MD5 pass.
MD5_CHUNK = 4 * MiB


class Refetch(Protocol):
    """Fetch every part again; return their CRCs by index."""

    def __call__(self, *, recorded: dict[int, int]) -> dict[int, int]: ...


class Verified(str, enum.Enum):
    """What vouched for the bytes of a download."""

    #: The object's CRC-64, combined from the parts' CRCs as they streamed in.
    CRC64 = "crc64"
    #: The MD5 the server vouched for (its ETag), over the finished file.
    MD5 = "md5"
    #: No checksum: only the size, and every request pinned to the same version.
    SIZE = "size"

    def describe(self) -> str:
        """A few words for a summary line."""
        return {
            Verified.CRC64: "CRC-64 verified",
            Verified.MD5: "MD5 verified",
            Verified.SIZE: "no checksum to verify with (size and version pinning only)",
        }[self]


def method_for(identity: ObjectIdentity, enabled: bool) -> Verified:
    """How a download of ``identity`` is checked (``enabled``: ``verify_crc64``)."""
    if not enabled:
        return Verified.SIZE
    if identity.crc64 is not None:
        return Verified.CRC64
    if identity.md5 is not None:
        return Verified.MD5
    return Verified.SIZE


def file_md5(
    read_at: Callable[[int, memoryview], int], size: int, check: Callable[[], None] | None = None
) -> str:
    """MD5 (hex) of the first ``size`` bytes that ``read_at(offset, buffer)`` reads (a
    :meth:`PartialFile.read_at`); ``check()`` between reads (a cancel)."""
    digest = hashlib.md5(usedforsecurity=False)
    view = memoryview(bytearray(min(MD5_CHUNK, max(size, 1))))
    offset = 0
    while offset < size:
        if check is not None:
            check()
        count = read_at(offset, view[: min(len(view), size - offset)])
        if count == 0:
            break
        digest.update(view[:count])  # hashlib releases the GIL for large buffers
        offset += count
    return digest.hexdigest()


def local_copy_matches(name: str, path: str, identity: ObjectIdentity) -> Verified | None:
    """How the local file at ``path`` was found to hold exactly the object (same size,
    same CRC-64, else MD5), or ``None`` if it does not (or there is no checksum)."""
    if identity.crc64 is not None:
        return Verified.CRC64 if local_file_holds(path, identity.size, identity.crc64) else None
    if identity.md5 is None:
        log.info("%s: no checksum to compare with; downloading", name)
        return None
    try:
        if not os.path.isfile(path) or os.path.getsize(path) != identity.size:
            return None
        with open(path, "rb", buffering=0) as local:
            fd = local.fileno()
            digest = file_md5(lambda at, buffer: os.preadv(fd, [buffer], at), identity.size)
    except OSError:
        return None
    return Verified.MD5 if digest == identity.md5 else None


def part_on_disk_crc(
    sink: PartialFile, part: Part, buffer: memoryview, check: Callable[[], None]
) -> int | None:
    """The CRC-64 of ``part``'s bytes in ``sink`` (a resume re-reads its recorded parts);
    ``None`` if the file ends before the part does."""
    crc = 0
    offset = part.start
    while offset < part.end:
        check()
        count = sink.read_at(offset, buffer[: min(len(buffer), part.end - offset)])
        if count == 0:
            return None
        crc = crc64(buffer[:count], crc)
        offset += count
    return crc


def verify(
    name: str,
    destination: str,
    identity: ObjectIdentity,
    parts: Sequence[Part],
    crcs: dict[int, int],
    sink: PartialFile,
    refetch: Refetch,
    *,
    enabled: bool,
    check: Callable[[], None] | None = None,
) -> Verified:
    """Check the download; on mismatch ``refetch(recorded=crcs)`` every part, then give up.

    ``refetch`` fetches every part again (journalling those whose CRC differs from
    ``recorded``) and returns the new CRCs by index.
    Returns what the bytes were checked with.
    """
    method = method_for(identity, enabled)
    if method is Verified.CRC64:
        _check_crc64(name, destination, identity, parts, crcs, refetch)
    elif method is Verified.MD5:
        _check_md5(name, destination, identity, parts, crcs, sink, refetch, check)
    return method


def _check_crc64(
    name: str,
    destination: str,
    identity: ObjectIdentity,
    parts: Sequence[Part],
    crcs: dict[int, int],
    refetch: Refetch,
) -> None:
    expected = identity.crc64
    actual = combine_all((crcs[p.index], p.size) for p in parts)
    if actual == expected:
        return
    log.warning(
        "%s: CRC-64 mismatch (%016x != %016x); fetching every part again",
        name,
        actual,
        expected,
    )
    again = refetch(recorded=crcs)
    _log_repaired(name, parts, crcs, again)
    actual = combine_all((again[p.index], p.size) for p in parts)
    if actual != expected:
        raise IntegrityError(
            f"{name}: the downloaded bytes have CRC-64 {actual:016x}, the object "
            f"{expected:016x}, even after fetching every part again; "
            f"{destination} was not written"
        )


def _check_md5(
    name: str,
    destination: str,
    identity: ObjectIdentity,
    parts: Sequence[Part],
    crcs: dict[int, int],
    sink: PartialFile,
    refetch: Refetch,
    check: Callable[[], None] | None,
) -> None:
    expected = identity.md5
    actual = file_md5(sink.read_at, identity.size, check)
    if actual == expected:
        return
    log.warning("%s: MD5 mismatch (%s != %s); fetching every part again", name, actual, expected)
    again = refetch(recorded=crcs)
    repaired = _log_repaired(name, parts, crcs, again)
    actual = file_md5(sink.read_at, identity.size, check)
    if actual == expected:
        return
    why = (
        "the server sent the same bytes twice: they are damaged at the source, or its ETag "
        "is not the MD5 of the content"
        if not repaired
        else "even after fetching every part again"
    )
    raise IntegrityError(
        f"{name}: the downloaded bytes have MD5 {actual}, the ETag says {expected} ({why}); "
        f"{destination} was not written"
    )


def _log_repaired(
    name: str, parts: Sequence[Part], before: dict[int, int], after: dict[int, int]
) -> list[int]:
    repaired = [p.index for p in parts if after[p.index] != before[p.index]]
    log.warning("%s: parts that differed on the second fetch: %s", name, repaired)
    return repaired
