"""Object round trips, ranges and conditionals, driven by the real oss2 client."""

from __future__ import annotations

import base64
import hashlib
import os

import fastcrc
import oss2
import pytest

from oss_resumable_fs.testing import OSSServer

DATA = os.urandom(300 * 1024 + 17)


def test_put_get_round_trip(bucket: oss2.Bucket) -> None:
    result = bucket.put_object("dir/small.txt", b"hello world")
    assert result.etag == hashlib.md5(b"hello world").hexdigest().upper()
    assert result.crc == fastcrc.crc64.xz(b"hello world")
    got = bucket.get_object("dir/small.txt")  # oss2 checks the CRC-64 of whole reads
    assert got.read() == b"hello world"
    assert got.headers["ETag"] == f'"{result.etag}"'
    assert got.headers["Accept-Ranges"] == "bytes"
    assert got.headers["x-oss-object-type"] == "Normal"
    assert got.headers["x-oss-storage-class"] == "Standard"
    assert got.headers["Last-Modified"].endswith(" GMT")
    assert len(got.headers["x-oss-request-id"]) == 24


def test_put_honours_headers_and_content_md5(bucket: oss2.Bucket) -> None:
    md5 = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    bucket.put_object(
        "meta.bin",
        b"abc",
        headers={"Content-MD5": md5, "x-oss-meta-colour": "blue", "x-oss-storage-class": "IA"},
    )
    head = bucket.head_object("meta.bin")
    assert head.headers["x-oss-meta-colour"] == "blue"
    assert head.headers["x-oss-storage-class"] == "IA"
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.put_object("meta.bin", b"abd", headers={"Content-MD5": md5})
    assert err.value.code == "InvalidDigest"


def test_multipart_upload_etag_and_crc(bucket: oss2.Bucket) -> None:
    upload_id = bucket.init_multipart_upload("mp.bin").upload_id
    part_size = 100 * 1024
    parts = []
    for number, offset in enumerate(range(0, len(DATA), part_size), start=1):
        chunk = DATA[offset : offset + part_size]
        result = bucket.upload_part("mp.bin", upload_id, number, chunk)
        assert result.crc == fastcrc.crc64.xz(chunk)
        parts.append(
            oss2.models.PartInfo(number, result.etag, size=len(chunk), part_crc=result.crc)
        )
    done = bucket.complete_multipart_upload("mp.bin", upload_id, parts)  # oss2 checks the CRC
    offsets = range(0, len(DATA), part_size)
    md5s = b"".join(hashlib.md5(DATA[o : o + part_size]).digest() for o in offsets)
    assert done.etag == f"{hashlib.md5(md5s).hexdigest().upper()}-{len(parts)}"
    head = bucket.head_object("mp.bin")
    assert head.object_type == "Multipart"
    assert head.server_crc == fastcrc.crc64.xz(DATA)
    assert bucket.get_object("mp.bin").read() == DATA


def test_list_parts_pages_and_resumable_upload(bucket: oss2.Bucket, tmp_path) -> None:
    upload_id = bucket.init_multipart_upload("lp.bin").upload_id
    chunks = [bytes([n]) * (100 * 1024) for n in range(1, 4)]
    for number, chunk in enumerate(chunks, start=1):
        bucket.upload_part("lp.bin", upload_id, number, chunk)
    first = bucket.list_parts("lp.bin", upload_id, max_parts=2)
    assert [p.part_number for p in first.parts] == [1, 2]
    assert first.is_truncated and first.next_marker == "2"
    rest = bucket.list_parts("lp.bin", upload_id, marker=first.next_marker)
    assert [(p.part_number, p.size) for p in rest.parts] == [(3, 100 * 1024)]
    assert not rest.is_truncated
    assert rest.parts[0].etag == hashlib.md5(chunks[2]).hexdigest().upper()
    # oss2's resumable upload lists the parts of its upload before sending any.
    source = tmp_path / "upload.bin"
    source.write_bytes(DATA)
    oss2.resumable_upload(
        bucket,
        "resumable.bin",
        str(source),
        store=oss2.ResumableStore(root=str(tmp_path)),
        multipart_threshold=100 * 1024,
        part_size=100 * 1024,
        num_threads=2,
    )
    assert bucket.head_object("resumable.bin").object_type == "Multipart"
    assert bucket.get_object("resumable.bin").read() == DATA


