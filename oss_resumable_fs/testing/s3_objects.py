"""Object operations of the S3-compatible API: GetObject, HeadObject, PutObject, DeleteObject.

GetObject goes through :func:`.object_ops.serve_object`, as an OSS GetObject
does, with S3's range rules (OSS's ``standard`` ones: an end past the object
is clipped, a start past it is 416) and S3's headers. User metadata is kept
once, under OSS's ``x-oss-meta-`` names, and shown as ``x-amz-meta-`` here.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from oss_resumable_fs.testing.object_ops import PRECONDITION_MESSAGE, serve_object
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.ranges import check_conditions
from oss_resumable_fs.testing.records import ObjectMeta, restore_header
from oss_resumable_fs.testing.s3_auth import S3Auth
from oss_resumable_fs.testing.s3_body import receive_body
from oss_resumable_fs.testing.s3_xml import OSS_STORAGE_CLASSES, storage_class
from oss_resumable_fs.testing.state import Call
from oss_resumable_fs.testing.xmlio import http_date

__all__ = [
    "delete_object",
    "get_object",
    "head_object",
    "object_headers",
    "put_object",
    "storage_class_for",
    "user_meta",
]

OSS_META, S3_META = "x-oss-meta-", "x-amz-meta-"
#: GetObject query parameters that override a response header (presigned downloads use them).
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
MAX_KEY_BYTES = 1024


def object_headers(meta: ObjectMeta) -> dict[str, str]:
    """The headers S3 sends with an object (GET and HEAD)."""
    headers = {
        "ETag": meta.quoted_etag,
        "Last-Modified": http_date(meta.last_modified),
        "Content-Type": meta.content_type,
        "Accept-Ranges": "bytes",
        "x-oss-hash-crc64ecma": str(meta.crc64),
    }
    for name, value in meta.user_meta.items():
        if name.startswith(OSS_META):
            headers[S3_META + name[len(OSS_META) :]] = value
    s3_class = storage_class(meta)
    if s3_class != "STANDARD":  # S3 omits the header for STANDARD
        headers["x-amz-storage-class"] = s3_class
    restore = restore_header(meta) if meta.is_archive else None
    if restore is not None:
        headers["x-amz-restore"] = restore
    return headers


async def get_object(call: Call, auth: S3Auth) -> web.StreamResponse:
    """GetObject: Range (206 / 416 InvalidRange), If-* (412 / 304), ``response-*`` overrides.

    ``partNumber=1`` of an object uploaded in one piece is the whole object, as in
    S3; the parts of a multipart object are not kept apart, so asking for one of
    them is NotImplemented.
    """
    part = call.query.get("partNumber")
    if part is not None:
        meta = call.state.storage.head(call.bucket, call.key)
        if meta.object_type == "Multipart":
            raise OSSError("NotImplemented", "GetObject by partNumber of a multipart object.")
        if part != "1":
            raise OSSError(
                "InvalidPartNumber", "The requested partnumber is not satisfiable", status=416
            )
    overrides = {
        header: call.query[param]
        for param, header in RESPONSE_OVERRIDES.items()
        if param in call.query
    }
    return await serve_object(
        call, standard=True, headers=lambda meta: object_headers(meta) | overrides
    )


async def head_object(call: Call, auth: S3Auth) -> web.StreamResponse:
    """HeadObject, with the conditional headers (412 / 304) GetObject honours."""
    meta = call.state.storage.head(call.bucket, call.key)
    status = check_conditions(call.headers, meta.etag, meta.last_modified)
    if status == 412:
        raise OSSError("PreconditionFailed", PRECONDITION_MESSAGE)
    if status == 304:
        return web.Response(status=304, headers={"ETag": meta.quoted_etag})
    response = web.StreamResponse(headers=object_headers(meta))
    response.content_length = meta.size
    await response.prepare(call.request)
    await response.write_eof()
    return response


def user_meta(headers: Mapping[str, str]) -> dict[str, str]:
    """``x-amz-meta-*`` request headers, stored under OSS's ``x-oss-meta-*`` names."""
    out = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(S3_META):
            out[OSS_META + lower[len(S3_META) :]] = value
    return out


def _check_write_conditions(call: Call) -> None:
    """``If-None-Match: *`` (create only) and ``If-Match`` (replace that version only)."""
    if_none_match = call.headers.get("If-None-Match")
    if_match = call.headers.get("If-Match")
    if if_none_match is None and if_match is None:
        return
    try:
        meta: ObjectMeta | None = call.state.storage.head(call.bucket, call.key)
    except OSSError as err:
        if err.code != "NoSuchKey":
            raise
        meta = None
    if if_none_match is not None and if_none_match.strip() != "*":
        raise OSSError("NotImplemented", "If-None-Match on PutObject only accepts '*'.")
    if if_none_match is not None and meta is not None:
        raise OSSError(
            "PreconditionFailed", PRECONDITION_MESSAGE, extra={"Condition": "If-None-Match"}
        )
    if if_match is not None:
        if meta is None:
            raise OSSError("NoSuchKey", "The specified key does not exist.")
        if check_conditions({"If-Match": if_match}, meta.etag, meta.last_modified) == 412:
            raise OSSError(
                "PreconditionFailed", PRECONDITION_MESSAGE, extra={"Condition": "If-Match"}
            )


def storage_class_for(call: Call) -> str:
    """The OSS storage class an upload's ``x-amz-storage-class`` asks for."""
    requested = call.headers.get("x-amz-storage-class", "STANDARD")
    oss_class = OSS_STORAGE_CLASSES.get(requested)
    if oss_class is None:
        raise OSSError("InvalidStorageClass", "The storage class you specified is not valid.")
    return oss_class


async def put_object(call: Call, auth: S3Auth) -> web.StreamResponse:
    """PutObject: stores what OSS's PutObject would, checking every digest S3 checks."""
    if len(call.key.encode("utf-8")) > MAX_KEY_BYTES:
        raise OSSError("KeyTooLongError", "Your key is too long.")
    oss_class = storage_class_for(call)
    _check_write_conditions(call)
    storage = call.state.storage
    pending = storage.begin_write(call.bucket)
    checksums = await receive_body(call.request, auth, pending)
    meta = storage.commit(
        call.bucket,
        call.key,
        pending,
        content_type=call.headers.get("Content-Type", "application/octet-stream"),
        storage_class=oss_class,
        user_meta=user_meta(call.headers),
    )
    headers = {"ETag": meta.quoted_etag, "x-oss-hash-crc64ecma": str(meta.crc64), **checksums}
    return web.Response(headers=headers)


async def delete_object(call: Call, auth: S3Auth) -> web.StreamResponse:
    """DeleteObject: 204 whether or not the key existed (NoSuchBucket otherwise)."""
    call.state.storage.delete(call.bucket, call.key)
    return web.Response(status=204)
