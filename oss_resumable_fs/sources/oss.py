"""The oss2-backed range source: ranged GETs pinned with If-Match, read into the caller's buffer."""

from __future__ import annotations

import contextlib
import http.client
import logging
import re
import socket
import threading
from collections.abc import Mapping
from typing import Any

import oss2
import oss2.exceptions
import requests

from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import ObjectChangedError, ObjectNotRestoredError, TransientError
from oss_resumable_fs.sources.oss_errors import (
    ALWAYS_RESTORE_CLASSES,
    READ_ERRORS,
    is_restored,
    restore_message,
    translate_oss_error,
)

__all__ = ["OSSRangeReader", "OSSRangeSource"]

logger = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class OSSRangeReader:
    """The body of one GET, read straight from the socket into the caller's buffer."""

    def __init__(self, result: Any, name: str) -> None:
        self._name = name
        self._response: requests.Response = result.resp.response
        raw = self._response.raw
        # http.client's response reads with recv_into into our buffer: no copy, no
        # allocation per call. urllib3's own readinto() copies through a bytes object.
        self._body = getattr(raw, "_fp", None) or raw
        self._lock = threading.Lock()
        self._closed = False

    def readinto(self, buffer: memoryview) -> int:
        """Read what one ``recv`` delivers (at most ``len(buffer)`` bytes).

        One receive per call, never a loop that fills the whole buffer: when the
        connection fails, every byte returned so far is the caller's to keep, and
        a download resumes from the last byte received, not from the start of the
        buffer (``BufferedReader.readinto`` would lose everything it had read in
        the failing call).
        """
        try:
            body = self._body
            if _is_plain_http_response(body):
                return _readinto1(body, buffer)
            return body.readinto(buffer)
        except ValueError as error:  # read on a response closed by close() from another thread
            raise TransientError(f"{self._name}: connection closed") from error
        except READ_ERRORS as error:
            raise translate_oss_error(error, self._name) from error

    def close(self) -> None:
        """Release the connection; from another thread, abort the read.

        A body read to its end leaves the connection reusable: it goes back to the
        pool, so the next part needs no new TCP (and TLS) handshake. Otherwise the
        socket is shut down, so that a recv() blocked in another thread returns
        at once. Idempotent and thread-safe.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if _body_complete(self._body):
            release = getattr(self._response.raw, "release_conn", None)
            if release is not None:
                release()
                return
        sock = _socket_of(self._response)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        try:
            self._response.close()
        except Exception:  # closing an aborted connection may fail; nothing is lost
            logger.debug("closing %s failed", self._name, exc_info=True)


def _is_plain_http_response(body: Any) -> bool:
    """An ``http.client`` response with a known length, not chunked: one we can read by hand."""
    return (
        isinstance(body, http.client.HTTPResponse)
        and not body.chunked
        and isinstance(body.length, int)
        and body.fp is not None
        and hasattr(body.fp, "readinto1")
    )


def _readinto1(body: http.client.HTTPResponse, buffer: memoryview) -> int:
    """``body.readinto`` with at most one underlying receive, keeping its byte count."""
    remaining = body.length or 0
    if remaining <= 0:
        body.close()
        return 0
    view = buffer[:remaining] if len(buffer) > remaining else buffer
    fp = body.fp  # once: close() in another thread may set it to None meanwhile
    if not view or fp is None:
        return 0
    count = fp.readinto1(view)
    if count == 0:  # the server closed the connection early: a short body
        body.close()
        return 0
    body.length = remaining - count
    if body.length == 0:
        body.close()  # as http.client does: the connection is ready for the next request
    return count


def _body_complete(body: Any) -> bool:
    """True when every byte of the body was read (the connection can be reused)."""
    if isinstance(body, http.client.HTTPResponse):
        return body.isclosed() and body.length == 0
    return False


def _socket_of(response: requests.Response) -> socket.socket | None:
    raw = response.raw
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class OSSRangeSource:
    """One OSS object, read by ranges pinned to its ETag (``If-Match``)."""

    def __init__(self, bucket: oss2.Bucket, key: str, *, version_id: str | None = None) -> None:
        self._bucket = bucket
        self._key = key
        self._version_id = version_id
        self.name = f"oss://{bucket.bucket_name}/{key}"
        if version_id:
            self.name += f"?versionId={version_id}"

    def __repr__(self) -> str:
        return f"OSSRangeSource({self.name!r})"

    def _params(self) -> dict[str, str] | None:
        return {"versionId": self._version_id} if self._version_id else None

    def stat(self) -> ObjectIdentity:
        try:
            result = self._bucket.head_object(self._key, params=self._params())
        except Exception as error:
            raise translate_oss_error(error, self.name) from error
        headers = result.headers
        _check_restored(headers, self.name)
        crc = headers.get("x-oss-hash-crc64ecma")
        return ObjectIdentity(
            size=int(headers["Content-Length"]),
            etag=headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
            crc64=int(crc) if crc else None,
            version_id=headers.get("x-oss-version-id") or self._version_id,
        )

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> OSSRangeReader:
        whole = start == 0 and end == identity.size
        headers = {"x-oss-range-behavior": "standard"}
        if identity.etag:
            headers["If-Match"] = identity.etag
        try:
            result = self._bucket.get_object(
                self._key,
                byte_range=None if whole else (start, end - 1),
                headers=headers,
                params=self._params(),
            )
        except Exception as error:
            raise translate_oss_error(error, self.name) from error
        reader = OSSRangeReader(result, self.name)
        try:
            _check_response(result.status, result.headers, start, end, identity, self.name)
        except BaseException:
            reader.close()
            raise
        return reader


def _check_restored(headers: Mapping[str, str], name: str) -> None:
    storage_class = headers.get("x-oss-storage-class", "Standard")
    if storage_class not in ALWAYS_RESTORE_CLASSES:
        return  # Archive may be readable in real time; a GET says InvalidObjectState if not
    if not is_restored(headers):
        raise ObjectNotRestoredError(restore_message(name))


def _check_response(
    status: int,
    headers: Mapping[str, str],
    start: int,
    end: int,
    identity: ObjectIdentity,
    name: str,
) -> None:
    """Refuse any answer that is not exactly bytes [start, end) of ``identity``."""
    etag = headers.get("ETag")
    if identity.etag and etag and etag != identity.etag:
        raise ObjectChangedError(f"{name}: ETag changed from {identity.etag} to {etag}")
    length = int(headers.get("Content-Length", -1))
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", ""))
        if not match:
            raise TransientError(f"{name}: 206 without a valid Content-Range")
        got_start, got_end, total = int(match[1]), int(match[2]) + 1, match[3]
        if total != "*" and int(total) != identity.size:
            raise ObjectChangedError(f"{name}: size changed from {identity.size} to {total}")
        if (got_start, got_end) != (start, end):
            raise TransientError(
                f"{name}: asked for bytes {start}-{end - 1}, got {got_start}-{got_end - 1}"
            )
    elif status == 200:
        if (start, end) != (0, identity.size):
            raise TransientError(f"{name}: the service ignored the Range header")
    else:
        raise TransientError(f"{name}: unexpected HTTP status {status}")
    if length not in (-1, end - start):
        raise TransientError(f"{name}: Content-Length {length} for a {end - start}-byte range")
