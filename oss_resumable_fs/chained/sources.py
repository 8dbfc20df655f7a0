"""The engine's view of one file on a target filesystem: which source, and its identity.

* s3fs: :class:`~oss_resumable_fs.chained.s3.S3ObjectSource`, every range pinned
  with ``If-Match`` (the service refuses other bytes), CRC-64 verified when the
  service publishes OSS's ``x-oss-hash-crc64ecma`` (OSS's S3 API does).
* fsspec's HTTP(S): :class:`~oss_resumable_fs.sources.http.HTTPRangeSource`.
* Any other fsspec filesystem: :class:`FsspecRangeSource`, which reads with
  ``cat_file(path, start, end)`` and, having no conditional read, re-checks the
  file's identity (``info``) when each range opens (every reconnect) and
  before the last bytes of each range are handed over. That is weaker than
  ``If-Match``: a change that leaves the identity as it was (an mtime of one
  second's resolution, a size-only identity) is not seen, and one range may
  hold bytes read across a change it only notices at its end (the download
  then starts over; the journal never keeps those bytes for a resume, whose
  identity check fails).

Verification: CRC-64 when the service publishes OSS's, else the MD5 the
service vouches for (an S3 ETag of a single-part, non-KMS upload; gcsfs's
``md5Hash``), else the size and the identity checks alone; the
:class:`DownloadResult`'s ``verified`` says which.

A file whose ``info`` shows no identity at all (no ETag or checksum, no
version, no modification time) cannot be pinned, and a resume could stitch two
versions together: it is refused with :class:`InvalidArgumentError` unless the
filesystem was made with ``allow_unpinned=True``; its identity is then the
size alone.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.result import journal_path_for
from oss_resumable_fs.engine.source import ObjectIdentity, RangeSource
from oss_resumable_fs.errors import (
    AccessDeniedError,
    InvalidArgumentError,
    NotAnObjectError,
    ObjectChangedError,
    ObjectNotFoundError,
    OSSResumableError,
    TransientError,
)
from oss_resumable_fs.sources.redact import redact

__all__ = [
    "FsspecRangeReader",
    "FsspecRangeSource",
    "http_source",
    "identity_from_info",
    "is_http",
    "is_pinned",
    "new_http_session",
    "range_source",
]

log = logging.getLogger(__name__)

#: ``info`` fields that name one version of a file's content, in order of preference.
TAG_FIELDS = ("ETag", "etag", "md5Hash", "md5", "Content-MD5", "checksum")
VERSION_FIELDS = ("VersionId", "version_id", "versionId", "generation")
TIME_FIELDS = ("LastModified", "last_modified", "Last-Modified", "mtime", "updated", "modified")
#: Used only when no other time is known (an in-memory file is replaced, not modified).
FALLBACK_TIME_FIELDS = ("created",)


def range_source(
    fs: Any,
    path: str,
    config: TransferConfig,
    *,
    allow_unpinned: bool = False,
    http_session: Any = None,
    destination: str | None = None,
) -> RangeSource:
    """The best source the target ``fs`` allows for ``path`` (see the module).

    ``http_session``: the ``requests.Session`` HTTP(S) targets' sources share;
    ``destination``: where the file lands (an HTTP source's first GET is shorter
    when a checkpoint there may hold its first part).
    """
    from oss_resumable_fs.chained import s3

    if s3.is_s3fs(fs):
        return s3.S3ObjectSource(fs, path, read_timeout=config.read_timeout)
    if is_http(fs):
        return http_source(fs, path, config, http_session, destination)
    return FsspecRangeSource(fs, path, allow_unpinned=allow_unpinned)


def is_http(fs: Any) -> bool:
    """Whether ``fs`` is fsspec's ``HTTPFileSystem`` (imported only if it is)."""
    http = sys.modules.get("fsspec.implementations.http")
    return http is not None and isinstance(fs, http.HTTPFileSystem)


#: ``HTTPFileSystem`` client options that carry over to the HTTP source.
HTTP_CARRIED = ("headers", "auth")


