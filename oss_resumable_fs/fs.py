"""``ResumableOSSFileSystem``: reads that are exact and pinned, downloads that resume."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from fsspec.spec import AbstractFileSystem
from ossfs import OSSFileSystem

from oss_resumable_fs.config import TransferConfig, check_option_names
from oss_resumable_fs.errors import InvalidArgumentError, NotAnObjectError, ObjectNotFoundError
from oss_resumable_fs.files import PARALLEL_READAHEAD
from oss_resumable_fs.fs_downloads import OPTION_HINTS, DownloadMethods
from oss_resumable_fs.fs_reads import ReadMethods
from oss_resumable_fs.listing import directory_entry, list_directory, list_flat
from oss_resumable_fs.ossfs_compat import OssfsWriteHooks
from oss_resumable_fs.paths import ensure_within
from oss_resumable_fs.sources.auth import resolve_identity
from oss_resumable_fs.sources.client import OSSClient
from oss_resumable_fs.sources.models import ObjectHead
from oss_resumable_fs.sources.oss import OSSRangeSource
from oss_resumable_fs.sources.redact import redact_library_logs

__all__ = ["ResumableOSSFileSystem", "ensure_within"]

# oss2 logs request headers and signed strings (with the STS token) at DEBUG.
redact_library_logs()

#: Constructor options besides the TransferConfig fields (fsspec's and ossfs's included).
_CONSTRUCTOR_OPTIONS = (
    "endpoint",
    "key",
    "secret",
    "token",
    "anon",
    "region",
    "credentials_provider",
    "transfer_config",
    "file_concurrency",
    "batch_size",
    "default_cache_type",
    "default_block_size",
    "use_listings_cache",
    "listings_expiry_time",
    "max_paths",
)


class ResumableOSSFileSystem(ReadMethods, DownloadMethods, OssfsWriteHooks, OSSFileSystem):
    """OSS as an fsspec filesystem whose reads are pinned and whose downloads resume.

    ``get_file`` / ``get`` run parallel, checkpointed, verified downloads;
    ``open`` / ``cat_file`` / ``cat_ranges`` read exact bytes of one object
    version, retried, streamed ahead on several connections when read front to
    back. Writes (``put``, ``pipe``, ``rm``, ``touch``) are ossfs's.

    Credentials: ``key`` / ``secret`` / ``token``, an oss2
    ``credentials_provider`` (refreshing STS or ECS RAM-role credentials), or
    the ``OSS_ACCESS_KEY_ID`` / ``OSS_ACCESS_KEY_SECRET`` / ``OSS_SESSION_TOKEN``
    variables; ``anon=True`` sends unsigned requests. The endpoint falls back to
    ``OSS_ENDPOINT``; a ``region`` (``cn-hangzhou``, or ``OSS_REGION``) selects V4
    signatures. Any :class:`TransferConfig` field (``part_size="16MiB"``,
    ``concurrency``, ``read_timeout``...) may be given here as a default for
    every transfer; ``file_concurrency`` is how many small files ``get`` fetches
    at once. Unknown options raise :class:`UnknownOptionError`.
    """

    protocol = ("ossr",)

    def __init__(
        self,
        endpoint: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        *,
        anon: bool = False,
        region: str | None = None,
        credentials_provider: Any = None,
        transfer_config: TransferConfig | None = None,
        file_concurrency: int = 16,
        batch_size: int | None = None,
        default_cache_type: str = PARALLEL_READAHEAD,
        default_block_size: int | None = None,
        **options: Any,
    ) -> None:
        config_options, rest = TransferConfig.split_options(options)
        fsspec_options = {k: rest.pop(k) for k in list(rest) if k in _CONSTRUCTOR_OPTIONS}
        known = (*_CONSTRUCTOR_OPTIONS, *TransferConfig.field_names())
        check_option_names(rest, known, "ResumableOSSFileSystem", OPTION_HINTS)
        identity = resolve_identity(
            endpoint=endpoint,
            key=key,
            secret=secret,
            token=token,
            region=region,
            credentials_provider=credentials_provider,
            anon=anon,
        )
        # ossfs gets no credentials: every request it makes goes through our client.
        super().__init__(
            endpoint=identity.endpoint or "",
            default_cache_type=default_cache_type,
            default_block_size=default_block_size,
            **fsspec_options,
        )
        self.transfer_config = (transfer_config or TransferConfig()).replace(**config_options)
        file_concurrency = batch_size or file_concurrency  # fsspec's name for it
        if file_concurrency < 1:
            raise InvalidArgumentError("file_concurrency must be at least 1")
        self.file_concurrency = file_concurrency
        # urllib3 keeps at most this many idle connections per host: every connection
        # a call may open for data, and a HEAD for each file in flight.
        self._identity = identity
        self._pool_size = self.transfer_config.connection_ceiling() + file_concurrency
        self._pool_lock = threading.Lock()
        self._client: OSSClient | None = None
        self._client_pid = 0
        self._region = identity.region
        #: ``open``'s block size when given; otherwise the transfer's part size.
        self._given_block_size = default_block_size

    @property
    def client(self) -> OSSClient:
        """The one door to OSS; a new one (new connections) in a forked child."""
        with self._pool_lock:
            if self._client is None or self._client_pid != os.getpid():
                self._client = OSSClient(
                    self._identity, self.transfer_config, pool_size=self._pool_size
                )
                self._client_pid = os.getpid()
            return self._client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self._endpoint!r}, region={self._region!r})"

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        # ossfs strips only "oss://" (leaving a leading "/"); ours must also accept
        # its own "ossr://" URLs, and gives the same "bucket/key" for both.
        if isinstance(path, str):
            for prefix in ("ossr://", "oss://"):
                if path.startswith(prefix):
                    path = path[len(prefix) :]
                    break
        return super()._strip_protocol(path)

    def range_source(self, path: str, version_id: str | None = None) -> OSSRangeSource:
        """The engine's view of the object at ``path``."""
        bucket, key = self.split_path(path)
        if not key:
            raise NotAnObjectError(f"oss://{bucket} is a bucket, not an object", target=bucket)
        return OSSRangeSource(self.client, bucket, key, version_id=version_id)

    def object_head(self, path: str, version_id: str | None = None) -> ObjectHead:
        """One HEAD of the object now (retried), whatever the listings cache holds."""
        bucket, key = self.split_path(path)
        return self.client.head_object(bucket, key, version_id)

    # -- listings and metadata ------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any) -> Any:
        path = self._strip_protocol(path).strip("/")
        entries = self._list(path, refresh)
        return entries if detail else [entry["name"] for entry in entries]

    def _list(self, path: str, refresh: bool) -> list[dict[str, Any]]:
        if not refresh and path in self.dircache:
            return list(self.dircache[path])
        if not path:
            entries = [bucket.entry() for bucket in self.client.list_buckets()]
            self.dircache[""] = entries
            return list(entries)
        bucket, key = self.split_path(path)
        entries, marker_seen = list_directory(self.client, bucket, key)
        if entries or marker_seen or not key:
            self.dircache[path] = entries
            return list(entries)
        return [self.object_head(path).entry()]  # a file lists as itself; missing raises

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        named_as_directory = self._strip_protocol(path).endswith("/")
        path = self._strip_protocol(path).strip("/")
        bucket, key = self.split_path(path)
        if not bucket:
            return directory_entry("")
        if not key:
            self.client.check_bucket(bucket)
            return directory_entry(bucket)
        if not kwargs.get("refresh"):
            if path in self.dircache:  # listed: a directory
                return directory_entry(path)
            for entry in self.dircache.get(self._parent(path), ()):
                if entry["name"] == path:
                    return dict(entry)
        try:
            if named_as_directory:  # "b/dir/": no object has that name to HEAD
                raise ObjectNotFoundError(f"oss://{path}/: no such directory", target=path)
            return self.object_head(path).entry()
        except (FileNotFoundError, PermissionError) as error:
            # Not an object: a prefix with keys under it is a directory.
            try:
                is_directory = self.client.has_keys_under(bucket, key.rstrip("/") + "/")
            except (FileNotFoundError, PermissionError):
                is_directory = False  # a listing that fails after retries raises
            if is_directory:
                return directory_entry(path)
            raise error

    def exists(self, path: str, **kwargs: Any) -> bool:
        """A bool, as fsspec promises; what we may not see (403) does not exist for us.

        A failure that leaves the answer unknown (5xx after retries, a reset)
        raises: ``False`` would invite a caller to write over the object.
        """
        try:
            self.info(path)
        except (FileNotFoundError, PermissionError):
            return False
        return True

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """fsspec's ``find``; with ossfs's ``prefix=``, one flat listing that is not cached."""
        prefix = kwargs.pop("prefix", "")
        if not prefix:
            return AbstractFileSystem.find(self, path, maxdepth, withdirs, detail, **kwargs)
        if withdirs or maxdepth:
            raise InvalidArgumentError("prefix= cannot be combined with withdirs or maxdepth")
        bucket, key = self.split_path(self._strip_protocol(path).strip("/"))
        found = list_flat(self.client, bucket, f"{key}/{prefix}" if key else prefix)
        return found if detail else list(found)

    def walk(  # type: ignore[override]
        self,
        path: str,
        maxdepth: int | None = None,
        topdown: bool = True,
        on_error: Any = "omit",
        **kwargs: Any,
    ) -> Any:
        """fsspec's ``walk``, with ``on_error`` kept when it descends.

        fsspec passes ``on_error`` to the top level only: below it a listing that
        failed silently became an empty directory, and ``get`` of a tree reported
        success with files missing. It is carried down in ``kwargs``, which fsspec
        passes on (and ``ls`` ignores).
        """
        on_error = kwargs.pop("_ossr_on_error", on_error)
        yield from super().walk(
            path, maxdepth, topdown, on_error, _ossr_on_error=on_error, **kwargs
        )

    def ukey(self, path: str) -> str:
        """Changes whenever the object does: its ETag, size and version, from a fresh HEAD."""
        head = self.object_head(path)
        text = f"{head.etag}|{head.size}|{head.version_id or ''}|{head.last_modified}"
        return hashlib.sha256(text.encode()).hexdigest()

    def checksum(self, path: str) -> int:
        return int(self.ukey(path)[:16], 16)

    def modified(self, path: str) -> datetime:
        head = self.object_head(path)
        if not head.last_modified:
            raise ObjectNotFoundError(f"oss://{path}: no Last-Modified", target=path)
        return parsedate_to_datetime(head.last_modified)

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        """A presigned GET URL valid for ``expiration`` seconds (``version_id=`` optional)."""
        check_option_names(kwargs, ("version_id", "method"), "sign")
        bucket, key = self.split_path(path)
        return self.client.presign(bucket, key, int(expiration), **kwargs)
