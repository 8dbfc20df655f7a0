"""AWS Signature Version 2 for the S3-compatible API (header and presigned query).

What boto3 still presigns with when its region is ``us-east-1`` and no
signature version is configured, and what older S3 tools send. The rules are
AWS's "Signing and authenticating REST requests": HMAC-SHA1 over the method,
Content-MD5, Content-Type, Date (empty when ``x-amz-date`` is sent; the
``Expires`` time in a presigned URL), the ``x-amz-*`` headers and the resource
(``/bucket/key`` as sent, even when the bucket is in the Host, plus the
sub-resources S3 signs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from oss_resumable_fs.testing.auth import Credential
from oss_resumable_fs.testing.s3_auth import (
    MAX_SKEW,
    UNSIGNED_PAYLOAD,
    S3Auth,
    S3AuthError,
    header_value,
    lookup,
    signature_mismatch,
)

__all__ = ["is_sigv2", "verify_v2"]

#: The query keys S3 signs as sub-resources (as botocore's ``HmacV1Auth`` lists them).
SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
        "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
        "partNumber", "policy", "replication", "requestPayment", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "response-content-language",
        "response-content-type", "response-expires", "restore", "select", "select-type",
        "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
        "versions", "website",
    }
)  # fmt: skip


def is_sigv2(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """An ``Authorization: AWS id:sig`` header or an ``AWSAccessKeyId`` presigned query."""
    if headers.get("Authorization", "").startswith("AWS "):
        return True
    return "AWSAccessKeyId" in query and "Signature" in query


def verify_v2(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    credentials: Mapping[str, Credential],
    *,
    host_bucket: str | None,
    now: float | None = None,
) -> S3Auth:
    """Check a V2 signature; ``host_bucket`` is the bucket a virtual-hosted Host names."""
    when = time.time() if now is None else now
    params = dict(query)
    auth = header_value(headers, "authorization")
    if auth is not None:
        key_id, _, provided = auth[4:].strip().rpartition(":")
        if not key_id or not provided:
            raise S3AuthError("InvalidArgument", "The authorization header is malformed.", 400)
        date = "" if header_value(headers, "x-amz-date") else header_value(headers, "date") or ""
        _check_date(header_value(headers, "x-amz-date") or date, when)
        token = header_value(headers, "x-amz-security-token")
    else:
        key_id, provided = params["AWSAccessKeyId"], params["Signature"]
        date = params.get("Expires", "")
        if not date.isdigit():
            raise S3AuthError("AccessDenied", "Query-string authentication requires Expires.")
        if when > int(date):
            raise S3AuthError("AccessDenied", "Request has expired")
        token = params.get("x-amz-security-token")
    cred = lookup(credentials, key_id, token)
    amz = sorted(
        {n.lower() for n, _ in headers if n.lower().startswith("x-amz-")}
        | ({"x-amz-security-token"} if token and auth is None else set())
    )
    amz_lines = "".join(f"{name}:{_amz_value(name, headers, params)}\n" for name in amz)
    path = raw_path.split("?", 1)[0] or "/"
    resource = f"/{host_bucket}{path}" if host_bucket else path
    if resource.count("/") == 1 and resource != "/":
        resource += "/"  # a bucket's resource is "/bucket/", however the path was sent
    signed = sorted((k, v) for k, v in query if k in SUBRESOURCES)
    if signed:
        resource += "?" + "&".join(f"{k}={unquote(v)}" if v else k for k, v in signed)
    string_to_sign = "\n".join(
        [
            method.upper(),
            header_value(headers, "content-md5") or "",
            header_value(headers, "content-type") or "",
            date,
            amz_lines + resource,
        ]
    )
    digest = hmac.new(cred.access_key_secret.encode(), string_to_sign.encode(), hashlib.sha1)
    expected = base64.b64encode(digest.digest()).decode("ascii")
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        raise signature_mismatch(key_id, string_to_sign, provided)
    payload = header_value(headers, "x-amz-content-sha256") or UNSIGNED_PAYLOAD
    return S3Auth(cred, "", "", "", provided, payload, b"")


def _amz_value(name: str, headers: Sequence[tuple[str, str]], params: Mapping[str, str]) -> str:
    values = [v.strip() for n, v in headers if n.lower() == name]
    if not values and name == "x-amz-security-token":
        values = [params.get(name, "")]
    return ",".join(values)


def _check_date(value: str, now: float) -> None:
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        raise S3AuthError(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        ) from None
    if abs(now - when) > MAX_SKEW.total_seconds():
        raise S3AuthError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
