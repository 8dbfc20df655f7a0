"""The oss2-backed range source: OSS requests and OSS error mapping, in one place."""

from __future__ import annotations

import contextlib
import http.client
import logging
import re
import socket
from collections.abc import Mapping
from typing import Any

import oss2
import oss2.exceptions
import requests
import urllib3.exceptions

from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import (
    AccessDeniedError,
    ObjectChangedError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
    OSSResumableError,
    TransientError,
)

logger = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchVersion"}
_RESTORE_NEEDED_CODES = {"InvalidObjectState"}
_ALWAYS_RESTORE_CLASSES = {"ColdArchive", "DeepColdArchive"}
#: Storage classes whose objects must be restored before a GET (unless the bucket
#: has real-time access to Archive objects, which only a GET can tell).
_ARCHIVE_CLASSES = {"Archive", *_ALWAYS_RESTORE_CLASSES}
#: Failures of the transport (not of the service) while a body is being read.
_READ_ERRORS = (
    OSError,  # socket errors: ConnectionResetError, TimeoutError, ...
    http.client.HTTPException,  # IncompleteRead on a short body
    urllib3.exceptions.HTTPError,
    requests.exceptions.RequestException,
)


def translate_oss_error(error: Exception, name: str) -> OSSResumableError:
    """Map an oss2 (or transport) error for object ``name`` onto the library's tree.

    This is the one place where OSS's error vocabulary is interpreted. Messages
    carry the object name, the OSS code and the request id, never credentials.
    """
    if isinstance(error, OSSResumableError):
        return error
    if isinstance(error, oss2.exceptions.RequestError):
        return TransientError(f"{name}: network error talking to OSS: {_describe_cause(error)}")
    if not isinstance(error, oss2.exceptions.OssError):
        if isinstance(error, _READ_ERRORS):
            return TransientError(f"{name}: connection failed: {type(error).__name__}: {error}")
        return OSSResumableError(f"{name}: unexpected error: {type(error).__name__}")
    status = getattr(error, "status", None)
    code = getattr(error, "code", "") or ""
    detail = f"{code or 'HTTP ' + str(status)}: {getattr(error, 'message', '') or ''}".rstrip(": ")
    request_id = getattr(error, "request_id", "") or ""
    suffix = f" (request id {request_id})" if request_id else ""
    if code in _RESTORE_NEEDED_CODES:
        return ObjectNotRestoredError(_restore_message(name) + suffix)
    if status == 404 or code in _NOT_FOUND_CODES:
        return ObjectNotFoundError(f"{name}: not found ({detail}){suffix}")
    if status == 403:
        return AccessDeniedError(f"{name}: access denied ({detail}){suffix}")
    if status in (412, 416):
        return ObjectChangedError(f"{name}: the object changed during the download ({detail})")
    if status in (429,) or (isinstance(status, int) and status >= 500):
        return TransientError(f"{name}: {detail}{suffix}", retry_after=_qos_delay(error))
    return OSSResumableError(f"{name}: OSS refused the request ({detail}){suffix}")


def _restore_message(name: str) -> str:
    return (
        f"{name} is an Archive/Cold Archive object that must be restored before it can be "
        "downloaded: restore it (ResumableOSSFileSystem.restore(path, wait=True), or "
        "get_file(..., restore=True)) and try again"
    )


def _describe_cause(error: oss2.exceptions.RequestError) -> str:
    cause = getattr(error, "exception", None) or error.__cause__
    return type(cause).__name__ if cause is not None else "request failed"


def _qos_delay(error: oss2.exceptions.OssError) -> float | None:
    headers = getattr(error, "headers", None) or {}
    raw = headers.get("x-oss-qos-delay-time") if hasattr(headers, "get") else None
    try:
        # OSS sends the suggested delay in milliseconds.
        return float(raw) / 1000.0 if raw is not None else None
    except ValueError:
        return None


class OSSRangeReader:
    """The body of one GET, read straight from the socket into the caller's buffer."""

    def __init__(self, result: Any, name: str) -> None:
        self._result = result
        self._name = name
        self._response: requests.Response = result.resp.response
        raw = self._response.raw
        # http.client's response reads with recv_into into our buffer: no copy, no
        # allocation per call. urllib3's own readinto() copies through a bytes object.
        self._body = getattr(raw, "_fp", None) or raw

    def readinto(self, buffer: memoryview) -> int:
        try:
            return self._body.readinto(buffer)
        except ValueError as error:  # read on a response closed by close() from another thread
            raise TransientError(f"{self._name}: connection closed") from error
        except _READ_ERRORS as error:
            raise translate_oss_error(error, self._name) from error

    def close(self) -> None:
        """Abort the read, from any thread: a blocked recv() returns at once."""
        sock = _socket_of(self._response)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        try:
            self._response.close()
        except Exception:  # closing an aborted connection may fail; nothing is lost
            logger.debug("closing %s failed", self._name, exc_info=True)


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
    if storage_class not in _ALWAYS_RESTORE_CLASSES:
        return  # Archive may be readable in real time; a GET says InvalidObjectState if not
    restore = headers.get("x-oss-restore", "")
    if 'ongoing-request="false"' not in restore:
        raise ObjectNotRestoredError(_restore_message(name))


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
