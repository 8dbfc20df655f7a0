"""One OSS object as the engine sees it: ranged GETs pinned to its ETag with ``If-Match``."""

from __future__ import annotations

import re

from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import ObjectChangedError, ObjectNotRestoredError, TransientError
from oss_resumable_fs.sources.client import GetResponse, OSSClient
from oss_resumable_fs.sources.models import ObjectHead, normalize_etag
from oss_resumable_fs.sources.oss_errors import ALWAYS_RESTORE_CLASSES, restore_message
from oss_resumable_fs.sources.reader import OSSRangeReader

__all__ = ["OSSRangeReader", "OSSRangeSource"]

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class OSSRangeSource:
    """One OSS object, read by ranges pinned to its ETag (``If-Match``).

    Requests are not retried here: the engine retries a HEAD as a whole and a
    part's read from its last byte received.
    """

    def __init__(
        self, client: OSSClient, bucket: str, key: str, *, version_id: str | None = None
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.version_id = version_id
        self._last_head: ObjectHead | None = None
        self.name = f"oss://{bucket}/{key}"
        if version_id:
            self.name += f"?versionId={version_id}"

    def __repr__(self) -> str:
        return f"OSSRangeSource({self.name!r})"

    def head(self) -> ObjectHead:
        return self._client.head_object(self.bucket, self.key, self.version_id, retry=False)

    def stat(self) -> ObjectIdentity:
        self._last_head = self.head()
        return self._last_head.identity()

    def check_readable(self, head: ObjectHead | None = None) -> None:
        """Refuse a Cold / Deep Cold Archive object that is not restored, before any GET.

        ``head`` defaults to the last :meth:`stat`'s. Archive objects may be
        readable in real time (a bucket setting): for those the first GET
        decides (``InvalidObjectState`` if not).
        """
        head = head or self._last_head
        if head is not None and head.storage_class in ALWAYS_RESTORE_CLASSES and not head.restored:
            raise ObjectNotRestoredError(
                restore_message(self.name), code="InvalidObjectState", target=self.name
            )

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> OSSRangeReader:
        whole = start == 0 and end == identity.size
        response = self._get(None if whole else (start, end - 1), identity.etag)
        try:
            _check_response(response, start, end, identity, self.name)
        except BaseException:
            response.reader.close()
            raise
        return response.reader

    def open_unpinned(
        self, start: int | None, end: int | None
    ) -> tuple[OSSRangeReader, ObjectIdentity, int, int]:
        """One GET of bytes ``[start, end)`` with no prior HEAD; ``start=None``: the last ``end``.

        Returns the reader, the identity the response reveals (size from
        ``Content-Range``, ETag), and the range actually served, which the
        service clips to the object's end. Later requests pin that identity.
        """
        if start is None:
            byte_range: tuple[int | None, int | None] = (None, end)
        else:
            byte_range = (start, None if end is None else end - 1)
        response = self._get(byte_range, None)
        try:
            identity, served = _describe(response, self.name)
        except BaseException:
            response.reader.close()
            raise
        return response.reader, identity, served[0], served[1]

    def _get(
        self, byte_range: tuple[int | None, int | None] | None, etag: str | None
    ) -> GetResponse:
        return self._client.get_object(
            self.bucket, self.key, byte_range, if_match=etag, version_id=self.version_id
        )


def _describe(response: GetResponse, name: str) -> tuple[ObjectIdentity, tuple[int, int]]:
    """The identity and served range ``[start, end)`` of an unpinned GET's answer."""
    headers = response.headers
    length = int(headers.get("Content-Length", -1))
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", ""))
        if not match or match[3] == "*":
            raise TransientError(f"{name}: 206 without a usable Content-Range", target=name)
        size, served = int(match[3]), (int(match[1]), int(match[2]) + 1)
    elif response.status == 200:
        size, served = length, (0, length)
    else:
        raise TransientError(f"{name}: unexpected HTTP status {response.status}", target=name)
    crc = headers.get("x-oss-hash-crc64ecma") if response.status == 200 else None
    identity = ObjectIdentity(
        size=size,
        etag=normalize_etag(headers.get("ETag")),
        last_modified=headers.get("Last-Modified"),
        crc64=int(crc) if crc else None,
        version_id=headers.get("x-oss-version-id"),
    )
    if length not in (-1, served[1] - served[0]):
        raise TransientError(f"{name}: Content-Length {length} for bytes {served}", target=name)
    return identity, served


def _check_response(
    response: GetResponse, start: int, end: int, identity: ObjectIdentity, name: str
) -> None:
    """Refuse any answer that is not exactly bytes [start, end) of ``identity``."""
    status, headers = response.status, response.headers
    etag = normalize_etag(headers.get("ETag"))
    if identity.etag and etag and etag != identity.etag:
        raise ObjectChangedError(
            f"{name}: ETag changed from {identity.etag} to {etag}", target=name
        )
    length = int(headers.get("Content-Length", -1))
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", ""))
        if not match:
            raise TransientError(f"{name}: 206 without a valid Content-Range", target=name)
        got_start, got_end, total = int(match[1]), int(match[2]) + 1, match[3]
        if total != "*" and int(total) != identity.size:
            raise ObjectChangedError(
                f"{name}: size changed from {identity.size} to {total}", target=name
            )
        if (got_start, got_end) != (start, end):
            raise TransientError(
                f"{name}: asked for bytes {start}-{end - 1}, got {got_start}-{got_end - 1}",
                target=name,
            )
    elif status == 200:
        if (start, end) != (0, identity.size):
            raise TransientError(f"{name}: the service ignored the Range header", target=name)
    else:
        raise TransientError(f"{name}: unexpected HTTP status {status}", target=name)
    if length not in (-1, end - start):
        raise TransientError(
            f"{name}: Content-Length {length} for a {end - start}-byte range", target=name
        )
