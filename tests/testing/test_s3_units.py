"""Pure pieces of the S3-compatible API: SigV4 verification (against AWS's published
examples), aws-chunked bodies, addressing and operation names.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from multidict import CIMultiDict

from oss_resumable_fs.testing.auth import Credential
from oss_resumable_fs.testing.diskfiles import PartialWrite
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.s3_api import classify, virtual_host_bucket
from oss_resumable_fs.testing.s3_auth import S3AuthError, verify
from oss_resumable_fs.testing.s3_body import receive_body

# The examples of AWS's "Signature Calculations for the Authorization Header" and
# "Query String Authentication" pages for S3 (examplebucket, 2013-05-24).
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
CREDENTIALS = {KEY_ID: Credential(KEY_ID, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")}
NOW = datetime(2013, 5, 24, 0, 0, 30, tzinfo=timezone.utc)
SCOPE = f"{KEY_ID}/20130524/us-east-1/s3/aws4_request"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
GET_HEADERS = [
    ("Host", "examplebucket.s3.amazonaws.com"),
    ("Range", "bytes=0-9"),
    ("x-amz-content-sha256", EMPTY),
    ("x-amz-date", "20130524T000000Z"),
    (
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={SCOPE},"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
]
PRESIGNED = [
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Credential", SCOPE),
    ("X-Amz-Date", "20130524T000000Z"),
    ("X-Amz-Expires", "86400"),
    ("X-Amz-SignedHeaders", "host"),
    ("X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
]
CHUNKED_HEADERS = [
    ("Host", "s3.amazonaws.com"),
    ("x-amz-date", "20130524T000000Z"),
    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    ("Content-Encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"),
    ("Content-Length", "66824"),
    (
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={SCOPE},SignedHeaders=content-encoding;content-length;"
        "host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    ),
]
CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def _replace(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    return [(n, value if n == name else v) for n, v in headers]


def test_awss_header_example_verifies() -> None:
    context = verify("GET", "/test.txt", [], GET_HEADERS, CREDENTIALS, now=NOW)
    assert context.region == "us-east-1" and context.credential.access_key_id == KEY_ID


def test_awss_presigned_example_verifies_until_it_expires() -> None:
    host = [("Host", "examplebucket.s3.amazonaws.com")]
    verify("GET", "/test.txt", PRESIGNED, host, CREDENTIALS, now=NOW + timedelta(hours=23))
    with pytest.raises(S3AuthError) as err:
        verify("GET", "/test.txt", PRESIGNED, host, CREDENTIALS, now=NOW + timedelta(hours=25))
    assert (err.value.code, err.value.message) == ("AccessDenied", "Request has expired")


@pytest.mark.parametrize(
    ("method", "path", "headers", "code"),
    [
        ("GET", "/test.txt", _replace(GET_HEADERS, "Range", "bytes=0-10"), "SignatureDoesNotMatch"),
        ("HEAD", "/test.txt", GET_HEADERS, "SignatureDoesNotMatch"),
        ("GET", "/other.txt", GET_HEADERS, "SignatureDoesNotMatch"),
        ("GET", "/test.txt", [*GET_HEADERS, ("x-amz-meta-a", "1")], "AccessDenied"),
        ("GET", "/test.txt", GET_HEADERS[:2] + GET_HEADERS[3:], "InvalidRequest"),
    ],
)
def test_anything_changed_is_refused(
    method: str, path: str, headers: list[tuple[str, str]], code: str
) -> None:
    with pytest.raises(S3AuthError) as err:
        verify(method, path, [], headers, CREDENTIALS, now=NOW)
    assert err.value.code == code


def test_a_signature_mismatch_reports_what_the_server_signed() -> None:
    wrong = {KEY_ID: Credential(KEY_ID, "another secret")}
    with pytest.raises(S3AuthError) as err:
        verify("GET", "/test.txt", [], GET_HEADERS, wrong, now=NOW)
    extra = err.value.extra
    assert extra["CanonicalRequest"].startswith("GET\n/test.txt\n\nhost:examplebucket")
    assert extra["StringToSign"].startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n")
    assert extra["AWSAccessKeyId"] == KEY_ID


def test_clock_skew_unknown_keys_and_bad_scopes() -> None:
    with pytest.raises(S3AuthError) as err:
        verify("GET", "/test.txt", [], GET_HEADERS, CREDENTIALS, now=NOW + timedelta(minutes=16))
    assert err.value.code == "RequestTimeTooSkewed"
    with pytest.raises(S3AuthError) as err:
        verify("GET", "/test.txt", [], GET_HEADERS, {}, now=NOW)
    assert err.value.code == "InvalidAccessKeyId"
    sts = {KEY_ID: Credential(KEY_ID, CREDENTIALS[KEY_ID].access_key_secret, "token")}
    with pytest.raises(S3AuthError) as err:
        verify("GET", "/test.txt", [], GET_HEADERS, sts, now=NOW)
    assert err.value.code == "InvalidAccessKeyId"  # an STS key needs its token
    not_s3 = _replace(
        GET_HEADERS,
        "Authorization",
        GET_HEADERS[-1][1].replace("/s3/aws4_request", "/iam/aws4_request"),
    )
    with pytest.raises(S3AuthError) as err:
        verify("GET", "/test.txt", [], not_s3, CREDENTIALS, now=NOW)
    assert (err.value.code, err.value.status) == ("AuthorizationHeaderMalformed", 400)


class _Content:
    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    async def readline(self) -> bytes:
        return self._body.readline()

    async def readexactly(self, n: int) -> bytes:
        data = self._body.read(n)
        if len(data) != n:
            raise asyncio.IncompleteReadError(data, n)
        return data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        while chunk := self._body.read(n):
            yield chunk


class _Request:
    def __init__(self, headers: list[tuple[str, str]], body: bytes) -> None:
        self.headers = CIMultiDict(headers)
        self.content = _Content(body)


def _chunked_body(signatures: list[str]) -> bytes:
    sizes = [65536, 1024, 0]
    return b"".join(
        f"{size:x};chunk-signature={sig}\r\n".encode() + b"a" * size + b"\r\n"
        for size, sig in zip(sizes, signatures, strict=True)
    )


def test_awss_signed_chunked_example_is_decoded(tmp_path: Path) -> None:
    context = verify(
        "PUT", "/examplebucket/chunkObject.txt", [], CHUNKED_HEADERS, CREDENTIALS, now=NOW
    )
    body = _chunked_body(CHUNK_SIGNATURES)
    assert len(body) == 66824
    pending = PartialWrite(tmp_path)
    request = _Request(CHUNKED_HEADERS, body)
    assert asyncio.run(receive_body(request, context, pending)) == {}  # type: ignore[arg-type]
    pending.close()
    assert pending.path.read_bytes() == b"a" * 66560
    tampered = [*CHUNK_SIGNATURES[:1], "0" * 64, CHUNK_SIGNATURES[2]]
    pending = PartialWrite(tmp_path)
    request = _Request(CHUNKED_HEADERS, _chunked_body(tampered))
    with pytest.raises(OSSError, match="SignatureDoesNotMatch"):
        asyncio.run(receive_body(request, context, pending))  # type: ignore[arg-type]
    assert not pending.path.exists()


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("127.0.0.1:9000", None),
        ("localhost:9000", None),
        ("[::1]:9000", None),
        ("127.0.0.1.nip.io:9000", None),
        ("demo.localhost:9000", "demo"),
        ("demo.127.0.0.1:9000", "demo"),
        ("demo.127.0.0.1.nip.io:9000", "demo"),
        ("demo.oss-cn-hangzhou.aliyuncs.com", "demo"),
        ("demo.s3.oss-cn-hangzhou.aliyuncs.com", "demo"),
        ("s3.oss-cn-hangzhou.aliyuncs.com", None),
        ("demo.example.com", None),
    ],
)
def test_virtual_host_bucket(host: str, bucket: str | None) -> None:
    assert virtual_host_bucket(host) == bucket


@pytest.mark.parametrize(
    ("method", "bucket", "key", "query", "headers", "operation"),
    [
        ("GET", "", "", {}, {}, "ListBuckets"),
        ("HEAD", "b", "", {}, {}, "HeadBucket"),
        ("GET", "b", "", {"location": ""}, {}, "GetBucketLocation"),
        ("GET", "b", "", {"list-type": "2", "prefix": "p"}, {}, "ListObjectsV2"),
        ("GET", "b", "", {"marker": "m"}, {}, "ListObjects"),
        ("GET", "b", "", {"versions": ""}, {}, "Unsupported"),
        ("GET", "b", "k", {"x-id": "GetObject"}, {}, "GetObject"),
        ("HEAD", "b", "k", {}, {}, "HeadObject"),
        ("PUT", "b", "k", {}, {}, "PutObject"),
        ("PUT", "b", "k", {}, {"x-amz-copy-source": "/b/a"}, "Unsupported"),
        ("PUT", "b", "k", {"partNumber": "1", "uploadId": "u"}, {}, "UploadPart"),
        ("POST", "b", "k", {"uploads": ""}, {}, "InitiateMultipartUpload"),
        ("POST", "b", "k", {"uploadId": "u"}, {}, "CompleteMultipartUpload"),
        ("DELETE", "b", "k", {"uploadId": "u"}, {}, "AbortMultipartUpload"),
        ("GET", "b", "k", {"uploadId": "u"}, {}, "ListParts"),
        ("DELETE", "b", "k", {}, {}, "DeleteObject"),
        ("GET", "b", "k", {"tagging": ""}, {}, "Unsupported"),
    ],
)
def test_classify(
    method: str, bucket: str, key: str, query: dict, headers: dict, operation: str
) -> None:
    assert classify(method, bucket, key, query, headers) == operation
