"""One OSS object as the engine sees it: ranged GETs pinned to its ETag with ``If-Match``.

A small object needs no HEAD. When a listing has just shown it, its ``stat``
is the GET itself, pinned with ``If-Match`` to the listed ETag. Otherwise
(``first_request``) ``stat`` GETs the object's first bytes unpinned, and the
answer's headers tell what a HEAD would (size from ``Content-Range``, ETag,
Last-Modified, and the whole object's CRC-64, which OSS sends with ranged GETs
too). Either way the answer's body serves the engine's first read: a small
file costs one request instead of two, a large one's first part comes with its
identity, and the CRC-64 is still known before the first byte is read, so the
download is verified as ever.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oss_resumable_fs.engine.source import ObjectIdentity, RangeReader
from oss_resumable_fs.errors import (
    ObjectChangedError,
    ObjectNotRestoredError,
    RangeNotSatisfiableError,
    TransientError,
)
from oss_resumable_fs.sources.answers import CONTENT_RANGE, check_served
from oss_resumable_fs.sources.client import GetResponse, OSSClient
from oss_resumable_fs.sources.models import ObjectHead, normalize_etag
from oss_resumable_fs.sources.oss_errors import ALWAYS_RESTORE_CLASSES, restore_message
from oss_resumable_fs.sources.reader import OSSRangeReader
from oss_resumable_fs.sources.spliced import Prefetched

__all__ = ["ListedVersion", "OSSRangeReader", "OSSRangeSource"]

log = logging.getLogger(__name__)


#: Storage classes whose objects a GET reads at once. Archive classes keep their
#: HEAD: it tells whether a restore is needed before anything is fetched.
READABLE_AT_ONCE = frozenset({"Standard", "IA"})


@dataclass(frozen=True)
class ListedVersion:
    """The version of an object a listing showed: what its first GET is pinned to."""

    size: int
    etag: str

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any] | None) -> ListedVersion | None:
        """From an fsspec listing entry; ``None`` unless it is a file a GET reads at once."""
        if not entry or entry.get("type") != "file":
            return None
        etag, size = normalize_etag(entry.get("ETag")), entry.get("size")
        if etag is None or not isinstance(size, int) or size < 0:
            return None
        if entry.get("StorageClass", "Standard") not in READABLE_AT_ONCE:
            return None
        return cls(size, etag)


class OSSRangeSource:
    """One OSS object, read by ranges pinned to its ETag (``If-Match``).

    Requests are not retried here: the engine retries a HEAD as a whole and a
    part's read from its last byte received.
    """

    def __init__(
        self,
        client: OSSClient,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        listed: ListedVersion | None = None,
        first_request: int = 0,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.version_id = version_id
        self._last_head: ObjectHead | None = None
        self.name = f"oss://{bucket}/{key}"
        if version_id:
            self.name += f"?versionId={version_id}"
        #: The listed version the first :meth:`stat` asks for with a GET, not a HEAD.
        self._listed = None if version_id else listed
        #: Bytes the first :meth:`stat` GETs instead of a HEAD (0: a HEAD).
        self._first_request = 0 if self._listed else max(0, first_request)
        #: That GET's answer, its body not read yet: bytes ``[0, end)`` of the object.
        self._prefetched: Prefetched | None = None
        self._prefetch_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OSSRangeSource({self.name!r})"

    def head(self) -> ObjectHead:
        return self._client.head_object(self.bucket, self.key, self.version_id, retry=False)

    def stat(self) -> ObjectIdentity:
        """The object's identity: from a HEAD, or from the pinned GET of a listed object.

        Only the first call uses the listing. If the object was replaced since
        (412), it is looked at as it is now, with a HEAD: nothing was fetched yet.
        """
        self.close()
        if self._listed is not None:
            try:
                # A transient failure keeps the listing: the retry is a GET again.
                head = self._stat_by_get(self._listed)
            except ObjectChangedError:
                log.info("%s changed since it was listed; looking it up again", self.name)
                self._listed = None
            else:
                self._listed = None
                return head.identity()
        if self._first_request:
            # A transient failure keeps it: the retry is a GET again. Used once.
            head = self._stat_by_first_get(self._first_request)
            self._first_request = 0
            if head is not None:
                return head.identity()
        self._last_head = self.head()
        return self._last_head.identity()

    def _stat_by_first_get(self, first: int) -> ObjectHead | None:
        """GET bytes ``[0, first)`` unpinned; ``None`` for an empty object (a HEAD then).

        A ranged GET's ``x-oss-hash-crc64ecma`` is the whole object's (OSS says so),
        so the answer tells all a HEAD would, the size from ``Content-Range``.
        """
        try:
            response = self._get((0, first - 1), None)
        except RangeNotSatisfiableError:
            return None  # an empty object has no first byte
        try:
            identity, (_, end) = _describe(response, self.name)
            head = dataclasses.replace(
                ObjectHead.from_headers(self.bucket, self.key, response.headers),
                size=identity.size,
            )
            _check_response(response, 0, end, head.identity(), self.name)
        except BaseException:
            response.reader.close()
            raise
        return self._keep(head, response, end)

    def _stat_by_get(self, listed: ListedVersion) -> ObjectHead:
        response = self._get(None, listed.etag)
        try:
            if response.status != 200:
                raise TransientError(
                    f"{self.name}: unexpected HTTP status {response.status}", target=self.name
                )
            head = ObjectHead.from_headers(self.bucket, self.key, response.headers)
            _check_response(response, 0, head.size, head.identity(), self.name)
            if head.size == 0:
                # Nothing to read: the connection goes back to the pool now.
                response.reader.readinto(memoryview(bytearray(1)))
                response.reader.close()
                self._last_head = None
                return head
        except BaseException:
            response.reader.close()
            raise
        return self._keep(head, response, head.size)

    def _keep(self, head: ObjectHead, response: GetResponse, end: int) -> ObjectHead:
        """Keep a stat GET's answer (bytes ``[0, end)``) for the engine's first read.

        It was served, so the object needs no restore, whatever its class.
        """
        self._last_head = None
        with self._prefetch_lock:
            self._prefetched = Prefetched(head.identity(), response.reader, end)
        return head

    def close(self) -> None:
        """Release the answer of a GET whose body no read asked for (a skip, an error)."""
        with self._prefetch_lock:
            prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            prefetched.reader.close()

    def check_readable(self, head: ObjectHead | None = None) -> None:
        """Refuse a Cold / Deep Cold Archive object that is not restored, before any GET.

        ``head`` defaults to the last :meth:`stat`'s (none when that was a GET,
        which the service answered). Archive objects may be readable in real
        time (a bucket setting): for those the first GET decides
        (``InvalidObjectState`` if not).
        """
        head = head or self._last_head
        if head is not None and head.storage_class in ALWAYS_RESTORE_CLASSES and not head.restored:
            raise ObjectNotRestoredError(
                restore_message(self.name), code="InvalidObjectState", target=self.name
            )

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> RangeReader:
        if start == 0:
            with self._prefetch_lock:
                prefetched, self._prefetched = self._prefetched, None
            if prefetched is not None:
                if prefetched.identity == identity:
                    return prefetched.serve(
                        end, lambda a, b: self.open_range(a, b, identity), self.name
                    )
                prefetched.reader.close()
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
        match = CONTENT_RANGE.fullmatch(headers.get("Content-Range", ""))
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
    check_served(
        status,
        headers.get("Content-Range"),
        None if length == -1 else length,
        start,
        end,
        identity.size,
        name,
    )