def http_source(
    fs: Any,
    url: str,
    config: TransferConfig,
    session: Any = None,
    destination: str | None = None,
) -> RangeSource:
    """An :class:`HTTPRangeSource` for ``url`` with the headers (and basic auth) the
    ``HTTPFileSystem`` sends; the source pins its own reads (``If-Match``).

    It speaks ``requests``, not aiohttp: other aiohttp client options of the
    filesystem (cookies, an SSL context...) do not carry over, and are named
    in a warning.
    """
    from oss_resumable_fs.sources.http import HTTPRangeSource
    from oss_resumable_fs.url_downloads import PROBE

    client_kwargs = getattr(fs, "client_kwargs", None) or {}
    request_kwargs = getattr(fs, "kwargs", None) or {}
    ignored = sorted({*client_kwargs, *request_kwargs} - set(HTTP_CARRIED))
    if ignored:
        log.warning("%s: HTTP options not used by resumable downloads: %s", url, ignored)
    headers = {**(client_kwargs.get("headers") or {}), **(request_kwargs.get("headers") or {})}
    auth = request_kwargs.get("auth") or client_kwargs.get("auth")
    if auth is not None and hasattr(auth, "encode"):  # aiohttp.BasicAuth
        headers.setdefault("Authorization", auth.encode())
    # As download_url does: the first GET's bytes start the first part, or, when a
    # checkpoint may hold that part already, it is only a probe.
    resuming = destination is not None and os.path.exists(journal_path_for(destination, config))
    return HTTPRangeSource(
        url,
        session=session,
        headers=headers,
        first_request=PROBE if resuming else config.resolve_record_size(0),
        timeout=(config.connect_timeout, config.read_timeout),
    )


def new_http_session(connections: int) -> Any:
    """A ``requests.Session`` for HTTP(S) targets: ``connections`` kept per host, the
    environment's proxy settings read once (as the OSS client does)."""
    import requests
    import requests.adapters

    from oss_resumable_fs.sources.client import read_environment_once

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    read_environment_once(session)
    return session


def identity_from_info(info: Mapping[str, Any]) -> ObjectIdentity:
    """An identity from an fsspec ``info`` entry: size, tag, version and modification time."""
    size = info.get("size")
    if not isinstance(size, int) or size < 0:
        raise InvalidArgumentError(f"{info.get('name')}: info() gives no usable size ({size!r})")
    times = _first(info, TIME_FIELDS) or _first(info, FALLBACK_TIME_FIELDS)
    return ObjectIdentity(
        size=size,
        etag=_first(info, TAG_FIELDS),
        last_modified=times,
        version_id=_first(info, VERSION_FIELDS),
        md5=_md5(info.get("md5Hash")),
    )


def _md5(value: Any) -> str | None:
    """gcsfs's ``md5Hash`` (base64 of the content's MD5) as lower-case hex."""
    if not isinstance(value, str):
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return digest.hex() if len(digest) == 16 else None


def is_pinned(identity: ObjectIdentity) -> bool:
    """Whether ``identity`` tells one version from another (more than a size)."""
    return bool(identity.etag or identity.version_id or identity.last_modified)


def _first(info: Mapping[str, Any], fields: tuple[str, ...]) -> str | None:
    for field in fields:
        value = info.get(field)
        if value is None or value == "":
            continue
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(timezone.utc)
            return value.isoformat()
        if isinstance(value, float):
            return repr(value)
        return str(value)
    return None


