"""Archive restore flow; anonymous access, bad secrets, presigned URLs, STS tokens."""

from __future__ import annotations

import time

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests

from oss_resumable_fs.testing import OSSServer


@pytest.fixture(autouse=True)
def _no_restore_delay(oss_server: OSSServer):
    yield
    oss_server.set_restore_delay(0)


@pytest.mark.parametrize("storage_class", ["Archive", "ColdArchive"])
def test_restore_flow(bucket: oss2.Bucket, oss_server: OSSServer, storage_class: str) -> None:
    oss_server.put_object(bucket.bucket_name, "frozen", b"cold bytes", storage_class=storage_class)
    oss_server.set_restore_delay(0.4)
    head = bucket.head_object("frozen")
    assert head.headers["x-oss-storage-class"] == storage_class
    assert "x-oss-restore" not in head.headers
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.get_object("frozen")
    assert (err.value.status, err.value.code) == (403, "InvalidObjectState")

    assert bucket.restore_object("frozen").status == 202
    assert bucket.head_object("frozen").headers["x-oss-restore"] == 'ongoing-request="true"'
    with pytest.raises(oss2.exceptions.RestoreAlreadyInProgress):
        bucket.restore_object("frozen")
    with pytest.raises(oss2.exceptions.ServerError):
        bucket.get_object("frozen")

    time.sleep(0.45)
    restore = bucket.head_object("frozen").headers["x-oss-restore"]
    assert restore.startswith('ongoing-request="false", expiry-date="') and restore.endswith('GMT"')
    assert bucket.get_object("frozen").read() == b"cold bytes"
    assert bucket.restore_object("frozen").status == 200  # extends the expiry


def test_restore_of_standard_object_is_refused(bucket: oss2.Bucket) -> None:
    bucket.put_object("warm", b"x")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.restore_object("warm")
    assert err.value.code == "OperationNotSupported"


def test_anonymous_access(oss_server: OSSServer) -> None:
    oss_server.create_bucket("ossr-public", acl="public-read")
    oss_server.create_bucket("ossr-private")
    for name in ("ossr-public", "ossr-private"):
        oss_server.put_object(name, "k", b"data")
    anonymous = oss2.Bucket(oss2.AnonymousAuth(), oss_server.endpoint, "ossr-public")
    assert anonymous.get_object("k").read() == b"data"
    assert anonymous.head_object("k").content_length == 4
    assert [o.key for o in oss2.ObjectIterator(anonymous)] == ["k"]
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.put_object("k2", b"no")
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.delete_object("k")
    private = oss2.Bucket(oss2.AnonymousAuth(), oss_server.endpoint, "ossr-private")
    with pytest.raises(oss2.exceptions.AccessDenied):
        private.get_object("k")
    response = requests.get(f"{oss_server.endpoint}/ossr-private/k", timeout=10)
    assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text


def test_wrong_secrets_are_refused(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.put_object(oss_bucket, "k", b"data")
    for auth in (
        oss2.Auth(oss_server.access_key_id, "wrong-secret"),
        oss2.AuthV4(oss_server.access_key_id, "wrong-secret"),
    ):
        bucket = oss2.Bucket(auth, oss_server.endpoint, oss_bucket, region=oss_server.region)
        with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
            bucket.get_object("k")
        with pytest.raises(oss2.exceptions.ServerError) as err:
            bucket.head_object("k")
        assert (err.value.status, err.value.code) == (403, "SignatureDoesNotMatch")
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        oss_server.access_key_id, "wrong-secret"
    )
    cfg.region, cfg.endpoint, cfg.use_path_style = oss_server.region, oss_server.endpoint, True
    with pytest.raises(oss.exceptions.OperationError) as v2_err:
        oss.Client(cfg).get_object(oss.GetObjectRequest(bucket=oss_bucket, key="k"))
    assert v2_err.value.unwrap().code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("auth_class", [oss2.Auth, oss2.AuthV4])
def test_presigned_urls(oss_server: OSSServer, oss_bucket: str, auth_class: type) -> None:
    oss_server.put_object(oss_bucket, "dir/k", b"presigned")
    auth = auth_class(oss_server.access_key_id, oss_server.access_key_secret)
    bucket = oss2.Bucket(auth, oss_server.endpoint, oss_bucket, region=oss_server.region)
    url = bucket.sign_url("GET", "dir/k", 60)
    assert requests.get(url, timeout=10).content == b"presigned"
    ranged = requests.get(url, headers={"Range": "bytes=3-"}, timeout=10)
    assert (ranged.status_code, ranged.content) == (206, b"signed")
    tampered = url.replace("k?", "K?", 1)
    assert tampered != url
    response = requests.get(tampered, timeout=10)
    assert response.status_code == 403 and "SignatureDoesNotMatch" in response.text


def test_sts_credentials(oss_server: OSSServer, oss_bucket: str) -> None:
    oss_server.add_sts_credential("STS.temp-id", "temp-secret", "temp-token")
    oss_server.put_object(oss_bucket, "k", b"sts")
    good = oss2.StsAuth("STS.temp-id", "temp-secret", "temp-token")
    assert oss2.Bucket(good, oss_server.endpoint, oss_bucket).get_object("k").read() == b"sts"
    bad = oss2.StsAuth("STS.temp-id", "temp-secret", "other-token")
    with pytest.raises(oss2.exceptions.ServerError) as err:
        oss2.Bucket(bad, oss_server.endpoint, oss_bucket).get_object("k")
    assert err.value.status == 403
