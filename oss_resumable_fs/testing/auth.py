"""Request authentication for the local OSS test server.

Verifies what the real ``oss2`` and ``alibabacloud-oss-v2`` clients send with
path-style addressing (``/bucket/key``): V1 (``OSS id:sig``) and V4
(``OSS4-HMAC-SHA256``) header signatures, V1 and V4 presigned URLs, and STS
security tokens. The signing rules mirror ``oss2/auth.py`` (``ProviderAuth``,
``ProviderAuthV4``) and ``alibabacloud_oss_v2/signer/{v1,v4}.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

__all__ = ["AuthError", "Credential", "authenticate"]

MAX_SKEW = timedelta(minutes=15)
V4_MAX_EXPIRES = 7 * 24 * 3600
V4_ALGORITHM = "OSS4-HMAC-SHA256"
_ISO_BASIC = "%Y%m%dT%H%M%SZ"

# Query keys that V1 signs: oss2's ProviderAuth._subresource_key_set plus the
# v2 SDK's SignerV1._subresource_key_set (which adds only "cloudboxes").
# fmt: off
V1_SUBRESOURCES = frozenset({
    "acl", "append", "asyncFetch", "bucketInfo", "callback", "callback-var", "cloudboxes", "cname",
    "comp", "continuation-token", "cors", "delete", "encryption", "endTime", "group", "inventory",
    "inventoryId", "lifecycle", "link", "live", "location", "logging", "metaQuery", "objectInfo",
    "objectMeta", "partNumber", "policy", "position", "qos", "qosInfo", "referer", "regionList",
    "replication", "replicationLocation", "replicationProgress", "requestPayment", "resourceGroup",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore",
    "security-token", "sequential", "startTime", "stat", "status", "style", "styleName", "symlink",
    "tagging", "transferAcceleration", "uploadId", "uploads", "versionId", "versioning", "versions",
    "vod", "website", "worm", "wormExtend", "wormId", "x-oss-ac-forward-allow",
    "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-async-process",
    "x-oss-process", "x-oss-request-payer", "x-oss-traffic-limit",
    "x-oss-write-get-object-response",
})
# fmt: on

_MSG_NO_KEY = "The OSS Access Key Id you provided does not exist in our records."
_MSG_BAD_SIG = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_MSG_SKEWED = "The difference between the request time and the current time is too large."


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


class AuthError(Exception):
    """An authentication failure, to be rendered as an OSS ``<Error>`` response.

    On SignatureDoesNotMatch, ``string_to_sign`` (and for V4 ``canonical_request``)
    hold what the server computed; real OSS echoes these back in the error body,
    and they make client/server mismatches debuggable.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 403,
        *,
        string_to_sign: str | None = None,
        canonical_request: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.string_to_sign = string_to_sign
        self.canonical_request = canonical_request


def _invalid(message: str) -> AuthError:
    return AuthError("InvalidArgument", message, 400)


@dataclass(frozen=True)
class _Request:
    method: str
    resource: bytes  # "/bucket/key" with the key percent-decoded; b"/" for the service
    pairs: list[tuple[str, str]]
    params: dict[str, str]
    hdrs: dict[str, str]  # lower-cased names
    credentials: Mapping[str, Credential]
    region: str
    now: datetime


def authenticate(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]] | Mapping[str, str],
    headers: Mapping[str, str],
    credentials: Mapping[str, Credential],
    *,
    region: str,
    now: datetime | None = None,
) -> Credential | None:
    """Return the credential that signed the request, or None if it carries no auth.

    ``raw_path`` is the path exactly as sent (percent-encoded; a trailing
    ``?query`` is ignored), ``query`` the decoded query pairs in order.
    Raises AuthError on any failure.
    """
    pairs = list(query.items()) if isinstance(query, Mapping) else [(k, v) for k, v in query]
    req = _Request(
        method=method,
        resource=_resource(raw_path),
        pairs=pairs,
        params=dict(pairs),
        hdrs=_lower_headers(headers),
        credentials=credentials,
        region=region,
        now=_utc(now or datetime.now(timezone.utc)),
    )
    auth = req.hdrs.get("authorization", "")
    if auth.startswith(V4_ALGORITHM):
        return _v4_header(req, auth)
    if auth.startswith("OSS "):
        return _v1_header(req, auth)
    if auth.startswith("OSS2 "):
        raise _invalid("Signature version 2 is not supported by this server.")
    if auth:
        raise _invalid("Authorization header is invalid.")
    if {"x-oss-signature-version", "x-oss-credential", "x-oss-signature"} & req.params.keys():
        return _v4_query(req)
    if {"OSSAccessKeyId", "Signature"} & req.params.keys():
        return _v1_query(req)
    return None


