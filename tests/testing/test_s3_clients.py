"""s3fs, obstore (Rust object_store) and the AWS CRT (s3transfer's CRT mode) against the
S3-compatible API, unmodified, over real sockets; and every client against a server in
process mode.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session
import obstore
import oss2
import pytest
import s3fs
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from obstore.exceptions import NotModifiedError, PermissionDeniedError, PreconditionError
from obstore.store import S3Store
from s3_support import S3_REGION, s3_client, settled_stats
from s3fs.utils import FileExpired
from s3transfer.crt import (
    BotocoreCRTCredentialsWrapper,
    BotocoreCRTRequestSerializer,
    CRTTransferManager,
    create_s3_crt_client,
)

from oss_resumable_fs.testing import FaultRule, OSSServer
from oss_resumable_fs.testing.data import write_pattern_file

MiB = 1024 * 1024
DATA = bytes(range(256)) * 8192  # 2 MiB


def make_s3fs(server: OSSServer, secret: str | None = None) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key=server.access_key_id,
        secret=secret or server.access_key_secret,
        endpoint_url=server.endpoint,
        client_kwargs={"region_name": S3_REGION},
        skip_instance_cache=True,
    )


def make_obstore(server: OSSServer, bucket: str, secret: str | None = None) -> S3Store:
    return S3Store(
        bucket,
        endpoint=server.endpoint,
        access_key_id=server.access_key_id,
        secret_access_key=secret or server.access_key_secret,
        region=S3_REGION,
        client_options={"allow_http": True},
        retry_config={
            "max_retries": 3,
            "backoff": {"init_backoff": datetime.timedelta(milliseconds=10)},
        },
    )


def make_crt_client(server: OSSServer, secret: str | None = None) -> Any:
    """A CRT S3 client (its own event loop threads), plain HTTP, 1 MiB parts.

    One per server: the CRT pools connections by host name, not by host and port.
    """
    credentials = Credentials(server.access_key_id, secret or server.access_key_secret)
    provider = BotocoreCRTCredentialsWrapper(credentials).to_crt_credentials_provider()
    return create_s3_crt_client(S3_REGION, provider, num_threads=2, part_size=MiB, use_ssl=False)


@pytest.fixture(scope="module")
def crt_client(oss_server: OSSServer) -> Any:
    return make_crt_client(oss_server)


def crt_manager(server: OSSServer, client: Any) -> CRTTransferManager:
    """s3transfer's CRT transfer manager on ``server`` (what boto3 uses in CRT mode)."""
    serializer = BotocoreCRTRequestSerializer(
        botocore.session.Session(),
        {
            "region_name": S3_REGION,
            "endpoint_url": server.endpoint,
            "config": botocore.config.Config(s3={"addressing_style": "path"}),
        },
    )
    return CRTTransferManager(client, serializer)


def _oss_etag(server: OSSServer, bucket: str, key: str) -> str:
    oss_bucket = oss2.Bucket(
        oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket
    )
    return f'"{oss_bucket.head_object(key).etag}"'


# -- s3fs -------------------------------------------------------------------------------


def test_s3fs_lists_heads_and_reads(oss_server: OSSServer, oss_bucket: str, tmp_path: Path) -> None:
    oss_server.put_object(oss_bucket, "d/one.bin", DATA)
    oss_server.put_object(oss_bucket, "d/sub/two.txt", b"two")
    fs = make_s3fs(oss_server)
    assert fs.ls(f"{oss_bucket}/d", detail=False) == [
        f"{oss_bucket}/d/one.bin",
        f"{oss_bucket}/d/sub",
    ]
    assert fs.find(oss_bucket) == [f"{oss_bucket}/d/one.bin", f"{oss_bucket}/d/sub/two.txt"]
    info = fs.info(f"{oss_bucket}/d/one.bin")
    assert info["size"] == len(DATA) and info["type"] == "file"
    assert info["ETag"] == _oss_etag(oss_server, oss_bucket, "d/one.bin")
    assert fs.cat_file(f"{oss_bucket}/d/one.bin", start=1000, end=2000) == DATA[1000:2000]
    fs.get_file(f"{oss_bucket}/d/one.bin", str(tmp_path / "one.bin"))
    assert (tmp_path / "one.bin").read_bytes() == DATA
    assert not fs.exists(f"{oss_bucket}/d/missing")
    fs.pipe_file(f"{oss_bucket}/w.txt", b"written by s3fs")
    assert fs.cat(f"{oss_bucket}/w.txt") == b"written by s3fs"
    stats = settled_stats(oss_server)
    assert stats.bytes_served[f"{oss_bucket}/d/one.bin"] == 1000 + len(DATA)
    assert {"ListObjectsV2", "HeadObject", "GetObject", "PutObject"} <= stats.requests.keys()


