"""One exception tree for the whole library.

Every error derives from :class:`OSSResumableError`, itself an :class:`OSError`,
so code written against fsspec (which catches ``OSError``) keeps working.
Where a built-in fits, the error also derives from it: a missing object is a
:class:`FileNotFoundError`, a refusal a :class:`PermissionError`.

Messages name the object (``oss://bucket/key``) and never carry credentials.
"""

from __future__ import annotations


class OSSResumableError(OSError):
    """Base of every error raised by oss-resumable-fs."""


class ObjectNotFoundError(OSSResumableError, FileNotFoundError):
    """The object or its bucket does not exist."""


class AccessDeniedError(OSSResumableError, PermissionError):
    """The service refused the request, or the destination is not writable."""


class ObjectNotRestoredError(OSSResumableError):
    """An Archive / Cold Archive object must be restored before it can be read."""


class ObjectChangedError(OSSResumableError):
    """The object changed (new ETag, size or mtime) while it was being downloaded."""


class IntegrityError(OSSResumableError):
    """The downloaded bytes do not match the object's CRC-64 and re-fetching did not help."""


class TransientError(OSSResumableError):
    """A failure worth retrying: 5xx, connection reset, timeout, short body.

    ``retry_after`` (seconds), when the service suggested one, is honoured by the
    engine's backoff.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
    "OSSResumableError",
    "ObjectChangedError",
    "ObjectNotFoundError",
    "ObjectNotRestoredError",
    "TransientError",
]