# -- helpers -------------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key, value = name.lower(), value.strip()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def _resource(raw_path: str) -> bytes:
    path = raw_path.split("?", 1)[0]
    if not path.startswith("/"):
        raise _invalid("Request path must start with '/'.")
    bucket, _, key = path[1:].partition("/")
    if not bucket:
        return b"/"
    return b"/" + unquote_to_bytes(bucket) + b"/" + unquote_to_bytes(key)


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _lookup(req: _Request, key_id: str, token: str | None) -> Credential:
    """Find the key and check the STS token; like OSS, before the signature."""
    cred = req.credentials.get(key_id)
    if cred is None:
        raise AuthError("InvalidAccessKeyId", _MSG_NO_KEY)
    # A token on a long-term key, or no token on an STS key: OSS looks the id up
    # in the other key store and does not find it.
    if bool(token) != bool(cred.security_token):
        raise AuthError("InvalidAccessKeyId", _MSG_NO_KEY)
    if token and not hmac.compare_digest(_enc(token), _enc(cred.security_token or "")):
        raise AuthError("InvalidSecurityToken", "The security token you provided is invalid.")
    return cred


def _check_signature(
    expected: str, provided: str, string_to_sign: bytes, canonical_request: str | None = None
) -> None:
    if not hmac.compare_digest(_enc(expected), _enc(provided)):
        raise AuthError(
            "SignatureDoesNotMatch",
            _MSG_BAD_SIG,
            string_to_sign=string_to_sign.decode("utf-8", "replace"),
            canonical_request=canonical_request,
        )


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, _ISO_BASIC).replace(tzinfo=timezone.utc)
    except ValueError:
        pass
    try:
        return _utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None


# -- V1 -----------------------------------------------------------------------------


def _v1_verify(req: _Request, cred: Credential, date: str, signature: str) -> Credential:
    hdrs = req.hdrs
    oss_headers = "".join(f"{k}:{v}\n" for k, v in sorted(hdrs.items()) if k.startswith("x-oss-"))
    sub = "&".join(
        f"{k}={v}" if v else k for k, v in sorted(p for p in req.pairs if p[0] in V1_SUBRESOURCES)
    )
    head = [req.method, hdrs.get("content-md5", ""), hdrs.get("content-type", ""), date]
    string_to_sign = (
        _enc("\n".join([*head, oss_headers])) + req.resource + (_enc("?" + sub) if sub else b"")
    )
    digest = hmac.new(_enc(cred.access_key_secret), string_to_sign, hashlib.sha1).digest()
    _check_signature(base64.b64encode(digest).decode("ascii"), signature, string_to_sign)
    return cred


def _v1_header(req: _Request, auth: str) -> Credential:
    key_id, sep, signature = auth[4:].strip().rpartition(":")
    if not sep or not key_id or not signature:
        raise _invalid("Authorization header is invalid.")
    # The v2 SDK's V1 signer sends an STS token as a bare (unsigned) "security-token" header.
    token = req.hdrs.get("x-oss-security-token") or req.hdrs.get("security-token")
    cred = _lookup(req, key_id, token)
    date = req.hdrs.get("x-oss-date") or req.hdrs.get("date", "")
    when = _parse_time(date) if date else None
    if when is None:
        raise AuthError("AccessDenied", "The request must contain a valid Date header.")
    if abs(req.now - when) > MAX_SKEW:
        raise AuthError("RequestTimeTooSkewed", _MSG_SKEWED)
    return _v1_verify(req, cred, date, signature)


def _v1_query(req: _Request) -> Credential:
    key_id, signature = req.params.get("OSSAccessKeyId", ""), req.params.get("Signature", "")
    if not key_id or not signature:
        raise AuthError("AccessDenied", "OSSAccessKeyId and Signature are both required.")
    cred = _lookup(req, key_id, req.params.get("security-token"))
    expires = req.params.get("Expires", "")
    if not expires.isdigit():
        raise AuthError("AccessDenied", "Invalid Expires in the presigned URL.")
    if req.now.timestamp() > int(expires):
        raise AuthError("AccessDenied", "Request has expired.")
    return _v1_verify(req, cred, expires, signature)


