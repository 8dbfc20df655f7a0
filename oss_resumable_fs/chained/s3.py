"""s3fs targets: ranged GETs pinned with ``If-Match``, on s3fs's own client.

Everything that knows s3fs or botocore lives here. Requests go through the
aiobotocore client of the user's ``S3FileSystem`` (its credentials, endpoint,
region, ``s3_additional_kwargs`` such as SSE-C keys, requester-pays), but not
through s3fs's retry loop (``_error_wrapper``): the engine retries, from the
last byte received, and sees throttling at once (fewer connections). The
client's own botocore retries (``config_kwargs={"retries": ...}``) still apply
to a request that has not started its body.

s3fs internals relied on -- :data:`S3FS_NAMES`, checked by
``tests/integration/test_chained_s3.py::test_the_s3fs_names_we_rely_on_exist``:

* ``S3FileSystem.set_session()`` (async) and ``get_s3(bucket)`` (async): the client;
* ``S3FileSystem._get_s3_method_kwargs(method, **kwargs)``: the request
  parameters s3fs itself adds (``s3_additional_kwargs``: SSE-C keys...),
  filtered to what the operation takes; ``req_kw`` (``RequestPayer``);
* ``S3FileSystem.split_path(path)`` -> ``(bucket, key, version_id)``; ``loop``.

All of them have the same shape from s3fs 2023.12.0 to 2026.9.0 (read in its
history); tested with 2026.9.0 (aiobotocore 3.10). Bound for pyproject:
``s3fs>=2023.12.0,<2027``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any

from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import (
    AccessDeniedError,
    InvalidArgumentError,
    ObjectChangedError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
    OSSResumableError,
    RangeNotSatisfiableError,
    TransientError,
)
from oss_resumable_fs.sources.answers import check_served
from oss_resumable_fs.sources.redact import redact_library_logs

__all__ = ["S3FS_NAMES", "S3ObjectSource", "S3RangeReader", "is_s3fs", "translate", "tune_options"]

log = logging.getLogger(__name__)

#: The attributes of ``s3fs.S3FileSystem`` this module uses.
S3FS_NAMES = ("set_session", "get_s3", "_get_s3_method_kwargs", "req_kw", "split_path", "loop")
#: The protocols s3fs registers with fsspec.
PROTOCOLS = ("s3", "s3a")

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchVersion", "404"}
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
    "AccountProblem",
    "403",
}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}
_TRANSIENT = {"InternalError", "ServiceUnavailable", "RequestTimeout", "500", "502", "504"}


def is_s3fs(fs: Any) -> bool:
    """Whether ``fs`` is an ``s3fs.S3FileSystem`` (s3fs is imported only if it is)."""
    s3fs = sys.modules.get("s3fs")
    return s3fs is not None and isinstance(fs, s3fs.S3FileSystem)


def tune_options(protocol: str, options: Mapping[str, Any], connections: int) -> dict[str, Any]:
    """The target options for a new ``S3FileSystem``, with a connection pool that fits.

    aiobotocore keeps 10 connections unless told otherwise: more parts in
    flight than that would wait for one. ``max_pool_connections`` becomes the
    download's connection ceiling unless the user set it.
    """
    options = dict(options)
    if protocol in PROTOCOLS:
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("max_pool_connections", connections)
        options["config_kwargs"] = config
    return options


class S3ObjectSource:
    """One S3 object, read by ranges pinned to its ETag with ``If-Match``."""

    def __init__(self, fs: Any, path: str, *, read_timeout: float) -> None:
        if getattr(fs, "asynchronous", False):
            raise InvalidArgumentError(
                "resumable downloads need a synchronous S3FileSystem (its own event loop "
                "thread), not one made with asynchronous=True"
            )
        # botocore logs each request's headers at DEBUG (an STS token among them).
        redact_library_logs("botocore", "aiobotocore", "s3fs")
        self._fs = fs
        self.bucket, self.key, self.version_id = fs.split_path(path)
        if not self.key:
            raise ObjectNotFoundError(f"s3://{self.bucket} is a bucket, not an object")
        self.name = f"s3://{self.bucket}/{self.key}"
        if self.version_id:
            self.name += f"?versionId={self.version_id}"
        self._read_timeout = read_timeout

    def __repr__(self) -> str:
        return f"S3ObjectSource({self.name!r})"

    def stat(self) -> ObjectIdentity:
        """A HEAD: size, ETag, Last-Modified, version, and OSS's CRC-64 when sent."""
        head = self._call("head_object")
        headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        crc = headers.get("x-oss-hash-crc64ecma")
        return ObjectIdentity(
            size=int(head["ContentLength"]),
            etag=head.get("ETag") or None,
            last_modified=headers.get("last-modified"),
            crc64=int(crc) if crc and crc.isdigit() else None,
            version_id=head.get("VersionId") or None,
            md5=md5_of(head),
        )

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> S3RangeReader:
        whole = start == 0 and end == identity.size
        options: dict[str, Any] = {} if whole else {"Range": f"bytes={start}-{end - 1}"}
        if identity.etag:
            options["IfMatch"] = identity.etag
        if identity.version_id and not self.version_id:
            options["VersionId"] = identity.version_id
        answer = self._call("get_object", **options)
        reader = S3RangeReader(answer["Body"], self._fs.loop, self.name, self._read_timeout)
        try:
            check_answer(answer, start, end, identity, self.name)
        except BaseException:
            reader.close()
            raise
        return reader

    def _call(self, method: str, **options: Any) -> Any:
        """One request on s3fs's client, its errors translated (:func:`translate`)."""
        fs, bucket, key = self._fs, self.bucket, self.key
        if self.version_id:
            options["VersionId"] = self.version_id

        async def call() -> Any:
            await fs.set_session()
            client = await fs.get_s3(bucket)
            bound = getattr(client, method)
            given = {**fs.req_kw, "Bucket": bucket, "Key": key, **options}
            return await bound(**fs._get_s3_method_kwargs(bound, **given))

        try:
            return asyncio.run_coroutine_threadsafe(call(), fs.loop).result()
        except Exception as error:
            raise translate(error, self.name) from error


