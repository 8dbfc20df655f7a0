"""Object operations: Put/Get/Head/Delete, GetObjectMeta, RestoreObject, multipart."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable

from aiohttp import web

from oss_resumable_fs.testing.diskfiles import PartialWrite
from oss_resumable_fs.testing.fault_effects import apply_request_faults
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.ranges import (
    ServedRange,
    check_conditions,
    misserved,
    resolve_range,
)
from oss_resumable_fs.testing.records import STORAGE_CLASSES, ObjectMeta, restore_header
from oss_resumable_fs.testing.sender import send_range
from oss_resumable_fs.testing.state import Call
from oss_resumable_fs.testing.stats import RangedGet
from oss_resumable_fs.testing.xmlio import (
    document,
    http_date,
    iso8601,
    parse,
    parse_complete_upload,
    url_encode,
)

READ_CHUNK = 1024 * 1024
DAY = 24 * 3600
INVALID_STATE_MESSAGE = "The operation is not valid for the object's state."
PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold."


def _check_key(call: Call) -> None:
    if len(call.key.encode("utf-8")) > 1023 or call.key[0] in "/\\":
        raise OSSError("InvalidObjectName", "The specified object name is not valid.")


def _user_meta(call: Call) -> dict[str, str]:
    return {k.lower(): v for k, v in call.headers.items() if k.lower().startswith("x-oss-meta-")}


def _storage_class(call: Call) -> str:
    value = call.headers.get("x-oss-storage-class", "Standard")
    if value not in STORAGE_CLASSES:
        raise OSSError("InvalidArgument", f"Invalid storage class: {value}")
    return value


def object_headers(meta: ObjectMeta) -> dict[str, str]:
    headers = {
        "ETag": meta.quoted_etag,
        "Last-Modified": http_date(meta.last_modified),
        "Content-Type": meta.content_type,
        "Accept-Ranges": "bytes",
        "x-oss-object-type": meta.object_type,
        "x-oss-storage-class": meta.storage_class,
        "x-oss-hash-crc64ecma": str(meta.crc64),
        **meta.user_meta,
    }
    restore = restore_header(meta) if meta.is_archive else None
    if restore is not None:
        headers["x-oss-restore"] = restore
    return headers


async def _receive(call: Call, pending: PartialWrite) -> None:
    """Stream the request body into ``pending``, checking Content-MD5 if sent."""
    try:
        async for chunk in call.request.content.iter_chunked(READ_CHUNK):
            pending.write(chunk)
    except BaseException:
        pending.discard()
        raise
    expected = call.headers.get("Content-MD5")
    if expected is not None:
        actual = base64.b64encode(pending.digest.md5.digest()).decode("ascii")
        if expected.strip() != actual:
            pending.discard()
            raise OSSError("InvalidDigest", "The Content-MD5 you specified was invalid.")


def _put_headers(etag: str, crc64: int, md5: bytes | None = None) -> dict[str, str]:
    headers = {"ETag": f'"{etag}"', "x-oss-hash-crc64ecma": str(crc64)}
    if md5 is not None:
        headers["Content-MD5"] = base64.b64encode(md5).decode("ascii")
    return headers


async def put_object(call: Call) -> web.StreamResponse:
    _check_key(call)
    storage = call.state.storage
    storage_class = _storage_class(call)
    if call.headers.get("x-oss-forbid-overwrite", "").lower() == "true":
        try:
            storage.head(call.bucket, call.key)
        except OSSError:
            pass
        else:
            raise OSSError("FileAlreadyExists", "The object already exists.", status=409)
    pending = storage.begin_write(call.bucket)
    await _receive(call, pending)
    md5 = pending.digest.md5.digest()
    meta = storage.commit(
        call.bucket,
        call.key,
        pending,
        content_type=call.headers.get("Content-Type", "application/octet-stream"),
        storage_class=storage_class,
        user_meta=_user_meta(call),
    )
    return web.Response(headers=_put_headers(meta.etag, meta.crc64, md5))


async def append_object(call: Call) -> web.StreamResponse:
    """AppendObject: ``POST /key?append&position=N`` (what ossfs writes files with)."""
    _check_key(call)
    try:
        position = int(call.query.get("position", ""))
    except ValueError:
        raise OSSError("InvalidArgument", "position is not a valid integer.") from None
    if position < 0:
        raise OSSError("InvalidArgument", "position must not be negative.")
    storage = call.state.storage
    pending = storage.begin_write(call.bucket)
    await _receive(call, pending)
    meta = storage.append(
        call.bucket,
        call.key,
        position,
        pending,
        content_type=call.headers.get("Content-Type", "application/octet-stream"),
        storage_class=_storage_class(call),
        user_meta=_user_meta(call),
    )
    headers = _put_headers(meta.etag, meta.crc64)
    headers["x-oss-next-append-position"] = str(meta.size)
    return web.Response(headers=headers)


async def head_object(call: Call) -> web.StreamResponse:
    meta = call.state.storage.head(call.bucket, call.key)
    if call.operation == "GetObjectMeta":
        headers = {"ETag": meta.quoted_etag, "Last-Modified": http_date(meta.last_modified)}
    else:
        status = check_conditions(call.headers, meta.etag, meta.last_modified)
        if status == 412:
            raise OSSError("PreconditionFailed", PRECONDITION_MESSAGE)
        if status == 304:
            return web.Response(status=304, headers={"ETag": meta.quoted_etag})
        headers = object_headers(meta)
    response = web.StreamResponse(headers=headers)
    response.content_length = meta.size
    await response.prepare(call.request)
    await response.write_eof()
    return response


def _record_range(call: Call, served: ServedRange | None, status: int) -> None:
    header = call.headers.get("Range")
    if header is None:
        return
    start = served.start if served is not None else None
    end = served.end if served is not None else None
    call.state.stats.add_ranged_get(RangedGet(call.bucket, call.key, header, start, end, status))


def _readable(meta: ObjectMeta) -> bool:
    """Archive objects can be read only while a finished restore has not expired."""
    return not meta.is_archive or 'ongoing-request="false"' in (restore_header(meta) or "")


def _served_or_none(header: str | None, size: int, standard: bool) -> ServedRange | None:
    try:
        return resolve_range(header, size, standard=standard)
    except OSSError:
        return None  # unsatisfiable; reported once the preconditions are checked


async def get_object(call: Call) -> web.StreamResponse:
    """GetObject. Checks in OSS's order: object, restore state, If-*, then Range."""
    standard = call.headers.get("x-oss-range-behavior", "").lower() == "standard"
    return await serve_object(call, standard=standard, headers=object_headers)


