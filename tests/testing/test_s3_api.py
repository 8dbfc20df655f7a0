"""The S3-compatible API through boto3 / s3transfer and raw HTTP, on the session server.

Real clients over real sockets: boto3 signs with SigV4 against
``http://127.0.0.1:<port>``, path style unless a test says otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import boto3
import boto3.s3.transfer
import oss2
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from s3_support import S3_REGION, localhost_subdomains, raw_get, s3_client, settled_stats

from oss_resumable_fs.testing import FaultRule, OSSServer
from oss_resumable_fs.testing.data import write_pattern_file

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MiB = 1024 * 1024


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def _status(err: pytest.ExceptionInfo[ClientError]) -> int:
    return err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_list_buckets_and_head_bucket(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert oss_bucket in names
    head = s3.head_bucket(Bucket=oss_bucket)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "oss-cn-hangzhou"
    assert s3.get_bucket_location(Bucket=oss_bucket)["LocationConstraint"] == "oss-cn-hangzhou"
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket="no-such-bucket-here")
    assert _status(err) == 404
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert _code(err) == "NoSuchBucket"
    assert err.value.response["Error"]["BucketName"] == "no-such-bucket-here"
    stats = settled_stats(oss_server)
    assert stats.requests["HeadBucket"] == 2 and stats.requests["ListBuckets"] == 1


KEYS = ["a/1.txt", "a/2 two+plus.txt", "a/sub/3.txt", "b/4~ü.txt", "top.txt"]


def test_list_objects_v2_prefix_delimiter_and_paging(
    oss_server: OSSServer, oss_bucket: str, s3: Any
) -> None:
    for key in KEYS:
        oss_server.put_object(oss_bucket, key, key.encode())
    everything = s3.list_objects_v2(Bucket=oss_bucket)
    assert [o["Key"] for o in everything["Contents"]] == KEYS
    assert everything["KeyCount"] == 5 and not everything["IsTruncated"]
    top = s3.list_objects_v2(Bucket=oss_bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["top.txt"]
    under_a = s3.list_objects_v2(Bucket=oss_bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in under_a["Contents"]] == ["a/1.txt", "a/2 two+plus.txt"]
    assert [p["Prefix"] for p in under_a["CommonPrefixes"]] == ["a/sub/"]
    # Paging: MaxKeys 2 and continuation tokens, as the paginator follows them.
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=oss_bucket, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["Contents"]) for p in pages] == [2, 2, 1]
    assert [o["Key"] for p in pages for o in p["Contents"]] == KEYS
    assert pages[0]["IsTruncated"] and "NextContinuationToken" in pages[0]
    after = s3.list_objects_v2(Bucket=oss_bucket, StartAfter="a/sub/3.txt")
    assert [o["Key"] for o in after["Contents"]] == ["b/4~ü.txt", "top.txt"]
    v1 = s3.list_objects(Bucket=oss_bucket, Marker="a/2 two+plus.txt", MaxKeys=1)
    assert [o["Key"] for o in v1["Contents"]] == ["a/sub/3.txt"] and v1["IsTruncated"]
    assert settled_stats(oss_server).requests["ListObjectsV2"] == 7


def test_listing_xml_is_s3s(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    oss_server.put_object(oss_bucket, "d/x.bin", b"12345")
    url = s3.generate_presigned_url(
        "list_objects_v2", Params={"Bucket": oss_bucket, "Delimiter": "/", "MaxKeys": 10}
    )
    status, headers, body = raw_get(url)
    assert status == 200 and headers["Content-Type"] == "application/xml"
    root = ET.fromstring(body)
    assert root.tag == f"{NS}ListBucketResult"
    assert root.findtext(f"{NS}KeyCount") == "1" and root.findtext(f"{NS}MaxKeys") == "10"
    assert root.findtext(f"{NS}CommonPrefixes/{NS}Prefix") == "d/"
    s3.put_object(Bucket=oss_bucket, Key="e.bin", Body=b"x")
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": oss_bucket})
    contents = ET.fromstring(raw_get(url)[2]).find(f"{NS}Contents")
    assert contents is not None and contents.findtext(f"{NS}StorageClass") == "STANDARD"


def test_head_and_ranged_gets(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    oss_server.put_object(oss_bucket, "r.bin", data)
    head = s3.head_object(Bucket=oss_bucket, Key="r.bin")
    assert head["ContentLength"] == len(data) and head["AcceptRanges"] == "bytes"
    part = s3.get_object(Bucket=oss_bucket, Key="r.bin", Range="bytes=100-199")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == "bytes 100-199/10240" and part["Body"].read() == data[100:200]
    clipped = s3.get_object(Bucket=oss_bucket, Key="r.bin", Range="bytes=10000-20000")
    assert clipped["ContentRange"] == "bytes 10000-10239/10240"
    assert clipped["Body"].read() == data[10000:]
    suffix = s3.get_object(Bucket=oss_bucket, Key="r.bin", Range="bytes=-10")
    assert suffix["Body"].read() == data[-10:]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=oss_bucket, Key="r.bin", Range="bytes=10240-")
    assert _code(err) == "InvalidRange" and _status(err) == 416
    assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == (
        "bytes */10240"
    )
    stats = settled_stats(oss_server)
    assert [(r.start, r.end, r.status) for r in stats.ranged_gets] == [
        (100, 200, 206),
        (10000, 10240, 206),
        (10230, 10240, 206),
        (None, None, 416),
    ]
    assert stats.bytes_served[f"{oss_bucket}/r.bin"] == 100 + 240 + 10


def test_conditional_gets(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    oss_server.put_object(oss_bucket, "c.txt", b"conditional")
    head = s3.head_object(Bucket=oss_bucket, Key="c.txt")
    etag, modified = head["ETag"], head["LastModified"]
    assert s3.get_object(Bucket=oss_bucket, Key="c.txt", IfMatch=etag)["Body"].read() == (
        b"conditional"
    )
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=oss_bucket, Key="c.txt", IfMatch='"0123"')
    assert _code(err) == "PreconditionFailed" and _status(err) == 412
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=oss_bucket, Key="c.txt", IfNoneMatch=etag)
    assert _status(err) == 304
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=oss_bucket, Key="c.txt", IfModifiedSince=modified)
    assert _status(err) == 304
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=oss_bucket, Key="c.txt", IfUnmodifiedSince=modified.replace(year=2000))
    assert _code(err) == "PreconditionFailed"
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=oss_bucket, Key="c.txt", IfMatch='"0123"')
    assert _status(err) == 412
    assert settled_stats(oss_server).if_match_requests == 3


def test_download_file_in_ranged_parts_and_upload_file_in_parts(
    oss_server: OSSServer, oss_bucket: str, s3: Any, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    write_pattern_file(source, 5 * MiB + 77)
    oss_server.put_object(oss_bucket, "big.bin", source)
    config = boto3.s3.transfer.TransferConfig(
        multipart_threshold=MiB, multipart_chunksize=MiB, max_concurrency=4
    )
    target = tmp_path / "target.bin"
    s3.download_file(oss_bucket, "big.bin", str(target), Config=config)
    assert target.read_bytes() == source.read_bytes()
    stats = settled_stats(oss_server)
    assert stats.requests["GetObject"] == 6 and len(stats.ranged_gets) == 6
    assert stats.bytes_served[f"{oss_bucket}/big.bin"] == source.stat().st_size
    s3.upload_file(str(source), oss_bucket, "copy.bin", Config=config)
    assert settled_stats(oss_server).requests["UploadPart"] == 2  # s3transfer's parts are >= 5 MiB
    uploaded = s3.head_object(Bucket=oss_bucket, Key="copy.bin")
    assert uploaded["ETag"].endswith('-2"') and uploaded["ContentLength"] == 5 * MiB + 77
    again = tmp_path / "again.bin"
    s3.download_file(oss_bucket, "copy.bin", str(again))
    assert again.read_bytes() == source.read_bytes()


def test_put_object_is_the_same_object_through_oss(
    oss_server: OSSServer, oss_bucket: str, s3: Any, bucket: oss2.Bucket
) -> None:
    put = s3.put_object(
        Bucket=oss_bucket, Key="dir/na me.txt", Body=b"via s3", Metadata={"colour": "blue"}
    )
    via_oss = bucket.get_object("dir/na me.txt")
    assert via_oss.read() == b"via s3" and f'"{via_oss.etag}"' == put["ETag"]
    assert via_oss.headers["x-oss-meta-colour"] == "blue"
    bucket.put_object("from-oss.bin", b"via oss" * 1000, headers={"x-oss-meta-k": "v"})
    got = s3.get_object(Bucket=oss_bucket, Key="from-oss.bin")
    assert got["Body"].read() == b"via oss" * 1000 and got["Metadata"] == {"k": "v"}
    assert got["ETag"] == f'"{bucket.head_object("from-oss.bin").etag}"'
    assert (
        got["ResponseMetadata"]["HTTPHeaders"]["x-oss-hash-crc64ecma"]
        == (bucket.head_object("from-oss.bin").headers["x-oss-hash-crc64ecma"])
    )
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=oss_bucket, Key="from-oss.bin", Body=b"x", IfNoneMatch="*")
    assert _code(err) == "PreconditionFailed"
    s3.delete_object(Bucket=oss_bucket, Key="from-oss.bin")
    assert not bucket.object_exists("from-oss.bin")


def test_a_wrong_secret_or_key_is_refused(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "k.txt", b"secret")
    wrong = s3_client(oss_server, secret="not-the-secret")
    with pytest.raises(ClientError) as err:
        wrong.get_object(Bucket=oss_bucket, Key="k.txt")
    assert _code(err) == "SignatureDoesNotMatch" and _status(err) == 403
    assert "AWS4-HMAC-SHA256" in err.value.response["Error"]["StringToSign"]
    with pytest.raises(ClientError) as err:
        wrong.list_objects_v2(Bucket=oss_bucket)
    assert _code(err) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as err:
        wrong.head_object(Bucket=oss_bucket, Key="k.txt")
    assert _status(err) == 403  # no body on HEAD
    stranger = boto3.client(
        "s3",
        endpoint_url=oss_server.endpoint,
        aws_access_key_id="nobody",
        aws_secret_access_key="x",
        region_name=S3_REGION,
    )
    with pytest.raises(ClientError) as err:
        stranger.get_object(Bucket=oss_bucket, Key="k.txt")
    assert _code(err) == "InvalidAccessKeyId"


def test_presigned_urls_with_plain_urllib(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    oss_server.put_object(oss_bucket, "p/shared file.txt", b"presigned!")
    url = s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": oss_bucket,
            "Key": "p/shared file.txt",
            "ResponseContentDisposition": 'attachment; filename="x.txt"',
        },
        ExpiresIn=300,
    )
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned!"
        assert response.headers["Content-Disposition"] == 'attachment; filename="x.txt"'
    ranged = urllib.request.Request(url, headers={"Range": "bytes=0-8"})
    with urllib.request.urlopen(ranged, timeout=10) as response:
        assert response.status == 206 and response.read() == b"presigned"
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(tampered, timeout=10)
    assert err.value.code == 403
    assert ET.fromstring(err.value.read()).findtext("Code") == "SignatureDoesNotMatch"
    short = s3.generate_presigned_url(
        "get_object", Params={"Bucket": oss_bucket, "Key": "p/shared file.txt"}, ExpiresIn=1
    )
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(short, timeout=10)
    body = ET.fromstring(err.value.read())
    assert err.value.code == 403 and body.findtext("Code") == "AccessDenied"
    assert body.findtext("Message") == "Request has expired"
    assert settled_stats(oss_server).requests["GetObject"] == 4


def test_virtual_hosted_style(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "v/key.txt", b"virtual host")
    port = oss_server.endpoint.rsplit(":", 1)[1]
    with localhost_subdomains():  # {bucket}.localhost resolves to 127.0.0.1 in this process
        client = s3_client(
            oss_server, endpoint=f"http://localhost:{port}", s3={"addressing_style": "virtual"}
        )
        got = client.get_object(Bucket=oss_bucket, Key="v/key.txt", Range="bytes=0-6")
        assert got["Body"].read() == b"virtual"
        assert [o["Key"] for o in client.list_objects_v2(Bucket=oss_bucket)["Contents"]] == [
            "v/key.txt"
        ]
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": oss_bucket, "Key": "v/key.txt"}
        )
    assert url.startswith(f"http://{oss_bucket}.localhost:{port}/v/key.txt?")
    # Sent to 127.0.0.1 with the virtual host in the Host header only.
    direct = url.replace(f"{oss_bucket}.localhost", "127.0.0.1")
    status, _, body = raw_get(direct, {"Host": f"{oss_bucket}.localhost:{port}"})
    assert (status, body) == (200, b"virtual host")
    # A nip.io-style name (the bucket, then an IP address) is virtual-hosted too;
    # presigning needs no name resolution, and the request goes to 127.0.0.1.
    nip = s3_client(
        oss_server,
        endpoint=f"http://127.0.0.1.nip.io:{port}",
        s3={"addressing_style": "virtual"},
    )
    url = nip.generate_presigned_url(
        "get_object", Params={"Bucket": oss_bucket, "Key": "v/key.txt"}
    )
    assert url.startswith(f"http://{oss_bucket}.127.0.0.1.nip.io:{port}/v/key.txt?")
    direct = url.replace(f"{oss_bucket}.127.0.0.1.nip.io", "127.0.0.1")
    status, _, body = raw_get(direct, {"Host": f"{oss_bucket}.127.0.0.1.nip.io:{port}"})
    assert (status, body) == (200, b"virtual host")
    # The same request signed for another Host is refused, not misrouted.
    status, _, body = raw_get(direct, {"Host": f"other.127.0.0.1.nip.io:{port}"})
    assert status == 403 and ET.fromstring(body).findtext("Code") == "SignatureDoesNotMatch"


def test_faults_fire_on_s3_gets_and_clients_retry(
    oss_server: OSSServer, oss_bucket: str, s3: Any, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    oss_server.put_object(oss_bucket, "f.bin", data)
    oss_server.add_fault(FaultRule("reset", key="f.bin", after_bytes=MiB // 2))
    s3.download_file(oss_bucket, "f.bin", str(tmp_path / "a.bin"))
    assert (tmp_path / "a.bin").read_bytes() == data
    oss_server.add_fault(FaultRule("error", key="f.bin", status=503, seconds=0.05))
    assert s3.get_object(Bucket=oss_bucket, Key="f.bin")["Body"].read() == data
    stats = settled_stats(oss_server)
    assert stats.faults_by_kind() == {"reset": 1, "error": 1}
    assert stats.requests["GetObject"] == 4  # each fault cost one retry
    # The 503 is S3's SlowDown, with a Retry-After as well as OSS's delay header.
    oss_server.add_fault(FaultRule("error", key="f.bin", status=503, seconds=2.5))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": oss_bucket, "Key": "f.bin"})
    status, headers, body = raw_get(url)
    assert status == 503 and ET.fromstring(body).findtext("Code") == "SlowDown"
    assert headers["Retry-After"] == "3" and headers["x-oss-qos-delay-time"] == "2500"


def test_throttle_limits_s3_gets(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    oss_server.put_object(oss_bucket, "t.bin", b"t" * 1000)
    oss_server.throttle_beyond(1, delay=0.01)
    oss_server.add_fault(FaultRule("stall", key="t.bin", seconds=1.0, after_bytes=10))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": oss_bucket, "Key": "t.bin"})
    first = threading.Thread(target=raw_get, args=(url,))
    first.start()
    time.sleep(0.3)
    status, _, body = raw_get(url)
    first.join()
    assert status == 503 and ET.fromstring(body).findtext("Code") == "SlowDown"
    assert settled_stats(oss_server).throttled == 1


def test_errors_are_s3_xml(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=oss_bucket, Key="missing/key")
    assert _code(err) == "NoSuchKey" and err.value.response["Error"]["Key"] == "missing/key"
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=oss_bucket, Key="missing/key")
    assert _status(err) == 404
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=oss_bucket, Key="b", CopySource={"Bucket": oss_bucket, "Key": "a"})
    assert _code(err) == "NotImplemented" and _status(err) == 501
    url = s3.generate_presigned_url("get_object", Params={"Bucket": oss_bucket, "Key": "nope"})
    status, headers, body = raw_get(url)
    assert status == 404 and "x-amz-request-id" in headers
    root = ET.fromstring(body)
    assert root.tag == "Error" and root.findtext("RequestId") == headers["x-amz-request-id"]
    assert root.find("EC") is None  # OSS's own error field is not in S3's document


def test_unsigned_requests_keep_oss_behaviour(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "private.txt", b"p")
    status, headers, body = raw_get(f"{oss_server.endpoint}/{oss_bucket}/private.txt")
    assert status == 403 and "x-oss-request-id" in headers and "x-amz-request-id" not in headers
    assert ET.fromstring(body).findtext("EC") is not None  # OSS's error document


def test_signature_v2_header_and_boto3s_default_presigned_urls(
    oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "v2/key one.txt", b"signature v2")
    v2 = s3_client(oss_server, signature_version="s3")  # Authorization: AWS id:signature
    got = v2.get_object(Bucket=oss_bucket, Key="v2/key one.txt", Range="bytes=0-8")
    assert got["Body"].read() == b"signature"
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=oss_bucket)["Contents"]] == [
        "v2/key one.txt"
    ]
    v2.put_object(Bucket=oss_bucket, Key="v2/put.txt", Body=b"put", Metadata={"a": "b"})
    assert v2.head_object(Bucket=oss_bucket, Key="v2/put.txt")["Metadata"] == {"a": "b"}
    with pytest.raises(ClientError) as err:
        s3_client(oss_server, secret="wrong", signature_version="s3").list_objects_v2(
            Bucket=oss_bucket
        )
    assert _code(err) == "SignatureDoesNotMatch"
    # boto3 presigns with V2 in us-east-1 unless told otherwise.
    default = boto3.client(
        "s3",
        endpoint_url=oss_server.endpoint,
        aws_access_key_id=oss_server.access_key_id,
        aws_secret_access_key=oss_server.access_key_secret,
        region_name="us-east-1",
    )
    url = default.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": oss_bucket,
            "Key": "v2/key one.txt",
            "ResponseContentType": "text/plain",
        },
    )
    assert "AWSAccessKeyId=" in url and "X-Amz-Signature" not in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"signature v2"
        assert response.headers["Content-Type"] == "text/plain"
    with pytest.raises(urllib.error.HTTPError) as err_v2:
        urllib.request.urlopen(url.replace("Signature=", "Signature=A"), timeout=10)
    assert ET.fromstring(err_v2.value.read()).findtext("Code") == "SignatureDoesNotMatch"


def test_unsupported_aws_schemes_get_an_s3_error(oss_server: OSSServer, oss_bucket: str) -> None:
    url = f"{oss_server.endpoint}/{oss_bucket}/x"
    auth = "AWS4-ECDSA-P256-SHA256 Credential=a/20240101/*/s3/aws4_request"
    status, _, body = raw_get(url, {"Authorization": auth})
    assert status == 400 and ET.fromstring(body).findtext("Code") == "InvalidRequest"


def _signed_put(
    server: OSSServer, url: str, body: bytes, headers: dict[str, str], signed_body: bytes
) -> Any:
    """A PUT of ``body`` signed by botocore's own SigV4 signer for ``signed_body``."""
    request = AWSRequest(method="PUT", url=url, data=signed_body, headers=headers)
    credentials = Credentials(server.access_key_id, server.access_key_secret)
    S3SigV4Auth(credentials, "s3", S3_REGION).add_auth(request)
    return raw_get(url, dict(request.headers.items()), method="PUT", body=body)


