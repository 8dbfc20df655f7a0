"""What the OSS client answers, as plain frozen records (no oss2 types leak out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from oss_resumable_fs.engine.source import ObjectIdentity


@dataclass(frozen=True)
class ObjectHead:
    """A HEAD's answer: the object's identity and the metadata users ask about."""

    bucket: str
    key: str
    size: int
    etag: str | None
    #: Last-Modified as OSS sent it (an HTTP date), kept opaque for the identity.
    last_modified: str | None
    crc64: int | None
    version_id: str | None
    storage_class: str
    object_type: str | None
    content_type: str | None
    #: ``x-oss-restore`` (Archive objects), ``None`` when absent.
    restore: str | None

    @classmethod
    def from_headers(
        cls, bucket: str, key: str, headers: Mapping[str, str], version_id: str | None = None
    ) -> ObjectHead:
        """What a HEAD's headers say, or a whole-object GET's (they carry the same ones)."""
        crc = headers.get("x-oss-hash-crc64ecma")
        return cls(
            bucket=bucket,
            key=key,
            size=int(headers["Content-Length"]),
            etag=normalize_etag(headers.get("ETag")),
            last_modified=headers.get("Last-Modified"),
            crc64=int(crc) if crc else None,
            version_id=headers.get("x-oss-version-id") or version_id,
            storage_class=headers.get("x-oss-storage-class", "Standard"),
            object_type=headers.get("x-oss-object-type"),
            content_type=headers.get("Content-Type"),
            restore=headers.get("x-oss-restore"),
        )

    @property
    def restored(self) -> bool:
        """Whether a restore has finished (``ongoing-request="false"``)."""
        return 'ongoing-request="false"' in (self.restore or "")

    def identity(self) -> ObjectIdentity:
        return ObjectIdentity(
            size=self.size,
            etag=self.etag,
            last_modified=self.last_modified,
            crc64=self.crc64,
            version_id=self.version_id,
        )

    def entry(self) -> dict[str, object]:
        """fsspec's ``info`` dict for this object (names as ossfs and s3fs use them)."""
        info: dict[str, object] = {
            "name": f"{self.bucket}/{self.key}",
            "type": "file",
            "size": self.size,
            "ETag": self.etag,
            "LastModified": http_date_to_epoch(self.last_modified),
            "StorageClass": self.storage_class,
        }
        if self.crc64 is not None:
            info["crc64"] = self.crc64
        if self.version_id:
            info["VersionId"] = self.version_id
        if self.content_type:
            info["ContentType"] = self.content_type
        return info


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing page."""

    key: str
    size: int
    etag: str | None
    #: Seconds since the epoch, as oss2 and ossfs report listings.
    last_modified: int | None
    storage_class: str | None
    object_type: str | None

    def entry(self, bucket: str) -> dict[str, object]:
        return {
            "name": f"{bucket}/{self.key}",
            "type": "file",
            "size": self.size,
            "ETag": self.etag,
            "LastModified": self.last_modified,
            "StorageClass": self.storage_class,
        }


@dataclass(frozen=True)
class ListPage:
    """One ListObjects page: objects, common prefixes, and where the next page starts."""

    objects: tuple[ListedObject, ...] = ()
    prefixes: tuple[str, ...] = ()
    truncated: bool = False
    next_marker: str = ""


@dataclass(frozen=True)
class BucketEntry:
    name: str
    creation_date: int | None = None
    location: str | None = None
    storage_class: str | None = None

    def entry(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": "directory",
            "size": 0,
            "CreateTime": self.creation_date,
            "Location": self.location,
            "StorageClass": self.storage_class,
        }


def normalize_etag(etag: str | None) -> str | None:
    """ETags as OSS sends them in headers, quoted; listings (via oss2) come unquoted."""
    if not etag:
        return None
    return '"' + etag.strip('"') + '"'


def http_date_to_epoch(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return None
