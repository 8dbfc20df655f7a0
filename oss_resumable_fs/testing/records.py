"""What the emulator records about buckets, objects, parts and uploads.

Plain frozen dataclasses (each persisted as a JSON sidecar by
:mod:`oss_resumable_fs.testing.storage`), the storage classes and ACLs OSS
accepts, and the ``x-oss-restore`` rule for archive objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from oss_resumable_fs.testing.xmlio import http_date

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
