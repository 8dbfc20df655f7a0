"""Service and bucket operations: buckets, listings, DeleteMultipleObjects."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.records import BUCKET_ACLS, ObjectMeta, restore_header
from oss_resumable_fs.testing.state import Call
from oss_resumable_fs.testing.storage import Storage
from oss_resumable_fs.testing.xmlio import (
    Node,
    document,
    iso8601,
    owner,
    parse_delete,
    url_encode,
)

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
MAX_KEYS_LIMIT = 1000


def _xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/xml")


def _int_param(call: Call, name: str, default: int, limit: int) -> int:
    text = call.query.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not 0 < int(text) <= limit:
        raise OSSError("InvalidArgument", f"{name} must be an integer between 1 and {limit}.")
    return int(text)


def _bucket_node(call: Call, name: str, created: float) -> dict[str, Node]:
    region = call.state.region
    return {
        "CreationDate": iso8601(created),
        "ExtranetEndpoint": call.request.host,
        "IntranetEndpoint": call.request.host,
        "Location": f"oss-{region}",
        "Name": name,
        "Region": region,
        "StorageClass": "Standard",
    }


async def list_buckets(call: Call) -> web.StreamResponse:
    prefix = call.query.get("prefix", "")
    marker = call.query.get("marker", "")
    max_keys = _int_param(call, "max-keys", 100, MAX_KEYS_LIMIT)
    names = [
        b for b in call.state.storage.buckets() if b.name.startswith(prefix) and b.name > marker
    ]
    page, truncated = names[:max_keys], len(names) > max_keys
    body = document(
        "ListAllMyBucketsResult",
        {
            "Prefix": prefix or None,
            "Marker": marker or None,
            "MaxKeys": max_keys if "max-keys" in call.query else None,
            "IsTruncated": truncated,
            "NextMarker": page[-1].name if truncated else None,
            "Owner": owner(),
            "Buckets": {"Bucket": [_bucket_node(call, b.name, b.created) for b in page]},
        },
    )
    return _xml(body)


async def put_bucket(call: Call) -> web.StreamResponse:
    if not _BUCKET_NAME.match(call.bucket):
        raise OSSError("InvalidBucketName", "The specified bucket is not valid.")
    acl = call.headers.get("x-oss-acl", "private")
    call.state.storage.create_bucket(call.bucket, acl=acl)
    return web.Response(headers={"Location": f"/{call.bucket}"})


async def put_bucket_acl(call: Call) -> web.StreamResponse:
    acl = call.headers.get("x-oss-acl", "")
    if acl not in BUCKET_ACLS:
        raise OSSError("InvalidArgument", f"no such bucket access control exists: {acl}")
    call.state.storage.set_bucket_acl(call.bucket, acl)
    return web.Response()


async def get_bucket_acl(call: Call) -> web.StreamResponse:
    info = call.state.storage.bucket(call.bucket)
    body = document(
        "AccessControlPolicy", {"Owner": owner(), "AccessControlList": {"Grant": info.acl}}
    )
    return _xml(body)


async def delete_bucket(call: Call) -> web.StreamResponse:
    call.state.storage.delete_bucket(call.bucket)
    return web.Response(status=204)


async def get_bucket_location(call: Call) -> web.StreamResponse:
    call.state.storage.bucket(call.bucket)
    return _xml(document("LocationConstraint", f"oss-{call.state.region}"))


async def get_bucket_info(call: Call) -> web.StreamResponse:
    info = call.state.storage.bucket(call.bucket)
    node = _bucket_node(call, info.name, info.created)
    node.update(
        {
            "AccessMonitor": "Disabled",
            "DataRedundancyType": "LRS",
            "Versioning": None,
            "TransferAcceleration": "Disabled",
            "CrossRegionReplication": "Disabled",
            "ResourceGroupId": "rg-default",
            "Comment": "",
            "Owner": owner(),
            "AccessControlList": {"Grant": info.acl},
        }
    )
    return _xml(document("BucketInfo", {"Bucket": node}))


# -- listing ----------------------------------------------------------------------------


def _entries(
    storage: Storage, bucket: str, prefix: str, delimiter: str, after: str
) -> Iterator[tuple[str, ObjectMeta | None]]:
    """(name, meta) for objects, (common prefix, None) for "directories", sorted, after ``after``.

    A listing resumes after ``after`` by the entry a key rolls up into, so a
    marker that is a common prefix skips every key under it.
    """
    last_prefix = None
    for key in storage.keys(bucket):
        if not key.startswith(prefix):
            continue
        entry, rolled_up = key, False
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                # Even a key ending exactly at the delimiter ("dir/" under "") rolls
                # up into a common prefix, as OSS does.
                entry, rolled_up = key[: cut + len(delimiter)], True
        if entry.encode("utf-8") <= after.encode("utf-8"):
            continue
        if rolled_up:
            if entry != last_prefix:
                last_prefix = entry
                yield entry, None
            continue
        try:
            yield key, storage.head(bucket, key)
        except OSSError:
            continue  # deleted while listing


@dataclass(frozen=True)
class ListingPage:
    """One page of a listing: objects and common prefixes, in key order."""

    objects: list[ObjectMeta]
    prefixes: list[str]
    truncated: bool
    #: The last entry on the page (key or common prefix): where the next page starts.
    last: str


def list_page(
    storage: Storage, bucket: str, *, prefix: str, delimiter: str, after: str, max_keys: int
) -> ListingPage:
    """Up to ``max_keys`` entries of ``bucket`` after ``after``; the OSS and S3 APIs' listing."""
    storage.bucket(bucket)  # NoSuchBucket
    objects: list[ObjectMeta] = []
    prefixes: list[str] = []
    last = ""
    truncated = False
    for count, (name, meta) in enumerate(_entries(storage, bucket, prefix, delimiter, after)):
        if count == max_keys:
            truncated = True
            break
        last = name
        if meta is None:
            prefixes.append(name)
        else:
            objects.append(meta)
    return ListingPage(objects, prefixes, truncated, last)


