"""``ResumableOSSFileSystem``: ossfs, with downloads that are parallel, resumable and verified."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from glob import has_magic
from typing import Any

import oss2
from fsspec.callbacks import DEFAULT_CALLBACK, Callback
from fsspec.implementations.local import LocalFileSystem, make_path_posix, trailing_sep
from fsspec.utils import isfilelike, other_paths
from oss2.models import SimplifiedObjectInfo
from ossfs import OSSFileSystem

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.fetch import RetryPolicy, sleep_polling
from oss_resumable_fs.engine.transfer import DownloadResult, download
from oss_resumable_fs.errors import (
    AccessDeniedError,
    DownloadCancelledError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
)
from oss_resumable_fs.sources.oss import OSSRangeSource
from oss_resumable_fs.sources.oss_errors import (
    READ_ERRORS,
    is_restored,
    needs_restore,
    translate_oss_error,
)
from oss_resumable_fs.sources.redact import redact_library_logs

logger = logging.getLogger(__name__)

# oss2 logs request headers and signed strings (with the STS token) at DEBUG.
redact_library_logs()

#: Files smaller than this are fetched many at a time by ``get``; larger ones
#: one after another, each on ``concurrency`` connections of its own.
_SMALL_FILE = 64 * 1024 * 1024
#: Keys per ListObjects page: OSS's maximum.
_LIST_PAGE_KEYS = 1000


class ResumableOSSFileSystem(OSSFileSystem):
    """An ``ossfs.OSSFileSystem`` whose ``get_file`` / ``get`` are parallel and resumable.

    Everything but downloads behaves as in ossfs. Credentials fall back to the
    ``OSS_ACCESS_KEY_ID`` / ``OSS_ACCESS_KEY_SECRET`` / ``OSS_SESSION_TOKEN``
    environment variables, the endpoint to ``OSS_ENDPOINT``; a region (argument
    or ``OSS_REGION``) selects V4 signatures. No credentials means anonymous.

    Transfer defaults (``part_size``, ``concurrency``, ``checkpoint_dir`` or a
    whole ``transfer_config``) apply to every download and can be overridden
    per call. ``file_concurrency`` is how many small files ``get`` fetches at once.
    """

    protocol = ("ossr",)

    def __init__(
        self,
        endpoint: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        *,
        region: str | None = None,
        part_size: int | None = None,
        concurrency: int | None = None,
        checkpoint_dir: str | None = None,
        transfer_config: TransferConfig | None = None,
        file_concurrency: int = 8,
        **kwargs: Any,
    ) -> None:
        key = key or os.environ.get("OSS_ACCESS_KEY_ID") or None
        secret = secret or os.environ.get("OSS_ACCESS_KEY_SECRET") or None
        token = token or os.environ.get("OSS_SESSION_TOKEN") or None
        super().__init__(endpoint=endpoint, key=key, secret=secret, token=token, **kwargs)
        self._region = region or os.environ.get("OSS_REGION") or None
        if self._region and key:
            provider = oss2.credentials.StaticCredentialsProvider(key, secret or "", token or "")
            self._auth = oss2.ProviderAuthV4(provider)
        self.transfer_config = (transfer_config or TransferConfig()).replace(
            part_size=part_size, concurrency=concurrency, checkpoint_dir=checkpoint_dir
        )
        if file_concurrency < 1:
            raise ValueError("file_concurrency must be at least 1")
        self.file_concurrency = file_concurrency
        # urllib3 keeps at most this many idle connections per host; `get` runs
        # `file_concurrency` small files beside one large one, each on its own parts.
        per_object = max(self.transfer_config.concurrency or 16, 16)
        self._session = oss2.Session(pool_size=per_object * (file_concurrency + 1))

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

    def _transfer_object_info_to_dict(self, bucket: str, obj: Any) -> dict[str, Any]:
        """ossfs's listing entry, with directories named as fsspec expects.

        ossfs names a directory (an OSS CommonPrefix) ``bucket/dir/``; fsspec's
        ``glob`` never matches that trailing slash, so ``get("b/src/*",
        recursive=True)`` and ``glob("b/subdir[0-1]")`` silently skipped
        directories. s3fs and gcsfs name them ``bucket/dir``, as we now do.
        """
        data: dict[str, Any] = super()._transfer_object_info_to_dict(bucket, obj)
        if data.get("type") == "directory":
            data["name"] = data["name"].rstrip("/")
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self._endpoint!r}, region={self._region!r})"

    def _get_bucket(self, bucket_name: str, connect_timeout: int | None = None) -> oss2.Bucket:
        if not self._endpoint:
            raise ValueError("an endpoint is required: pass endpoint= or set OSS_ENDPOINT")
        config = self.transfer_config
        timeout = connect_timeout or (config.connect_timeout, config.read_timeout)
        if not oss2.is_valid_bucket_name(bucket_name.strip()):
            # oss2 would raise its own ClientError; ossfs calls a bad name missing.
            raise ObjectNotFoundError(f"oss://{bucket_name}: not a valid OSS bucket name")
        return oss2.Bucket(
            self._auth,
            self._endpoint,
            bucket_name,
            session=self._session,
            connect_timeout=timeout,
            app_name="oss-resumable-fs",
            # Our engine verifies CRC-64 itself, with fastcrc, off the GIL.
            enable_crc=False,
            region=self._region,
        )

    def range_source(self, path: str, version_id: str | None = None) -> OSSRangeSource:
        """The engine's view of the object at ``path``."""
        bucket_name, key = self.split_path(path)
        if not key:
            raise IsADirectoryError(f"oss://{bucket_name} is a bucket, not an object")
        return OSSRangeSource(self._get_bucket(bucket_name), key, version_id=version_id)

    def get_file(  # type: ignore[override]
        self,
        rpath: str,
        lpath: str | os.PathLike[str] | None = None,
        callback: Callback = DEFAULT_CALLBACK,
        outfile: Any = None,
        *,
        part_size: int | None = None,
        concurrency: int | None = None,
        checkpoint_dir: str | None = None,
        version_id: str | None = None,
        restore: bool = False,
        cancel: threading.Event | None = None,
        **kwargs: Any,
    ) -> DownloadResult | None:
        """Download one object to ``lpath``: parallel parts, checkpointed, verified.

        Returns the :class:`DownloadResult` (``None`` for a directory). With
        ``restore=True`` an Archive / Cold Archive object is restored first and
        the call waits for the restore to finish.
        """
        config = self.transfer_config.replace(
            part_size=part_size, concurrency=concurrency, checkpoint_dir=checkpoint_dir
        )
        if outfile is None and isfilelike(lpath):
            outfile, lpath = lpath, None
        if outfile is None and lpath is not None and trailing_sep(self._strip_protocol(rpath)):
            # "dir/": a directory, or the zero-byte folder marker the OSS console makes
            # (never to be downloaded as a file).
            bucket_name, key = self.split_path(rpath)
            if not key:
                self._has_keys_under(rpath)  # a missing or refused bucket says so here
            elif not (self._is_directory(rpath) or self._exists_as_object(rpath)):
                raise ObjectNotFoundError(f"oss://{bucket_name}/{key}: no such directory")
            os.makedirs(lpath, exist_ok=True)
            return None
        source = self.range_source(rpath, version_id)
        if restore:
            self._restore_if_needed(rpath, version_id, cancel)
        if outfile is not None:
            return self._get_into_fileobj(source, outfile, config, callback, cancel)
        if lpath is None:
            raise ValueError("get_file needs a local path or an outfile")
        lpath = os.fspath(lpath)
        try:
            return download(source, lpath, config, progress=callback, cancel=cancel)
        except ObjectNotFoundError:
            if self._is_directory(rpath):
                os.makedirs(lpath, exist_ok=True)
                return None
            raise
        except IsADirectoryError:
            # The local directory exists already (a second ``get`` of the same tree).
            if self._is_directory(rpath):
                return None
            raise

    def _is_directory(self, rpath: str) -> bool:
        """Whether ``rpath`` names a prefix ("directory") or a bucket we can list; never raises.

        Asked when a download could not treat ``rpath`` as an object. If the
        listing fails too (no such bucket, access denied), the download's own
        error is the one to report.
        """
        _bucket, key = self.split_path(rpath)
        try:
            has_keys = self._has_keys_under(rpath)
        except OSError:
            return False
        return has_keys or not key.rstrip("/")  # an empty bucket is a directory too

    def _has_keys_under(self, rpath: str) -> bool:
        """Whether any key lies under ``rpath/`` (in the bucket, for a bucket root).

        One ListObjects of at most one key: ``isdir`` (fsspec's ``info``) lists the
        whole parent, every page of it. Raises what the listing raises.
        """
        bucket_name, key = self.split_path(rpath)
        prefix = key.rstrip("/") + "/" if key.rstrip("/") else ""
        page = self._list_page(
            self._get_bucket(bucket_name),
            f"oss://{bucket_name}/{prefix}",
            prefix=prefix,
            delimiter="/",
            marker="",
            max_keys=1,
        )
        return bool(page.object_list or page.prefix_list)

    def _exists_as_object(self, rpath: str) -> bool:
        """Whether an object is stored under exactly this key (one HEAD)."""
        try:
            self.range_source(rpath).stat()
        except ObjectNotFoundError:
            return False
        return True

    def _restore_if_needed(
        self,
        rpath: str,
        version_id: str | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """``restore=True``: restore (and wait for) an Archive object; others need nothing.

        A Standard object, or one already restored, is left alone: RestoreObject
        would be refused for it (OperationNotSupported). A missing object is left
        to the download itself to report (or to find a directory there).
        """
        bucket_name, key = self.split_path(rpath)
        try:
            params = {"versionId": version_id} if version_id else None
            headers = self._get_bucket(bucket_name).head_object(key, params=params).headers
        except oss2.exceptions.OssError as error:
            translated = translate_oss_error(error, f"oss://{bucket_name}/{key}")
            if isinstance(translated, ObjectNotFoundError):
                return
            raise translated from error
        if needs_restore(headers):
            # Restores take minutes to hours: say so where a user or a log can see it.
            self.restore(
                rpath, wait=True, callback=logger.info, version_id=version_id, cancel=cancel
            )

    def _call_oss(
        self, method_name: str, *args: Any, bucket: str | None = None, **kwargs: Any
    ) -> Any:
        """ossfs's one door to oss2, with oss2's errors mapped by :func:`translate_oss_error`.

        ossfs turns an unknown OSS error into ``OSError(str(error))``: the whole
        error document, whose ``StringToSign`` holds the STS token (a wrong
        secret, ``SignatureDoesNotMatch``), ended up in the message and chained
        unscrubbed. The mapped errors are still ``FileNotFoundError`` /
        ``PermissionError`` / ``OSError``, as ossfs's callers expect.
        """
        try:
            return super()._call_oss(method_name, *args, bucket=bucket, **kwargs)
        except OSError as error:
            cause = error.__cause__
            if not isinstance(cause, oss2.exceptions.OssError):
                raise
            target = f"oss://{bucket}" if bucket else "OSS"
            if bucket and args and isinstance(args[0], str):
                target += f"/{args[0]}"
            translated = translate_oss_error(cause, target)
        # Raised outside the except block: ossfs's unscrubbed error is not chained.
        raise translated from cause

    def _bucket_exist(self, bucket_name: str) -> bool:
        """Whether the bucket exists, from GetBucketInfo.

        ossfs let "no such bucket" (FileNotFoundError) escape, so
        ``exists("missing-bucket/key")`` raised, and took a refusal for "no such
        bucket", so under a policy granting GetObject alone every object "did not
        exist". Only a definite "no such bucket" is ``False`` here.
        """
        if not bucket_name:
            return False
        try:
            return self._bucket_answers(bucket_name)
        except OSError:
            # Failed (5xx, a reset): not known to be missing, so the object's own
            # check answers. "Missing" is an answer callers act on: ossfs's
            # touch(truncate=False) writes an empty object over it.
            return True

    def _bucket_answers(self, bucket_name: str) -> bool:
        """GetBucketInfo: ``False`` for no such bucket, ``True`` when it answers (a
        403 included: it is there); any other failure raises."""
        try:
            self._call_oss("get_bucket_info", bucket=bucket_name)
        except FileNotFoundError:
            return False
        except PermissionError:
            return True
        return True

    def exists(self, path: str, **kwargs: Any) -> bool:
        """fsspec's contract: a bool. What we may not see (403) does not exist for us.

        A failure that leaves the answer unknown (5xx, a reset) raises: ``False``
        would invite a caller to write over the object.
        """
        bucket_name = self._strip_protocol(path).strip("/")
        if bucket_name and "/" not in bucket_name:
            # A bucket: ossfs would take "not known to be missing" for "there".
            return self._bucket_answers(bucket_name)
        try:
            return bool(super().exists(path, **kwargs))
        except (FileNotFoundError, PermissionError):
            return False

    def _get_object_info_list(
        self, bucket_name: str, prefix: str, delimiter: str, connect_timeout: int | None
    ) -> list[dict[str, Any]]:
        """A listing in ossfs's entry format, page by page, each page retried on its own.

        Ours rather than ossfs's (oss2's ``ObjectIterator``) because:

        - errors raised while iterating escaped ``ls`` / ``info`` / ``get`` as raw
          oss2 exceptions; here they are mapped like every other error, and
          ``AccessDenied`` is a ``PermissionError`` (ossfs returned an empty listing,
          so a private tree looked empty and ``get`` said "not found");
        - oss2 tries a failed page three times back to back, which a throttled
          service refuses again; here a page is retried with the transfer's backoff
          and the qos delay, from its own marker, not from the first page;
        - pages hold 1000 keys (OSS's maximum), not 100: a tenth of the requests.
        """
        bucket = self._get_bucket(bucket_name, connect_timeout)
        name = f"oss://{bucket_name}/{prefix}"
        entries: list[dict[str, Any]] = []
        marker = ""
        while True:
            page = self._list_page(bucket, name, prefix=prefix, delimiter=delimiter, marker=marker)
            infos = list(page.object_list) + [
                SimplifiedObjectInfo(common, None, None, None, None, None)
                for common in page.prefix_list
            ]
            infos.sort(key=lambda info: info.key)
            entries += [self._transfer_object_info_to_dict(bucket_name, info) for info in infos]
            if not page.is_truncated:
                return entries
            marker = page.next_marker

    def _ls_dir(
        self,
        path: str,
        delimiter: str = "/",
        refresh: bool = False,
        prefix: str = "",
        connect_timeout: int | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """ossfs's directory listing, except that a flat or filtered one is not cached.

        ossfs cached ``find(path, prefix=...)``'s listing (flat, filtered) under the
        directory's own key: a later ``ls`` or ``get`` of that directory read it and
        silently missed every file outside the filter.
        """
        # ossfs keyed its cache on the path as given: "oss://b/d" was cached apart
        # from "b/d", and never invalidated by writes.
        path = self._strip_protocol(path)
        if delimiter == "/" and not prefix:
            listing: list[dict[str, Any]] = super()._ls_dir(
                path, delimiter, refresh, prefix, connect_timeout, **kwargs
            )
            return listing
        bucket_name, key = self.split_path(path.strip("/"))
        full_prefix = f"{key}/{prefix}" if key else prefix
        return self._get_object_info_list(bucket_name, full_prefix, delimiter, connect_timeout)

    def _list_page(self, bucket: oss2.Bucket, name: str, **params: Any) -> Any:
        """One ListObjects page; 5xx, resets and timeouts retried with backoff."""
        config = self.transfer_config
        policy = RetryPolicy.from_config(config)

        def list_once() -> Any:
            try:
                return bucket.list_objects(**{"max_keys": _LIST_PAGE_KEYS, **params})
            except (oss2.exceptions.OssError, *READ_ERRORS) as error:
                raise translate_oss_error(error, name) from error

        return policy.call(list_once, time.sleep, f"listing {name}")

    def _ls_bucket(self, connect_timeout: int | None) -> list[dict[str, Any]]:
        """The buckets of the account (``ls("")``), as ossfs lists them.

        Ours because ossfs's (a) builds its ``oss2.Service`` without the region,
        which V4 signing needs, so with ``region=`` it always listed nothing; (b)
        lets errors raised while iterating escape raw, a wrong secret's
        ``SignatureDoesNotMatch`` with the STS token in its message; and (c)
        turns every client-side error into an empty list.
        """
        if "" in self.dircache:
            return list(self.dircache[""])
        if isinstance(self._auth, oss2.AnonymousAuth):
            raise AccessDeniedError("listing buckets needs credentials; none were given")
        service = oss2.Service(
            self._auth,
            self._endpoint,
            session=self._session,
            connect_timeout=connect_timeout or self.transfer_config.connect_timeout,
            region=self._region,
        )
        try:
            buckets = [
                {"name": b.name, "type": "directory", "size": 0, "CreateTime": b.creation_date}
                for b in oss2.BucketIterator(service)
            ]
        except oss2.exceptions.OssError as error:
            raise translate_oss_error(error, "OSS (list buckets)") from error
        self.dircache[""] = buckets
        return list(buckets)

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
        failed silently became an empty directory, even with ``on_error="raise"``
        (and ``get`` of a tree reported success with files missing). It is carried
        down in ``kwargs``, which fsspec does pass on (and ``ls`` ignores).
        """
        on_error = kwargs.pop("_ossr_on_error", on_error)
        yield from super().walk(
            path, maxdepth, topdown, on_error, _ossr_on_error=on_error, **kwargs
        )

    def _get_into_fileobj(
        self,
        source: OSSRangeSource,
        outfile: Any,
        config: TransferConfig,
        callback: Callback,
        cancel: threading.Event | None,
    ) -> DownloadResult:
        # The engine lands a verified file; a file object gets a copy of it.
        with tempfile.TemporaryDirectory(prefix="ossr-") as scratch:
            landed = os.path.join(scratch, "object")
            # The journal stays in the scratch directory too: a file object's
            # download cannot be resumed, and must leave nothing behind.
            journal = os.path.join(scratch, "object.ossr-journal")
            result = download(
                source, landed, config, progress=callback, cancel=cancel, journal_path=journal
            )
            with open(landed, "rb") as data:
                shutil.copyfileobj(data, outfile, length=config.buffer_size)
        return result

    def get(  # type: ignore[override]
        self,
        rpath: str | list[str],
        lpath: str | list[str],
        recursive: bool = False,
        callback: Callback = DEFAULT_CALLBACK,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Download many objects: small ones several at a time, large ones in parallel parts.

        Paths are expanded exactly as fsspec does; a listed key containing
        ``..`` can never place a file outside ``lpath``.
        """
        pairs = self._expand_get_pairs(rpath, lpath, recursive, maxdepth)
        if not pairs:
            return
        callback.set_size(len(pairs))
        infos = self._infos(r for r, _ in pairs)
        # Directories first, here: made by a worker beside the files, a directory
        # could appear under a download of its "directory" entry (IsADirectoryError),
        # and a folder marker object ("dir/") must not land as a file.
        directories = [(r, lp) for r, lp in pairs if _is_directory_entry(r, infos.get(r))]
        for _remote, local in directories:
            os.makedirs(local, exist_ok=True)
            callback.relative_update(1)
        listed_dirs = {r for r, _ in directories}
        files = [(r, lp) for r, lp in pairs if r not in listed_dirs]
        sizes = {r: int((infos.get(r) or {}).get("size") or 0) for r, _ in files}
        small = [(r, lp) for r, lp in files if sizes[r] < _SMALL_FILE]
        large = [(r, lp) for r, lp in files if sizes[r] >= _SMALL_FILE]
        finished = threading.Lock()
        # One error, a cancel or Ctrl-C stops every download of this call, not just
        # one. The caller's own cancel event is only read, never set: it may be
        # shared with other work.
        stop = _StopEvent(kwargs.pop("cancel", None))
        errors: list[BaseException] = []

        def fetch(pair: tuple[str, str]) -> None:
            remote, local = pair
            if stop.is_set():  # before any request (a queued restore would be billed)
                raise DownloadCancelledError(f"get stopped before {remote} was fetched")
            try:
                with callback.branched(remote, local) as child:
                    self.get_file(remote, local, callback=child, cancel=stop, **kwargs)
            except DownloadCancelledError:
                raise  # stopped by the caller, or by another file's error (raised instead)
            except BaseException as exc:
                with finished:
                    errors.append(exc)
                stop.set()
                raise
            with finished:
                callback.relative_update(1)

        # Large files run one at a time on the caller's behalf (each already uses
        # `concurrency` connections) while small files share a pool beside them.
        pool = ThreadPoolExecutor(self.file_concurrency, thread_name_prefix="ossr-get")
        futures = []
        try:
            futures = [pool.submit(fetch, pair) for pair in small]
            for pair in large:
                fetch(pair)
            wait(futures)
        except Exception:
            stop.set()
            if not errors:
                raise
        except BaseException:  # Ctrl-C: stop the small files too
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if errors:
            raise errors[0]  # the first file that failed, not the ones it stopped
        for future in futures:
            future.result()  # a cancel by the caller

    def _expand_get_pairs(
        self,
        rpath: str | list[str],
        lpath: str | list[str],
        recursive: bool,
        maxdepth: int | None,
    ) -> list[tuple[str, str]]:
        """(remote, local) pairs, expanded exactly as ``AbstractFileSystem.get`` does."""
        if isinstance(lpath, list) and isinstance(rpath, list):
            return list(zip(rpath, lpath, strict=True))
        source_is_str = isinstance(rpath, str)
        # A listing that fails must fail the get, not leave a subtree out of it.
        rpaths = self.expand_path(rpath, recursive=recursive, maxdepth=maxdepth, on_error="raise")
        if source_is_str and (not recursive or maxdepth is not None):
            # A non-recursive glob does not copy directories.
            rpaths = [p for p in rpaths if not (trailing_sep(p) or self.isdir(p))]
        if not rpaths:
            return []
        if isinstance(lpath, str):
            lpath = make_path_posix(lpath)
        dest_is_dir = isinstance(lpath, str) and (
            trailing_sep(lpath) or LocalFileSystem().isdir(lpath)
        )
        exists = source_is_str and (
            (has_magic(rpath) and len(rpaths) == 1)
            or (not has_magic(rpath) and dest_is_dir and not trailing_sep(rpath))
        )
        lpaths = other_paths(rpaths, lpath, exists=exists, flatten=not source_is_str)
        if isinstance(lpath, str):
            ensure_within(lpath, lpaths)
        return list(zip(rpaths, lpaths, strict=True))

    def _infos(self, paths: Any) -> dict[str, dict[str, Any] | None]:
        """``info`` of each path (from the listings ``expand_path`` just cached); None if gone."""
        infos: dict[str, dict[str, Any] | None] = {}
        for path in paths:
            try:
                infos[path] = self.info(path)
            except OSError:  # gone since the listing: get_file will say so
                infos[path] = None
        return infos

    def restore(
        self,
        path: str,
        *,
        wait: bool = True,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        callback: Callable[[str], None] | None = None,
        version_id: str | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Restore an Archive / Cold Archive object; with ``wait``, block until readable.

        ``callback`` receives a short status line at each poll (for a progress
        display); ``timeout`` (seconds) bounds the wait; ``version_id`` picks a
        version of a versioned object; setting ``cancel`` ends the wait with
        :class:`DownloadCancelledError` (the restore itself goes on in OSS).
        """
        bucket_name, key = self.split_path(path)
        bucket = self._get_bucket(bucket_name)
        name = f"oss://{bucket_name}/{key}"
        params = {"versionId": version_id} if version_id else None
        try:
            bucket.restore_object(key, params=params)
        except oss2.exceptions.OssError as error:
            if getattr(error, "code", "") != "RestoreAlreadyInProgress":
                raise translate_oss_error(error, name) from error
        if not wait:
            return
        started = time.monotonic()
        while True:
            try:
                headers = bucket.head_object(key, params=params).headers
            except oss2.exceptions.OssError as error:
                raise translate_oss_error(error, name) from error
            if is_restored(headers):
                if callback:
                    callback(f"{name}: restored")
                return
            waited = time.monotonic() - started
            if callback:
                callback(f"{name}: restoring ({waited:.0f} s)")
            if timeout is not None and waited >= timeout:
                raise ObjectNotRestoredError(f"{name}: still restoring after {waited:.0f} s")
            if sleep_polling(poll_interval, lambda: cancel is not None and cancel.is_set(), 0.1):
                raise DownloadCancelledError(f"{name}: waiting for the restore: cancelled")


class _StopEvent(threading.Event):
    """An event of our own that also reads as set once the caller's ``cancel`` is.

    The engine only asks ``is_set()`` (it polls), so the caller's event is
    followed without a watcher thread, and ``set()`` never touches it.
    """

    def __init__(self, outer: threading.Event | None) -> None:
        super().__init__()
        self._outer = outer

    def is_set(self) -> bool:
        return super().is_set() or (self._outer is not None and self._outer.is_set())


def _is_directory_entry(rpath: str, info: dict[str, Any] | None) -> bool:
    """A listed "directory": a prefix, or a key ending in "/" (a folder marker object)."""
    return trailing_sep(rpath) or (info is not None and info.get("type") == "directory")


def ensure_within(root: str, paths: list[str]) -> None:
    """Refuse destination paths that resolve outside ``root``.

    Local names are built from listed keys; a key holding ``..`` segments (or
    reaching a symlink that leaves the tree) must never write above ``root``.
    """
    base = os.path.realpath(root)
    for path in paths:
        resolved = os.path.realpath(path)
        if resolved != base and os.path.commonpath([base, resolved]) != base:
            raise PermissionError(
                f"refusing to write {path!r}: it resolves to {resolved!r}, outside {root!r}"
            )


__all__ = ["ResumableOSSFileSystem", "ensure_within"]