# -- V4 -----------------------------------------------------------------------------


def _v4_header(req: _Request, auth: str) -> Credential:
    fields: dict[str, str] = {}
    for part in auth[len(V4_ALGORITHM) :].split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise _invalid("Authorization header is invalid.")
        fields[name] = value
    return _v4_verify(
        req,
        credential=fields.get("Credential", ""),
        signature=fields.get("Signature", ""),
        additional=fields.get("AdditionalHeaders", ""),
        token=req.hdrs.get("x-oss-security-token"),
        timestamp=req.hdrs.get("x-oss-date", ""),
        expires=None,
    )


def _v4_query(req: _Request) -> Credential:
    params = req.params
    if params.get("x-oss-signature-version") != V4_ALGORITHM:
        raise _invalid("Unsupported x-oss-signature-version.")
    expires = params.get("x-oss-expires", "")
    if not expires.isdigit() or not 0 < int(expires) <= V4_MAX_EXPIRES:
        raise _invalid("x-oss-expires must be an integer between 1 and 604800.")
    return _v4_verify(
        req,
        credential=params.get("x-oss-credential", ""),
        signature=params.get("x-oss-signature", ""),
        additional=params.get("x-oss-additional-headers", ""),
        token=params.get("x-oss-security-token"),
        timestamp=params.get("x-oss-date", ""),
        expires=int(expires),
    )


def _v4_verify(
    req: _Request,
    *,
    credential: str,
    signature: str,
    additional: str,
    token: str | None,
    timestamp: str,
    expires: int | None,  # None for header auth
) -> Credential:
    parts = credential.split("/")
    if len(parts) != 5 or not signature or parts[3:] != ["oss", "aliyun_v4_request"]:
        raise _invalid("Invalid credential or signature in the V4 signature.")
    key_id, scope_date, scope_region = parts[:3]
    cred = _lookup(req, key_id, token)
    if scope_region != req.region:
        raise _invalid("Invalid signing region in Authorization header.")
    try:
        signed_at = datetime.strptime(timestamp, _ISO_BASIC).replace(tzinfo=timezone.utc)
    except ValueError:
        raise AuthError("AccessDenied", "A valid x-oss-date is required.") from None
    if timestamp[:8] != scope_date:
        raise _invalid("Invalid signing date in Authorization header.")
    if expires is None:
        if abs(req.now - signed_at) > MAX_SKEW:
            raise AuthError("RequestTimeTooSkewed", _MSG_SKEWED)
    elif signed_at - req.now > MAX_SKEW:
        raise AuthError("AccessDenied", "Request is not valid yet.")
    elif req.now > signed_at + timedelta(seconds=expires):
        raise AuthError("AccessDenied", "Request has expired.")

    extra = sorted({h.strip().lower() for h in additional.split(";") if h.strip()})
    canonical_headers = "".join(
        f"{k}:{v}\n"
        for k, v in sorted(req.hdrs.items())
        if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in extra
    )
    # Presigned: everything but the signature itself is signed, x-oss-credential included.
    signed = [(k, v) for k, v in req.pairs if expires is None or k != "x-oss-signature"]
    canonical_query = "&".join(
        f"{k}={v}" if v else k
        for k, v in sorted((quote(k, safe=""), quote(v, safe="")) for k, v in signed)
    )
    canonical_request = "\n".join(
        [
            req.method,
            quote(req.resource, safe="/"),
            canonical_query,
            canonical_headers,
            ";".join(extra),
            req.hdrs.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ]
    )
    scope = f"{scope_date}/{req.region}/oss/aliyun_v4_request"
    digest = hashlib.sha256(_enc(canonical_request)).hexdigest()
    string_to_sign = _enc(f"{V4_ALGORITHM}\n{timestamp}\n{scope}\n{digest}")
    key = _enc("aliyun_v4" + cred.access_key_secret)
    for step in (scope_date, req.region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, _enc(step), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign, hashlib.sha256).hexdigest()
    _check_signature(expected, signature, string_to_sign, canonical_request)
    return cred