def continuation_token(value: str) -> str:
    """The opaque ``continuation-token`` that resumes a listing after ``value``."""
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii").rstrip("=")


def resume_after(token: str) -> str:
    """The entry a ``continuation-token`` resumes after."""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OSSError("InvalidArgument", "The continuation token is not valid.") from None


def _contents(meta: ObjectMeta, encode: bool, with_owner: bool) -> dict[str, Node]:
    node: dict[str, Node] = {
        "Key": url_encode(meta.key, encode),
        "LastModified": iso8601(meta.last_modified),
        "ETag": meta.quoted_etag,
        "Type": meta.object_type,
        "Size": meta.size,
        "StorageClass": meta.storage_class,
        "Owner": owner() if with_owner else None,
    }
    if meta.is_archive:
        node["RestoreInfo"] = restore_header(meta)
    return node


async def list_objects(call: Call) -> web.StreamResponse:
    v2 = call.operation == "ListObjectsV2"
    query = call.query
    call.state.storage.bucket(call.bucket)
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    encode_type = query.get("encoding-type", "")
    if encode_type not in ("", "url"):
        raise OSSError("InvalidArgument", "The encoding-type must be url.")
    encode = encode_type == "url"
    max_keys = _int_param(call, "max-keys", 100, MAX_KEYS_LIMIT)
    if v2:
        token = query.get("continuation-token", "")
        start_after = query.get("start-after", "")
        after = max(start_after, resume_after(token) if token else "", key=lambda s: s.encode())
        with_owner = query.get("fetch-owner", "false").lower() == "true"
    else:
        after = query.get("marker", "")
        with_owner = True
    page = list_page(
        call.state.storage,
        call.bucket,
        prefix=prefix,
        delimiter=delimiter,
        after=after,
        max_keys=max_keys,
    )
    contents: list[Node] = [_contents(meta, encode, with_owner) for meta in page.objects]
    prefixes: list[Node] = [{"Prefix": url_encode(name, encode)} for name in page.prefixes]
    fields: dict[str, Node] = {"Name": call.bucket, "Prefix": url_encode(prefix, encode)}
    if v2:
        if "continuation-token" in query:
            fields["ContinuationToken"] = query["continuation-token"]
        if "start-after" in query:
            fields["StartAfter"] = url_encode(query["start-after"], encode)
    else:
        fields["Marker"] = url_encode(after, encode)
    fields["MaxKeys"] = max_keys
    fields["Delimiter"] = url_encode(delimiter, encode)
    fields["EncodingType"] = "url" if encode else None
    fields["IsTruncated"] = page.truncated
    if page.truncated:
        if v2:
            fields["NextContinuationToken"] = continuation_token(page.last)
        else:
            fields["NextMarker"] = url_encode(page.last, encode)
    if v2:
        fields["KeyCount"] = len(contents) + len(prefixes)
    fields["Contents"] = contents
    fields["CommonPrefixes"] = prefixes
    root = "ListBucketResult"
    return _xml(document(root, fields))


async def delete_multiple_objects(call: Call) -> web.StreamResponse:
    storage = call.state.storage
    storage.bucket(call.bucket)
    body = await call.request.read()
    expected = call.headers.get("Content-MD5")
    if expected is not None:
        actual = base64.b64encode(hashlib.md5(body).digest()).decode("ascii")
        if expected.strip() != actual:
            raise OSSError("InvalidDigest", "The Content-MD5 you specified was invalid.")
    keys, quiet = parse_delete(body)
    if len(keys) > 1000:
        raise OSSError("MalformedXML", "At most 1000 objects can be deleted at once.")
    encode = call.query.get("encoding-type") == "url"
    for key in keys:
        storage.delete(call.bucket, key)
    deleted = [] if quiet else [{"Key": url_encode(k, encode)} for k in keys]
    fields: dict[str, Node] = {"EncodingType": "url" if encode else None, "Deleted": deleted}
    return _xml(document("DeleteResult", fields))
