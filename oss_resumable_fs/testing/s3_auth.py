"""AWS Signature Version 4 verification for the S3-compatible API.

Verifies ``Authorization: AWS4-HMAC-SHA256 ...`` headers and presigned URLs
(``X-Amz-Algorithm=AWS4-HMAC-SHA256`` in the query) as S3 does, following
AWS's "Signature Version 4 signing process" and the S3 specifics: the path
is not normalised and is encoded once, the payload hash is the
``x-amz-content-sha256`` header (``UNSIGNED-PAYLOAD`` for a presigned URL),
and every ``x-amz-*`` header sent must be signed. The region is taken from the
credential scope (any region signs, as clients default to ``us-east-1``); the
service must be ``s3``. Only the standard library is used: the server verifies
from the specification, not with the clients' own signing code.

The aws-chunked signed payload (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) is
checked chunk by chunk with :meth:`S3Auth.chunk_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from oss_resumable_fs.testing.auth import Credential

__all__ = [
    "ALGORITHM",
    "S3Auth",
    "S3AuthError",
    "header_value",
    "is_sigv4",
    "lookup",
    "signature_mismatch",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES = 7 * 24 * 3600
_ISO_BASIC = "%Y%m%dT%H%M%SZ"
_UNRESERVED = "-_.~"
_QUERY_KEYS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)

_MSG_NO_KEY = "The AWS Access Key Id you provided does not exist in our records."
_MSG_BAD_SIG = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


class S3AuthError(Exception):
    """An authentication failure, answered as an S3 ``<Error>`` document."""

    def __init__(
        self, code: str, message: str, status: int = 403, extra: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        #: Extra ``<Error>`` children (``StringToSign``, ``CanonicalRequest`` ...).
        self.extra = dict(extra or {})


def _malformed(message: str, *, query: bool) -> S3AuthError:
    code = "AuthorizationQueryParametersError" if query else "AuthorizationHeaderMalformed"
    return S3AuthError(code, message, 400)


@dataclass(frozen=True)
class S3Auth:
    """What a verified request was signed with; enough to check aws-chunked chunks.

    A Signature V2 request (:mod:`.s3_auth_v2`) has no scope, region or signing key.
    """

    credential: Credential
    region: str
    timestamp: str
    scope: str
    signature: str
    #: ``x-amz-content-sha256`` as signed (a hex digest, UNSIGNED-PAYLOAD, STREAMING-...).
    payload_hash: str
    signing_key: bytes = field(repr=False)

    def chunk_signature(self, previous: str, chunk: bytes) -> str:
        """The signature of one aws-chunked chunk, following ``previous``'s."""
        string_to_sign = "\n".join(
            [
                f"{ALGORITHM}-PAYLOAD",
                self.timestamp,
                self.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            ]
        )
        return _hmac(self.signing_key, string_to_sign).hex()