def test_s3fs_pins_reads_to_the_etag(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "pinned.bin", DATA)
    fs = make_s3fs(oss_server)
    with fs.open(f"{oss_bucket}/pinned.bin", "rb", block_size=MiB // 4, cache_type="none") as f:
        assert f.read(100) == DATA[:100]
        oss_server.put_object(oss_bucket, "pinned.bin", DATA[::-1])  # a new version, new ETag
        with pytest.raises(FileExpired):
            f.read(100)
    stats = settled_stats(oss_server)
    assert stats.if_match_requests == 2
    assert [r.status for r in stats.ranged_gets] == [206, 412]


def test_s3fs_with_a_wrong_secret(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "x", b"x")
    fs = make_s3fs(oss_server, secret="wrong")
    with pytest.raises(PermissionError) as err:
        fs.ls(oss_bucket)  # a GET: its error has a body (a HEAD's has only the status)
    cause = err.value.__cause__
    assert isinstance(cause, ClientError)
    assert cause.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_s3fs_survives_a_reset_and_a_503(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "f.bin", DATA)
    fs = make_s3fs(oss_server)
    oss_server.add_fault(FaultRule("reset", key="f.bin", after_bytes=MiB // 2))
    fs.get_file(f"{oss_bucket}/f.bin", str(tmp_path / "f.bin"))
    assert (tmp_path / "f.bin").read_bytes() == DATA
    oss_server.add_fault(FaultRule("error", key="f.bin", status=503, seconds=0.01))
    assert fs.cat_file(f"{oss_bucket}/f.bin") == DATA
    stats = settled_stats(oss_server)
    assert stats.faults_by_kind() == {"reset": 1, "error": 1}
    assert stats.requests["GetObject"] == 4


# -- obstore ----------------------------------------------------------------------------


def test_obstore_lists_heads_and_reads(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "d/one.bin", DATA)
    oss_server.put_object(oss_bucket, "d/sub/two.txt", b"two")
    store = make_obstore(oss_server, oss_bucket)
    listed = [meta["path"] for page in obstore.list(store) for meta in page]
    assert listed == ["d/one.bin", "d/sub/two.txt"]
    level = obstore.list_with_delimiter(store, "d/")
    assert level["common_prefixes"] == ["d/sub"]
    assert [m["path"] for m in level["objects"]] == ["d/one.bin"]
    head = obstore.head(store, "d/one.bin")
    assert head["size"] == len(DATA)
    assert head["e_tag"] == _oss_etag(oss_server, oss_bucket, "d/one.bin")
    assert bytes(obstore.get_range(store, "d/one.bin", start=10, end=20)) == DATA[10:20]
    assert bytes(obstore.get(store, "d/one.bin").bytes()) == DATA
    obstore.put(store, "w.bin", b"written by obstore")
    assert bytes(obstore.get(store, "w.bin").bytes()) == b"written by obstore"
    with pytest.raises(FileNotFoundError):
        obstore.get(store, "d/missing")
    assert settled_stats(oss_server).bytes_served[f"{oss_bucket}/d/one.bin"] == 10 + len(DATA)


def test_obstore_conditional_gets(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "c.bin", b"conditional")
    store = make_obstore(oss_server, oss_bucket)
    head = obstore.head(store, "c.bin")
    etag, modified = head["e_tag"], head["last_modified"]
    assert bytes(obstore.get(store, "c.bin", options={"if_match": etag}).bytes()) == (
        b"conditional"
    )
    with pytest.raises(PreconditionError):
        obstore.get(store, "c.bin", options={"if_match": '"00"'})
    with pytest.raises(NotModifiedError):
        obstore.get(store, "c.bin", options={"if_none_match": etag})
    with pytest.raises(NotModifiedError):
        obstore.get(store, "c.bin", options={"if_modified_since": modified})
    earlier = modified - datetime.timedelta(seconds=5)
    with pytest.raises(PreconditionError):
        obstore.get(store, "c.bin", options={"if_unmodified_since": earlier})
    assert settled_stats(oss_server).if_match_requests == 2


def test_obstore_with_a_wrong_secret(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "x", b"x")
    store = make_obstore(oss_server, oss_bucket, secret="wrong")
    with pytest.raises(PermissionDeniedError, match="SignatureDoesNotMatch"):
        obstore.get(store, "x")


def test_obstore_survives_a_reset_and_a_503(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "f.bin", DATA)
    store = make_obstore(oss_server, oss_bucket)
    oss_server.add_fault(FaultRule("reset", key="f.bin", after_bytes=MiB // 2))
    assert bytes(obstore.get(store, "f.bin").bytes()) == DATA
    oss_server.add_fault(FaultRule("error", key="f.bin", status=503, seconds=0.01))
    assert bytes(obstore.get_range(store, "f.bin", start=0, end=MiB)) == DATA[:MiB]
    stats = settled_stats(oss_server)
    assert stats.faults_by_kind() == {"reset": 1, "error": 1}
    assert stats.requests["GetObject"] == 4


# -- the AWS CRT (s3transfer's CRT transfer manager) -------------------------------------


def test_crt_downloads_in_ranged_parts_and_uploads_in_parts(
    oss_server: OSSServer, oss_bucket: str, crt_client: Any, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    size = 6 * MiB + 5  # the CRT uploads in parts from 5 MiB on (S3's smallest part)
    write_pattern_file(source, size)
    oss_server.put_object(oss_bucket, "big.bin", source)
    # A CRT future's result() can return before the temporary file is renamed into
    # place; leaving the manager waits for that.
    with crt_manager(oss_server, crt_client) as manager:
        manager.download(oss_bucket, "big.bin", str(tmp_path / "got.bin")).result()
    assert (tmp_path / "got.bin").read_bytes() == source.read_bytes()
    ranges = sorted((r.start, r.end) for r in settled_stats(oss_server).ranged_gets)
    assert ranges == [(i * MiB, min((i + 1) * MiB, size)) for i in range(7)]
    with crt_manager(oss_server, crt_client) as manager:
        manager.upload(str(source), oss_bucket, "up.bin").result()
    stats = settled_stats(oss_server)
    assert stats.requests["UploadPart"] >= 2 and stats.requests["CompleteMultipartUpload"] == 1
    assert s3_client(oss_server).head_object(Bucket=oss_bucket, Key="up.bin")["ETag"] == (
        _oss_etag(oss_server, oss_bucket, "up.bin")
    )


def test_crt_with_a_wrong_secret(oss_server: OSSServer, oss_bucket: str, tmp_path: Path) -> None:
    oss_server.put_object(oss_bucket, "x", b"x")
    (tmp_path / "up").write_bytes(b"upload")
    with crt_manager(oss_server, make_crt_client(oss_server, secret="wrong")) as manager:
        download = manager.download(oss_bucket, "x", str(tmp_path / "x"))
        with pytest.raises(ClientError) as err:
            download.result()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403  # a HEAD: no body
        upload = manager.upload(str(tmp_path / "up"), oss_bucket, "up")
        with pytest.raises(ClientError) as err:
            upload.result()
        assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_crt_survives_a_reset_and_a_503(
    oss_server: OSSServer, oss_bucket: str, crt_client: Any, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "f.bin", DATA)
    oss_server.add_fault(FaultRule("reset", key="f.bin", byte_range=(MiB, MiB + 1)))
    oss_server.add_fault(FaultRule("error", key="f.bin", status=503, byte_range=(0, 1)))
    with crt_manager(oss_server, crt_client) as manager:
        manager.download(oss_bucket, "f.bin", str(tmp_path / "f.bin")).result()
    assert (tmp_path / "f.bin").read_bytes() == DATA
    stats = settled_stats(oss_server)
    assert stats.faults_by_kind() == {"reset": 1, "error": 1}
    assert stats.bytes_served[f"{oss_bucket}/f.bin"] == len(DATA)


# -- every client against a server in process mode -----------------------------------------


@pytest.fixture(scope="module")
def process_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OSSServer]:
    with OSSServer(root=tmp_path_factory.mktemp("s3-process"), mode="process") as server:
        server.create_bucket("proc")
        server.put_object("proc", "p.bin", DATA)
        yield server


def test_every_client_against_a_process_server(process_server: OSSServer, tmp_path: Path) -> None:
    server = process_server
    server.reset_stats()
    server.add_fault(FaultRule("reset", key="p.bin", after_bytes=MiB // 4, times=2))
    s3_client(server).download_file("proc", "p.bin", str(tmp_path / "boto3.bin"))
    assert (tmp_path / "boto3.bin").read_bytes() == DATA
    assert make_s3fs(server).cat_file("proc/p.bin", start=5, end=50) == DATA[5:50]
    store = make_obstore(server, "proc")
    assert bytes(obstore.get(store, "p.bin").bytes()) == DATA
    with crt_manager(server, make_crt_client(server)) as manager:
        manager.download("proc", "p.bin", str(tmp_path / "crt.bin")).result()
    assert (tmp_path / "crt.bin").read_bytes() == DATA
    stats = settled_stats(server)
    assert stats.faults_by_kind() == {"reset": 2}
    assert stats.requests["GetObject"] >= 6
    assert stats.bytes_served["proc/p.bin"] >= 3 * len(DATA) + 45