async def serve_object(
    call: Call, *, standard: bool, headers: Callable[[ObjectMeta], dict[str, str]]
) -> web.StreamResponse:
    """Answer a GET of ``call``'s object: faults, restore state, If-*, Range, then the body.

    Shared by the OSS and the S3 API: ``standard`` picks the range rules (see
    :mod:`.ranges`; S3's are OSS's standard ones), ``headers`` the object's
    response headers. Counts the bytes sent and every ranged GET.
    """
    storage = call.state.storage
    range_header = call.headers.get("Range")
    try:
        meta = storage.head(call.bucket, call.key)
    except OSSError as err:
        _record_range(call, None, err.status)
        await apply_request_faults(call, None)
        raise
    served = _served_or_none(range_header, meta.size, standard)
    plan = await apply_request_faults(call, (served.start, served.end) if served else None)
    meta, file = storage.open(call.bucket, call.key)  # a replace fault may have run
    with file:
        if not _readable(meta):
            _record_range(call, None, 403)
            raise OSSError("InvalidObjectState", INVALID_STATE_MESSAGE)
        condition = check_conditions(call.headers, meta.etag, meta.last_modified)
        if condition is not None:
            _record_range(call, None, condition)
            if condition == 412:
                raise OSSError("PreconditionFailed", PRECONDITION_MESSAGE)
            return web.Response(status=304, headers={"ETag": meta.quoted_etag})
        try:
            served = resolve_range(range_header, meta.size, standard=standard)
        except OSSError as err:
            _record_range(call, None, err.status)
            raise
        if plan.range_shift is not None:
            served = misserved(served, meta.size, plan.range_shift)
        _record_range(call, served, served.status)
        response = web.StreamResponse(status=served.status, headers=headers(meta))
        response.content_length = served.length
        if served.status == 206:
            response.headers["Content-Range"] = served.content_range(meta.size)
        await response.prepare(call.request)
        sent = await send_range(call.request, response, file, served.start, served.length, plan)
    call.state.stats.add_bytes(call.bucket, call.key, sent)
    if sent == served.length:
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    return response


async def delete_object(call: Call) -> web.StreamResponse:
    call.state.storage.delete(call.bucket, call.key)
    return web.Response(status=204)