def is_sigv4(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Whether a request is signed with an AWS V4 scheme (header or presigned query)."""
    if headers.get("Authorization", "").startswith("AWS4-"):
        return True
    return "X-Amz-Algorithm" in query or "X-Amz-Signature" in query


def verify(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    credentials: Mapping[str, Credential],
    *,
    now: datetime | None = None,
) -> S3Auth:
    """Check the request's SigV4 signature; raise :class:`S3AuthError` when it fails.

    ``raw_path`` is the path as sent (percent-encoded; a ``?query`` tail is
    ignored), ``query`` the decoded query pairs in order, ``headers`` every
    header as sent (repeated names repeated).
    """
    when = now or datetime.now(timezone.utc)
    params = dict(query)
    auth = header_value(headers, "authorization")
    if auth is not None:
        if not auth.startswith(ALGORITHM + " "):
            raise S3AuthError(
                "InvalidRequest",
                "The authorization mechanism you have provided is not supported. "
                f"Please use {ALGORITHM}.",
                400,
            )
        fields = _auth_fields(auth[len(ALGORITHM) :])
        timestamp = header_value(headers, "x-amz-date") or _date_header(headers)
        payload = header_value(headers, "x-amz-content-sha256")
        if payload is None:
            raise S3AuthError(
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                400,
            )
        presigned = False
    else:
        missing = [k for k in _QUERY_KEYS if not params.get(k)]
        if missing:
            raise _malformed(f"Query-string authentication requires {missing[0]}.", query=True)
        if params["X-Amz-Algorithm"] != ALGORITHM:
            raise _malformed(f"X-Amz-Algorithm only supports {ALGORITHM}.", query=True)
        fields = {
            "Credential": params["X-Amz-Credential"],
            "SignedHeaders": params["X-Amz-SignedHeaders"],
            "Signature": params["X-Amz-Signature"],
        }
        timestamp = params["X-Amz-Date"]
        payload = header_value(headers, "x-amz-content-sha256") or UNSIGNED_PAYLOAD
        presigned = True
    key_id, scope, region = _scope(fields.get("Credential", ""), presigned)
    token = params.get("X-Amz-Security-Token") if presigned else None
    cred = lookup(credentials, key_id, token or header_value(headers, "x-amz-security-token"))
    signed_at = _check_time(timestamp, scope, when, params if presigned else None)
    signed = [h for h in fields.get("SignedHeaders", "").lower().split(";") if h]
    if "host" not in signed:
        raise _malformed("The host header must be signed.", query=presigned)
    unsigned = sorted(
        {n.lower() for n, _ in headers if n.lower().startswith("x-amz-")} - set(signed)
    )
    if unsigned:
        raise S3AuthError(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            extra={"HeadersNotSigned": ", ".join(unsigned)},
        )
    pairs = [(k, v) for k, v in query if not (presigned and k == "X-Amz-Signature")]
    key = _signing_key(cred.access_key_secret, scope)
    provided = fields.get("Signature", "")
    failure: S3AuthError | None = None
    for path in _canonical_paths(raw_path):
        canonical = _canonical_request(method, path, pairs, headers, signed, payload)
        string_to_sign = "\n".join(
            [ALGORITHM, timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        expected = _hmac(key, string_to_sign).hex()
        if hmac.compare_digest(expected.encode(), provided.encode()):
            return S3Auth(
                cred, region, signed_at.strftime(_ISO_BASIC), scope, provided, payload, key
            )
        failure = failure or signature_mismatch(key_id, string_to_sign, provided, canonical)
    assert failure is not None
    raise failure


# -- pieces ---------------------------------------------------------------------------


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for n, v in headers if n.lower() == name]
    return ",".join(values) if values else None


def signature_mismatch(
    key_id: str, string_to_sign: str, provided: str, canonical: str | None = None
) -> S3AuthError:
    """SignatureDoesNotMatch, with what the server signed (as S3 reports it)."""
    extra = {"AWSAccessKeyId": key_id, "StringToSign": string_to_sign}
    extra["SignatureProvided"] = provided
    if canonical is not None:
        extra["CanonicalRequest"] = canonical
    return S3AuthError("SignatureDoesNotMatch", _MSG_BAD_SIG, extra=extra)


def _date_header(headers: Sequence[tuple[str, str]]) -> str:
    """A ``Date`` header (RFC 1123) in ISO basic form, for requests without ``x-amz-date``."""
    value = header_value(headers, "date") or ""
    try:
        return parsedate_to_datetime(value).astimezone(timezone.utc).strftime(_ISO_BASIC)
    except (TypeError, ValueError, IndexError):
        return ""


def _auth_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise _malformed("The authorization header is malformed.", query=False)
        fields[name.strip()] = value.strip()
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise _malformed(f"The authorization header is missing {name}.", query=False)
    return fields


def _scope(credential: str, presigned: bool) -> tuple[str, str, str]:
    """``AKID/date/region/s3/aws4_request`` -> (key id, scope, region)."""
    key_id, sep, scope = credential.partition("/")
    parts = scope.split("/")
    if not sep or not key_id or len(parts) != 4 or not all(parts):
        raise _malformed(f"The credential is malformed: {credential!r}.", query=presigned)
    if parts[2] != "s3" or parts[3] != "aws4_request":
        raise _malformed(
            f"The credential scope must end with s3/aws4_request: {scope!r}.", query=presigned
        )
    return key_id, scope, parts[1]


def lookup(credentials: Mapping[str, Credential], key_id: str, token: str | None) -> Credential:
    """The credential for ``key_id``; an STS one only with its token (as in :mod:`.auth`)."""
    cred = credentials.get(key_id)
    if cred is None or bool(token) != bool(cred.security_token):
        raise S3AuthError("InvalidAccessKeyId", _MSG_NO_KEY, extra={"AWSAccessKeyId": key_id})
    if token and not hmac.compare_digest(token.encode(), (cred.security_token or "").encode()):
        raise S3AuthError(
            "InvalidToken", "The provided token is malformed or otherwise invalid.", 400
        )
    return cred


def _check_time(
    timestamp: str, scope: str, now: datetime, params: Mapping[str, str] | None
) -> datetime:
    """Parse the signing time; check it against the scope, the clock and any expiry."""
    query = params is not None
    try:
        signed_at = datetime.strptime(timestamp, _ISO_BASIC).replace(tzinfo=timezone.utc)
    except ValueError:
        if query:
            raise _malformed(
                "X-Amz-Date must be in the ISO8601 basic format.", query=True
            ) from None
        raise S3AuthError(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        ) from None
    if timestamp[:8] != scope.split("/", 1)[0]:
        raise _malformed("The credential scope date does not match the signing date.", query=query)
    now = now.astimezone(timezone.utc)
    if params is None:
        if abs(now - signed_at) > MAX_SKEW:
            raise S3AuthError(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                extra={
                    "RequestTime": timestamp,
                    "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "MaxAllowedSkewMilliseconds": str(int(MAX_SKEW.total_seconds() * 1000)),
                },
            )
        return signed_at
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 0 < int(expires) <= MAX_EXPIRES:
        raise _malformed(f"X-Amz-Expires must be between 1 and {MAX_EXPIRES} seconds.", query=True)
    if signed_at - now > MAX_SKEW:
        raise S3AuthError("AccessDenied", "Request is not valid yet")
    if now > signed_at + timedelta(seconds=int(expires)):
        raise S3AuthError(
            "AccessDenied",
            "Request has expired",
            extra={
                "X-Amz-Expires": expires,
                "Expires": (signed_at + timedelta(seconds=int(expires))).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    return signed_at


def _canonical_paths(raw_path: str) -> list[str]:
    """The canonical URI: the decoded path encoded once (RFC 3986 unreserved kept).

    A client that signs the path exactly as it sent it (a few encode ``!`` or
    ``'`` in neither) is accepted too: that path is tried second.
    """
    path = raw_path.split("?", 1)[0] or "/"
    canonical = quote(unquote_to_bytes(path), safe="/" + _UNRESERVED)
    return [canonical] if canonical == path else [canonical, path]


def _uri_encode(text: str) -> str:
    return quote(text, safe=_UNRESERVED)


def _canonical_request(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    signed: Sequence[str],
    payload: str,
) -> str:
    canonical_query = "&".join(
        f"{k}={v}" for k, v in sorted((_uri_encode(k), _uri_encode(v)) for k, v in query)
    )
    lines = []
    for name in sorted(set(signed)):
        values = [" ".join(v.split()) for n, v in headers if n.lower() == name]
        lines.append(f"{name}:{','.join(values)}\n")
    return "\n".join(
        [method.upper(), path, canonical_query, "".join(lines), ";".join(signed), payload]
    )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret: str, scope: str) -> bytes:
    date, region, service, terminator = scope.split("/")
    key = ("AWS4" + secret).encode("utf-8")
    for step in (date, region, service, terminator):
        key = _hmac(key, step)
    return key
