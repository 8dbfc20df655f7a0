"""The range-source interface: the engine's only view of a remote object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectIdentity:
    """What pins one version of a remote object.

    Two identities describe the same bytes when ``same_object`` holds; a
    checkpoint is trusted only for the identity it was written for.
    """

    size: int
    etag: str | None = None
    #: The service's Last-Modified, kept as the opaque string it sent.
    last_modified: str | None = None
    #: CRC-64/XZ (OSS's ``x-oss-hash-crc64ecma``) of the whole object, if the service knows it.
    crc64: int | None = None
    version_id: str | None = None
    #: MD5 of the whole object (32 lower-case hex digits), if the service vouches for
    #: one (an HTTP server whose ETag is the MD5 of a single-part upload). Checked
    #: only when there is no CRC-64: it costs a second pass over the file.
    md5: str | None = None

    def same_object(self, other: ObjectIdentity) -> bool:
        return (
            self.size == other.size
            and self.etag == other.etag
            and self.last_modified == other.last_modified
            and self.version_id == other.version_id
        )


@runtime_checkable
class RangeReader(Protocol):
    """A stream of the bytes of one range, opened by :meth:`RangeSource.open_range`."""

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` with the next bytes; return how many, 0 at the end of the range.

        Raises :class:`~oss_resumable_fs.errors.TransientError` (or
        ``ConnectionError`` / ``TimeoutError``) when the connection fails; the
        engine then opens a new range from the last byte it wrote.
        """
        ...

    def close(self) -> None:
        """Release the connection. May be called from another thread to abort a read."""
        ...


@runtime_checkable
class RangeSource(Protocol):
    """One remote object that can be read by byte ranges."""

    #: A human-readable name for messages and the journal, e.g. ``oss://bucket/key``.
    #: It never contains credentials.
    name: str

    def stat(self) -> ObjectIdentity:
        """Look the object up now (one metadata request)."""
        ...

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> RangeReader:
        """Open bytes ``[start, end)`` of the object, pinned to ``identity``.

        ``end`` is exclusive. A source must refuse to serve other bytes than
        those of ``identity`` (OSS: ``If-Match``) by raising
        :class:`~oss_resumable_fs.errors.ObjectChangedError`, and must check that
        the service answered with exactly the range asked for. When the range is
        the whole object a source may send a plain, unranged request.
        """
        ...


#: Optional methods a source may have (the engine looks them up with ``getattr``):
#:
#: ``check_readable() -> None``
#:     raise if the object is visible but cannot be read now (an unrestored Archive).
#: ``single_stream_reason() -> str | None``
#:     after :meth:`RangeSource.stat`, why the object must be read with one request
#:     (e.g. its server ignores ``Range``), else ``None``. The engine then reads it in
#:     one stream, without a checkpoint, still verified and landed atomically.
OPTIONAL_SOURCE_METHODS = ("check_readable", "single_stream_reason")