def test_multipart_rejects_small_parts_and_abort(bucket: oss2.Bucket) -> None:
    upload_id = bucket.init_multipart_upload("x").upload_id
    first = bucket.upload_part("x", upload_id, 1, b"a" * 10)
    second = bucket.upload_part("x", upload_id, 2, b"b" * 10)
    parts = [oss2.models.PartInfo(1, first.etag), oss2.models.PartInfo(2, second.etag)]
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.complete_multipart_upload("x", upload_id, parts)
    assert err.value.code == "EntityTooSmall"
    bucket.abort_multipart_upload("x", upload_id)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.upload_part("x", upload_id, 3, b"c")


@pytest.mark.parametrize(
    ("range_header", "standard", "status", "expected"),
    [
        ("bytes=0-9", False, 206, (0, 10)),
        ("bytes=5-", False, 206, (5, 100)),
        ("bytes=-10", False, 206, (90, 100)),
        ("bytes=90-200", False, 200, (0, 100)),  # legacy: end past EOF -> whole object
        ("bytes=100-200", False, 200, (0, 100)),
        ("bytes=-200", False, 200, (0, 100)),
        ("bytes=9-3", False, 200, (0, 100)),
        ("bytes=0-1,5-6", False, 200, (0, 100)),
        ("bytes=90-200", True, 206, (90, 100)),  # standard: clipped
        ("bytes=-200", True, 206, (0, 100)),
        ("bytes=abc", True, 200, (0, 100)),
    ],
)
def test_range_behaviours(
    bucket: oss2.Bucket, range_header: str, standard: bool, status: int, expected: tuple[int, int]
) -> None:
    data = bytes(range(100))
    bucket.put_object("r", data)
    headers = {"Range": range_header}
    if standard:
        headers["x-oss-range-behavior"] = "standard"
    got = bucket.get_object("r", headers=headers)
    assert got.status == status
    assert got.read() == data[expected[0] : expected[1]]
    if status == 206:
        assert got.headers["Content-Range"] == f"bytes {expected[0]}-{expected[1] - 1}/100"


@pytest.mark.parametrize("range_header", ["bytes=100-", "bytes=150-200", "bytes=-0"])
def test_standard_range_past_end_is_416(bucket: oss2.Bucket, range_header: str) -> None:
    bucket.put_object("r", b"x" * 100)
    headers = {"Range": range_header, "x-oss-range-behavior": "standard"}
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.get_object("r", headers=headers)
    assert (err.value.status, err.value.code) == (416, "InvalidRange")
    assert err.value.headers["Content-Range"] == "bytes */100"
    # Without the standard behaviour OSS ignores the range: 200 and the whole object.
    got = bucket.get_object("r", headers={"Range": range_header})
    assert (got.status, got.read()) == (200, b"x" * 100)
    assert "Content-Range" not in got.headers


@pytest.mark.parametrize("range_header", ["bytes=0-", "bytes=0-0", "bytes=-5"])
def test_any_standard_range_on_an_empty_object_is_416(
    bucket: oss2.Bucket, range_header: str
) -> None:
    bucket.put_object("empty", b"")
    headers = {"Range": range_header, "x-oss-range-behavior": "standard"}
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.get_object("empty", headers=headers)
    assert (err.value.status, err.value.code) == (416, "InvalidRange")
    assert err.value.headers["Content-Range"] == "bytes */0"
    got = bucket.get_object("empty", headers={"Range": range_header})
    assert (got.status, got.read()) == (200, b"")
    assert "Content-Range" not in got.headers


