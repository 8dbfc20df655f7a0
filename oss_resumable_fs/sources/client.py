"""The one door to OSS: every request the library makes passes through :class:`OSSClient`.

It owns the oss2 objects (auth, HTTP session, buckets), translates every oss2
or transport error once (:func:`translate_oss_error`), and retries transient
failures of single requests (a HEAD, a listing page, GetBucketInfo) with the
transfer's backoff, honouring OSS's ``x-oss-qos-delay-time``. Object bodies
are not retried here: their readers resume from the last byte received
(:mod:`oss_resumable_fs.engine.fetch`), which only the caller can do.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import oss2
import oss2.exceptions
import requests

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.fetch import RetryPolicy
from oss_resumable_fs.errors import (
    AccessDeniedError,
    InvalidArgumentError,
    ObjectNotFoundError,
    OSSResumableError,
    TransientError,
)
from oss_resumable_fs.sources.auth import CREDENTIAL_SOURCES, Identity
from oss_resumable_fs.sources.models import (
    BucketEntry,
    ListedObject,
    ListPage,
    ObjectHead,
    normalize_etag,
)
from oss_resumable_fs.sources.oss2_signing import signed_get
from oss_resumable_fs.sources.oss_errors import READ_ERRORS, translate_oss_error
from oss_resumable_fs.sources.reader import OSSRangeReader
from oss_resumable_fs.sources.transport import (
    ErrorAnswer,
    Transport,
    environment_ca_bundle,
    range_header,
)

__all__ = ["GetResponse", "OSSClient"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
#: Keys per ListObjects page: OSS's maximum.
LIST_PAGE_KEYS = 1000


@dataclass
class GetResponse:
    """A GET's status line and headers, and its body as a reader."""

    status: int
    headers: Any  # a case-insensitive mapping
    reader: OSSRangeReader


