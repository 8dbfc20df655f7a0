"""The download half of ``ResumableOSSFileSystem``: ``get_file``, ``get``, ``restore``.

Each object lands through the engine (parallel parts, a journal, CRC-64
verification, an atomic rename); ``get`` expands paths as fsspec does and
runs small files several at a time beside large ones (:mod:`get_many`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fsspec.callbacks import DEFAULT_CALLBACK, Callback
from fsspec.implementations.local import trailing_sep
from fsspec.utils import isfilelike

from oss_resumable_fs.config import TransferConfig, check_option_names
from oss_resumable_fs.engine.source import RangeSource
from oss_resumable_fs.engine.transfer import (
    DownloadResult,
    Scheduler,
    download,
    journal_path_for,
)
from oss_resumable_fs.errors import InvalidArgumentError, ObjectNotFoundError
from oss_resumable_fs.get_many import check_on_error, get_tree, listed_infos
from oss_resumable_fs.restore import restore_and_wait, restore_if_needed
from oss_resumable_fs.results import GetResult
from oss_resumable_fs.sources.oss import ListedVersion, OSSRangeSource
from oss_resumable_fs.sources.redact import redact

if TYPE_CHECKING:
    from oss_resumable_fs.sources.client import OSSClient

__all__ = ["OPTION_HINTS", "DownloadMethods", "download_into_fileobj", "listed_version"]

#: Names users bring from other libraries, and ours for them.
OPTION_HINTS = {"max_concurrency": "concurrency", "multipart_chunksize": "part_size"}


class DownloadMethods:
    """Mixed into ``ResumableOSSFileSystem``; uses its client and transfer settings."""

    client: OSSClient
    transfer_config: TransferConfig
    file_concurrency: int

    def get_file(  # type: ignore[override]
        self,
        rpath: str,
        lpath: str | os.PathLike[str] | None = None,
        callback: Callback = DEFAULT_CALLBACK,
        outfile: Any = None,
        *,
        version_id: str | None = None,
        restore: bool = False,
        cancel: threading.Event | None = None,
        **transfer_options: Any,
    ) -> DownloadResult | None:
        """Download one object to ``lpath``: parallel parts, checkpointed, verified.

        Returns the :class:`DownloadResult` (``None`` for a directory).
        ``transfer_options`` are :class:`TransferConfig` fields for this call
        (``part_size``, ``concurrency``, ``checkpoint_dir``...). With
        ``restore=True`` an Archive / Cold Archive object is restored first and
        the call waits for the restore to finish.
        """
        config = self._config_for("get_file", transfer_options, ("version_id", "restore", "cancel"))
        return self._get_file(
            rpath,
            lpath,
            callback,
            outfile,
            config,
            version_id=version_id,
            restore=restore,
            cancel=cancel,
        )

    def _get_file(
        self,
        rpath: str,
        lpath: str | os.PathLike[str] | None,
        callback: Callback,
        outfile: Any,
        config: TransferConfig,
        *,
        version_id: str | None = None,
        restore: bool = False,
        cancel: threading.Event | None = None,
        scheduler: Scheduler | None = None,
        listed: Mapping[str, Any] | None = None,
    ) -> DownloadResult | None:
        """:meth:`get_file` with its settings resolved, on ``scheduler``'s connections
        when given (those of a whole ``get``). ``listed`` is the object's entry in
        the listing ``get`` just made: a small object then needs no HEAD."""
        if outfile is None and isfilelike(lpath):
            outfile, lpath = lpath, None
        bucket, key = self.split_path(rpath)
        if outfile is None and lpath is not None and trailing_sep(self._strip_protocol(rpath)):
            # "dir/": a directory, or the folder marker the OSS console makes (never a file).
            if not key:
                self.client.has_keys_under(bucket, "")  # a missing or refused bucket says so
            elif self.info(rpath)["type"] != "directory":
                raise ObjectNotFoundError(f"oss://{bucket}/{key}: no such directory")
            os.makedirs(lpath, exist_ok=True)
            return None
        source = self.range_source(rpath, version_id)
        if restore:
            skip_to = os.fspath(lpath) if config.skip_identical and lpath is not None else None
            restore_if_needed(self.client, bucket, key, version_id, cancel, local_copy=skip_to)
        if outfile is not None:
            return download_into_fileobj(source, outfile, config, callback, cancel)
        if lpath is None:
            raise InvalidArgumentError("get_file needs a local path or an outfile")
        lpath = os.fspath(lpath)
        version = listed_version(listed, lpath, config) if version_id is None else None
        if version is not None:
            source = OSSRangeSource(self.client, bucket, key, listed=version)
        elif scheduler is None and not restore and nothing_there_yet(lpath, config):
            # One checkpoint record: a smaller object comes whole in one request; of a
            # larger one, these bytes are exactly its first part (none thrown away).
            first = config.resolve_record_size(0)
            source = OSSRangeSource(
                self.client, bucket, key, version_id=version_id, first_request=first
            )
        try:
            return download(
                source, lpath, config, progress=callback, cancel=cancel, scheduler=scheduler
            )
        except (ObjectNotFoundError, IsADirectoryError):
            # A prefix ("directory") rather than an object; or its local directory
            # exists already (a second ``get`` of the same tree).
            if not self._is_listed_directory(rpath):
                raise
            os.makedirs(lpath, exist_ok=True)
            return None
        finally:
            source.close()  # a GET's answer that no read took (a skip, an error)

    def _is_listed_directory(self, rpath: str) -> bool:
        """Whether ``rpath`` is a prefix with keys under it, or a bucket.

        A listing that fails after its retries raises; a refusal or no such bucket
        leaves the download's own error to be reported.
        """
        bucket, key = self.split_path(rpath)
        try:
            return not key.strip("/") or self.client.has_keys_under(bucket, key.rstrip("/") + "/")
        except (FileNotFoundError, PermissionError):
            return False  # the download's own error is the one to report

    def get(  # type: ignore[override]
        self,
        rpath: str | list[str],
        lpath: str | list[str],
        recursive: bool = False,
        callback: Callback = DEFAULT_CALLBACK,
        maxdepth: int | None = None,
        *,
        batch_size: int | None = None,
        cancel: threading.Event | None = None,
        restore: bool = False,
        on_error: str = "raise",
        **transfer_options: Any,
    ) -> GetResult:
        """Download many objects: small ones several at a time, large ones in parallel parts.

        Paths are expanded exactly as fsspec does; a listed key containing ``..``
        can never place a file outside ``lpath``. ``batch_size`` (fsspec's name)
        is how many small files run at once (default ``file_concurrency``).
        Returns a :class:`GetResult`: each file's outcome, and the totals.
        ``on_error``: ``"raise"`` (the first error stops every file and is
        raised), ``"return"`` (every file is tried; failures are in the result,
        with their typed errors) or ``"omit"`` (the same, failures left out).
        A re-run of an unfinished ``get`` skips the files it landed (see :mod:`jobs`).
        """
        # A misspelling fails here, before any request.
        check_on_error(on_error)
        own = ("batch_size", "restore", "cancel", "on_error")
        config = self._config_for("get", transfer_options, own)

        def get_one(
            remote: str, local: str, *, listed: Mapping[str, Any] | None, **options: Any
        ) -> DownloadResult | None:
            callback = options.pop("callback")
            return self._get_file(
                remote, local, callback, None, config, **options, restore=restore, listed=listed
            )

        return get_tree(
            self,
            rpath,
            lpath,
            get_one,
            recursive=recursive,
            maxdepth=maxdepth,
            config=config,
            callback=callback,
            file_concurrency=batch_size or self.file_concurrency,
            cancel=cancel,
            on_error=on_error,
            redact=redact,
        )

    def _config_for(
        self, where: str, options: dict[str, Any], own: tuple[str, ...]
    ) -> TransferConfig:
        """The transfer settings for one call: the defaults with ``options`` applied.

        ``own`` are the call's other keyword names, so that a misspelling of one
        of them is pointed at it.
        """
        check_option_names(options, (*TransferConfig.field_names(), *own), where, OPTION_HINTS)
        return self.transfer_config.replace(**options)

    def _infos(self, paths: Any) -> dict[str, dict[str, Any] | None]:
        """Each path's entry, from the listings ``expand_path`` just cached."""
        return listed_infos(self, paths)

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

        ``callback`` receives a short status line at each poll; ``timeout``
        (seconds) bounds the wait; setting ``cancel`` ends the wait with
        :class:`DownloadCancelledError` (the restore itself goes on in OSS).
        """
        bucket, key = self.split_path(path)
        restore_and_wait(
            self.client,
            bucket,
            key,
            wait=wait,
            poll_interval=poll_interval,
            timeout=timeout,
            callback=callback,
            version_id=version_id,
            cancel=cancel,
        )


def listed_version(
    listed: Mapping[str, Any] | None, lpath: str, config: TransferConfig
) -> ListedVersion | None:
    """The listed version a small object's one GET is pinned to, instead of a HEAD.

    ``None`` (a HEAD first, as ever) for a large object, whose checkpoint keeps
    the HEAD's identity; for an Archive object, whose HEAD tells whether it
    needs a restore; and with ``skip_identical`` when a local file of the listed
    size is there, whose CRC-64 must be compared before any byte is fetched.
    """
    version = ListedVersion.from_entry(listed)
    if version is None or version.size >= config.single_request_threshold:
        return None
    if config.skip_identical:
        try:
            if os.stat(lpath).st_size == version.size:
                return None
        except OSError:
            pass  # no local file: nothing to compare
    return version


def nothing_there_yet(lpath: str, config: TransferConfig) -> bool:
    """Whether a download to ``lpath`` starts from nothing: no file to compare with
    (``skip_identical``) and no checkpoint to resume. A lone ``get_file``'s first
    request can then be a GET of the object's first bytes rather than a HEAD: they
    are needed anyway. (A ``get`` keeps its HEADs: a large file's answer, held
    until a connection of the shared pool takes its first part, would be one
    connection beyond the budget.)"""
    if config.skip_identical and os.path.lexists(lpath):
        return False
    return not os.path.lexists(journal_path_for(lpath, config))


def download_into_fileobj(
    source: RangeSource,
    outfile: Any,
    config: TransferConfig,
    callback: Callback,
    cancel: threading.Event | None,
) -> DownloadResult:
    """Download ``source`` into the file object ``outfile`` (``get_file(..., outfile=f)``).

    The engine lands a verified file; a file object gets a copy of it. The
    journal stays in the scratch directory too: nothing to resume, nothing left.
    """
    with tempfile.TemporaryDirectory(prefix="ossr-") as scratch:
        landed = os.path.join(scratch, "object")
        journal = os.path.join(scratch, "object.ossr-journal")
        result = download(
            source, landed, config, progress=callback, cancel=cancel, journal_path=journal
        )
        with open(landed, "rb") as data:
            shutil.copyfileobj(data, outfile, length=config.buffer_size)
    return result
