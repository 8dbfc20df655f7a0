"""OSS's error vocabulary, mapped once onto the library's exception tree."""

from __future__ import annotations

import http.client
from collections.abc import Mapping

import oss2.exceptions
import requests
import urllib3.exceptions

from oss_resumable_fs.errors import (
    AccessDeniedError,
    ObjectChangedError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
    OSSResumableError,
    RangeNotSatisfiableError,
    TransientError,
)
from oss_resumable_fs.sources.redact import redact, scrub_oss_error

_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchVersion"}
_RESTORE_NEEDED_CODES = {"InvalidObjectState"}
ALWAYS_RESTORE_CLASSES = {"ColdArchive", "DeepColdArchive"}
#: Storage classes whose objects must be restored before a GET (unless the bucket
#: has real-time access to Archive objects, which only a GET can tell).
ARCHIVE_CLASSES = {"Archive", *ALWAYS_RESTORE_CLASSES}
#: Failures of the transport (not of the service) while a body is being read.
READ_ERRORS = (
    OSError,  # socket errors: ConnectionResetError, TimeoutError, ...
    http.client.HTTPException,  # IncompleteRead on a short body
    urllib3.exceptions.HTTPError,
    requests.exceptions.RequestException,
)


def translate_oss_error(
    error: BaseException, name: str, *, host: str | None = None
) -> OSSResumableError:
    """Map an oss2 (or transport) error for object ``name`` onto the library's tree.

    This is the one place where OSS's error vocabulary is interpreted. Messages
    carry the object name, the OSS code and the request id, never credentials;
    the same facts are kept as the error's ``code``, ``request_id`` and
    ``target``. The oss2 error itself is scrubbed (:func:`scrub_oss_error`), as
    callers chain it as the cause.
    """
    if isinstance(error, OSSResumableError):
        return error
    scrub_oss_error(error)
    where = f" at {host}" if host else ""
    if isinstance(error, oss2.exceptions.RequestError):
        return TransientError(
            f"{name}: network error talking to OSS{where}: {_describe_cause(error)}", target=name
        )
    if not isinstance(error, oss2.exceptions.OssError):
        if isinstance(error, READ_ERRORS):
            detail = redact(str(error))  # transport errors may quote a presigned URL
            return TransientError(
                f"{name}: connection{where} failed: {type(error).__name__}: {detail}", target=name
            )
        return OSSResumableError(f"{name}: unexpected error: {type(error).__name__}", target=name)
    status = getattr(error, "status", None)
    code = getattr(error, "code", "") or None
    detail = f"{code or 'HTTP ' + str(status)}: {getattr(error, 'message', '') or ''}".rstrip(": ")
    request_id = getattr(error, "request_id", "") or None
    suffix = f" (request id {request_id})" if request_id else ""
    fields = {"code": code, "request_id": request_id, "target": name}
    if code in _RESTORE_NEEDED_CODES:
        return ObjectNotRestoredError(restore_message(name) + suffix, **fields)
    if status == 404 or code in _NOT_FOUND_CODES:
        return ObjectNotFoundError(f"{name}: not found ({detail}){suffix}", **fields)
    if status == 403:
        return AccessDeniedError(f"{name}: access denied ({detail}){suffix}", **fields)
    if status == 416 and code == "InvalidRange":
        return RangeNotSatisfiableError(f"{name}: {detail}{suffix}", **fields)
    if status in (412, 416):
        return ObjectChangedError(
            f"{name}: the object changed during the download ({detail})", **fields
        )
    if status in (429,) or (isinstance(status, int) and status >= 500):
        return TransientError(
            f"{name}: {detail}{suffix}",
            retry_after=_qos_delay(error),
            throttled=status in (429, 503),
            **fields,
        )
    return OSSResumableError(f"{name}: OSS refused the request ({detail}){suffix}", **fields)


def restore_message(name: str) -> str:
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


def is_restored(headers: Mapping[str, str]) -> bool:
    """Whether HEAD headers say a restore has finished (``ongoing-request="false"``)."""
    return 'ongoing-request="false"' in headers.get("x-oss-restore", "")


def needs_restore(headers: Mapping[str, str]) -> bool:
    """Whether an object (its HEAD headers) is Archive / Cold Archive and not restored now."""
    storage_class = headers.get("x-oss-storage-class", "Standard")
    return storage_class in ARCHIVE_CLASSES and not is_restored(headers)