class S3RangeReader:
    """The body of one GET, read on s3fs's event loop; ``close`` aborts a read in flight."""

    def __init__(self, body: Any, loop: asyncio.AbstractEventLoop, name: str, timeout: float):
        self._body = body
        self._loop = loop
        self._name = name
        self._timeout = timeout
        self._lock = threading.Lock()
        self._reading: concurrent.futures.Future[bytes] | None = None
        self._closed = False

    def readinto(self, buffer: memoryview) -> int:
        with self._lock:
            if self._closed:
                raise TransientError(f"{self._name}: connection closed", target=self._name)
            reading = asyncio.run_coroutine_threadsafe(self._read(len(buffer)), self._loop)
            self._reading = reading
        try:
            data = reading.result()
        except concurrent.futures.CancelledError:
            raise TransientError(f"{self._name}: connection closed", target=self._name) from None
        except Exception as error:
            raise translate(error, self._name) from error
        count = len(data)
        buffer[:count] = data
        return count

    async def _read(self, size: int) -> bytes:
        return bytes(await asyncio.wait_for(self._body.read(size), self._timeout))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            reading = self._reading
        if reading is not None:
            reading.cancel()  # wakes a readinto blocked in another thread
        # RuntimeError: the loop is gone (interpreter exit), and so is the connection.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._body.close)


def md5_of(head: Mapping[str, Any]) -> str | None:
    """The object's MD5 when its ETag is one (lower-case hex), else ``None``.

    S3's ETag is the MD5 of the content for an object uploaded in one piece and
    stored unencrypted or with SSE-S3; a multipart upload's has a ``-N``
    suffix, and SSE-KMS / SSE-C objects have ETags that are not their MD5.
    """
    etag = str(head.get("ETag") or "").strip('"')
    encryption = str(head.get("ServerSideEncryption") or "")
    if head.get("SSECustomerAlgorithm") or encryption.startswith("aws:kms"):
        return None
    return etag.lower() if _MD5.fullmatch(etag) else None


