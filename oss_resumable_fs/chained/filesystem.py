"""``resumable::PROTO://...``: our downloads over any fsspec filesystem.

``get_file`` / ``get`` run the engine (parallel ranges, a checkpoint journal,
resume after a crash, verification, atomic landing) on a target filesystem;
everything else (``ls``, ``info``, ``open``, ``cat``, writes...) is the
target's own. How each backend is pinned and verified:
:mod:`oss_resumable_fs.chained.sources`.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from typing import Any

import fsspec
from fsspec.callbacks import DEFAULT_CALLBACK, Callback
from fsspec.implementations.chained import ChainedFileSystem
from fsspec.implementations.local import trailing_sep
from fsspec.utils import isfilelike

from oss_resumable_fs.chained import s3
from oss_resumable_fs.chained.sources import is_http, new_http_session, range_source
from oss_resumable_fs.config import TransferConfig, check_option_names
from oss_resumable_fs.engine.transfer import DownloadResult, Scheduler, download
from oss_resumable_fs.errors import InvalidArgumentError, ObjectNotFoundError
from oss_resumable_fs.fs_downloads import OPTION_HINTS, download_into_fileobj
from oss_resumable_fs.get_many import check_on_error, get_tree
from oss_resumable_fs.results import GetResult
from oss_resumable_fs.sources.redact import redact

__all__ = ["DELEGATED", "ResumableFileSystem"]

log = logging.getLogger(__name__)

PROTOCOL = "resumable"
_PREFIXES = (f"{PROTOCOL}::", f"{PROTOCOL}://")
#: fsspec's own constructor options, passed on to ``AbstractFileSystem``.
_FSSPEC_OPTIONS = ("use_listings_cache", "listings_expiry_time", "max_paths")
#: Methods that are the target filesystem's, unchanged (paths may carry ``resumable::``).
DELEGATED = (
    "ls", "info", "exists", "lexists", "isdir", "isfile", "find", "glob", "walk", "du",
    "size", "sizes", "expand_path", "open", "cat", "cat_file", "cat_ranges", "read_block",
    "head", "tail", "read_bytes", "read_text", "checksum", "ukey", "modified", "created",
    "sign", "pipe", "pipe_file", "put", "put_file", "write_bytes", "write_text", "touch",
    "rm", "rm_file", "rmdir", "mkdir", "makedirs", "mv", "copy", "cp_file",
    "invalidate_cache",
)  # fmt: skip


class ResumableFileSystem(ChainedFileSystem):
    """Any fsspec filesystem, with parallel, checkpointed, resumable, verified downloads.

    Made like fsspec's caching filesystems: ``target_protocol`` and
    ``target_options`` (the target's constructor options), or a ready ``fs``.
    From a URL, ``fsspec.open("resumable::s3://bucket/key", s3={...})`` or
    ``url_to_fs`` build it, the target's options under its protocol's name.

    ``get_file`` / ``get`` go through the engine, with the same options and
    results as ``ResumableOSSFileSystem``'s: any :class:`TransferConfig` field
    (``part_size``, ``concurrency``, ``checkpoint_dir``...) as a default here or
    per call, fsspec callbacks, ``on_error``, ``cancel``; ``file_concurrency``
    (fsspec's ``batch_size``) small files at once. Every other method is the
    target's. ``allow_unpinned=True`` accepts files whose ``info`` shows no
    identity (no ETag, checksum, version or mtime): they are then checked by
    size alone, and a resume cannot tell if they changed. Unknown options raise
    :class:`UnknownOptionError`.
    """

    protocol = (PROTOCOL,)
    _strip_tokenize_options = ("fo",)

    def __init__(
        self,
        target_protocol: str | None = None,
        target_options: dict[str, Any] | None = None,
        fs: fsspec.AbstractFileSystem | None = None,
        *,
        transfer_config: TransferConfig | None = None,
        file_concurrency: int = 16,
        batch_size: int | None = None,
        allow_unpinned: bool = False,
        fo: str | None = None,  # the path url_to_fs hands a chained filesystem: unused
        **options: Any,
    ) -> None:
        config_options, rest = TransferConfig.split_options(options)
        fsspec_options = {k: rest.pop(k) for k in list(rest) if k in _FSSPEC_OPTIONS}
        own = ("target_protocol", "target_options", "fs", "transfer_config", "file_concurrency")
        known = (*own, "batch_size", "allow_unpinned", *_FSSPEC_OPTIONS)
        check_option_names(rest, (*known, *TransferConfig.field_names()), PROTOCOL, OPTION_HINTS)
        if (fs is None) == (target_protocol is None):
            raise InvalidArgumentError(
                "resumable needs the filesystem to download from: target_protocol "
                "(with target_options) or fs, not both"
            )
        super().__init__(**fsspec_options)
        self.transfer_config = (transfer_config or TransferConfig()).replace(**config_options)
        self.file_concurrency = batch_size or file_concurrency
        if self.file_concurrency < 1:
            raise InvalidArgumentError("file_concurrency must be at least 1")
        self.allow_unpinned = allow_unpinned
        if fs is None:
            assert target_protocol is not None
            ceiling = self.transfer_config.connection_ceiling() + self.file_concurrency
            target = s3.tune_options(target_protocol, target_options or {}, ceiling)
            fs = fsspec.filesystem(target_protocol, **target)
        self.fs = fs
        self._session_lock = threading.Lock()
        self._http_session: Any = None
        self._session_pid = 0

    @property
    def http_session(self) -> Any:
        """The ``requests.Session`` of an HTTP(S) target's downloads; a new one in a
        forked child (``None`` for other targets)."""
        if not is_http(self.fs):
            return None
        with self._session_lock:
            if self._http_session is None or self._session_pid != os.getpid():
                ceiling = self.transfer_config.connection_ceiling() + self.file_concurrency
                self._http_session = new_http_session(ceiling)
                self._session_pid = os.getpid()
            return self._http_session

    @property
    def target_protocol(self) -> str:
        protocol = self.fs.protocol
        return str(protocol if isinstance(protocol, str) else protocol[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target_protocol!r})"

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """``resumable::s3://b/k`` -> ``s3://b/k`` (the target strips its own protocol)."""
        if isinstance(path, str):
            for prefix in _PREFIXES:
                if path.startswith(prefix):
                    return path[len(prefix) :]
        elif isinstance(path, (list, tuple)):
            return [cls._strip_protocol(p) for p in path]
        return path

    def unstrip_protocol(self, name: str) -> str:
        return f"{PROTOCOL}::{self.fs.unstrip_protocol(name)}"

    # -- downloads ---------------------------------------------------------------------

    def get_file(  # type: ignore[override]
        self,
        rpath: str,
        lpath: str | os.PathLike[str] | None = None,
        callback: Callback = DEFAULT_CALLBACK,
        outfile: Any = None,
        *,
        cancel: threading.Event | None = None,
        **transfer_options: Any,
    ) -> DownloadResult | None:
        """Download one file to ``lpath``: parallel ranges, checkpointed, verified.

        Returns the :class:`DownloadResult` (``None`` for a directory); its
        ``verified`` says what vouched for the bytes (CRC-64, MD5, or size only).
        ``transfer_options`` are :class:`TransferConfig` fields for this call.
        """
        config = self._config_for("get_file", transfer_options, ("cancel",))
        return self._get_file(rpath, lpath, callback, outfile, config, cancel=cancel)

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
        on_error: str = "raise",
        **transfer_options: Any,
    ) -> GetResult:
        """Download many files: small ones several at a time, large ones in parallel ranges.

        Paths are expanded as fsspec does, on the target's listings; a listed
        key holding ``..`` never places a file outside ``lpath``. ``on_error``:
        ``"raise"``, ``"return"`` or ``"omit"``, as ``ResumableOSSFileSystem.get``.
        A re-run of an unfinished ``get`` skips the files it landed.
        """
        check_on_error(on_error)
        config = self._config_for("get", transfer_options, ("batch_size", "cancel", "on_error"))

        def get_one(remote: str, local: str, *, listed: Any, **options: Any) -> Any:
            callback = options.pop("callback")
            return self._get_file(remote, local, callback, None, config, **options)

        return get_tree(
            _Listings(self.fs),
            self._strip_protocol(rpath),
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
            scheme=self._scheme(rpath),
        )

    def _scheme(self, rpath: str | list[str]) -> str:
        """The target's URL scheme, as ``oss-resumable status`` names the job's source."""
        first = rpath if isinstance(rpath, str) else (rpath[0] if rpath else "")
        first = first.removeprefix(f"{PROTOCOL}::")
        if "://" in first:
            return first.split("://", 1)[0]
        protocol = self.fs.protocol
        return protocol if isinstance(protocol, str) else protocol[0]

    def _get_file(
        self,
        rpath: str,
        lpath: str | os.PathLike[str] | None,
        callback: Callback,
        outfile: Any,
        config: TransferConfig,
        *,
        cancel: threading.Event | None = None,
        scheduler: Scheduler | None = None,
    ) -> DownloadResult | None:
        if outfile is None and isfilelike(lpath):
            outfile, lpath = lpath, None
        path = self._strip_protocol(rpath)
        if outfile is None and lpath is not None and trailing_sep(path):
            if not self._is_directory(path):
                raise ObjectNotFoundError(f"{path}: no such directory", target=path)
            os.makedirs(lpath, exist_ok=True)
            return None
        source = range_source(
            self.fs,
            path,
            config,
            allow_unpinned=self.allow_unpinned,
            http_session=self.http_session,
            destination=None if lpath is None else os.fspath(lpath),
        )
        try:
            if outfile is not None:
                result = download_into_fileobj(source, outfile, config, callback, cancel)
            elif lpath is None:
                raise InvalidArgumentError("get_file needs a local path or an outfile")
            else:
                result = download(
                    source, lpath, config, progress=callback, cancel=cancel, scheduler=scheduler
                )
        except (FileNotFoundError, IsADirectoryError):
            # A prefix ("directory") rather than a file; or its local directory
            # exists already (a second get of the same tree).
            if lpath is None or not self._is_directory(path):
                raise
            os.makedirs(lpath, exist_ok=True)
            return None
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        if result.verified is not None:
            log.info("%s: %s", source.name, result.verified.describe())
        return result

    def _is_directory(self, path: str) -> bool:
        try:
            return bool(self.fs.isdir(path))
        except (FileNotFoundError, PermissionError):
            return False  # the download's own error is the one to report

    def _config_for(
        self, where: str, options: dict[str, Any], own: tuple[str, ...]
    ) -> TransferConfig:
        check_option_names(options, (*TransferConfig.field_names(), *own), where, OPTION_HINTS)
        return self.transfer_config.replace(**options)


class _Listings:
    """The target as ``get`` plans on it (:func:`~oss_resumable_fs.paths.expand_get_pairs`).

    ``get`` asks for listings that fail loudly (``on_error="raise"``): a listing
    error must fail the ``get``, not leave a subtree out. fsspec's async
    filesystems take no ``on_error`` in ``expand_path``; s3fs and gcsfs list a
    tree with one flat listing, which raises anyway.
    """

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self.dircache = fs.dircache
        self._strip_protocol = fs._strip_protocol
        self._on_error = _takes(fs.expand_path, "on_error")

    def expand_path(self, path: Any, recursive: bool, maxdepth: int | None, **kwargs: Any) -> Any:
        if not self._on_error:
            kwargs.pop("on_error", None)
        return self.fs.expand_path(path, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def isdir(self, path: str) -> bool:
        return bool(self.fs.isdir(path))

    def info(self, path: str, **kwargs: Any) -> Any:
        return self.fs.info(path, **kwargs)


def _takes(function: Any, name: str) -> bool:
    """Whether ``function`` accepts the keyword argument ``name``."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def _delegate(name: str) -> Any:
    def method(self: ResumableFileSystem, *args: Any, **kwargs: Any) -> Any:
        args = tuple(self._strip_protocol(a) if isinstance(a, str) else a for a in args)
        return getattr(self.fs, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"The target filesystem's ``{name}``."
    return method


for _name in DELEGATED:
    setattr(ResumableFileSystem, _name, _delegate(_name))
