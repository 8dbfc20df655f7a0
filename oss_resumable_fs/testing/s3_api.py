"""OSS's S3-compatible API, on the same endpoint and over the same objects.

Real OSS answers requests signed with AWS Signature V4 as S3 would, so that
S3 clients (boto3 / s3transfer, s3fs, obstore, the AWS CRT) work against it
unmodified. :func:`is_s3_request` tells such a request apart by its auth
scheme (``Authorization: AWS4-HMAC-SHA256 ...`` or a presigned
``X-Amz-Algorithm`` query; Signature V2's ``AWS id:sig`` or ``AWSAccessKeyId``
query); :func:`serve` answers it through the same
machinery as an OSS request: the same operation names in the statistics, the
same ``throttle`` admission, fault rules, range and conditional rules and
byte accounting, and the same storage (so an object's bytes and ETag are the
same through both APIs). Only addressing, authentication, headers and XML
differ. Unsigned requests stay OSS requests.

Addressing: path style (``/bucket/key``) and virtual-hosted style, whose Host
is ``<bucket>.<base>`` with a base that names this server: ``localhost``, an
IP address, a wildcard-DNS name that starts with one (``127.0.0.1.nip.io``)
or an OSS domain (``[s3.]oss-<region>.aliyuncs.com``).
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import unquote

from aiohttp import web

from oss_resumable_fs.testing import s3_multipart, s3_objects
from oss_resumable_fs.testing.bucket_ops import (
    ListingPage,
    continuation_token,
    list_page,
    resume_after,
)
from oss_resumable_fs.testing.fault_effects import (
    ConnectionAborted,
    apply_request_faults,
    fault_error,
)
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.s3_auth import S3Auth, S3AuthError, is_sigv4, verify
from oss_resumable_fs.testing.s3_auth_v2 import is_sigv2, verify_v2
from oss_resumable_fs.testing.s3_xml import (
    error_document,
    list_buckets_document,
    list_objects_document,
    location_document,
)
from oss_resumable_fs.testing.state import CALL_KEY, Call, ServerState

__all__ = ["bucket_region", "classify", "is_s3_request", "serve", "virtual_host_bucket"]

Handler = Callable[[Call, S3Auth], Awaitable[web.StreamResponse]]
MAX_KEYS_LIMIT = 1000

_BUCKET_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_IPV4_PREFIX = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}\.")
#: Query keys a listing understands; any other bucket sub-resource is not implemented.
_LIST_PARAMS = frozenset(
    {
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "list-type",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "encoding-type",
    }
)
#: Object sub-resources this server does not implement.
_OBJECT_SUBRESOURCES = frozenset(
    {"acl", "tagging", "attributes", "torrent", "legal-hold", "retention", "restore", "select"}
)


def is_s3_request(request: web.BaseRequest) -> bool:
    """Whether ``request`` is signed for the S3 API (AWS V4 or V2, header or presigned query)."""
    return is_sigv4(request.headers, request.query) or is_sigv2(request.headers, request.query)


def bucket_region(state: ServerState) -> str:
    """The region S3 clients are told a bucket is in (OSS's region id, ``oss-<region>``)."""
    return f"oss-{state.region}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def virtual_host_bucket(host: str) -> str | None:
    """The bucket a virtual-hosted-style ``Host`` names, or None (path style)."""
    if host.startswith("["):  # an IPv6 literal
        return None
    name = host.rsplit(":", 1)[0].lower().rstrip(".")
    first, sep, base = name.partition(".")
    if not sep or not _BUCKET_LABEL.match(first):
        return None
    oss_domain = base.startswith(("oss-", "s3.oss-")) and base.endswith(".aliyuncs.com")
    if base == "localhost" or _is_ip(base) or _IPV4_PREFIX.match(base) or oss_domain:
        return first
    return None


def address(request: web.BaseRequest) -> tuple[str, str]:
    """(bucket, key) of a request, virtual-hosted or path style."""
    path = request.raw_path.split("?", 1)[0]
    bucket = virtual_host_bucket(request.host)
    if bucket is not None:
        return bucket, unquote(path[1:])
    name, _, key = path.lstrip("/").partition("/")
    return unquote(name), unquote(key)


def classify(
    method: str, bucket: str, key: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> str:
    """The operation an S3 request asks for, named as the OSS API names it."""
    if not bucket:
        return "ListBuckets" if method == "GET" else "MethodNotAllowed"
    if not key:
        if method == "HEAD":
            return "HeadBucket"
        if method != "GET":
            return "Unsupported"  # CreateBucket, DeleteBucket, DeleteObjects, ...
        if "location" in query:
            return "GetBucketLocation"
        own = {k for k in query if not k.startswith(("X-Amz-", "x-amz-")) and k != "x-id"}
        if own - _LIST_PARAMS:
            return "Unsupported"
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if _OBJECT_SUBRESOURCES & query.keys():
        return "Unsupported"  # ACLs, tagging, ...
    copy = "x-amz-copy-source" in headers
    if "uploadId" in query:
        upload_ops = {
            "GET": "ListParts",
            "PUT": "Unsupported" if copy else "UploadPart",
            "POST": "CompleteMultipartUpload",
            "DELETE": "AbortMultipartUpload",
        }
        return upload_ops.get(method, "MethodNotAllowed")
    if "uploads" in query:
        return "InitiateMultipartUpload" if method == "POST" else "Unsupported"
    if method == "GET":
        return "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        return "Unsupported" if copy else "PutObject"  # CopyObject is not implemented
    if method == "DELETE":
        return "DeleteObject"
    return "Unsupported" if method == "POST" else "MethodNotAllowed"


async def serve(request: web.Request, state: ServerState) -> web.StreamResponse:
    """Answer one S3 request: count it, admit it, authenticate it, fault it, handle it."""
    bucket, key = address(request)
    operation = classify(request.method, bucket, key, request.query, request.headers)
    call = Call(request, state, operation, bucket, key, secrets.token_hex(12).upper())
    request[CALL_KEY] = call
    call.response_headers.update(
        {
            "x-amz-request-id": call.request_id,
            "x-amz-id-2": state.host_id,
            "x-oss-request-id": call.request_id,
        }
    )
    if_match = "If-Match" in request.headers
    with state.stats.request(
        operation, state.open_connections(), if_match, bucket=bucket, key=key, faults=state.faults
    ) as throttled_by:
        try:
            if throttled_by is not None:  # a front-end limit: before authentication
                raise fault_error(throttled_by)
            auth = _authenticate(call)
            if operation != "GetObject":  # GetObject fires its rules once it knows the range
                await apply_request_faults(call, None)
            return await HANDLERS.get(operation, _unsupported)(call, auth)
        except OSSError as err:
            return error_response(call, err)
        except ConnectionAborted:
            return web.Response(status=500)  # never sent: the connection is gone


def _authenticate(call: Call) -> S3Auth:
    request = call.request
    query, headers = list(request.query.items()), list(request.headers.items())
    credentials = call.state.credentials
    try:
        if is_sigv4(request.headers, request.query):
            auth = verify(request.method, request.raw_path, query, headers, credentials)
        else:
            host_bucket = virtual_host_bucket(request.host)
            auth = verify_v2(
                request.method,
                request.raw_path,
                query,
                headers,
                credentials,
                host_bucket=host_bucket,
            )
    except S3AuthError as err:
        raise OSSError(err.code, err.message, status=err.status, extra=err.extra) from None
    call.credential = auth.credential
    return auth


def error_response(call: Call, error: OSSError) -> web.Response:
    """S3's answer to ``error``: its ``<Error>`` document (none on HEAD)."""
    headers = dict(error.headers)
    delay = headers.get("x-oss-qos-delay-time")
    if delay is not None:  # S3 clients read Retry-After (whole seconds)
        headers["Retry-After"] = str(max(1, math.ceil(int(delay) / 1000)))
    if call.request.method == "HEAD":
        return web.Response(status=error.status, headers=headers)
    resource = call.request.raw_path.split("?", 1)[0]
    body = error_document(
        error,
        call.request_id,
        call.state.host_id,
        bucket=call.bucket,
        key=call.key,
        resource=resource,
    )
    return web.Response(
        status=error.status, body=body, headers=headers, content_type="application/xml"
    )


def _xml(body: bytes, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=body, headers=headers, content_type="application/xml")


async def _unsupported(call: Call, auth: S3Auth) -> web.StreamResponse:
    if call.operation == "MethodNotAllowed":
        raise OSSError(
            "MethodNotAllowed", "The specified method is not allowed against this resource."
        )
    raise OSSError(
        "NotImplemented", "A header or query you provided implies functionality not implemented."
    )


def _max_keys(call: Call, name: str) -> int:
    text = call.query.get(name, "")
    if text == "":
        return MAX_KEYS_LIMIT
    if not text.isdigit():
        raise OSSError("InvalidArgument", f"Provided {name} not an integer or within integer range")
    return min(int(text), MAX_KEYS_LIMIT)


# -- service and bucket operations ------------------------------------------------------


async def list_buckets(call: Call, auth: S3Auth) -> web.StreamResponse:
    prefix = call.query.get("prefix", "")
    token = call.query.get("continuation-token", "")
    after = resume_after(token) if token else ""
    limit = _max_keys(call, "max-buckets")
    names = [
        b for b in call.state.storage.buckets() if b.name.startswith(prefix) and b.name > after
    ]
    page = names[:limit]
    next_token = continuation_token(page[-1].name) if len(names) > limit and page else None
    body = list_buckets_document(
        page, prefix=prefix, token=next_token, region=bucket_region(call.state)
    )
    return _xml(body)


async def head_bucket(call: Call, auth: S3Auth) -> web.StreamResponse:
    call.state.storage.bucket(call.bucket)
    return web.Response(headers={"x-amz-bucket-region": bucket_region(call.state)})


async def get_bucket_location(call: Call, auth: S3Auth) -> web.StreamResponse:
    call.state.storage.bucket(call.bucket)
    return _xml(location_document(bucket_region(call.state)))


async def list_objects(call: Call, auth: S3Auth) -> web.StreamResponse:
    """ListObjectsV2 and ListObjects (v1): prefix, delimiter, paging, ``encoding-type=url``."""
    v2 = call.operation == "ListObjectsV2"
    query = call.query
    call.state.storage.bucket(call.bucket)
    if query.get("encoding-type", "url") != "url":
        raise OSSError("InvalidArgument", "Invalid Encoding Method specified in Request")
    max_keys = _max_keys(call, "max-keys")
    if v2:
        token = query.get("continuation-token", "")
        after = max(
            query.get("start-after", ""),
            resume_after(token) if token else "",
            key=lambda s: s.encode("utf-8"),
        )
    else:
        after = query.get("marker", "")
    page = list_page(
        call.state.storage,
        call.bucket,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        after=after,
        max_keys=max_keys,
    )
    if max_keys == 0:
        page = ListingPage([], [], False, "")
    next_token = continuation_token(page.last) if page.truncated else None
    body = list_objects_document(
        call.bucket, page, query, v2=v2, max_keys=max_keys, next_token=next_token
    )
    return _xml(body)


HANDLERS: dict[str, Handler] = {
    "ListBuckets": list_buckets,
    "HeadBucket": head_bucket,
    "GetBucketLocation": get_bucket_location,
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects,
    "GetObject": s3_objects.get_object,
    "HeadObject": s3_objects.head_object,
    "PutObject": s3_objects.put_object,
    "DeleteObject": s3_objects.delete_object,
    "InitiateMultipartUpload": s3_multipart.create_multipart_upload,
    "UploadPart": s3_multipart.upload_part,
    "ListParts": s3_multipart.list_parts,
    "CompleteMultipartUpload": s3_multipart.complete_multipart_upload,
    "AbortMultipartUpload": s3_multipart.abort_multipart_upload,
}