def check_answer(
    answer: Mapping[str, Any], start: int, end: int, identity: ObjectIdentity, name: str
) -> None:
    """Refuse any answer that is not exactly bytes ``[start, end)`` of ``identity``."""
    meta = answer.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    etag = answer.get("ETag")
    if identity.etag and etag and etag != identity.etag:
        raise ObjectChangedError(
            f"{name}: ETag changed from {identity.etag} to {etag}", target=name
        )
    check_served(
        status,
        answer.get("ContentRange"),
        answer.get("ContentLength"),
        start,
        end,
        identity.size,
        name,
    )


def translate(error: BaseException, name: str) -> OSSResumableError:
    """Map a botocore / aiohttp / s3fs error for object ``name`` onto the library's tree.

    The one place S3's vocabulary is read. Messages carry the object name, the
    S3 code and the request id, never credentials.
    """
    if isinstance(error, OSSResumableError):
        return error
    import botocore.exceptions as boto

    if isinstance(error, boto.ClientError):
        return _client_error(error, name)
    if isinstance(error, (boto.NoCredentialsError, boto.PartialCredentialsError)):
        return AccessDeniedError(f"{name}: no usable S3 credentials ({error})", target=name)
    if isinstance(error, boto.ParamValidationError):
        return InvalidArgumentError(f"{name}: {error}", target=name)
    transient: tuple[type[BaseException], ...] = (
        boto.HTTPClientError,
        boto.ConnectionError,
        boto.IncompleteReadError,
        asyncio.TimeoutError,
        OSError,
    )
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        transient += (aiohttp.ClientError,)
    if isinstance(error, transient):
        detail = type(error).__name__
        return TransientError(f"{name}: connection failed: {detail}", target=name)
    return OSSResumableError(f"{name}: unexpected error: {type(error).__name__}", target=name)


def _client_error(error: Any, name: str) -> OSSResumableError:
    response = getattr(error, "response", None) or {}
    meta = response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    code = str(response.get("Error", {}).get("Code") or status or "") or None
    message = response.get("Error", {}).get("Message") or ""
    request_id = meta.get("RequestId") or None
    detail = f"{code}: {message}".rstrip(": ") if code else f"HTTP {status}"
    suffix = f" (request id {request_id})" if request_id else ""
    fields = {"code": code, "request_id": request_id, "target": name}
    if code == "InvalidObjectState":
        return ObjectNotRestoredError(
            f"{name}: must be restored first ({detail}){suffix}", **fields
        )
    if status == 412 or code == "PreconditionFailed":
        return ObjectChangedError(
            f"{name}: the object changed during the download ({detail})", **fields
        )
    if status == 404 or code in _NOT_FOUND:
        return ObjectNotFoundError(f"{name}: not found ({detail}){suffix}", **fields)
    if status == 403 or code in _DENIED:
        return AccessDeniedError(f"{name}: access denied ({detail}){suffix}", **fields)
    if status == 416:
        return RangeNotSatisfiableError(f"{name}: {detail}{suffix}", **fields)
    if status == 429 or code in _THROTTLED or code in _TRANSIENT or (status or 0) >= 500:
        return TransientError(
            f"{name}: {detail}{suffix}",
            retry_after=_retry_after(meta.get("HTTPHeaders") or {}),
            throttled=status in (429, 503) or code in _THROTTLED,
            **fields,
        )
    return OSSResumableError(f"{name}: S3 refused the request ({detail}){suffix}", **fields)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The delay a throttling answer suggested: ``Retry-After`` (s), OSS's qos delay (ms)."""
    try:
        if "retry-after" in headers:
            return float(headers["retry-after"])
        if "x-oss-qos-delay-time" in headers:
            return float(headers["x-oss-qos-delay-time"]) / 1000.0
    except ValueError:
        pass
    return None