def test_conditionals(bucket: oss2.Bucket) -> None:
    etag = bucket.put_object("c", b"abc").etag
    last_modified = bucket.head_object("c").headers["Last-Modified"]
    assert bucket.get_object("c", headers={"If-Match": f'"{etag}"'}).read() == b"abc"
    with pytest.raises(oss2.exceptions.PreconditionFailed) as failed:
        bucket.get_object("c", headers={"If-Match": '"0123"'})
    assert (failed.value.status, failed.value.code) == (412, "PreconditionFailed")
    with pytest.raises(oss2.exceptions.NotModified) as unmodified:
        bucket.get_object("c", headers={"If-None-Match": f'"{etag}"'})
    assert unmodified.value.status == 304
    assert unmodified.value.headers["ETag"] == f'"{etag}"'
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("c", headers={"If-Modified-Since": last_modified})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("c", headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert bucket.get_object("c", headers={"If-Unmodified-Since": last_modified}).read() == b"abc"
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.head_object("c", headers={"If-Match": '"0123"'})
    # A failed precondition wins over an unsatisfiable range.
    headers = {"If-Match": '"0123"', "Range": "bytes=50-", "x-oss-range-behavior": "standard"}
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("c", headers=headers)


def test_head_and_object_meta(bucket: oss2.Bucket) -> None:
    put = bucket.put_object("h", b"12345", headers={"x-oss-storage-class": "IA"})
    head = bucket.head_object("h")
    assert head.status == 200
    assert head.content_length == 5
    assert head.headers["Content-Length"] == "5"
    assert head.headers["ETag"] == f'"{put.etag}"'
    assert head.headers["Last-Modified"].endswith(" GMT") and head.last_modified > 0
    assert head.headers["x-oss-hash-crc64ecma"] == str(fastcrc.crc64.xz(b"12345"))
    assert head.headers["x-oss-storage-class"] == "IA"
    assert head.headers["x-oss-object-type"] == "Normal"
    meta = bucket.get_object_meta("h")
    assert (meta.content_length, meta.etag) == (5, head.etag)
    assert bucket.object_exists("h")
    assert not bucket.object_exists("missing")


def test_errors(bucket: oss2.Bucket, oss_server: OSSServer) -> None:
    with pytest.raises(oss2.exceptions.NoSuchKey) as err:
        bucket.get_object("missing")
    assert err.value.request_id
    with pytest.raises(oss2.exceptions.NotFound) as head_err:
        bucket.head_object("missing")
    assert head_err.value.code == "NoSuchKey"  # decoded from x-oss-err
    auth = oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret)
    ghost = oss2.Bucket(auth, oss_server.endpoint, "no-such-bucket-here")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        ghost.get_object("k")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        ghost.get_object_meta("k")


def test_delete_and_bucket_lifecycle(oss_server: OSSServer) -> None:
    auth = oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret)
    bucket = oss2.Bucket(auth, oss_server.endpoint, "ossr-lifecycle")
    bucket.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    info = bucket.get_bucket_info()
    assert (info.name, info.acl.grant) == ("ossr-lifecycle", "public-read")
    service = oss2.Service(auth, oss_server.endpoint)
    assert "ossr-lifecycle" in [b.name for b in oss2.BucketIterator(service)]
    bucket.put_object("k", b"v")
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        bucket.delete_bucket()
    bucket.delete_object("k")
    bucket.delete_object("k")  # deleting a missing key is fine
    bucket.delete_bucket()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        bucket.get_bucket_info()


def test_v4_signatures(bucket_v4: oss2.Bucket) -> None:
    bucket_v4.put_object("v4/obj", b"signed with v4")
    assert bucket_v4.get_object("v4/obj", byte_range=(0, 5)).read() == b"signed"
    assert [o.key for o in oss2.ObjectIteratorV2(bucket_v4)] == ["v4/obj"]


def test_append_object(bucket: oss2.Bucket) -> None:
    first = bucket.append_object("log.txt", 0, b"abc")
    assert first.next_position == 3
    second = bucket.append_object("log.txt", 3, b"defg")
    assert second.next_position == 7
    head = bucket.head_object("log.txt")
    assert head.object_type == "Appendable"
    assert head.server_crc == fastcrc.crc64.xz(b"abcdefg")
    assert bucket.get_object("log.txt").read() == b"abcdefg"
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength):
        bucket.append_object("log.txt", 3, b"x")
    bucket.put_object("normal.txt", b"n")
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object("normal.txt", 1, b"x")
