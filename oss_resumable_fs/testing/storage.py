"""Buckets, objects and multipart uploads kept on disk under one root directory.

Layout (one directory per bucket)::

    <root>/<bucket>/bucket.json              name, ACL, creation time
    <root>/<bucket>/objects/<sha256>.data    the object's bytes
    <root>/<bucket>/objects/<sha256>.json    its metadata (key, ETag, CRC-64, ...)
    <root>/<bucket>/uploads/<upload id>/     multipart state: upload.json, <n>.part, <n>.json

Object files are named by the SHA-256 of the key, so any key maps to a safe file
name. Every write goes to a temporary file that is renamed into place, so a reader
that already opened an object keeps reading the version it opened.

The metadata of every object is also kept in memory (rebuilt from the sidecars
when a root is reopened); one lock guards it, so the server's event loop and a
test thread seeding objects can use a :class:`Storage` at the same time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import fastcrc

from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.xmlio import http_date

COPY_CHUNK = 4 * 1024 * 1024
MIN_PART_SIZE = 100 * 1024
ARCHIVE_CLASSES = frozenset({"Archive", "ColdArchive", "DeepColdArchive"})
STORAGE_CLASSES = frozenset({"Standard", "IA"}) | ARCHIVE_CLASSES
BUCKET_ACLS = frozenset({"private", "public-read", "public-read-write"})


@dataclass(frozen=True)
class BucketInfo:
    name: str
    acl: str
    created: float
    storage_class: str = "Standard"


@dataclass(frozen=True)
class ObjectMeta:
    """Everything the server says about an object without reading its bytes."""

    key: str
    size: int
    etag: str  # upper-case hex, without quotes; "<hex>-<N>" for multipart
    crc64: int
    last_modified: float
    content_type: str = "application/octet-stream"
    storage_class: str = "Standard"
    object_type: str = "Normal"
    user_meta: dict[str, str] = field(default_factory=dict)
    #: Archive restore: when it was asked for, when it completes, when it expires.
    restore_requested: float | None = None
    restore_ready: float | None = None
    restore_expiry: float | None = None

    @property
    def quoted_etag(self) -> str:
        return f'"{self.etag}"'

    @property
    def is_archive(self) -> bool:
        return self.storage_class in ARCHIVE_CLASSES


@dataclass(frozen=True)
class PartMeta:
    number: int
    size: int
    etag: str  # upper-case hex MD5, without quotes
    crc64: int
    last_modified: float


@dataclass(frozen=True)
class UploadMeta:
    upload_id: str
    key: str
    initiated: float
    content_type: str
    storage_class: str
    user_meta: dict[str, str]


def restore_header(meta: ObjectMeta, now: float | None = None) -> str | None:
    """``x-oss-restore`` for an archive object, or ``None`` when not restored."""
    now = time.time() if now is None else now
    if meta.restore_requested is None or meta.restore_ready is None:
        return None
    if now < meta.restore_ready:
        return 'ongoing-request="true"'
    if meta.restore_expiry is not None and now < meta.restore_expiry:
        return f'ongoing-request="false", expiry-date="{http_date(meta.restore_expiry)}"'
    return None


class _Digest:
    """MD5 and CRC-64/XZ computed in one pass."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.crc = 0
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self.md5.update(chunk)
        self.crc = fastcrc.crc64.xz(chunk, self.crc)
        self.size += len(chunk)


def _key_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


