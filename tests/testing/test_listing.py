"""ListObjects v1 / v2 paging, delimiters and URL encoding; DeleteMultipleObjects."""

from __future__ import annotations

import oss2
import pytest
import requests

from oss_resumable_fs.testing import OSSServer

KEYS = ["a.txt", "dir/x", "dir/y", "dir/sub/z", "e f+g&h.txt", "ünï/ço dé", "zz"]


@pytest.fixture
def seeded(bucket: oss2.Bucket, oss_server: OSSServer) -> oss2.Bucket:
    for key in KEYS:
        oss_server.put_object(bucket.bucket_name, key, key.encode())
    return bucket


def _sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


def test_v1_pages_with_marker(seeded: oss2.Bucket) -> None:
    seen, marker, pages = [], "", 0
    while True:
        page = seeded.list_objects(marker=marker, max_keys=2)
        seen += [o.key for o in page.object_list]
        pages += 1
        if not page.is_truncated:
            break
        marker = page.next_marker
    assert seen == _sorted(KEYS)
    assert pages == 4


def test_v2_pages_with_token_and_start_after(seeded: oss2.Bucket) -> None:
    assert [o.key for o in oss2.ObjectIteratorV2(seeded, max_keys=3)] == _sorted(KEYS)
    after = [o.key for o in oss2.ObjectIteratorV2(seeded, start_after="dir/y")]
    assert after == [k for k in _sorted(KEYS) if k.encode() > b"dir/y"]
    page = seeded.list_objects_v2(max_keys=1, fetch_owner=True)
    assert page.is_truncated and page.object_list[0].owner.id
    assert seeded.list_objects_v2(max_keys=1).object_list[0].owner is None


def test_delimiter_and_common_prefixes(seeded: oss2.Bucket) -> None:
    top = seeded.list_objects_v2(delimiter="/")
    assert [o.key for o in top.object_list] == ["a.txt", "e f+g&h.txt", "zz"]
    assert top.prefix_list == ["dir/", "ünï/"]
    inner = seeded.list_objects(prefix="dir/", delimiter="/")
    assert [o.key for o in inner.object_list] == ["dir/x", "dir/y"]
    assert inner.prefix_list == ["dir/sub/"]
    # Paging one entry at a time rolls each common prefix up exactly once.
    entries = []
    for info in oss2.ObjectIterator(seeded, delimiter="/", max_keys=1):
        entries.append(info.key)
    assert entries == ["a.txt", "dir/", "e f+g&h.txt", "zz", "ünï/"]


def test_folder_marker_keys_roll_up_into_common_prefixes(bucket: oss2.Bucket) -> None:
    for key in ("data/", "data/sub/", "data/sub/x.bin", "data/y.bin"):
        bucket.put_object(key, b"" if key.endswith("/") else b"1")
    result = bucket.list_objects(prefix="data/", delimiter="/")
    assert [o.key for o in result.object_list] == ["data/", "data/y.bin"]
    assert result.prefix_list == ["data/sub/"]


def test_url_encoding_is_applied(seeded: oss2.Bucket, oss_server: OSSServer) -> None:
    page = seeded.list_objects_v2(prefix="ü", encoding_type="url")
    assert [o.key for o in page.object_list] == ["ünï/ço dé"]
    seeded.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)  # to read the raw XML anonymously
    url = f"{oss_server.endpoint}/{seeded.bucket_name}/"
    body = requests.get(url, params={"list-type": "2", "encoding-type": "url"}, timeout=10).text
    assert "<Key>%C3%BCn%C3%AF/%C3%A7o%20d%C3%A9</Key>" in body
    assert "<EncodingType>url</EncodingType>" in body


@pytest.mark.parametrize("iterator", [oss2.ObjectIterator, oss2.ObjectIteratorV2])
def test_listing_object_fields(seeded: oss2.Bucket, iterator: type) -> None:
    head = seeded.head_object("zz")
    info = next(o for o in iterator(seeded) if o.key == "zz")
    assert (info.size, info.type, info.storage_class) == (2, "Normal", "Standard")
    assert info.etag == head.etag
    assert info.last_modified == head.last_modified


@pytest.mark.parametrize("params", [{}, {"list-type": "2"}])
def test_listing_entries_carry_every_field(
    seeded: oss2.Bucket, oss_server: OSSServer, params: dict[str, str]
) -> None:
    seeded.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)  # to read the raw XML anonymously
    url = f"{oss_server.endpoint}/{seeded.bucket_name}/"
    body = requests.get(url, params={**params, "prefix": "zz"}, timeout=10).text
    entry = body[body.index("<Contents>") : body.index("</Contents>")]
    for field in ("Key", "LastModified", "ETag", "Type", "Size", "StorageClass"):
        assert f"<{field}>" in entry, field


def test_delete_multiple(seeded: oss2.Bucket) -> None:
    result = seeded.batch_delete_objects(["a.txt", "e f+g&h.txt", "never-existed"])
    assert sorted(result.deleted_keys) == ["a.txt", "e f+g&h.txt", "never-existed"]
    remaining = [o.key for o in oss2.ObjectIterator(seeded)]
    assert "a.txt" not in remaining and "zz" in remaining


def test_delete_multiple_quiet(seeded: oss2.Bucket, oss_server: OSSServer) -> None:
    import alibabacloud_oss_v2 as oss

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        oss_server.access_key_id, oss_server.access_key_secret
    )
    cfg.region, cfg.endpoint, cfg.use_path_style = oss_server.region, oss_server.endpoint, True
    client = oss.Client(cfg)
    result = client.delete_multiple_objects(
        oss.DeleteMultipleObjectsRequest(
            bucket=seeded.bucket_name,
            objects=[oss.DeleteObject(key="zz"), oss.DeleteObject(key="dir/x")],
            quiet=True,
        )
    )
    assert not result.deleted_objects
    assert "zz" not in [o.key for o in oss2.ObjectIterator(seeded)]
