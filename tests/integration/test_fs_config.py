"""Pickling, credentials from the environment, and V4 signatures (``region=``)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import fsspec
import pytest

from oss_resumable_fs import OSSResumableError, ResumableOSSFileSystem
from oss_resumable_fs.config import MiB
from oss_resumable_fs.testing import OSSServer

from .conftest import CONFIG, RecordingProxy, make_data, make_fs

SIZE = 1 * MiB + 17


@pytest.fixture
def data(oss_server: OSSServer, oss_bucket: str) -> bytes:
    payload = make_data(SIZE, seed=31)
    oss_server.put_object(oss_bucket, "obj", payload)
    return payload


def test_pickled_filesystem_downloads(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    fs = make_fs(oss_server, file_concurrency=3)
    clone = pickle.loads(pickle.dumps(fs))
    assert isinstance(clone, ResumableOSSFileSystem) and clone is not fs
    assert clone.transfer_config == CONFIG
    assert clone.file_concurrency == 3
    clone.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    assert len(oss_server.stats().ranged_gets) == 5  # the clone kept the 256 KiB parts


def test_pickled_filesystem_downloads_in_another_process(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    """As a dask worker would receive it: unpickled in a fresh interpreter."""
    fs = make_fs(oss_server, region=oss_server.region)
    script = textwrap.dedent(
        """
        import pickle, sys
        fs = pickle.loads(sys.stdin.buffer.read())
        result = fs.get_file(sys.argv[1], sys.argv[2])
        print(type(fs).__name__, result.parts_total)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"{oss_bucket}/obj", str(out / "obj")],
        input=pickle.dumps(fs),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["ResumableOSSFileSystem", "5"]
    assert (out / "obj").read_bytes() == data


def test_credentials_and_endpoint_from_the_environment(
    oss_server: OSSServer,
    oss_bucket: str,
    data: bytes,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", oss_server.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", oss_server.access_key_secret)
    monkeypatch.setenv("OSS_ENDPOINT", oss_server.endpoint)
    fs = ResumableOSSFileSystem(transfer_config=CONFIG, skip_instance_cache=True)
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data

    by_protocol = fsspec.filesystem("ossr", skip_instance_cache=True)
    assert by_protocol.cat_file(f"{oss_bucket}/obj") == data


def test_sts_token_from_the_environment(
    oss_server: OSSServer,
    oss_bucket: str,
    data: bytes,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oss_server.add_sts_credential("STS.env-key", "env-sts-secret", "env-sts-token")
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "STS.env-key")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "env-sts-secret")
    monkeypatch.setenv("OSS_ENDPOINT", oss_server.endpoint)
    fs = ResumableOSSFileSystem(transfer_config=CONFIG, skip_instance_cache=True)
    with pytest.raises(PermissionError):  # an STS key needs its token
        fs.get_file(f"{oss_bucket}/obj", str(out / "without-token"))
    monkeypatch.setenv("OSS_SESSION_TOKEN", "env-sts-token")
    fs = ResumableOSSFileSystem(transfer_config=CONFIG, skip_instance_cache=True)
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data


@pytest.mark.parametrize("from_env", [False, True], ids=["argument", "OSS_REGION"])
def test_region_selects_v4_signatures(
    oss_server: OSSServer,
    oss_bucket: str,
    data: bytes,
    out: Path,
    proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
    from_env: bool,
) -> None:
    if from_env:
        monkeypatch.setenv("OSS_REGION", oss_server.region)
        fs = make_fs(oss_server, endpoint=proxy.endpoint)
    else:
        fs = make_fs(oss_server, endpoint=proxy.endpoint, region=oss_server.region)
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    signatures = {h.get("authorization", "").split(" ")[0] for _line, h in proxy.requests()}
    assert signatures == {"OSS4-HMAC-SHA256"}
    scope = f"/{oss_server.region}/oss/aliyun_v4_request"
    assert all(scope in h["authorization"] for _line, h in proxy.requests())


def test_without_region_v1_signatures(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path, proxy: RecordingProxy
) -> None:
    fs = make_fs(oss_server, endpoint=proxy.endpoint)
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    signatures = {h.get("authorization", "").split(":")[0] for _line, h in proxy.requests()}
    assert signatures == {f"OSS {oss_server.access_key_id}"}


def test_wrong_region_is_refused(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    other = "eu-west-1" if oss_server.region != "eu-west-1" else "us-east-1"
    fs = make_fs(oss_server, region=other)
    # As OSS does: 400 InvalidArgument, "Invalid signing region in Authorization header".
    with pytest.raises(OSSResumableError, match="signing region"):
        fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert not (out / "obj").exists()


@pytest.mark.parametrize("signing", ["v1", "v4"])
def test_listing_buckets(oss_server: OSSServer, oss_bucket: str, signing: str) -> None:
    # ossfs built its bucket-listing client without the region: V4 listed nothing.
    region = oss_server.region if signing == "v4" else None
    fs = make_fs(oss_server, region=region)
    assert oss_bucket in fs.ls("", detail=False)


def test_listing_buckets_without_credentials_says_so(oss_server: OSSServer) -> None:
    anonymous = make_fs(oss_server, key=None, secret=None)
    with pytest.raises(PermissionError, match="needs credentials"):
        anonymous.ls("")
