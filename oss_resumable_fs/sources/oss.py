"""The oss2-backed range source: OSS requests and OSS error mapping, in one place."""

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


#: Fields of an OSS error document that echo what the client signed. The string
#: to sign (V1) and the canonical request (V4) contain ``x-oss-security-token``:
#: an STS token would reach every traceback that shows the oss2 error.
_SIGNING_FIELDS = (
    "StringToSign",
    "StringToSignBytes",
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "SignatureProvided",
)
_REDACTED = "<redacted>"
#: Credential-bearing values in free text (oss2's debug lines, error strings, URLs).
_SECRET_PATTERNS = (
    # A header, in a dict repr ('x-oss-security-token': 'v') or a signed string (name:v).
    re.compile(r"""(x-oss-security-token['"]?\s*[:=]\s*['"]?)[^\s'"\\,;&}]+""", re.I),
    re.compile(r"""(['"]?authorization['"]?\s*[:=]\s*['"]?)[^'"\\\r\n]+""", re.I),
    # Presigned URLs: ?security-token=...&Signature=...
    re.compile(r"""((?:security-token|signature|x-oss-signature)=)[^&\s'"\\,]+""", re.I),
)
_SIGNING_ELEMENTS = re.compile(
    rb"<(" + b"|".join(f.encode() for f in _SIGNING_FIELDS) + rb")>.*?</\1>", re.S
)


def redact(text: str) -> str:
    """``text`` with security tokens, Authorization headers and signatures blanked out."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
    return text


def scrub_oss_error(error: BaseException) -> None:
    """Blank out, in place, what an oss2 error echoes of the signed request.

    The translated error is raised ``from`` the oss2 one, so tracebacks print
    both: the oss2 error must not carry the string to sign (with the STS token).
    """
    if not isinstance(error, oss2.exceptions.OssError):
        return
    details = getattr(error, "details", None)
    if isinstance(details, dict):
        for key, value in list(details.items()):
            if key in _SIGNING_FIELDS:
                details[key] = _REDACTED
            elif isinstance(value, str):
                details[key] = redact(value)
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = _SIGNING_ELEMENTS.sub(rb"<\1>" + _REDACTED.encode() + rb"</\1>", body)
        error.body = redact(body.decode("utf-8", "replace")).encode()
    elif isinstance(body, str):
        error.body = redact(body)


class RedactingFilter(logging.Filter):
    """A logging filter that blanks credentials out of records (see :func:`redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_LOG_FILTER = RedactingFilter()


def redact_library_logs() -> None:
    """Make oss2's (and ossfs's, urllib3's) loggers blank credentials out of their records.

    At DEBUG oss2 logs every request's headers and the string it signs, which
    carry the STS token and the Authorization header. ossfs silences oss2 by
    setting its level to CRITICAL, but an application debugging its network
    turns that back on; the filter keeps the records safe whatever the level.
    Filters of a logger apply only to records logged on it, hence one per
    module logger. Idempotent.
    """
    names = {"oss2", "ossfs", "urllib3", "urllib3.connectionpool"}
    names |= {name for name in logging.root.manager.loggerDict if name.startswith("oss2.")}
    names |= {f"oss2.{module}" for module in ("api", "auth", "http", "models", "utils")}
    for name in sorted(names):
        target = logging.getLogger(name)
        if _LOG_FILTER not in target.filters:
            target.addFilter(_LOG_FILTER)


def translate_oss_error(error: Exception, name: str) -> OSSResumableError:
    """Map an oss2 (or transport) error for object ``name`` onto the library's tree.

    This is the one place where OSS's error vocabulary is interpreted. Messages
    carry the object name, the OSS code and the request id, never credentials;
    the oss2 error itself is scrubbed (:func:`scrub_oss_error`), as callers
    chain it as the cause.
    """
    if isinstance(error, OSSResumableError):
        return error
    scrub_oss_error(error)
    if isinstance(error, oss2.exceptions.RequestError):
        return TransientError(f"{name}: network error talking to OSS: {_describe_cause(error)}")
    if not isinstance(error, oss2.exceptions.OssError):
        if isinstance(error, _READ_ERRORS):
            detail = redact(str(error))  # transport errors may quote a presigned URL
            return TransientError(f"{name}: connection failed: {type(error).__name__}: {detail}")
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
        except _READ_ERRORS as error:
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


def is_restored(headers: Mapping[str, str]) -> bool:
    """Whether HEAD headers say a restore has finished (``ongoing-request="false"``)."""
    return 'ongoing-request="false"' in headers.get("x-oss-restore", "")


def needs_restore(headers: Mapping[str, str]) -> bool:
    """Whether an object (its HEAD headers) is Archive / Cold Archive and not restored now."""
    storage_class = headers.get("x-oss-storage-class", "Standard")
    return storage_class in _ARCHIVE_CLASSES and not is_restored(headers)


def _check_restored(headers: Mapping[str, str], name: str) -> None:
    storage_class = headers.get("x-oss-storage-class", "Standard")
    if storage_class not in _ALWAYS_RESTORE_CLASSES:
        return  # Archive may be readable in real time; a GET says InvalidObjectState if not
    if not is_restored(headers):
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