class OSSClient:
    """Requests to OSS for one identity (endpoint, region, credentials) and one config.

    Thread-safe: the HTTP session's connection pool is shared, ``pool_size``
    connections kept per host. Not picklable on purpose: filesystems are
    rebuilt from their options on dask workers, never shipped with live
    connections.
    """

    def __init__(
        self,
        identity: Identity,
        config: TransferConfig,
        *,
        pool_size: int = 64,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.identity = identity
        self.config = config
        self._session = oss2.Session(pool_size=pool_size)
        read_environment_once(self._session.session)
        self._transport = Transport(
            pool_size=pool_size,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
        )
        self._buckets: dict[str, oss2.Bucket] = {}
        self._lock = threading.Lock()
        self._policy = RetryPolicy.from_config(config)
        #: How retries wait (injectable for tests).
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"OSSClient({self.identity!r})"

    def __reduce__(self) -> Any:
        raise TypeError("OSSClient holds live connections; rebuild it from its options")

    @property
    def host(self) -> str:
        endpoint = self.identity.endpoint or ""
        return urlparse(endpoint if "://" in endpoint else "//" + endpoint).netloc or endpoint

    # -- oss2 objects ---------------------------------------------------------------------

    def bucket(self, name: str) -> oss2.Bucket:
        """The oss2 ``Bucket`` for ``name`` (for ossfs's write paths; see ``ossfs_compat``)."""
        if not self.identity.endpoint:
            raise InvalidArgumentError(
                "an endpoint is required: pass endpoint= or set OSS_ENDPOINT"
            )
        if not oss2.is_valid_bucket_name(name.strip()):
            raise ObjectNotFoundError(
                f"oss://{name}: not a valid OSS bucket name", target=f"oss://{name}"
            )
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = oss2.Bucket(
                    self.identity.auth,
                    self.identity.endpoint,
                    name,
                    session=self._session,
                    connect_timeout=(self.config.connect_timeout, self.config.read_timeout),
                    app_name="oss-resumable-fs",
                    # The engine verifies CRC-64 itself, with fastcrc, off the GIL.
                    enable_crc=False,
                    region=self.identity.region,
                )
        return bucket

    def _service(self) -> oss2.Service:
        if not self.identity.endpoint:
            raise InvalidArgumentError(
                "an endpoint is required: pass endpoint= or set OSS_ENDPOINT"
            )
        return oss2.Service(
            self.identity.auth,
            self.identity.endpoint,
            session=self._session,
            connect_timeout=(self.config.connect_timeout, self.config.read_timeout),
            region=self.identity.region,
        )

    # -- the door -------------------------------------------------------------------------

    def call(self, target: str, request: Callable[[], _T], *, retry: bool = True) -> _T:
        """``request()`` with its errors translated; transient ones retried when ``retry``."""

        def once() -> _T:
            try:
                return request()
            except (oss2.exceptions.OssError, *READ_ERRORS) as error:
                raise self.translate(error, target) from error

        if not retry:
            return once()
        return self._policy.call(once, self.sleep, target, log=log)

    @contextlib.contextmanager
    def translating(self, target: str) -> Iterator[None]:
        """Translate (and scrub) what oss2 raises inside: for code that calls oss2 itself."""
        try:
            yield
        except (oss2.exceptions.OssError, *READ_ERRORS) as error:
            if isinstance(error, OSSResumableError):
                raise
            raise self.translate(error, target) from error

    def translate(self, error: BaseException, target: str) -> OSSResumableError:
        """``error`` in the library's terms, with what a user should do about it."""
        translated = translate_oss_error(error, target, host=self.host)
        if isinstance(translated, AccessDeniedError) and self.identity.anonymous:
            return AccessDeniedError(
                f"{translated} -- no credentials were found, so the request was anonymous; "
                f"credentials are read from {CREDENTIAL_SOURCES}",
                code=translated.code,
                request_id=translated.request_id,
                target=translated.target,
            )
        return translated

    # -- objects --------------------------------------------------------------------------

    def head_object(
        self, bucket: str, key: str, version_id: str | None = None, *, retry: bool = True
    ) -> ObjectHead:
        params = {"versionId": version_id} if version_id else None
        target = _name(bucket, key, version_id)
        result = self.call(
            target, lambda: self.bucket(bucket).head_object(key, params=params), retry=retry
        )
        return ObjectHead.from_headers(bucket, key, result.headers, version_id)

    def get_object(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int | None, int | None] | None,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> GetResponse:
        """One GET, range inclusive as in HTTP (``(None, n)``: the last n bytes). Not retried.

        Signed by oss2 (:mod:`.oss2_signing`), sent by urllib3 (:mod:`.transport`).
        """
        headers = {"x-oss-range-behavior": "standard"}
        if byte_range:
            headers["Range"] = range_header(byte_range)
        if if_match:
            headers["If-Match"] = if_match
        params = {"versionId": version_id} if version_id else None
        target = _name(bucket, key, version_id)

        def get() -> Any:
            response = self._transport.get(*signed_get(self.bucket(bucket), key, headers, params))
            if response.status not in (200, 206):
                raise ErrorAnswer(response).exception()
            return response

        response = self.call(target, get, retry=False)
        return GetResponse(
            response.status, response.headers, OSSRangeReader(response, target, self)
        )

    def restore_object(self, bucket: str, key: str, version_id: str | None = None) -> None:
        """Ask for a restore; one already in progress is no error. Retried: it is idempotent."""
        params = {"versionId": version_id} if version_id else None

        def restore() -> None:
            try:
                self.bucket(bucket).restore_object(key, params=params)
            except oss2.exceptions.OssError as error:
                if getattr(error, "code", "") != "RestoreAlreadyInProgress":
                    raise

        self.call(_name(bucket, key, version_id), restore)

    def presign(
        self,
        bucket: str,
        key: str,
        expires: int,
        *,
        method: str = "GET",
        version_id: str | None = None,
    ) -> str:
        """A URL that lets whoever holds it make one kind of request until it expires."""
        if self.identity.anonymous:
            raise AccessDeniedError(
                f"signing a URL needs credentials; credentials are read from {CREDENTIAL_SOURCES}"
            )
        params = {"versionId": version_id} if version_id else None
        return self.call(
            _name(bucket, key, version_id),
            lambda: self.bucket(bucket).sign_url(
                method, key, expires, params=params, slash_safe=True
            ),
            retry=False,
        )

    # -- listings -------------------------------------------------------------------------

    def list_page(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        marker: str = "",
        max_keys: int = LIST_PAGE_KEYS,
    ) -> ListPage:
        """One ListObjects page, retried on its own (from its own marker)."""
        result = self.call(
            f"oss://{bucket}/{prefix} (listing)",
            lambda: self.bucket(bucket).list_objects(
                prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys
            ),
        )
        objects = tuple(
            ListedObject(
                key=info.key,
                size=int(info.size or 0),
                etag=normalize_etag(info.etag),
                last_modified=info.last_modified,
                storage_class=info.storage_class,
                object_type=info.type,
            )
            for info in result.object_list
        )
        return ListPage(
            objects=objects,
            prefixes=tuple(result.prefix_list),
            truncated=bool(result.is_truncated),
            next_marker=result.next_marker or "",
        )

    def list_objects(
        self, bucket: str, prefix: str = "", delimiter: str = ""
    ) -> Iterator[ListPage]:
        """Every page under ``prefix``; a failed page is retried, not the whole listing."""
        marker = ""
        while True:
            page = self.list_page(bucket, prefix, delimiter, marker)
            yield page
            if not page.truncated:
                return
            _check_marker_advances(marker, page.next_marker, f"oss://{bucket}/{prefix}")
            marker = page.next_marker

    def has_keys_under(self, bucket: str, prefix: str) -> bool:
        """Whether any key starts with ``prefix`` (one listing of at most one key)."""
        page = self.list_page(bucket, prefix, "/", "", max_keys=1)
        return bool(page.objects or page.prefixes)

    # -- buckets --------------------------------------------------------------------------

    def check_bucket(self, bucket: str) -> None:
        """Raise :class:`ObjectNotFoundError` (``NoSuchBucket``) unless the bucket exists.

        A refusal (403) means it is there. Any other failure raises: "missing"
        is an answer callers act on (ossfs's ``touch(truncate=False)`` would
        write an empty object over one).
        """
        with contextlib.suppress(AccessDeniedError):
            self.call(f"oss://{bucket}", lambda: self.bucket(bucket).get_bucket_info())

    def list_buckets(self) -> list[BucketEntry]:
        if self.identity.anonymous:
            raise AccessDeniedError(
                f"listing buckets needs credentials; credentials are read from {CREDENTIAL_SOURCES}"
            )
        entries: list[BucketEntry] = []
        marker = ""
        while True:
            result = self.call(
                "OSS (list buckets)",
                lambda marker=marker: self._service().list_buckets(marker=marker, max_keys=1000),
            )
            entries += [
                BucketEntry(b.name, b.creation_date, b.location, b.storage_class)
                for b in result.buckets
            ]
            if not result.is_truncated:
                return entries
            _check_marker_advances(marker, result.next_marker, "OSS (list buckets)")
            marker = result.next_marker

    # -- ossfs's write paths --------------------------------------------------------------

    def call_sdk(self, bucket: str | None, method_name: str, *args: Any, **kwargs: Any) -> Any:
        """ossfs's ``_call_oss``: an oss2 method by name, errors translated, no retries.

        Only ossfs's write paths (put, pipe, rm, append, copy) come through here.
        They are not retried: an append or a multipart step repeated blindly
        could corrupt the object.
        """
        if bucket:
            service: Any = self.bucket(bucket)
            target = f"oss://{bucket}" + (
                f"/{args[0]}" if args and isinstance(args[0], str) else ""
            )
        else:
            service = self._service()
            target = "OSS"
        method = getattr(service, method_name, None)
        if method is None:
            sdk_function = getattr(oss2, method_name)
            return self.call(target, lambda: sdk_function(service, *args, **kwargs), retry=False)
        return self.call(target, lambda: method(*args, **kwargs), retry=False)


def read_environment_once(session: requests.Session) -> None:
    """Read the environment's CA bundle now, instead of the whole environment per request.

    requests reads every variable (proxies, ``no_proxy``, CA bundles) and looks
    for ``~/.netrc`` on each request: about 7 % of the CPU of fetching a small
    file. Without proxy settings nothing of that can differ between requests,
    so it is read here once; with proxies, requests keeps matching each URL
    against ``no_proxy`` as before. (A ``~/.netrc`` entry for the endpoint
    would have replaced the request's OSS signature: it is not read.)
    """
    if urllib.request.getproxies():
        return
    session.trust_env = False
    bundle = environment_ca_bundle()
    if bundle:
        session.verify = bundle


def _check_marker_advances(marker: str, next_marker: str, target: str) -> None:
    """A truncated page must point past itself; otherwise the listing would never end."""
    if not next_marker or next_marker <= marker:
        raise TransientError(
            f"{target}: the listing is truncated but its next marker {next_marker!r} does not "
            f"advance past {marker!r}",
            target=target,
        )


def _name(bucket: str, key: str, version_id: str | None = None) -> str:
    name = f"oss://{bucket}/{key}"
    return f"{name}?versionId={version_id}" if version_id else name
