"""The same server through ossfs (fsspec) and the alibabacloud-oss-v2 SDK."""

from __future__ import annotations

import os

import alibabacloud_oss_v2 as oss
import ossfs
import pytest

from oss_resumable_fs.testing import OSSServer

DATA = os.urandom(256 * 1024 + 3)


@pytest.fixture
def fs(oss_storage_options: dict[str, str]) -> ossfs.OSSFileSystem:
    return ossfs.OSSFileSystem(**oss_storage_options, skip_instance_cache=True)


@pytest.fixture
def v2(oss_server: OSSServer) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        oss_server.access_key_id, oss_server.access_key_secret
    )
    cfg.region = oss_server.region
    cfg.endpoint = oss_server.endpoint
    cfg.use_path_style = True
    return oss.Client(cfg)


def test_ossfs_ls_info_read_cat_find(
    fs: ossfs.OSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "data/big.bin", DATA)
    oss_server.put_object(oss_bucket, "data/sub/small.txt", b"small")
    assert sorted(p.rstrip("/") for p in fs.ls(f"{oss_bucket}/data", detail=False)) == [
        f"{oss_bucket}/data/big.bin",
        f"{oss_bucket}/data/sub",
    ]
    info = fs.info(f"{oss_bucket}/data/big.bin")
    assert (info["size"], info["type"]) == (len(DATA), "file")
    with fs.open(f"{oss_bucket}/data/big.bin", "rb") as f:
        f.seek(1000)
        assert f.read(5000) == DATA[1000:6000]
    # ossfs 2025.5 passes ``end`` to oss2 as an inclusive end, so one byte more may come.
    assert fs.cat_file(f"{oss_bucket}/data/big.bin", start=10, end=20).startswith(DATA[10:20])
    assert fs.cat(f"{oss_bucket}/data/sub/small.txt") == b"small"
    assert fs.find(f"{oss_bucket}/data") == [
        f"{oss_bucket}/data/big.bin",
        f"{oss_bucket}/data/sub/small.txt",
    ]
    assert fs.exists(f"{oss_bucket}/data/big.bin")


def test_ossfs_write_and_missing(fs: ossfs.OSSFileSystem, oss_bucket: str) -> None:
    fs.pipe(f"{oss_bucket}/written.bin", DATA)
    assert fs.cat(f"{oss_bucket}/written.bin") == DATA
    with pytest.raises(FileNotFoundError):
        fs.info(f"{oss_bucket}/missing.bin")
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{oss_bucket}/missing.bin")
    with pytest.raises(FileNotFoundError):  # NoSuchBucket
        fs.cat("no-such-bucket-at-all/x")


def test_v2_round_trip_and_ranges(v2: oss.Client, oss_bucket: str) -> None:
    put = v2.put_object(oss.PutObjectRequest(bucket=oss_bucket, key="v2/obj", body=DATA))
    assert put.status_code == 200 and put.hash_crc64
    head = v2.head_object(oss.HeadObjectRequest(bucket=oss_bucket, key="v2/obj"))
    assert head.content_length == len(DATA) and head.etag == put.etag
    got = v2.get_object(oss.GetObjectRequest(bucket=oss_bucket, key="v2/obj"))
    assert got.body.read() == DATA
    ranged = v2.get_object(
        oss.GetObjectRequest(
            bucket=oss_bucket, key="v2/obj", range_header="bytes=100-", range_behavior="standard"
        )
    )
    assert ranged.status_code == 206 and ranged.body.read() == DATA[100:]
    meta = v2.get_object_meta(oss.GetObjectMetaRequest(bucket=oss_bucket, key="v2/obj"))
    assert meta.content_length == len(DATA)


def test_v2_listing_and_errors(v2: oss.Client, oss_server: OSSServer, oss_bucket: str) -> None:
    for key in ("p/a", "p/b c", "q"):
        oss_server.put_object(oss_bucket, key, b"x")
    page = v2.list_objects_v2(oss.ListObjectsV2Request(bucket=oss_bucket, delimiter="/"))
    assert [o.key for o in page.contents] == ["q"]
    assert [p.prefix for p in page.common_prefixes] == ["p/"]
    page = v2.list_objects_v2(oss.ListObjectsV2Request(bucket=oss_bucket, prefix="p/"))
    assert [o.key for o in page.contents] == ["p/a", "p/b c"]
    with pytest.raises(oss.exceptions.OperationError) as err:
        v2.get_object(oss.GetObjectRequest(bucket=oss_bucket, key="missing"))
    assert err.value.unwrap().code == "NoSuchKey"
    with pytest.raises(oss.exceptions.OperationError) as err:
        v2.head_object(oss.HeadObjectRequest(bucket=oss_bucket, key="missing"))
    assert err.value.unwrap().code == "NoSuchKey"


def test_v2_multipart(v2: oss.Client, oss_bucket: str) -> None:
    init = v2.initiate_multipart_upload(
        oss.InitiateMultipartUploadRequest(bucket=oss_bucket, key="mp")
    )
    part_size = 128 * 1024
    parts = []
    for number, offset in enumerate(range(0, len(DATA), part_size), start=1):
        result = v2.upload_part(
            oss.UploadPartRequest(
                bucket=oss_bucket,
                key="mp",
                upload_id=init.upload_id,
                part_number=number,
                body=DATA[offset : offset + part_size],
            )
        )
        parts.append(oss.UploadPart(part_number=number, etag=result.etag))
    v2.complete_multipart_upload(
        oss.CompleteMultipartUploadRequest(
            bucket=oss_bucket,
            key="mp",
            upload_id=init.upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts),
        )
    )
    got = v2.get_object(oss.GetObjectRequest(bucket=oss_bucket, key="mp"))
    assert got.body.read() == DATA and got.object_type == "Multipart"
