"""Pure pieces of the emulator: range rules, conditionals, storage, request routing."""

from __future__ import annotations

from pathlib import Path

import fastcrc
import pytest

from oss_resumable_fs.testing.app import classify, split_path
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.ranges import ServedRange, check_conditions, resolve_range
from oss_resumable_fs.testing.storage import Storage


@pytest.mark.parametrize(
    ("header", "standard", "expected"),
    [
        (None, False, ServedRange(0, 10, 200)),
        ("bytes=0-0", False, ServedRange(0, 1, 206)),
        ("bytes=9-9", True, ServedRange(9, 10, 206)),
        ("bytes=-1", False, ServedRange(9, 10, 206)),
        ("bytes=-0", False, ServedRange(0, 10, 200)),
        ("bytes=0-10", False, ServedRange(0, 10, 200)),
        ("bytes=0-10", True, ServedRange(0, 10, 206)),
        ("bytes=10-", False, ServedRange(0, 10, 200)),
        ("items=0-1", True, ServedRange(0, 10, 200)),
    ],
)
def test_resolve_range(header: str | None, standard: bool, expected: ServedRange) -> None:
    assert resolve_range(header, 10, standard=standard) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_standard_range(header: str) -> None:
    with pytest.raises(OSSError) as err:
        resolve_range(header, 10, standard=True)
    assert (err.value.status, err.value.headers["Content-Range"]) == (416, "bytes */10")


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=0-0", "bytes=-1", "bytes=-0"])
def test_any_standard_range_on_an_empty_object_is_unsatisfiable(header: str) -> None:
    with pytest.raises(OSSError) as err:
        resolve_range(header, 0, standard=True)
    assert (err.value.status, err.value.headers["Content-Range"]) == (416, "bytes */0")
    assert resolve_range(header, 0, standard=False) == ServedRange(0, 0, 200)


def test_conditions_precedence() -> None:
    when = 1_700_000_000.0
    before, after = "Tue, 14 Nov 2023 22:00:00 GMT", "Wed, 15 Nov 2023 00:00:00 GMT"
    assert check_conditions({}, "E", when) is None
    assert check_conditions({"If-Match": '"E"'}, "E", when) is None
    assert check_conditions({"If-Match": '"X", "E"'}, "E", when) is None
    assert check_conditions({"If-Match": "*"}, "E", when) is None
    assert check_conditions({"If-Match": '"X"'}, "E", when) == 412
    # If-Match wins over a failing If-Unmodified-Since.
    assert check_conditions({"If-Match": '"E"', "If-Unmodified-Since": before}, "E", when) is None
    assert check_conditions({"If-Unmodified-Since": before}, "E", when) == 412
    assert check_conditions({"If-None-Match": '"E"'}, "E", when) == 304
    assert check_conditions({"If-Modified-Since": after}, "E", when) == 304
    assert check_conditions({"If-Modified-Since": before}, "E", when) is None
    assert check_conditions({"If-Modified-Since": "garbage"}, "E", when) is None


def test_storage_persists_and_reloads(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.create_bucket("b1", acl="public-read")
    meta = storage.put_bytes("b1", "a/b c?", [b"hello ", b"world"])
    assert meta.crc64 == fastcrc.crc64.xz(b"hello world") and meta.size == 11
    reopened = Storage(tmp_path)
    assert reopened.bucket("b1").acl == "public-read"
    assert reopened.head("b1", "a/b c?") == meta
    _, file = reopened.open("b1", "a/b c?")
    with file:
        assert file.read() == b"hello world"
    with pytest.raises(OSSError, match="BucketNotEmpty"):
        reopened.delete_bucket("b1")


def test_routing() -> None:
    assert split_path("/bkt/a%2Fb%20c?x=1") == ("bkt", "a/b c")
    assert split_path("/bkt/../x") == ("bkt", "../x")  # no normalisation
    assert classify("GET", "", "", {}) == "ListBuckets"
    assert classify("GET", "b", "", {"list-type": "2"}) == "ListObjectsV2"
    assert classify("GET", "b", "", {"bucketInfo": ""}) == "GetBucketInfo"
    assert classify("POST", "b", "", {"delete": ""}) == "DeleteMultipleObjects"
    assert classify("PUT", "b", "k", {"partNumber": "1", "uploadId": "u"}) == "UploadPart"
    assert classify("POST", "b", "k", {"uploadId": "u"}) == "CompleteMultipartUpload"
    assert classify("HEAD", "b", "k", {"objectMeta": ""}) == "GetObjectMeta"
    assert classify("DELETE", "b", "k", {"uploadId": "u"}) == "AbortMultipartUpload"
    assert classify("PATCH", "b", "k", {}) == "MethodNotAllowed"