async def restore_object(call: Call) -> web.StreamResponse:
    storage = call.state.storage
    meta = storage.head(call.bucket, call.key)
    if not meta.is_archive:
        raise OSSError("OperationNotSupported", "The operation is not supported for this resource.")
    days = 1
    body = await call.request.read()
    if body.strip():
        text = parse(body, "RestoreRequest").findtext("Days")
        if text and text.strip().isdigit():
            days = max(1, min(int(text), 365))
    now = time.time()
    state = restore_header(meta, now)
    if state is not None and '"true"' in state:
        raise OSSError("RestoreAlreadyInProgress", "The restore operation is in progress.")
    if state is not None:  # already restored: extend
        storage.update_meta(call.bucket, call.key, restore_expiry=now + days * DAY)
        return web.Response(status=200)
    ready = now + call.state.restore_delay
    storage.update_meta(
        call.bucket,
        call.key,
        restore_requested=now,
        restore_ready=ready,
        restore_expiry=ready + days * DAY,
    )
    return web.Response(status=202)


def _encoding(call: Call) -> bool:
    return call.query.get("encoding-type") == "url"


async def initiate_multipart_upload(call: Call) -> web.StreamResponse:
    _check_key(call)
    upload = call.state.storage.init_upload(
        call.bucket,
        call.key,
        content_type=call.headers.get("Content-Type", "application/octet-stream"),
        storage_class=_storage_class(call),
        user_meta=_user_meta(call),
    )
    encode = _encoding(call)
    body = document(
        "InitiateMultipartUploadResult",
        {
            "Bucket": call.bucket,
            "Key": url_encode(call.key, encode),
            "UploadId": upload.upload_id,
            "EncodingType": "url" if encode else None,
        },
    )
    return web.Response(body=body, content_type="application/xml")


async def upload_part(call: Call) -> web.StreamResponse:
    number_text = call.query.get("partNumber", "")
    if not number_text.isdigit() or not 1 <= int(number_text) <= 10000:
        raise OSSError("InvalidArgument", "Part number must be an integer between 1 and 10000.")
    storage = call.state.storage
    upload_id = call.query.get("uploadId", "")
    pending = storage.begin_part(call.bucket, call.key, upload_id)
    await _receive(call, pending)
    md5 = pending.digest.md5.digest()
    part = storage.commit_part(call.bucket, call.key, upload_id, int(number_text), pending)
    return web.Response(headers=_put_headers(part.etag, part.crc64, md5))


async def complete_multipart_upload(call: Call) -> web.StreamResponse:
    body = await call.request.read()
    chosen = None
    if call.headers.get("x-oss-complete-all", "").lower() != "yes" or body.strip():
        chosen = parse_complete_upload(body)
    meta = await asyncio.to_thread(
        call.state.storage.complete_upload,
        call.bucket,
        call.key,
        call.query.get("uploadId", ""),
        chosen,
    )
    encode = _encoding(call)
    host = call.request.host
    document_body = document(
        "CompleteMultipartUploadResult",
        {
            "EncodingType": "url" if encode else None,
            "Location": f"http://{host}/{call.bucket}/{url_encode(call.key, True)}",
            "Bucket": call.bucket,
            "Key": url_encode(call.key, encode),
            "ETag": meta.quoted_etag,
        },
    )
    return web.Response(
        body=document_body,
        content_type="application/xml",
        headers=_put_headers(meta.etag, meta.crc64),
    )


async def list_parts(call: Call) -> web.StreamResponse:
    """ListParts (``GET ?uploadId``), paged by ``part-number-marker`` / ``max-parts``."""
    upload_id = call.query.get("uploadId", "")
    marker_text = call.query.get("part-number-marker", "0") or "0"
    limit_text = call.query.get("max-parts", "1000") or "1000"
    if not marker_text.isdigit() or not limit_text.isdigit() or int(limit_text) < 1:
        raise OSSError("InvalidArgument", "part-number-marker and max-parts must be integers.")
    marker, limit = int(marker_text), min(int(limit_text), 1000)
    parts = sorted(
        call.state.storage.parts(call.bucket, call.key, upload_id).values(),
        key=lambda part: part.number,
    )
    after = [part for part in parts if part.number > marker]
    page, truncated = after[:limit], len(after) > limit
    body = document(
        "ListPartsResult",
        {
            "Bucket": call.bucket,
            "Key": call.key,
            "UploadId": upload_id,
            "PartNumberMarker": marker,
            "NextPartNumberMarker": page[-1].number if page else marker,
            "MaxParts": limit,
            "IsTruncated": truncated,
            "Part": [
                {
                    "PartNumber": part.number,
                    "LastModified": iso8601(part.last_modified),
                    "ETag": f'"{part.etag}"',
                    "HashCrc64ecma": part.crc64,
                    "Size": part.size,
                }
                for part in page
            ],
        },
    )
    return web.Response(body=body, content_type="application/xml")


async def abort_multipart_upload(call: Call) -> web.StreamResponse:
    call.state.storage.abort_upload(call.bucket, call.key, call.query.get("uploadId", ""))
    return web.Response(status=204)
