"""One exception tree for the whole library.

Every error derives from :class:`OSSResumableError`, itself an :class:`OSError`,
so code written against fsspec (which catches ``OSError``) keeps working.
Where a built-in fits, the error also derives from it: a missing object is a
:class:`FileNotFoundError`, a refusal a :class:`PermissionError`.

Messages name the object (``oss://bucket/key``) and never carry credentials.
"""

from __future__ import annotations


class OSSResumableError(OSError):
    """Base of every error raised by oss-resumable-fs.

    Besides the message, an error carries what a program needs to act on it
    without parsing text: ``code`` (OSS's error code, e.g. ``NoSuchKey``, when
    the service sent one), ``request_id`` (for a support ticket) and ``target``
    (``oss://bucket/key``, or the local path the error is about).
    """

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        request_id: str | None = None,
        target: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id
        self.target = target


class InvalidArgumentError(OSSResumableError, ValueError):
    """An argument or option has a value the library cannot use (a size, region, range)."""


class UnknownOptionError(OSSResumableError, TypeError):
    """An option name the library does not know (a misspelling, usually).

    A ``TypeError``, as Python raises for an unexpected keyword argument: options
    passed through ``storage_options`` would otherwise be silently ignored.
    """


class ObjectNotFoundError(OSSResumableError, FileNotFoundError):
    """The object or its bucket does not exist."""


class NotAnObjectError(OSSResumableError, IsADirectoryError):
    """The path names a bucket (or a prefix), where an object was expected."""


class AccessDeniedError(OSSResumableError, PermissionError):
    """The service refused the request, or the destination is not writable."""


class URLExpiredError(AccessDeniedError):
    """A signed URL is past its expiry time.

    The checkpoint of the download is kept: a new signed URL for the same object
    resumes it, as a download's checkpoint is keyed on the object (the URL
    without its query string), not on the signature.
    """


class ObjectNotRestoredError(OSSResumableError):
    """An Archive / Cold Archive object must be restored before it can be read."""


class ObjectChangedError(OSSResumableError):
    """The object changed (new ETag, size or mtime) while it was being downloaded."""


class RangeNotSatisfiableError(OSSResumableError):
    """A read started at or beyond the object's end (OSS's 416 ``InvalidRange``)."""


class IntegrityError(OSSResumableError):
    """The downloaded bytes do not match the object's CRC-64 and re-fetching did not help."""


class TransientError(OSSResumableError):
    """A failure worth retrying: 5xx, connection reset, timeout, short body.

    ``retry_after`` (seconds), when the service suggested one, is honoured by the
    engine's backoff. ``throttled`` says the service asked the client to slow
    down (503 / 429): the engine then uses fewer connections.
    """

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        throttled: bool = False,
        **fields: str | None,
    ) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after
        self.throttled = throttled or retry_after is not None


class DownloadInProgressError(OSSResumableError):
    """Another process is already downloading into the same destination."""


class InsufficientSpaceError(OSSResumableError):
    """The destination's filesystem has too little free space for the object."""


class DownloadCancelledError(OSSResumableError):
    """The download was cancelled; its checkpoint is kept so it can resume."""


__all__ = [
    "AccessDeniedError",
    "DownloadCancelledError",
    "DownloadInProgressError",
    "InsufficientSpaceError",
    "IntegrityError",
    "InvalidArgumentError",
    "NotAnObjectError",
    "OSSResumableError",
    "ObjectChangedError",
    "ObjectNotFoundError",
    "ObjectNotRestoredError",
    "RangeNotSatisfiableError",
    "TransientError",
    "URLExpiredError",
    "UnknownOptionError",
]
