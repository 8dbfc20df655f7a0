"""``download_url``: a signed OSS URL, or any ranged HTTP(S) URL, through the same engine.

::

    from oss_resumable_fs import download_url

    result = download_url(signed_url, "big.bin")  # from oss-resumable sign, or any https://
    print(result.summary())  # ... 8.0 MiB fetched ..., CRC-64 verified
    result.verified          # Verified.CRC64, .MD5 or .SIZE (no checksum to verify with)

Parallel parts, a checkpoint beside the destination, an atomic landing. The
download is named by the URL without its query string, so when a signed URL
expires halfway, a new one for the same object resumes it.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import requests

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.pool import ProgressListener
from oss_resumable_fs.engine.result import DownloadResult, journal_path_for
from oss_resumable_fs.engine.transfer import download
from oss_resumable_fs.errors import InvalidArgumentError
from oss_resumable_fs.sources.http import HTTPRangeSource
from oss_resumable_fs.sources.http_errors import public_name

__all__ = ["download_url", "is_http_url", "url_destination"]

#: What the first GET asks for when a checkpoint exists: its first part may be done.
PROBE = 1


def is_http_url(text: str) -> bool:
    """Whether ``text`` is an ``http://`` or ``https://`` URL (what ``download_url`` takes)."""
    return text[:8].lower().startswith(("http://", "https://"))


def url_destination(url: str, dest: str | os.PathLike[str]) -> str:
    """Where ``url`` lands: ``dest``, or ``dest/<the URL's file name>`` for a directory
    (or a path ending in a separator)."""
    dest = os.fspath(dest)
    if not (os.path.isdir(dest) or dest.endswith(("/", os.sep))):
        return dest
    name = posixpath.basename(unquote(urlsplit(url).path))
    if name in ("", ".", ".."):
        raise InvalidArgumentError(
            f"{public_name(url)} names no file; give DEST as a file name, not a directory"
        )
    return os.path.join(dest, name)


def download_url(
    url: str,
    dest: str | os.PathLike[str],
    config: TransferConfig | None = None,
    *,
    progress: ProgressListener | None = None,
    cancel: threading.Event | None = None,
    headers: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    md5_etag: bool = True,
) -> DownloadResult:
    """Download ``url`` into ``dest`` (a file, or a directory to put it in), resuming if
    an earlier attempt left a checkpoint.

    ``url`` is a signed OSS URL (``oss-resumable sign``) or any ``http(s)://`` URL.
    Its size and ETag come from a first ranged GET (a signed URL allows no HEAD),
    whose bytes start the first part; every later request carries ``If-Match``
    (or ``If-Unmodified-Since``). The bytes are verified with OSS's CRC-64 when
    the server sends one, else with the MD5 a plain single-part ETag is (one more
    pass over the file; ``md5_etag=False`` for a server whose ETags only look
    like MD5s), else only by size and pinning: :attr:`DownloadResult.verified`
    says which. ``config.verify_crc64=False`` turns either check off. A server
    that ignores ranges is read in one stream (:attr:`DownloadResult.single_stream`).

    ``headers`` go with every request (e.g. ``Authorization``; never logged);
    ``session`` is a ``requests.Session`` to send them with.

    Raises :class:`~oss_resumable_fs.errors.URLExpiredError` when a signed URL
    has expired (the checkpoint is kept: a new URL for the same object resumes),
    :class:`~oss_resumable_fs.errors.AccessDeniedError`,
    :class:`~oss_resumable_fs.errors.ObjectNotFoundError`,
    :class:`~oss_resumable_fs.errors.ObjectChangedError` (the object changed
    again after a fresh start), :class:`~oss_resumable_fs.errors.IntegrityError`;
    none of their messages carries the URL's query string.
    """
    if not is_http_url(url):
        raise InvalidArgumentError(f"{url.split('?', 1)[0]}: not an http:// or https:// URL")
    config = config or TransferConfig()
    destination = url_destination(url, dest)
    resuming = os.path.exists(journal_path_for(destination, config))
    source = HTTPRangeSource(
        url,
        session=session,
        headers=headers,
        # A resume may have its first part already: then only a probe, bytes=0-0.
        first_request=PROBE if resuming else config.resolve_record_size(0),
        md5_etag=md5_etag,
        timeout=(config.connect_timeout, config.read_timeout),
    )
    try:
        return download(source, destination, config, progress=progress, cancel=cancel)
    finally:
        source.close()  # the first GET's answer, if no read took it
