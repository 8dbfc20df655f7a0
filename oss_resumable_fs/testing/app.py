"""The aiohttp application: addressing, authentication, errors, statistics.

A request signed with AWS Signature V4 (or V2) is OSS's S3-compatible API, served by
:mod:`.s3_api` over the same storage, faults and statistics. Every other
request goes through :func:`_oss_middleware`, which names the
operation, counts the request (refusing a GetObject that a ``throttle`` rule
limits), authenticates the caller, fires the fault rules that apply before a
handler runs and turns :class:`OSSError` into OSS's error answer. Handlers live
in :mod:`.bucket_ops` and :mod:`.object_ops`; the control endpoint
(``/_ossr/...``) in :mod:`.control`.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import unquote

from aiohttp import web

from oss_resumable_fs.testing import bucket_ops, control, object_ops, s3_api
from oss_resumable_fs.testing.auth import AuthError, authenticate
from oss_resumable_fs.testing.fault_effects import (
    ConnectionAborted,
    apply_request_faults,
    fault_error,
)
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.state import CALL_KEY, Call, ServerState
from oss_resumable_fs.testing.xmlio import error_document

STATE_KEY = web.AppKey("ossr_state", ServerState)
_RequestKey = getattr(web, "RequestKey", None)  # aiohttp >= 3.12
STARTED_KEY = _RequestKey("ossr_started", float) if _RequestKey else "ossr_started"
Handler = Callable[[Call], Awaitable[web.StreamResponse]]

HANDLERS: dict[str, Handler] = {
    "ListBuckets": bucket_ops.list_buckets,
    "PutBucket": bucket_ops.put_bucket,
    "PutBucketAcl": bucket_ops.put_bucket_acl,
    "GetBucketAcl": bucket_ops.get_bucket_acl,
    "DeleteBucket": bucket_ops.delete_bucket,
    "GetBucketInfo": bucket_ops.get_bucket_info,
    "GetBucketLocation": bucket_ops.get_bucket_location,
    "ListObjects": bucket_ops.list_objects,
    "ListObjectsV2": bucket_ops.list_objects,
    "DeleteMultipleObjects": bucket_ops.delete_multiple_objects,
    "PutObject": object_ops.put_object,
    "AppendObject": object_ops.append_object,
    "GetObject": object_ops.get_object,
    "HeadObject": object_ops.head_object,
    "GetObjectMeta": object_ops.head_object,
    "DeleteObject": object_ops.delete_object,
    "RestoreObject": object_ops.restore_object,
    "InitiateMultipartUpload": object_ops.initiate_multipart_upload,
    "UploadPart": object_ops.upload_part,
    "CompleteMultipartUpload": object_ops.complete_multipart_upload,
    "AbortMultipartUpload": object_ops.abort_multipart_upload,
    "ListParts": object_ops.list_parts,
}

#: What an anonymous caller may do on a public-read bucket.
ANONYMOUS_READS = frozenset(
    {"GetObject", "HeadObject", "GetObjectMeta", "ListObjects", "ListObjectsV2"}
)
#: ... and additionally on a public-read-write bucket.
ANONYMOUS_WRITES = frozenset(
    {
        "PutObject",
        "AppendObject",
        "DeleteObject",
        "DeleteMultipleObjects",
        "InitiateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    }
)


def split_path(raw_path: str) -> tuple[str, str]:
    """``/bucket/some%2Fkey?x`` -> ``("bucket", "some/key")`` (no path normalisation)."""
    path = raw_path.split("?", 1)[0].lstrip("/")
    bucket, _, key = path.partition("/")
    return unquote(bucket), unquote(key)


def classify(method: str, bucket: str, key: str, query: Mapping[str, str]) -> str:
    """The OSS operation a request asks for, from its method and sub-resources."""
    has = query.__contains__
    if not bucket:
        return "ListBuckets" if method == "GET" else "MethodNotAllowed"
    if not key:
        table = {
            "PUT": "PutBucketAcl" if has("acl") else "PutBucket",
            "DELETE": "DeleteBucket",
            "POST": "DeleteMultipleObjects" if has("delete") else "Unsupported",
        }
        if method == "GET":
            for sub, name in (
                ("bucketInfo", "GetBucketInfo"),
                ("acl", "GetBucketAcl"),
                ("location", "GetBucketLocation"),
            ):
                if has(sub):
                    return name
            if any(has(s) for s in ("uploads", "versions", "cors", "lifecycle", "stat")):
                return "Unsupported"
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        return table.get(method, "MethodNotAllowed")
    if method == "PUT":
        if has("partNumber") and has("uploadId"):
            return "UploadPart"
        return "Unsupported" if has("acl") or has("tagging") else "PutObject"
    if method == "GET":
        if has("uploadId"):
            return "ListParts"
        return "Unsupported" if has("acl") or has("tagging") else "GetObject"
    if method == "HEAD":
        return "GetObjectMeta" if has("objectMeta") else "HeadObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if has("uploadId") else "DeleteObject"
    if method == "POST":
        for sub, name in (
            ("uploads", "InitiateMultipartUpload"),
            ("uploadId", "CompleteMultipartUpload"),
            ("restore", "RestoreObject"),
            ("append", "AppendObject"),
        ):
            if has(sub):
                return name
        return "Unsupported"
    return "MethodNotAllowed"


def _authorize(call: Call) -> None:
    state = call.state
    if not state.require_auth:
        return
    request = call.request
    try:
        call.credential = authenticate(
            request.method,
            request.raw_path.split("?", 1)[0],
            list(request.query.items()),
            request.headers,
            state.credentials,
            region=state.region,
        )
    except AuthError as err:
        extra = {"StringToSign": err.string_to_sign} if err.string_to_sign else {}
        raise OSSError(err.code, err.message, status=err.status, extra=extra) from None
    if call.credential is not None:
        return
    allowed = ANONYMOUS_READS
    if call.bucket:
        acl = state.storage.bucket(call.bucket).acl  # NoSuchBucket first, as OSS does
        if acl == "public-read-write":
            allowed = ANONYMOUS_READS | ANONYMOUS_WRITES
        elif acl != "public-read":
            allowed = frozenset()
    if call.operation not in allowed:
        raise OSSError("AccessDenied", "You have no right to access this object.")


def error_response(call: Call, error: OSSError) -> web.Response:
    body = error_document(error, call.request_id, call.state.host_id)
    headers = {"x-oss-ec": f"0{error.status:03d}-00000001", **error.headers}
    if call.request.method == "HEAD":
        # No body on HEAD: OSS sends the error document base64-encoded in a header.
        headers["x-oss-err"] = base64.b64encode(body).decode("ascii")
        return web.Response(status=error.status, headers=headers)
    return web.Response(
        status=error.status, body=body, headers=headers, content_type="application/xml"
    )


async def _unsupported(call: Call) -> web.StreamResponse:
    if call.operation == "MethodNotAllowed":
        raise OSSError("MethodNotAllowed", "The specified method is not allowed.")
    raise OSSError("NotImplemented", "This operation is not implemented by the OSS emulator.")


@web.middleware
async def _oss_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith(control.PREFIX):
        return await handler(request)
    state = request.app[STATE_KEY]
    if s3_api.is_s3_request(request):  # AWS-signed: OSS's S3-compatible API
        return await s3_api.serve(request, state)
    bucket, key = split_path(request.raw_path)
    operation = classify(request.method, bucket, key, request.query)
    call = Call(request, state, operation, bucket, key, secrets.token_hex(12).upper())
    request[CALL_KEY] = call
    call.response_headers["x-oss-request-id"] = call.request_id
    if_match = "If-Match" in request.headers
    with state.stats.request(
        operation, state.open_connections(), if_match, bucket=bucket, key=key, faults=state.faults
    ) as throttled_by:
        try:
            if throttled_by is not None:  # a front-end limit: before authentication
                raise fault_error(throttled_by)
            _authorize(call)
            if operation != "GetObject":  # GetObject fires its rules once it knows the range
                await apply_request_faults(call, None)
            return await HANDLERS.get(operation, _unsupported)(call)
        except OSSError as err:
            return error_response(call, err)
        except ConnectionAborted:
            # aiohttp fails to send this on the closed connection, and says nothing.
            return web.Response(status=500)


async def _add_common_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    call = request.get(CALL_KEY)
    if call is None:
        return
    for name, value in call.response_headers.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = "AliyunOSS"
    started = call.request.get(STARTED_KEY, time.monotonic())
    response.headers["x-oss-server-time"] = str(int((time.monotonic() - started) * 1000))


@web.middleware
async def _timing_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request[STARTED_KEY] = time.monotonic()
    return await handler(request)


def build_app(state: ServerState) -> web.Application:
    """The aiohttp application serving ``state`` (OSS API plus control endpoint)."""
    app = web.Application(
        middlewares=[_timing_middleware, _oss_middleware], client_max_size=1024**4
    )
    app[STATE_KEY] = state
    control.add_routes(app, state)
    app.router.add_route("*", "/{tail:.*}", _never_called)
    app.on_response_prepare.append(_add_common_headers)
    return app


async def _never_called(request: web.Request) -> web.StreamResponse:
    """The catch-all route: the middleware answers every OSS request itself."""
    raise web.HTTPNotFound()
