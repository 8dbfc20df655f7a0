"""Multipart uploads through the S3-compatible API, over the same uploads as OSS's.

CreateMultipartUpload (``POST ?uploads``), UploadPart (``PUT ?partNumber&uploadId``),
ListParts (``GET ?uploadId``), CompleteMultipartUpload (``POST ?uploadId``) and
AbortMultipartUpload (``DELETE ?uploadId``), counted under OSS's names
(InitiateMultipartUpload, ...). What s3transfer, s3fs and the AWS CRT upload
large files with. The result's ETag is OSS's (and S3's): ``"<MD5 of the part
MD5s>-<N>"``.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

from aiohttp import web

from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.s3_auth import S3Auth
from oss_resumable_fs.testing.s3_body import receive_body
from oss_resumable_fs.testing.s3_objects import MAX_KEY_BYTES, storage_class_for, user_meta
from oss_resumable_fs.testing.s3_xml import s3_document
from oss_resumable_fs.testing.state import Call
from oss_resumable_fs.testing.xmlio import iso8601, url_encode

__all__ = [
    "abort_multipart_upload",
    "complete_multipart_upload",
    "create_multipart_upload",
    "list_parts",
    "upload_part",
]

MAX_PARTS = 10000


def _xml(body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, headers=headers, content_type="application/xml")


def _upload_id(call: Call) -> str:
    return call.query.get("uploadId", "")


async def create_multipart_upload(call: Call, auth: S3Auth) -> web.StreamResponse:
    if len(call.key.encode("utf-8")) > MAX_KEY_BYTES:
        raise OSSError("KeyTooLongError", "Your key is too long.")
    upload = call.state.storage.init_upload(
        call.bucket,
        call.key,
        content_type=call.headers.get("Content-Type", "application/octet-stream"),
        storage_class=storage_class_for(call),
        user_meta=user_meta(call.headers),
    )
    encode = call.query.get("encoding-type") == "url"
    body = s3_document(
        "InitiateMultipartUploadResult",
        {
            "Bucket": call.bucket,
            "Key": url_encode(call.key, encode),
            "UploadId": upload.upload_id,
        },
    )
    return _xml(body)


async def upload_part(call: Call, auth: S3Auth) -> web.StreamResponse:
    number = call.query.get("partNumber", "")
    if not number.isdigit() or not 1 <= int(number) <= MAX_PARTS:
        raise OSSError(
            "InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}"
        )
    storage = call.state.storage
    pending = storage.begin_part(call.bucket, call.key, _upload_id(call))
    checksums = await receive_body(call.request, auth, pending)
    part = storage.commit_part(call.bucket, call.key, _upload_id(call), int(number), pending)
    return web.Response(headers={"ETag": f'"{part.etag}"', **checksums})


async def list_parts(call: Call, auth: S3Auth) -> web.StreamResponse:
    marker_text = call.query.get("part-number-marker", "0") or "0"
    limit_text = call.query.get("max-parts", "1000") or "1000"
    if not marker_text.isdigit() or not limit_text.isdigit():
        raise OSSError("InvalidArgument", "part-number-marker and max-parts must be integers.")
    marker, limit = int(marker_text), min(int(limit_text), 1000)
    parts = sorted(
        call.state.storage.parts(call.bucket, call.key, _upload_id(call)).values(),
        key=lambda part: part.number,
    )
    after = [part for part in parts if part.number > marker]
    page = after[:limit]
    body = s3_document(
        "ListPartsResult",
        {
            "Bucket": call.bucket,
            "Key": call.key,
            "UploadId": _upload_id(call),
            "PartNumberMarker": marker,
            "NextPartNumberMarker": page[-1].number if page else marker,
            "MaxParts": limit,
            "IsTruncated": len(after) > limit,
            "Part": [
                {
                    "PartNumber": part.number,
                    "LastModified": iso8601(part.last_modified),
                    "ETag": f'"{part.etag}"',
                    "Size": part.size,
                }
                for part in page
            ],
        },
    )
    return _xml(body)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """``<CompleteMultipartUpload>`` (namespaced or not) -> [(part number, ETag), ...]."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise OSSError("MalformedXML", "The XML you provided was not well-formed.") from None
    if _local(root.tag) != "CompleteMultipartUpload":
        raise OSSError("MalformedXML", "The root element must be <CompleteMultipartUpload>.")
    parts = []
    for node in root:
        if _local(node.tag) != "Part":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in node}
        number, etag = fields.get("PartNumber", ""), fields.get("ETag")
        if not number.isdigit() or etag is None:
            raise OSSError("MalformedXML", "Each <Part> needs a <PartNumber> and an <ETag>.")
        parts.append((int(number), etag))
    if not parts:
        raise OSSError("MalformedXML", "The XML you provided did not list any part.")
    return parts


async def complete_multipart_upload(call: Call, auth: S3Auth) -> web.StreamResponse:
    chosen = parse_complete(await call.request.read())
    meta = await asyncio.to_thread(
        call.state.storage.complete_upload, call.bucket, call.key, _upload_id(call), chosen
    )
    body = s3_document(
        "CompleteMultipartUploadResult",
        {
            "Location": f"http://{call.request.host}/{call.bucket}/{url_encode(call.key, True)}",
            "Bucket": call.bucket,
            "Key": call.key,
            "ETag": meta.quoted_etag,
        },
    )
    return _xml(body, {"x-oss-hash-crc64ecma": str(meta.crc64)})


async def abort_multipart_upload(call: Call, auth: S3Auth) -> web.StreamResponse:
    call.state.storage.abort_upload(call.bucket, call.key, _upload_id(call))
    return web.Response(status=204)