class FsspecRangeSource:
    """One file of any fsspec filesystem, read by ``cat_file`` ranges, its identity
    re-checked with ``info`` (see the module: weaker than ``If-Match``)."""

    def __init__(self, fs: Any, path: str, *, allow_unpinned: bool = False) -> None:
        self._fs = fs
        self.path = path
        self.allow_unpinned = allow_unpinned
        self.name = redact(fs.unstrip_protocol(path).split("?", 1)[0])

    def __repr__(self) -> str:
        return f"FsspecRangeSource({self.name!r})"

    def stat(self) -> ObjectIdentity:
        info = self._call(self._fresh_info)
        if info.get("type") == "directory":
            raise NotAnObjectError(f"{self.name} is a directory", target=self.name)
        identity = identity_from_info(info)
        if not is_pinned(identity) and not self.allow_unpinned:
            raise InvalidArgumentError(
                f"{self.name}: the target filesystem gives no ETag, checksum, version or "
                "modification time for it, so a resume could not tell whether it changed; "
                "pass allow_unpinned=True to download it anyway (checked by size only)",
                target=self.name,
            )
        return identity

    def check(self, identity: ObjectIdentity) -> None:
        """Raise :class:`ObjectChangedError` unless the file still has ``identity``."""
        now = self.stat()
        if not now.same_object(identity):
            raise ObjectChangedError(
                f"{self.name} changed during the download ({_difference(identity, now)})",
                target=self.name,
            )

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> FsspecRangeReader:
        self.check(identity)  # every (re)connect: nothing pins the reads themselves
        return FsspecRangeReader(self, start, end, identity)

    def read(self, start: int, end: int) -> bytes:
        data = self._call(self._fs.cat_file, self.path, start=start, end=end)
        return bytes(data)

    def _fresh_info(self) -> dict[str, Any]:
        try:
            self._fs.invalidate_cache(self.path)
        except Exception:  # a cache it cannot drop is no reason to fail the download
            log.debug("%s: invalidate_cache failed", self.name, exc_info=True)
        return dict(self._fs.info(self.path))

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            raise translate(error, self.name) from error


class FsspecRangeReader:
    """Bytes ``[start, end)`` of a :class:`FsspecRangeSource`, one ``cat_file`` per buffer.

    ``close`` from another thread takes effect at the next read: a ``cat_file``
    in flight cannot be aborted.
    """

    def __init__(
        self, source: FsspecRangeSource, start: int, end: int, identity: ObjectIdentity
    ) -> None:
        self._source = source
        self._position = start
        self._end = end
        self._identity = identity
        self._closed = threading.Event()

    def readinto(self, buffer: memoryview) -> int:
        name = self._source.name
        if self._closed.is_set():
            raise TransientError(f"{name}: connection closed", target=name)
        count = min(len(buffer), self._end - self._position)
        if count <= 0:
            return 0
        data = self._source.read(self._position, self._position + count)
        if len(data) != count:
            self._source.check(self._identity)  # shorter because it changed?
            raise TransientError(
                f"{name}: asked for {count} bytes at {self._position}, got {len(data)}",
                target=name,
            )
        if self._position + count == self._end:
            # The range's last bytes: hand them over only if the file is still the same.
            self._source.check(self._identity)
        buffer[:count] = data
        self._position += count
        return count

    def close(self) -> None:
        self._closed.set()


def translate(error: BaseException, name: str) -> OSSResumableError:
    """A target filesystem's error, as the library's (fsspec maps to built-in ``OSError``s)."""
    if isinstance(error, OSSResumableError):
        return error
    detail = redact(f"{type(error).__name__}: {error}")
    if isinstance(error, FileNotFoundError):
        return ObjectNotFoundError(f"{name}: not found ({detail})", target=name)
    if isinstance(error, PermissionError):
        return AccessDeniedError(f"{name}: access denied ({detail})", target=name)
    if isinstance(error, IsADirectoryError):
        return NotAnObjectError(f"{name} is a directory", target=name)
    if isinstance(error, (OSError, ConnectionError, TimeoutError)):
        return TransientError(f"{name}: {detail}", target=name)
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(error, aiohttp.ClientError):
        return TransientError(f"{name}: {detail}", target=name)
    return OSSResumableError(f"{name}: the target filesystem failed: {detail}", target=name)


def _difference(old: ObjectIdentity, new: ObjectIdentity) -> str:
    changes = [
        f"{field} {getattr(old, field)!r} -> {getattr(new, field)!r}"
        for field in ("size", "etag", "last_modified", "version_id")
        if getattr(old, field) != getattr(new, field)
    ]
    return ", ".join(changes) or "identity changed"
