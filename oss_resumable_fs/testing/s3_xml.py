"""S3's XML: the answers of the S3-compatible API and its ``<Error>`` documents.

S3 answers carry the ``http://s3.amazonaws.com/doc/2006-03-01/`` namespace;
its error documents carry none. OSS's storage classes and error codes are
renamed to S3's where the two differ (``Archive`` is ``GLACIER``, a throttling
503 is ``SlowDown``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oss_resumable_fs.testing.bucket_ops import ListingPage
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.records import BucketInfo, ObjectMeta
from oss_resumable_fs.testing.xmlio import Node, document, iso8601, owner, url_encode

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

#: OSS storage class -> S3's name for it.
S3_STORAGE_CLASSES = {
    "Standard": "STANDARD",
    "IA": "STANDARD_IA",
    "Archive": "GLACIER",
    "ColdArchive": "DEEP_ARCHIVE",
    "DeepColdArchive": "DEEP_ARCHIVE",
}
#: S3 storage class -> the OSS class an S3 PutObject stores.
OSS_STORAGE_CLASSES = {
    "STANDARD": "Standard",
    "STANDARD_IA": "IA",
    "ONEZONE_IA": "IA",
    "GLACIER": "Archive",
    "GLACIER_IR": "Archive",
    "DEEP_ARCHIVE": "ColdArchive",
}

#: OSS error code -> S3's code, where an error the two APIs share is named differently.
_S3_CODES = {"ServiceUnavailable": "SlowDown"}  # a fault's or a throttle's 503


def s3_document(root: str, children: Mapping[str, Node] | str) -> bytes:
    return document(root, children, namespace=NAMESPACE)


def storage_class(meta: ObjectMeta) -> str:
    return S3_STORAGE_CLASSES.get(meta.storage_class, "STANDARD")


def error_code(error: OSSError) -> str:
    return _S3_CODES.get(error.code, error.code)


def error_document(
    error: OSSError, request_id: str, host_id: str, *, bucket: str, key: str, resource: str
) -> bytes:
    """``<Error>`` as S3 writes it: Code, Message, the error's details, RequestId, HostId."""
    code = error_code(error)
    children: dict[str, Node] = {"Code": code, "Message": error.message}
    if code == "NoSuchKey":
        children["Key"] = key
    elif code == "NoSuchBucket":
        children["BucketName"] = bucket
    children.update(error.extra)
    children["Resource"] = resource
    children["RequestId"] = request_id
    children["HostId"] = host_id
    return document("Error", children)


def list_buckets_document(
    buckets: Sequence[BucketInfo], *, prefix: str, token: str | None, region: str
) -> bytes:
    return s3_document(
        "ListAllMyBucketsResult",
        {
            "Owner": owner(),
            "Buckets": {
                "Bucket": [
                    {"Name": b.name, "CreationDate": iso8601(b.created), "BucketRegion": region}
                    for b in buckets
                ]
            },
            "Prefix": prefix or None,
            "ContinuationToken": token,
        },
    )


def _contents(meta: ObjectMeta, encode: bool, with_owner: bool) -> dict[str, Node]:
    return {
        "Key": url_encode(meta.key, encode),
        "LastModified": iso8601(meta.last_modified),
        "ETag": meta.quoted_etag,
        "Size": meta.size,
        "StorageClass": storage_class(meta),
        "Owner": owner() if with_owner else None,
    }


def list_objects_document(
    bucket: str,
    page: ListingPage,
    query: Mapping[str, str],
    *,
    v2: bool,
    max_keys: int,
    next_token: str | None,
) -> bytes:
    """``ListBucketResult`` of ListObjectsV2 (``v2``) or ListObjects (v1)."""
    encode = query.get("encoding-type") == "url"
    with_owner = not v2 or query.get("fetch-owner", "false").lower() == "true"
    fields: dict[str, Node] = {
        "Name": bucket,
        "Prefix": url_encode(query.get("prefix", ""), encode),
    }
    if v2:
        fields["ContinuationToken"] = query.get("continuation-token")
        start_after = query.get("start-after")
        fields["StartAfter"] = None if start_after is None else url_encode(start_after, encode)
        fields["KeyCount"] = len(page.objects) + len(page.prefixes)
    else:
        fields["Marker"] = url_encode(query.get("marker", ""), encode)
    fields["MaxKeys"] = max_keys
    if query.get("delimiter"):
        fields["Delimiter"] = url_encode(query["delimiter"], encode)
    fields["EncodingType"] = "url" if encode else None
    fields["IsTruncated"] = page.truncated
    if page.truncated:
        if v2:
            fields["NextContinuationToken"] = next_token
        elif query.get("delimiter"):  # S3 gives NextMarker only with a delimiter
            fields["NextMarker"] = url_encode(page.last, encode)
    fields["Contents"] = [_contents(meta, encode, with_owner) for meta in page.objects]
    fields["CommonPrefixes"] = [{"Prefix": url_encode(p, encode)} for p in page.prefixes]
    return s3_document("ListBucketResult", fields)


def location_document(region: str) -> bytes:
    return s3_document("LocationConstraint", region)
