"""``get`` of many objects: small ones several at a time beside large ones in parts,
all on the connections of one scheduler (see :mod:`oss_resumable_fs.engine.scheduler`).

One error, a cancel or Ctrl-C stops every download of the call, and the
first file that failed is the error raised (not the ones it stopped).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from fsspec.callbacks import Callback

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.pool import Coordinator
from oss_resumable_fs.engine.scheduler import Scheduler
from oss_resumable_fs.engine.transfer import Downloader
from oss_resumable_fs.errors import DownloadCancelledError, InvalidArgumentError
from oss_resumable_fs.jobs import Job, get_job
from oss_resumable_fs.paths import expand_get_pairs, is_directory_entry
from oss_resumable_fs.progress import TransferProgress
from oss_resumable_fs.results import FileOutcome, GetResult

__all__ = [
    "ON_ERROR",
    "SMALL_FILE",
    "StopEvent",
    "check_on_error",
    "get_pairs",
    "get_tree",
    "listed_infos",
]

log = logging.getLogger(__name__)

#: The listed type of a key that is both an object and a prefix.
CONFLICT = "object and prefix"

#: fsspec's names for what to do when one file fails.
ON_ERROR = ("raise", "return", "omit")

#: Files smaller than this are open ``file_concurrency`` at a time in ``get``;
#: larger ones :data:`LARGE_FILES_AT_ONCE` at a time. All share one scheduler.
SMALL_FILE = 64 * 1024 * 1024
LARGE_FILES_AT_ONCE = 2

GetFile = Callable[..., Any]


def get_tree(
    fs: Any,
    rpath: str | list[str],
    lpath: str | list[str],
    get_one: GetFile,
    *,
    recursive: bool,
    maxdepth: int | None,
    config: TransferConfig,
    callback: Callback,
    file_concurrency: int,
    cancel: threading.Event | None,
    on_error: str,
    redact: Callable[[str], str] = str,
    scheme: str = "oss",
) -> GetResult:
    """An fsspec ``get`` of ``rpath`` into ``lpath`` on the listings of ``fs``.

    Paths are expanded exactly as fsspec does, and no listed key can place a
    file outside ``lpath`` (:func:`~oss_resumable_fs.paths.expand_get_pairs`);
    the files run as a job (:mod:`~oss_resumable_fs.jobs`: a re-run skips what
    an earlier one landed) on the connections of one scheduler, within
    ``config``'s budgets. ``get_one(remote, local, callback=, cancel=,
    scheduler=, listed=)`` downloads one file; ``listed`` is its listing entry.
    """
    check_on_error(on_error)
    pairs = expand_get_pairs(fs, rpath, lpath, recursive, maxdepth)
    infos = listed_infos(fs, (remote for remote, _ in pairs))
    with (
        get_job(rpath, lpath, pairs, infos, config.checkpoint_dir, redact, scheme) as job,
        Downloader(config).scheduler() as scheduler,
    ):
        # Every file on one pool of connections, within one budget.
        def one(remote: str, local: str, **options: Any) -> Any:
            return get_one(remote, local, scheduler=scheduler, listed=infos.get(remote), **options)

        return get_pairs(
            pairs,
            infos,
            one,
            callback=callback,
            file_concurrency=file_concurrency,
            cancel=cancel,
            options={},
            on_error=on_error,
            job=job,
            scheduler=scheduler,
            one_request_below=config.single_request_threshold,
        )


def listed_infos(fs: Any, paths: Any) -> dict[str, dict[str, Any] | None]:
    """Each path's entry, from the listings ``expand_path`` just cached in ``fs.dircache``;
    ``None`` if gone.

    One index of every cached listing, not ``info`` per path: that scans the
    parent's listing each time, quadratic in a flat directory of many files.
    """
    listed: dict[str, dict[str, Any]] = {}
    for entries in list(fs.dircache.values()):
        for entry in entries:
            known = listed.setdefault(entry["name"], entry)
            if known.get("type") != entry.get("type"):
                # "d/sub" is an object and "d/sub/" a prefix: one local path cannot
                # be both a file and a directory.
                listed[entry["name"]] = {**entry, "type": CONFLICT}
    infos: dict[str, dict[str, Any] | None] = {}
    for path in paths:
        name = fs._strip_protocol(path).strip("/")
        if name in listed:
            infos[path] = listed[name]
            continue
        try:
            infos[path] = fs.info(path)
        except OSError:  # gone since the listing: get_file will say so
            infos[path] = None
    return infos


def get_pairs(
    pairs: list[tuple[str, str]],
    infos: dict[str, dict[str, Any] | None],
    get_file: GetFile,
    *,
    callback: Callback,
    file_concurrency: int,
    cancel: threading.Event | None,
    options: dict[str, Any],
    on_error: str = "raise",
    job: Job | None = None,
    scheduler: Scheduler,
    one_request_below: int = SMALL_FILE,
) -> GetResult:
    """Download each (remote, local) pair with ``get_file(remote, local, callback=, cancel=)``.

    ``callback`` follows fsspec's convention (one unit per file, a branch per
    file) unless it is a :class:`~oss_resumable_fs.progress.TransferProgress`,
    which counts the bytes of all files and the files done.

    ``on_error`` as fsspec spells it: ``"raise"`` stops every file at the first
    error and raises it; ``"return"`` tries every file and lists the failures
    (with their typed errors) in the result; ``"omit"`` tries every file and
    leaves the failures out of it. A cancel or Ctrl-C stops everything anyway.

    ``job`` (:mod:`oss_resumable_fs.jobs`), if given, is asked before each file
    whether an earlier run landed it already, and told each file's outcome.
    """
    if on_error not in ON_ERROR:
        raise InvalidArgumentError(
            f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}"
        )
    started = time.monotonic()
    conflicts = [(r, lp) for r, lp in pairs if (infos.get(r) or {}).get("type") == CONFLICT]
    if conflicts and on_error == "raise":
        raise _conflict_error(*conflicts[0])
    pairs = [pair for pair in pairs if pair not in conflicts]
    directories = [(r, lp) for r, lp in pairs if is_directory_entry(r, infos.get(r))]
    listed_dirs = {r for r, _ in directories}
    files = [(r, lp) for r, lp in pairs if r not in listed_dirs]
    sizes = {r: int((infos.get(r) or {}).get("size") or 0) for r, _ in files}
    counts_bytes = isinstance(callback, TransferProgress)
    callback = GuardedCallback(callback)
    if counts_bytes:
        callback.start_files(len(files), sum(sizes.values()))
    else:
        callback.set_size(len(pairs))
    outcomes: dict[tuple[str, str], FileOutcome] = {}
    for remote, local in conflicts:
        error = _conflict_error(remote, local)
        outcomes[remote, local] = FileOutcome(
            remote, local, "failed", error=str(error), exception=error
        )
        if job is not None:
            job.record(outcomes[remote, local])
    # Directories first, here: made by a worker beside the files, a directory
    # could appear under a download of its "directory" entry (IsADirectoryError),
    # and a folder marker object ("dir/") must not land as a file.
    for remote, local in directories:
        os.makedirs(local, exist_ok=True)
        outcomes[remote, local] = FileOutcome(remote, local, "directory")
        if not counts_bytes:
            callback.relative_update(1)
    # One request each (below the single-request threshold), or in parts.
    whole_below = min(SMALL_FILE, one_request_below)
    small = [(r, lp) for r, lp in files if sizes[r] < whole_below]
    medium = [(r, lp) for r, lp in files if whole_below <= sizes[r] < SMALL_FILE]
    large = [(r, lp) for r, lp in files if sizes[r] >= SMALL_FILE]
    finished = threading.Lock()
    # The caller's own cancel event is only read, never set: it may be shared.
    stop = StopEvent(cancel)
    errors: list[BaseException] = []

    def fetch(pair: tuple[str, str]) -> None:
        remote, local = pair
        if stop.is_set():  # before any request (a queued restore would be billed)
            raise DownloadCancelledError(f"get stopped before {remote} was fetched", target=remote)
        try:
            child = callback.branched(remote, local)
            try:
                # A file an earlier run of this job landed, unchanged since: no request.
                result = job.skip(remote, local, child) if job is not None else None
                if result is None:
                    result = get_file(remote, local, callback=child, cancel=stop, **options)
            finally:
                GuardedCallback(child).close()
        except DownloadCancelledError:
            raise  # stopped by the caller, or by another file's error (raised instead)
        except Exception as exc:
            with finished:
                outcomes[pair] = FileOutcome(remote, local, "failed", error=str(exc), exception=exc)
                if job is not None:
                    job.record(outcomes[pair])
                if on_error != "raise":
                    _count_done(callback, counts_bytes, outcomes[pair])
                    return  # the others go on
                errors.append(exc)
            stop.set()
            raise
        except BaseException as exc:  # Ctrl-C in the caller's thread: stop everything
            with finished:
                errors.append(exc)
            stop.set()
            raise
        with finished:
            status = "directory" if result is None else result.status
            outcomes[pair] = FileOutcome(remote, local, status, result)
            if job is not None:
                job.record(outcomes[pair])
            _count_done(callback, counts_bytes, outcomes[pair])

    # Every byte goes over the connections of one scheduler. A file fetched with
    # one request is one of its tasks, run whole on the connection that takes it
    # (no thread of its own), `file_concurrency` at once. Files in parts queue
    # their parts from threads of their own: `file_concurrency` at once, large
    # ones two, so that the next one's parts are queued while the last parts of
    # the one before are still arriving, and their parts fill the connections.
    large_pool = ThreadPoolExecutor(LARGE_FILES_AT_ONCE, thread_name_prefix="ossr-get-large")
    medium_pool = ThreadPoolExecutor(file_concurrency, thread_name_prefix="ossr-get")
    futures = []
    try:
        futures = [large_pool.submit(fetch, pair) for pair in large]
        futures += [medium_pool.submit(fetch, pair) for pair in medium]
        small_files = Coordinator(stop, "get was cancelled; run it again to resume")
        scheduler.run(small_files, small, lambda pair, _: fetch(pair), limit=file_concurrency)
        wait(futures)
    except Exception:
        stop.set()
        if not errors:
            raise
    except BaseException:  # Ctrl-C: stop the large files too
        stop.set()
        raise
    finally:
        large_pool.shutdown(wait=True, cancel_futures=True)
        medium_pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        raise errors[0]
    for future in futures:
        future.result()  # a cancel by the caller
    ordered = tuple(outcomes[pair] for pair in [*conflicts, *pairs] if pair in outcomes)
    if on_error == "omit":
        ordered = tuple(outcome for outcome in ordered if outcome.status != "failed")
    return GetResult(ordered, time.monotonic() - started)


def _conflict_error(remote: str, local: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{remote} is both an object and a prefix (a directory): it cannot land at {local} "
        "as both; download the object and the prefix separately",
        target=remote,
    )


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise InvalidArgumentError(
            f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}"
        )


def _count_done(callback: Any, counts_bytes: bool, outcome: FileOutcome) -> None:
    if counts_bytes:
        callback.file_done(outcome)
    else:
        callback.relative_update(1)


class GuardedCallback:
    """A caller's callback whose failures are logged once and then ignored.

    A progress display that raises is a display's bug: it must not fail a
    ``get`` (nor mark files failed). Child callbacks are guarded by the engine.
    """

    def __init__(self, callback: Any) -> None:
        self._callback: Any = callback

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._callback, name) if self._callback is not None else None

        def call(*args: Any, **kwargs: Any) -> Any:
            if method is None:
                return None
            try:
                return method(*args, **kwargs)
            except Exception:
                log.warning(
                    "progress callback %r failed; no more progress shown",
                    self._callback,
                    exc_info=True,
                )
                self._callback = None
                return None

        return call

    def branched(self, path_1: str, path_2: str) -> Callback:
        child = self.__getattr__("branched")(path_1, path_2)
        return child if isinstance(child, Callback) else Callback()


class StopEvent(threading.Event):
    """An event of our own that also reads as set once the caller's ``cancel`` is.

    The engine only asks ``is_set()`` (it polls), so the caller's event is
    followed without a watcher thread, and ``set()`` never touches it.
    """

    def __init__(self, outer: threading.Event | None) -> None:
        super().__init__()
        self._outer = outer

    def is_set(self) -> bool:
        return super().is_set() or (self._outer is not None and self._outer.is_set())
