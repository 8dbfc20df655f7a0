"""Buckets and objects kept on disk under one root directory.

Layout (one directory per bucket)::

    <root>/<bucket>/bucket.json              name, ACL, creation time
    <root>/<bucket>/objects/<sha256>.data    the object's bytes
    <root>/<bucket>/objects/<sha256>.json    its metadata (key, ETag, CRC-64, ...)
    <root>/<bucket>/uploads/<upload id>/     multipart state (see :mod:`.multipart`)

Object files are named by the SHA-256 of the key, so any key maps to a safe file
name. Every write goes to a temporary file that is renamed into place, so a reader
that already opened an object keeps reading the version it opened.

The metadata of every object is also kept in memory (rebuilt from the sidecars
when a root is reopened); one lock guards it, so the server's event loop and a
test thread seeding objects can use a :class:`Storage` at the same time.

The records (:class:`ObjectMeta`, ...) live in :mod:`.records`, the file writing
in :mod:`.diskfiles` and multipart uploads in :mod:`.multipart`; their public
names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from oss_resumable_fs.testing.diskfiles import (
    COPY_CHUNK,
    PartialWrite,
    key_file_name,
    write_json_atomic,
)
from oss_resumable_fs.testing.multipart import MIN_PART_SIZE, MultipartUploads
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.records import (
    ARCHIVE_CLASSES,
    BUCKET_ACLS,
    STORAGE_CLASSES,
    BucketInfo,
    ObjectMeta,
    PartMeta,
    UploadMeta,
    restore_header,
)

__all__ = [
    "ARCHIVE_CLASSES",
    "BUCKET_ACLS",
    "COPY_CHUNK",
    "MIN_PART_SIZE",
    "STORAGE_CLASSES",
    "BucketInfo",
    "ObjectMeta",
    "PartMeta",
    "PartialWrite",
    "Storage",
    "UploadMeta",
    "restore_header",
]


class Storage(MultipartUploads):
    """The emulator's persistent state. All methods are thread-safe."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._buckets: dict[str, BucketInfo] = {}
        self._objects: dict[str, dict[str, ObjectMeta]] = {}
        self._load()

    # -- loading ---------------------------------------------------------------

    def _load(self) -> None:
        for bucket_dir in sorted(self.root.iterdir()):
            info_file = bucket_dir / "bucket.json"
            if not info_file.is_file():
                continue
            info = BucketInfo(**json.loads(info_file.read_text(encoding="utf-8")))
            self._buckets[info.name] = info
            objects: dict[str, ObjectMeta] = {}
            for meta_file in (bucket_dir / "objects").glob("*.json"):
                meta = ObjectMeta(**json.loads(meta_file.read_text(encoding="utf-8")))
                objects[meta.key] = meta
            self._objects[info.name] = objects

    # -- buckets ---------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        return self.root / bucket

    def create_bucket(self, name: str, acl: str = "private") -> BucketInfo:
        if acl not in BUCKET_ACLS:
            raise OSSError("InvalidArgument", f"no such bucket access control exists: {acl}")
        with self._lock:
            if name in self._buckets:
                raise OSSError("BucketAlreadyExists", "The requested bucket name is not available.")
            info = BucketInfo(name=name, acl=acl, created=time.time())
            bucket_dir = self._bucket_dir(name)
            (bucket_dir / "objects").mkdir(parents=True, exist_ok=True)
            (bucket_dir / "uploads").mkdir(exist_ok=True)
            write_json_atomic(bucket_dir / "bucket.json", dataclasses.asdict(info))
            self._buckets[name] = info
            self._objects[name] = {}
            return info

    def delete_bucket(self, name: str) -> None:
        with self._lock:
            self.bucket(name)
            uploads = self._bucket_dir(name) / "uploads"
            if self._objects[name] or any(uploads.iterdir()):
                raise OSSError("BucketNotEmpty", "The bucket you tried to delete is not empty.")
            del self._buckets[name]
            del self._objects[name]
            shutil.rmtree(self._bucket_dir(name), ignore_errors=True)

    def bucket(self, name: str) -> BucketInfo:
        with self._lock:
            try:
                return self._buckets[name]
            except KeyError:
                raise OSSError("NoSuchBucket", "The specified bucket does not exist.") from None

    def buckets(self) -> list[BucketInfo]:
        with self._lock:
            return sorted(self._buckets.values(), key=lambda b: b.name)

    def set_bucket_acl(self, name: str, acl: str) -> None:
        with self._lock:
            info = dataclasses.replace(self.bucket(name), acl=acl)
            write_json_atomic(self._bucket_dir(name) / "bucket.json", dataclasses.asdict(info))
            self._buckets[name] = info

    # -- objects ---------------------------------------------------------------

    def head(self, bucket: str, key: str) -> ObjectMeta:
        with self._lock:
            self.bucket(bucket)
            try:
                return self._objects[bucket][key]
            except KeyError:
                raise OSSError("NoSuchKey", "The specified key does not exist.") from None

    def data_path(self, bucket: str, key: str) -> Path:
        return self._bucket_dir(bucket) / "objects" / f"{key_file_name(key)}.data"

    def open(self, bucket: str, key: str) -> tuple[ObjectMeta, BinaryIO]:
        """The current metadata and an open file of the same version."""
        with self._lock:
            meta = self.head(bucket, key)
            return meta, open(self.data_path(bucket, key), "rb")

    def keys(self, bucket: str) -> list[str]:
        """Every key of ``bucket``, sorted (by UTF-8 bytes, as OSS sorts)."""
        with self._lock:
            self.bucket(bucket)
            return sorted(self._objects[bucket], key=lambda k: k.encode("utf-8"))

    def begin_write(self, bucket: str) -> PartialWrite:
        self.bucket(bucket)
        return PartialWrite(self._bucket_dir(bucket) / "objects")

    def commit(
        self,
        bucket: str,
        key: str,
        pending: PartialWrite,
        *,
        etag: str | None = None,
        crc64: int | None = None,
        object_type: str = "Normal",
        content_type: str = "application/octet-stream",
        storage_class: str = "Standard",
        user_meta: dict[str, str] | None = None,
        not_before: float | None = None,
    ) -> ObjectMeta:
        """Rename ``pending`` into place as the new version of ``key``.

        ``not_before`` forces Last-Modified past that time (whole seconds, as OSS
        reports it), so a replaced object is seen to have changed.
        """
        pending.close()
        if storage_class not in STORAGE_CLASSES:
            pending.discard()
            raise OSSError("InvalidArgument", f"Invalid storage class: {storage_class}")
        now = time.time()
        if not_before is not None and int(now) <= int(not_before):
            now = float(int(not_before) + 1)
        meta = ObjectMeta(
            key=key,
            size=pending.digest.size,
            etag=etag or pending.digest.md5.hexdigest().upper(),
            crc64=pending.digest.crc if crc64 is None else crc64,
            last_modified=now,
            content_type=content_type,
            storage_class=storage_class,
            object_type=object_type,
            user_meta=dict(user_meta or {}),
        )
        with self._lock:
            try:
                self.bucket(bucket)
            except OSSError:
                pending.discard()
                raise
            data = self.data_path(bucket, key)
            os.replace(pending.path, data)
            write_json_atomic(data.with_suffix(".json"), dataclasses.asdict(meta))
            self._objects[bucket][key] = meta
        return meta

    def put_bytes(self, bucket: str, key: str, chunks: Iterable[bytes], **kwargs) -> ObjectMeta:
        pending = self.begin_write(bucket)
        try:
            for chunk in chunks:
                pending.write(chunk)
        except BaseException:
            pending.discard()
            raise
        return self.commit(bucket, key, pending, **kwargs)

    def put_file(self, bucket: str, key: str, path: str | os.PathLike[str], **kwargs) -> ObjectMeta:
        """Copy a local file in, hashing it on the way; never holds it in memory."""
        with open(path, "rb") as src:
            return self.put_bytes(bucket, key, iter(lambda: src.read(COPY_CHUNK), b""), **kwargs)

    def append(
        self,
        bucket: str,
        key: str,
        position: int,
        incoming: PartialWrite,
        *,
        content_type: str = "application/octet-stream",
        storage_class: str = "Standard",
        user_meta: dict[str, str] | None = None,
    ) -> ObjectMeta:
        """Append ``incoming`` to the Appendable object ``key`` at ``position``.

        ``position`` must be the object's length (0 creates it); a Normal or
        Multipart object cannot be appended to. The result is a new version,
        written whole and renamed into place like every other write.
        """
        incoming.close()
        with self._lock:
            try:
                existing: ObjectMeta | None = self.head(bucket, key)
            except OSSError as err:
                if err.code != "NoSuchKey":
                    incoming.discard()
                    raise
                existing = None
            length = existing.size if existing else 0
            if existing is not None and existing.object_type != "Appendable":
                incoming.discard()
                raise OSSError("ObjectNotAppendable", "The object is not appendable.")
            if position != length:
                incoming.discard()
                raise OSSError(
                    "PositionNotEqualToLength",
                    "Position is not equal to file length.",
                    headers={"x-oss-next-append-position": str(length)},
                )
            joined = self.begin_write(bucket)
            try:
                if existing is not None:
                    with open(self.data_path(bucket, key), "rb") as old:
                        for chunk in iter(lambda: old.read(COPY_CHUNK), b""):
                            joined.write(chunk)
                with open(incoming.path, "rb") as new:
                    for chunk in iter(lambda: new.read(COPY_CHUNK), b""):
                        joined.write(chunk)
            except BaseException:
                joined.discard()
                raise
            finally:
                incoming.discard()
            if existing is not None:  # later appends keep the object's first settings
                content_type = existing.content_type
                storage_class = existing.storage_class
                user_meta = existing.user_meta
            return self.commit(
                bucket,
                key,
                joined,
                object_type="Appendable",
                content_type=content_type,
                storage_class=storage_class,
                user_meta=user_meta,
            )

    def update_meta(self, bucket: str, key: str, **changes: object) -> ObjectMeta:
        with self._lock:
            meta = dataclasses.replace(self.head(bucket, key), **changes)
            write_json_atomic(
                self.data_path(bucket, key).with_suffix(".json"), dataclasses.asdict(meta)
            )
            self._objects[bucket][key] = meta
            return meta

    def delete(self, bucket: str, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error (as in OSS)."""
        with self._lock:
            self.bucket(bucket)
            if self._objects[bucket].pop(key, None) is None:
                return
            data = self.data_path(bucket, key)
            data.unlink(missing_ok=True)
            data.with_suffix(".json").unlink(missing_ok=True)