@pytest.mark.parametrize(
    ("header", "value", "signed_body", "code"),
    [
        (None, "", b"PAYLOAD", "XAmzContentSHA256Mismatch"),
        ("Content-MD5", base64.b64encode(hashlib.md5(b"x").digest()).decode(), b"", "BadDigest"),
        ("Content-MD5", "not base64!", b"", "InvalidDigest"),
        ("x-amz-checksum-crc32", base64.b64encode(b"\0\0\0\0").decode(), b"", "BadDigest"),
    ],
)
def test_put_object_checks_the_digests_it_is_given(
    oss_server: OSSServer,
    oss_bucket: str,
    header: str | None,
    value: str,
    signed_body: bytes,
    code: str,
) -> None:
    url = f"{oss_server.endpoint}/{oss_bucket}/d.bin"
    headers = {header: value} if header else {}
    status, _, body = _signed_put(oss_server, url, b"payload", headers, signed_body or b"payload")
    assert (status, ET.fromstring(body).findtext("Code")) == (400, code)
    status, _, _ = _signed_put(oss_server, url, b"payload", {}, b"payload")
    assert status == 200
    assert settled_stats(oss_server).requests["PutObject"] == 2


def test_body_faults_apply_to_s3_gets(oss_server: OSSServer, oss_bucket: str, s3: Any) -> None:
    data = bytes(range(256)) * 64  # 16 KiB
    oss_server.put_object(oss_bucket, "b.bin", data)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": oss_bucket, "Key": "b.bin"})
    oss_server.add_fault(FaultRule("corrupt", key="b.bin", after_bytes=100))
    status, _, body = raw_get(url)
    assert status == 200 and body[100] == data[100] ^ 0xFF and body[:100] == data[:100]
    oss_server.add_fault(FaultRule("short_body", key="b.bin", after_bytes=1000))
    with pytest.raises(http.client.IncompleteRead) as short:
        raw_get(url)
    assert len(short.value.partial) == 1000
    oss_server.add_fault(FaultRule("latency", key="b.bin", seconds=0.3))
    oss_server.add_fault(FaultRule("bandwidth", key="b.bin", bytes_per_second=32 * 1024))
    started = time.monotonic()
    assert raw_get(url)[2] == data
    assert time.monotonic() - started >= 0.6  # 0.3 s latency, then ~0.37 s of pacing
    assert settled_stats(oss_server).faults_by_kind() == {
        "corrupt": 1,
        "short_body": 1,
        "latency": 1,
        "bandwidth": 1,
    }
