"""Multipart-upload bookkeeping: initiate, upload parts, list, complete, abort.

Each upload lives in its own directory until it is completed or aborted::

    <root>/<bucket>/uploads/<upload id>/upload.json   key, content type, ...
    <root>/<bucket>/uploads/<upload id>/<n>.part      the bytes of part n
    <root>/<bucket>/uploads/<upload id>/<n>.json      its size, ETag, CRC-64

:class:`MultipartUploads` is a mixin of :class:`~oss_resumable_fs.testing.storage.Storage`;
completing an upload writes the joined parts through the storage's own
:meth:`put_bytes`, like any other new object version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from oss_resumable_fs.testing.diskfiles import COPY_CHUNK, PartialWrite, write_json_atomic
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.records import BucketInfo, ObjectMeta, PartMeta, UploadMeta

MIN_PART_SIZE = 100 * 1024


class MultipartUploads:
    """The multipart half of the storage.

    Relies on the class it is mixed into for :meth:`bucket` (raises
    ``NoSuchBucket``), :meth:`_bucket_dir` and :meth:`put_bytes`.
    """

    if TYPE_CHECKING:

        def bucket(self, name: str) -> BucketInfo: ...

        def _bucket_dir(self, bucket: str) -> Path: ...

        def put_bytes(
            self, bucket: str, key: str, chunks: Iterable[bytes], **kwargs
        ) -> ObjectMeta: ...

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
        write_json_atomic(directory / "upload.json", dataclasses.asdict(upload))
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
        write_json_atomic(directory / f"{number}.json", dataclasses.asdict(part))
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
