"""Seeding the local server the way a user's data gets there: oss2's multipart upload."""

from __future__ import annotations

import os

import oss2

from oss_resumable_fs.testing.server import OSSServer

__all__ = ["upload_with_oss2"]

_MiB = 1024 * 1024


def upload_with_oss2(
    server: OSSServer, bucket: str, key: str, path: str | os.PathLike[str], workdir: str
) -> tuple[str, int]:
    """Upload ``path`` to ``bucket/key`` with ``oss2.resumable_upload``; returns (ETag, CRC-64).

    A real client over real sockets, in 64 MiB parts on four threads, so the
    object is a multipart one, as large objects in OSS are.
    """
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    target = oss2.Bucket(auth, server.endpoint, bucket)
    oss2.resumable_upload(
        target,
        key,
        os.fspath(path),
        store=oss2.ResumableStore(root=workdir),
        multipart_threshold=64 * _MiB,
        part_size=64 * _MiB,
        num_threads=4,
    )
    head = target.head_object(key)
    return head.etag, int(head.headers["x-oss-hash-crc64ecma"])