class PartialWrite:
    """A temporary file being filled; :meth:`commit` renames it into place."""

    def __init__(self, directory: Path) -> None:
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=directory)
        self.path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self.digest = _Digest()

    def write(self, chunk: bytes | memoryview) -> None:
        self._file.write(chunk)
        self.digest.update(chunk)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class Storage:
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
            _write_json_atomic(bucket_dir / "bucket.json", dataclasses.asdict(info))
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
            _write_json_atomic(self._bucket_dir(name) / "bucket.json", dataclasses.asdict(info))
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
        return self._bucket_dir(bucket) / "objects" / f"{_key_name(key)}.data"

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
            _write_json_atomic(data.with_suffix(".json"), dataclasses.asdict(meta))
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
            _write_json_atomic(
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

    # -- multipart -------------------------------------------------------------

    def _upload_dir(self, bucket: str, upload_id: str) -> Path:
        return self._bucket_dir(bucket) / "uploads" / upload_id

    def init_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str = "application/octet-stream",
        storage_class: str = "Standard",
        user_meta: dict[str, str] | None = None,
    ) -> UploadMeta:
        self.bucket(bucket)
        upload = UploadMeta(
            upload_id=secrets.token_hex(16).upper(),
            key=key,
            initiated=time.time(),
            content_type=content_type,
            storage_class=storage_class,
            user_meta=dict(user_meta or {}),
        )
        directory = self._upload_dir(bucket, upload.upload_id)
        directory.mkdir(parents=True)
        _write_json_atomic(directory / "upload.json", dataclasses.asdict(upload))
        return upload

    def upload(self, bucket: str, key: str, upload_id: str) -> UploadMeta:
        self.bucket(bucket)
        info = self._upload_dir(bucket, upload_id) / "upload.json"
        if not upload_id or "/" in upload_id or not info.is_file():
            raise OSSError("NoSuchUpload", "The specified upload does not exist.")
        upload = UploadMeta(**json.loads(info.read_text(encoding="utf-8")))
        if upload.key != key:
            raise OSSError("NoSuchUpload", "The specified upload does not exist.")
        return upload

    def begin_part(self, bucket: str, key: str, upload_id: str) -> PartialWrite:
        self.upload(bucket, key, upload_id)
        return PartialWrite(self._upload_dir(bucket, upload_id))

    def commit_part(
        self, bucket: str, key: str, upload_id: str, number: int, pending: PartialWrite
    ) -> PartMeta:
        pending.close()
        self.upload(bucket, key, upload_id)
        part = PartMeta(
            number=number,
            size=pending.digest.size,
            etag=pending.digest.md5.hexdigest().upper(),
            crc64=pending.digest.crc,
            last_modified=time.time(),
        )
        directory = self._upload_dir(bucket, upload_id)
        os.replace(pending.path, directory / f"{number}.part")
        _write_json_atomic(directory / f"{number}.json", dataclasses.asdict(part))
        return part

    def parts(self, bucket: str, key: str, upload_id: str) -> dict[int, PartMeta]:
        self.upload(bucket, key, upload_id)
        found = {}
        for meta_file in self._upload_dir(bucket, upload_id).glob("*.json"):
            if meta_file.stem.isdigit():
                part = PartMeta(**json.loads(meta_file.read_text(encoding="utf-8")))
                found[part.number] = part
        return found

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, chosen: list[tuple[int, str]] | None
    ) -> ObjectMeta:
        """Join the ``chosen`` (part number, ETag) parts, or all parts when ``None``."""
        upload = self.upload(bucket, key, upload_id)
        available = self.parts(bucket, key, upload_id)
        if chosen is None:
            chosen = [(n, available[n].etag) for n in sorted(available)]
        if not chosen:
            raise OSSError("InvalidPart", "One or more of the specified parts could not be found.")
        numbers = [n for n, _ in chosen]
        if numbers != sorted(set(numbers)):
            raise OSSError("InvalidPartOrder", "The list of parts was not in ascending order.")
        parts = []
        for number, etag in chosen:
            part = available.get(number)
            if part is None or etag.strip('"').upper() != part.etag:
                raise OSSError(
                    "InvalidPart", "One or more of the specified parts could not be found."
                )
            parts.append(part)
        for part in parts[:-1]:
            if part.size < MIN_PART_SIZE:
                raise OSSError("EntityTooSmall", "Your proposed upload is smaller than allowed.")
        md5s = b"".join(bytes.fromhex(p.etag) for p in parts)
        etag = f"{hashlib.md5(md5s).hexdigest().upper()}-{len(parts)}"
        directory = self._upload_dir(bucket, upload_id)
        meta = self.put_bytes(
            bucket,
            key,
            _read_parts(directory, parts),
            etag=etag,
            object_type="Multipart",
            content_type=upload.content_type,
            storage_class=upload.storage_class,
            user_meta=upload.user_meta,
        )
        shutil.rmtree(directory, ignore_errors=True)
        return meta

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.upload(bucket, key, upload_id)
        shutil.rmtree(self._upload_dir(bucket, upload_id), ignore_errors=True)


def _read_parts(directory: Path, parts: list[PartMeta]) -> Iterator[bytes]:
    for part in parts:
        with open(directory / f"{part.number}.part", "rb") as src:
            yield from iter(lambda src=src: src.read(COPY_CHUNK), b"")
