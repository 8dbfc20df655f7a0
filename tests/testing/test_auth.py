"""Unit tests for the test server's request authentication.

Requests are produced by the real clients (``oss2`` through a capturing
``requests`` adapter, ``alibabacloud_oss_v2`` through a capturing HttpClient,
plus both SDKs' presigners) and decoded the way aiohttp decodes them (yarl
for the query, a CIMultiDict for the headers), then fed to ``authenticate``.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests
import yarl
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import Credentials, HttpClient, HttpRequest, SigningContext
from multidict import CIMultiDict

from oss_resumable_fs.testing.auth import AuthError, Credential, authenticate

REGION = "cn-hangzhou"
ENDPOINT = "http://127.0.0.1:9"
BUCKET = "bkt"
AK, SK = "LTAI5tExampleKeyId", "example-secret"
STS_AK, STS_SK, STS_TOKEN = "STS.NTempKeyId", "sts-secret", "CAIS+tok/en==with/odd+chars"
CREDS = {
    AK: Credential(AK, SK),
    STS_AK: Credential(STS_AK, STS_SK, STS_TOKEN),
}

KEYS = [
    "plain.txt",
    "dir/sub/file.bin",
    "with space.txt",
    "plus+sign+",
    "percent%25%.txt",
    "中文/ключ é.txt",
    "question?mark&amp=1#hash",
    "~tilde_-.dot",
    "a//double/slash",
    "trailing/",
    "semi;colon,comma:colon@at!$'()*",
]


@dataclass(frozen=True)
class Wire:
    """A request as the server sees it."""

    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: CIMultiDict[str]

    def with_path(self, raw_path: str) -> Wire:
        return replace(self, raw_path=raw_path)

    def with_query(self, **changes: str | None) -> Wire:
        query = [(k, v) for k, v in self.query if k not in changes]
        query += [(k, v) for k, v in changes.items() if v is not None]
        return replace(self, query=query)

    def with_headers(self, **changes: str | None) -> Wire:
        headers = CIMultiDict(self.headers)
        for name, value in changes.items():
            name = name.replace("_", "-")
            headers.popall(name, None)
            if value is not None:
                headers[name] = value
        return replace(self, headers=headers)


def from_url(method: str, url: str, headers: Any = None) -> Wire:
    parts = urlsplit(url)
    decoded = yarl.URL.build(path=parts.path, query_string=parts.query, encoded=True)
    # requests drops None-valued headers (oss2 sets Accept-Encoding: None).
    sent = CIMultiDict((k, v) for k, v in (headers or {}).items() if v is not None)
    return Wire(method, parts.path, list(decoded.query.items()), sent)


def check(
    wire: Wire, *, now: dt.datetime | None = None, creds: dict[str, Credential] = CREDS
) -> Credential | None:
    return authenticate(
        wire.method, wire.raw_path, wire.query, wire.headers, creds, region=REGION, now=now
    )


def rejected(wire: Wire, **kwargs: Any) -> AuthError:
    with pytest.raises(AuthError) as info:
        check(wire, **kwargs)
    return info.value


def utcnow(**delta: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(**delta)


# -- capturing clients ----------------------------------------------------------------


class _CaptureAdapter(requests.adapters.BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        body = b'<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>'
        resp = requests.Response()
        resp.status_code, resp.raw, resp.request = 404, io.BytesIO(body), request
        resp.headers["x-oss-request-id"] = "captured"
        return resp

    def close(self) -> None:
        pass


def oss2_wire(auth: Any, call: Callable[[oss2.Bucket], Any]) -> Wire:
    """Run ``call`` on an oss2 bucket and return the single request it sent."""
    adapter = _CaptureAdapter()
    bucket = oss2.Bucket(
        auth, ENDPOINT, BUCKET, session=oss2.Session(adapter=adapter), region=REGION
    )
    with pytest.raises(oss2.exceptions.OssError):
        call(bucket)
    (req,) = adapter.sent
    return from_url(req.method or "", req.url or "", req.headers)


def oss2_service_wire(auth: Any) -> Wire:
    adapter = _CaptureAdapter()
    service = oss2.Service(auth, ENDPOINT, session=oss2.Session(adapter=adapter), region=REGION)
    with pytest.raises(oss2.exceptions.OssError):
        service.list_buckets()
    (req,) = adapter.sent
    return from_url(req.method or "", req.url or "", req.headers)


def oss2_bucket(auth: Any) -> oss2.Bucket:
    return oss2.Bucket(auth, ENDPOINT, BUCKET, region=REGION)


class _CaptureClient(HttpClient):
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append(request)
        raise RuntimeError("captured")

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


def v2_client(
    key_id: str = AK, secret: str = SK, token: str | None = None, **config: Any
) -> tuple[oss.Client, _CaptureClient]:
    capture = _CaptureClient()
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(key_id, secret, token)
    cfg.region, cfg.endpoint, cfg.use_path_style = REGION, ENDPOINT, True
    cfg.http_client, cfg.retry_max_attempts = capture, 1
    for name, value in config.items():
        setattr(cfg, name, value)
    return oss.Client(cfg), capture


def v2_wire(call: Callable[[oss.Client], Any], **client_kwargs: Any) -> Wire:
    client, capture = v2_client(**client_kwargs)
    with pytest.raises(oss.exceptions.OperationError):
        call(client)
    (req,) = capture.sent
    return from_url(req.method, req.url, req.headers)


def v2_presign(request: Any, headers: Any = None, **client_kwargs: Any) -> Wire:
    client, _ = v2_client(**client_kwargs)
    result = client.presign(request, expires=dt.timedelta(minutes=5))
    sent = dict(result.signed_headers or {})
    sent.update(headers or {})
    return from_url(result.method, result.url, sent)


# -- operations shared by the V1 and V4 header tests ----------------------------------

OSS2_OPS: dict[str, Callable[[oss2.Bucket], Any]] = {
    "get": lambda b: b.get_object("dir/a b.txt"),
    "get-range-response-params": lambda b: b.get_object(
        "k", byte_range=(0, 9), params={"response-content-type": "text/plain; x=1"}
    ),
    "head": lambda b: b.head_object("k+1"),
    "put": lambda b: b.put_object(
        "up/é.json",
        b"{}",
        headers={"x-oss-meta-Owner": "Ann", "Content-MD5": "mZFLkyvTelC5g8XnyQrpOw=="},
    ),
    "delete": lambda b: b.delete_object("k"),
    "acl": lambda b: b.get_object_acl("k"),
    "uploads": lambda b: b.init_multipart_upload("big.bin"),
    "upload-part": lambda b: b.upload_part("big.bin", "upl/oad+id=", 1, b"data"),
    "list-parts": lambda b: b.list_parts("big.bin", "uid", marker="3"),
    "complete": lambda b: b.complete_multipart_upload("big.bin", "uid", []),
    "abort": lambda b: b.abort_multipart_upload("big.bin", "uid"),
    "list-v1": lambda b: b.list_objects(prefix="a b/", delimiter="/", marker="a b/x+y"),
    "list-v2": lambda b: b.list_objects_v2(
        prefix="p/q", delimiter="/", continuation_token="tok+/=", max_keys=7
    ),
    "bucket-info": lambda b: b.get_bucket_info(),
}

V2_OPS: dict[str, Callable[[oss.Client], Any]] = {
    "get": lambda c: c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="dir/a b+c%.txt")),
    "get-range": lambda c: c.get_object(
        oss.GetObjectRequest(
            bucket=BUCKET, key="k", range_header="bytes=0-9", response_content_type="text/plain"
        )
    ),
    "head": lambda c: c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="中文 key")),
    "put": lambda c: c.put_object(
        oss.PutObjectRequest(bucket=BUCKET, key="up/k", body=b"x", metadata={"owner": "Ann"})
    ),
    "uploads": lambda c: c.initiate_multipart_upload(
        oss.InitiateMultipartUploadRequest(bucket=BUCKET, key="big.bin")
    ),
    "upload-part": lambda c: c.upload_part(
        oss.UploadPartRequest(
            bucket=BUCKET, key="big.bin", upload_id="upl/oad+id=", part_number=2, body=b"d"
        )
    ),
    "list-v2": lambda c: c.list_objects_v2(
        oss.ListObjectsV2Request(
            bucket=BUCKET, prefix="p/q r", delimiter="/", continuation_token="t+/="
        )
    ),
    "list-buckets": lambda c: c.list_buckets(oss.ListBucketsRequest()),
}


# -- Credential / AuthError ------------------------------------------------------------


def test_credential_repr_hides_secret_and_token() -> None:
    cred = Credential("my-id", "super-secret-value", "token-value")
    for text in (repr(cred), str(cred), f"{cred}"):
        assert "my-id" in text
        assert "super-secret-value" not in text
        assert "token-value" not in text


def test_auth_error_fields() -> None:
    err = AuthError("AccessDenied", "nope")
    assert (err.code, err.message, err.status) == ("AccessDenied", "nope", 403)
    assert AuthError("InvalidArgument", "bad", 400).status == 400


# -- anonymous and malformed -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [f"{ENDPOINT}/{BUCKET}/k", f"{ENDPOINT}/{BUCKET}/?acl", f"{ENDPOINT}/", f"{ENDPOINT}/b/k?x=1"],
)
def test_no_auth_is_anonymous(url: str) -> None:
    assert check(from_url("GET", url, {"x-oss-meta-a": "b"})) is None


@pytest.mark.parametrize(
    "authorization",
    ["Bearer abc", "OSS nocolon", "OSS :sig", "OSS4-HMAC-SHA256 Credential", "OSS2 AccessKeyId:a"],
)
def test_malformed_authorization_header(authorization: str) -> None:
    err = rejected(from_url("GET", f"{ENDPOINT}/{BUCKET}/k", {"Authorization": authorization}))
    assert (err.code, err.status) == ("InvalidArgument", 400)


def test_v4_header_with_bad_credential_scope() -> None:
    wire = oss2_wire(oss2.AuthV4(AK, SK), OSS2_OPS["get"])
    auth = wire.headers["authorization"].replace("/oss/aliyun_v4_request", "/s3/aws4_request")
    err = rejected(wire.with_headers(authorization=auth))
    assert (err.code, err.status) == ("InvalidArgument", 400)


# -- V1 header signatures ---------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_v1_oss2_keys(key: str) -> None:
    wire = oss2_wire(oss2.Auth(AK, SK), lambda b: b.get_object(key))
    assert check(wire) == CREDS[AK]


@pytest.mark.parametrize("op", OSS2_OPS)
def test_v1_oss2_operations(op: str) -> None:
    assert check(oss2_wire(oss2.Auth(AK, SK), OSS2_OPS[op])) == CREDS[AK]


def test_v1_service_level_list_buckets() -> None:
    wire = oss2_service_wire(oss2.Auth(AK, SK))
    assert wire.raw_path == "/"
    assert check(wire) == CREDS[AK]


def test_v1_raw_path_with_query_suffix_and_mapping_query() -> None:
    wire = oss2_wire(oss2.Auth(AK, SK), OSS2_OPS["acl"])
    assert wire.query == [("acl", "")]
    assert check(wire.with_path(wire.raw_path + "?acl")) == CREDS[AK]
    assert (
        authenticate(
            wire.method, wire.raw_path, dict(wire.query), wire.headers, CREDS, region=REGION
        )
        == CREDS[AK]
    )


@pytest.mark.parametrize("op", ["get", "get-range", "head", "put", "uploads", "list-v2"])
def test_v1_v2sdk_operations(op: str) -> None:
    assert check(v2_wire(V2_OPS[op], signature_version="v1")) == CREDS[AK]


def test_v1_wrong_secret() -> None:
    wire = oss2_wire(oss2.Auth(AK, "not-the-secret"), OSS2_OPS["get"])
    err = rejected(wire)
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)
    assert err.string_to_sign is not None
    assert err.string_to_sign.startswith("GET\n\n\n")
    assert err.string_to_sign.endswith("\n/bkt/dir/a b.txt")


def test_v1_unknown_key() -> None:
    err = rejected(oss2_wire(oss2.Auth("LTAIunknown", SK), OSS2_OPS["get"]))
    assert (err.code, err.status) == ("InvalidAccessKeyId", 403)


def test_v1_tampering() -> None:
    wire = oss2_wire(oss2.Auth(AK, SK), OSS2_OPS["upload-part"])
    assert check(wire) == CREDS[AK]
    tampered = [
        wire.with_path(wire.raw_path.replace("big.bin", "big.bim")),
        wire.with_path(f"/other{wire.raw_path[len('/' + BUCKET) :]}"),
        wire.with_query(uploadId="other"),
        wire.with_query(partNumber="2"),
        wire.with_query(acl=""),
        wire.with_headers(x_oss_meta_extra="1"),
        wire.with_headers(content_type="text/evil"),
        wire.with_headers(content_md5="1B2M2Y8AsgTpgAmY7PhCfg=="),
        replace(wire, method="POST"),
    ]
    for bad in tampered:
        assert rejected(bad).code == "SignatureDoesNotMatch", bad
    # V1 signs only sub-resources: an unsigned listing parameter may change.
    assert check(wire.with_query(**{"max-keys": "5"})) == CREDS[AK]


def test_v1_date_skew_and_missing_date() -> None:
    wire = oss2_wire(oss2.Auth(AK, SK), OSS2_OPS["get"])
    assert check(wire, now=utcnow(minutes=14)) == CREDS[AK]
    assert check(wire, now=utcnow(minutes=-14)) == CREDS[AK]
    for minutes in (16, -16):
        err = rejected(wire, now=utcnow(minutes=minutes))
        assert (err.code, err.status) == ("RequestTimeTooSkewed", 403)
    assert rejected(wire.with_headers(date=None)).code == "AccessDenied"
    assert rejected(wire.with_headers(date="yesterday")).code == "AccessDenied"


def test_naive_now_is_utc() -> None:
    wire = oss2_wire(oss2.Auth(AK, SK), OSS2_OPS["get"])
    naive = utcnow(minutes=16).replace(tzinfo=None)
    assert rejected(wire, now=naive).code == "RequestTimeTooSkewed"


# -- V4 header signatures ---------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_v4_oss2_keys(key: str) -> None:
    assert check(oss2_wire(oss2.AuthV4(AK, SK), lambda b: b.get_object(key))) == CREDS[AK]


@pytest.mark.parametrize("key", KEYS)
def test_v4_v2sdk_keys(key: str) -> None:
    wire = v2_wire(lambda c: c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key)))
    assert check(wire) == CREDS[AK]


@pytest.mark.parametrize("op", OSS2_OPS)
def test_v4_oss2_operations(op: str) -> None:
    assert check(oss2_wire(oss2.AuthV4(AK, SK), OSS2_OPS[op])) == CREDS[AK]


@pytest.mark.parametrize("op", V2_OPS)
def test_v4_v2sdk_operations(op: str) -> None:
    assert check(v2_wire(V2_OPS[op])) == CREDS[AK]


def test_v4_service_level_list_buckets() -> None:
    wire = oss2_service_wire(oss2.AuthV4(AK, SK))
    assert wire.raw_path == "/"
    assert check(wire) == CREDS[AK]


def v2_signed(
    method: str, url: str, headers: dict[str, str], *, query_auth: bool, key: str = "k"
) -> Wire:
    """Sign with the v2 SDK's SignerV4 directly, listing ``range`` as an additional header.

    (alibabacloud-oss-v2 1.4 never forwards ``Config.additional_headers`` to the signer.)
    """
    request = HttpRequest(method, url, headers=dict(headers))
    ctx = SigningContext(
        product="oss",
        region=REGION,
        bucket=BUCKET,
        key=key,
        request=request,
        credentials=Credentials(AK, SK),
        additional_headers={"range"},
    )
    ctx.auth_method_query = query_auth
    SignerV4().sign(ctx)
    return from_url(method, request.url, request.headers)


@pytest.mark.parametrize("query_auth", [False, True])
def test_v4_additional_headers_v2_signer(query_auth: bool) -> None:
    wire = v2_signed("GET", f"{ENDPOINT}/{BUCKET}/k", {"Range": "bytes=0-9"}, query_auth=query_auth)
    if query_auth:
        assert ("x-oss-additional-headers", "range") in wire.query
    else:
        assert "AdditionalHeaders=range" in wire.headers["authorization"]
    assert check(wire) == CREDS[AK]
    assert rejected(wire.with_headers(range="bytes=0-99")).code == "SignatureDoesNotMatch"
    assert rejected(wire.with_headers(range=None)).code == "SignatureDoesNotMatch"


def test_v4_additional_headers_oss2() -> None:
    auth = oss2.AuthV4(AK, SK)
    req = oss2.http.Request(
        "GET",
        f"{ENDPOINT}/{BUCKET}/k",
        headers={"Range": "bytes=1-2"},
        region=REGION,
        product="oss",
    )
    auth._sign_request(req, BUCKET, "k", in_additional_headers={"range"})
    wire = from_url("GET", req.url, req.headers)
    assert "AdditionalHeaders=range" in wire.headers["authorization"]
    assert check(wire) == CREDS[AK]
    assert rejected(wire.with_headers(range="bytes=1-3")).code == "SignatureDoesNotMatch"
    # Not listed in AdditionalHeaders, hence unsigned.
    assert check(wire.with_headers(if_match='"etag"')) == CREDS[AK]


def test_v4_wrong_secret_unknown_key_wrong_region() -> None:
    err = rejected(oss2_wire(oss2.AuthV4(AK, "nope"), OSS2_OPS["get"]))
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)
    assert err.canonical_request is not None
    assert err.canonical_request.startswith("GET\n/bkt/dir/a%20b.txt\n\n")
    err = rejected(v2_wire(V2_OPS["get"], secret="nope"))
    assert err.code == "SignatureDoesNotMatch"
    err = rejected(v2_wire(V2_OPS["get"], key_id="LTAIunknown"))
    assert (err.code, err.status) == ("InvalidAccessKeyId", 403)
    err = rejected(v2_wire(V2_OPS["get"], region="cn-beijing"))
    assert (err.code, err.status, err.message) == (
        "InvalidArgument",
        400,
        "Invalid signing region in Authorization header.",
    )


def test_v4_tampering() -> None:
    wire = v2_wire(V2_OPS["list-v2"])
    assert check(wire) == CREDS[AK]
    tampered = [
        wire.with_path(f"/other{wire.raw_path[len('/' + BUCKET) :]}"),
        wire.with_query(prefix="p/q"),
        wire.with_query(**{"max-keys": "5"}),  # V4 signs every query parameter
        wire.with_headers(x_oss_content_sha256="0" * 64),
        wire.with_headers(content_type="text/evil"),
        wire.with_headers(x_oss_meta_extra="1"),
        replace(wire, method="DELETE"),
    ]
    for bad in tampered:
        assert rejected(bad).code == "SignatureDoesNotMatch", bad
    # Headers outside x-oss-*, Content-Type, Content-MD5 and AdditionalHeaders are unsigned.
    assert check(wire.with_headers(user_agent="other", range="bytes=0-1")) == CREDS[AK]


def test_v4_date_skew() -> None:
    wire = oss2_wire(oss2.AuthV4(AK, SK), OSS2_OPS["get"])
    assert check(wire, now=utcnow(minutes=14)) == CREDS[AK]
    for minutes in (16, -16):
        err = rejected(wire, now=utcnow(minutes=minutes))
        assert (err.code, err.status) == ("RequestTimeTooSkewed", 403)
    assert rejected(wire.with_headers(x_oss_date=None)).code == "AccessDenied"


def test_v4_scope_date_must_match_x_oss_date() -> None:
    wire = v2_wire(V2_OPS["get"])
    stamp = wire.headers["x-oss-date"]
    auth = wire.headers["authorization"].replace(f"/{stamp[:8]}/", "/20000101/")
    err = rejected(wire.with_headers(authorization=auth))
    assert (err.code, err.status) == ("InvalidArgument", 400)


# -- presigned URLs -----------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("slash_safe", [False, True])
def test_v1_presigned_oss2(key: str, slash_safe: bool) -> None:
    url = oss2_bucket(oss2.Auth(AK, SK)).sign_url("GET", key, 60, slash_safe=slash_safe)
    assert check(from_url("GET", url)) == CREDS[AK]


def test_v1_presigned_oss2_put_with_headers_and_params() -> None:
    headers = {"Content-Type": "text/plain", "x-oss-meta-a": "b"}
    url = oss2_bucket(oss2.Auth(AK, SK)).sign_url(
        "PUT", "d/k", 60, headers=headers, params={"response-content-type": "a/b"}
    )
    wire = from_url("PUT", url, headers)
    assert check(wire) == CREDS[AK]
    assert rejected(wire.with_headers(content_type="text/html")).code == "SignatureDoesNotMatch"
    assert rejected(wire.with_headers(x_oss_meta_a=None)).code == "SignatureDoesNotMatch"
    assert rejected(replace(wire, method="GET")).code == "SignatureDoesNotMatch"


def test_v1_presigned_v2sdk() -> None:
    wire = v2_presign(oss.GetObjectRequest(bucket=BUCKET, key="a b/c+d"), signature_version="v1")
    assert ("OSSAccessKeyId", AK) in wire.query
    assert check(wire) == CREDS[AK]


def test_v1_presigned_tampered_and_expired() -> None:
    wire = from_url("GET", oss2_bucket(oss2.Auth(AK, SK)).sign_url("GET", "k", 60))
    assert check(wire, now=utcnow(seconds=30)) == CREDS[AK]
    for bad in (
        wire.with_path(f"/{BUCKET}/k2"),
        wire.with_query(Expires=str(int(dict(wire.query)["Expires"]) + 1)),
        wire.with_query(Signature="AAAA" + dict(wire.query)["Signature"][4:]),
        wire.with_query(acl=""),
    ):
        assert rejected(bad).code == "SignatureDoesNotMatch", bad
    err = rejected(wire, now=utcnow(seconds=120))
    assert (err.code, err.status, err.message) == ("AccessDenied", 403, "Request has expired.")
    assert rejected(wire.with_query(OSSAccessKeyId="LTAIother")).code == "InvalidAccessKeyId"


@pytest.mark.parametrize("key", KEYS)
def test_v4_presigned_oss2(key: str) -> None:
    url = oss2_bucket(oss2.AuthV4(AK, SK)).sign_url("GET", key, 60)
    assert check(from_url("GET", url)) == CREDS[AK]


@pytest.mark.parametrize("key", KEYS)
def test_v4_presigned_v2sdk(key: str) -> None:
    wire = v2_presign(oss.GetObjectRequest(bucket=BUCKET, key=key))
    assert check(wire) == CREDS[AK]


def test_v4_presigned_v2sdk_put_with_signed_headers() -> None:
    wire = v2_presign(
        oss.PutObjectRequest(bucket=BUCKET, key="k", content_type="text/plain", metadata={"a": "b"})
    )
    assert wire.headers["content-type"] == "text/plain"
    assert check(wire) == CREDS[AK]
    assert rejected(wire.with_headers(content_type="text/html")).code == "SignatureDoesNotMatch"


def test_v4_presigned_tampered_expired_and_not_yet_valid() -> None:
    wire = from_url("GET", oss2_bucket(oss2.AuthV4(AK, SK)).sign_url("GET", "k", 60))
    assert check(wire, now=utcnow(seconds=30)) == CREDS[AK]
    for bad in (
        wire.with_path(f"/{BUCKET}/k2"),
        wire.with_query(**{"x-oss-expires": "3600"}),
        wire.with_query(**{"response-content-type": "text/html"}),
        replace(wire, method="PUT"),
    ):
        assert rejected(bad).code == "SignatureDoesNotMatch", bad
    err = rejected(wire, now=utcnow(seconds=120))
    assert (err.code, err.status, err.message) == ("AccessDenied", 403, "Request has expired.")
    err = rejected(wire, now=utcnow(minutes=-20))
    assert (err.code, err.message) == ("AccessDenied", "Request is not valid yet.")


def test_v4_presigned_expiry_limit_and_region() -> None:
    url = oss2_bucket(oss2.AuthV4(AK, SK)).sign_url("GET", "k", 8 * 24 * 3600)
    err = rejected(from_url("GET", url))
    assert (err.code, err.status) == ("InvalidArgument", 400)
    wire = v2_presign(oss.GetObjectRequest(bucket=BUCKET, key="k"), region="cn-beijing")
    assert rejected(wire).message == "Invalid signing region in Authorization header."


# -- STS ------------------------------------------------------------------------------------

STS_HEADER_WIRES: dict[str, Callable[[], Wire]] = {
    "oss2-v1": lambda: oss2_wire(oss2.StsAuth(STS_AK, STS_SK, STS_TOKEN), OSS2_OPS["get"]),
    "oss2-v4": lambda: oss2_wire(
        oss2.StsAuth(STS_AK, STS_SK, STS_TOKEN, auth_version="v4"), OSS2_OPS["list-v2"]
    ),
    "v2sdk-v4": lambda: v2_wire(V2_OPS["get"], key_id=STS_AK, secret=STS_SK, token=STS_TOKEN),
    "v2sdk-v1": lambda: v2_wire(
        V2_OPS["get"], key_id=STS_AK, secret=STS_SK, token=STS_TOKEN, signature_version="v1"
    ),
}


@pytest.mark.parametrize("name", STS_HEADER_WIRES)
def test_sts_header_auth(name: str) -> None:
    wire = STS_HEADER_WIRES[name]()
    assert check(wire) == CREDS[STS_AK]
    no_token = wire.with_headers(x_oss_security_token=None, security_token=None)
    err = rejected(no_token)
    assert (err.code, err.status) == ("InvalidAccessKeyId", 403)
    rotated = {STS_AK: Credential(STS_AK, STS_SK, "a-newer-token")}
    err = rejected(wire, creds=rotated)
    assert (err.code, err.status) == ("InvalidSecurityToken", 403)


def test_sts_token_is_signed() -> None:
    wire = STS_HEADER_WIRES["oss2-v1"]()
    creds = {STS_AK: Credential(STS_AK, STS_SK, "other-token")}
    err = rejected(wire.with_headers(x_oss_security_token="other-token"), creds=creds)
    assert err.code == "SignatureDoesNotMatch"


def test_sts_token_with_long_term_key_is_rejected() -> None:
    wire = oss2_wire(oss2.StsAuth(AK, SK, "stray-token"), OSS2_OPS["get"])
    assert rejected(wire).code == "InvalidAccessKeyId"


STS_PRESIGNED: dict[str, tuple[Callable[[], str], str]] = {
    "oss2-v1": (
        lambda: oss2_bucket(oss2.StsAuth(STS_AK, STS_SK, STS_TOKEN)).sign_url("GET", "k", 60),
        "security-token",
    ),
    "oss2-v4": (
        lambda: oss2_bucket(oss2.StsAuth(STS_AK, STS_SK, STS_TOKEN, auth_version="v4")).sign_url(
            "GET", "a/b c", 60
        ),
        "x-oss-security-token",
    ),
}


@pytest.mark.parametrize("name", STS_PRESIGNED)
def test_sts_presigned_oss2(name: str) -> None:
    make_url, param = STS_PRESIGNED[name]
    wire = from_url("GET", make_url())
    assert (param, STS_TOKEN) in wire.query
    assert check(wire) == CREDS[STS_AK]
    assert rejected(wire.with_query(**{param: None})).code == "InvalidAccessKeyId"
    rotated = {STS_AK: Credential(STS_AK, STS_SK, "a-newer-token")}
    assert rejected(wire, creds=rotated).code == "InvalidSecurityToken"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_sts_presigned_v2sdk(version: str) -> None:
    wire = v2_presign(
        oss.GetObjectRequest(bucket=BUCKET, key="k"),
        key_id=STS_AK,
        secret=STS_SK,
        token=STS_TOKEN,
        signature_version=version,
    )
    assert check(wire) == CREDS[STS_AK]
    stripped = wire.with_query(**{"security-token": None, "x-oss-security-token": None})
    assert rejected(stripped).code == "InvalidAccessKeyId"
