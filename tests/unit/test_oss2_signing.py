"""``sources/oss2_signing.py`` signs GETs with oss2 internals: they must still exist and
sign as oss2 does (the server's checks of real downloads are in tests/integration)."""

from __future__ import annotations

import oss2
import pytest

from oss_resumable_fs.sources.oss2_signing import OSS2_PRIVATE_NAMES, signed_get


@pytest.mark.parametrize(("owner", "name"), OSS2_PRIVATE_NAMES)
def test_each_private_name_still_exists(owner: type, name: str) -> None:
    assert callable(getattr(owner, name, None)), f"oss2 no longer has {owner.__name__}.{name}"


def test_a_bucket_still_makes_urls() -> None:
    bucket = oss2.Bucket(oss2.AnonymousAuth(), "http://127.0.0.1:1", "bkt")
    assert bucket._make_url("bkt", "k") == "http://127.0.0.1:1/bkt/k"


def test_v1_signature_in_the_authorization_header() -> None:
    bucket = oss2.Bucket(oss2.StsAuth("STS.id", "secret", "token"), "http://127.0.0.1:1", "bkt")
    url, headers = signed_get(bucket, "dir/a b.bin", {"Range": "bytes=0-9"}, {"versionId": "v 1"})
    assert url == "http://127.0.0.1:1/bkt/dir%2Fa%20b.bin?versionId=v+1"  # as oss2 sends it
    assert headers["authorization"].startswith("OSS STS.id:")
    assert headers["x-oss-security-token"] == "token"
    assert headers["Range"] == "bytes=0-9" and "date" in headers
    assert "Signature" not in url and "token" not in url
    assert None not in headers.values()


def test_v4_signature_in_the_authorization_header() -> None:
    bucket = oss2.Bucket(
        oss2.AuthV4("id", "secret"), "http://127.0.0.1:1", "bkt", region="cn-hangzhou"
    )
    url, headers = signed_get(bucket, "k", {"x-oss-range-behavior": "standard"})
    assert url == "http://127.0.0.1:1/bkt/k"
    assert headers["authorization"].startswith("OSS4-HMAC-SHA256 Credential=id/")
    assert "/cn-hangzhou/oss/aliyun_v4_request" in headers["authorization"]
