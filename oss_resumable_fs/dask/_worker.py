"""What runs on a dask worker for one object of ``get_many``.

A task receives plain data only (a :class:`Job`, the storage options, the
transfer options and, optionally, a ``distributed.Semaphore``, which pickles
by name), builds the filesystem there (fsspec caches the instance in the
worker process, one per worker thread), takes its connection leases and runs
``get_file``. It never receives a live connection or filesystem.

**Stopping.** dask cannot interrupt a running task, so a task stops itself
once it is cancelled (Ctrl-C in the client, ``client.cancel``, the client
gone): it reads its own state on its worker (``get_worker().state.tasks``,
local, no request) while it waits for a lease (``acquire`` with a timeout of
:data:`LEASE_POLL` seconds, in a loop) and while it downloads (the ``cancel``
event of ``get_file`` reads as set once the task is cancelled; the partial
file and its journal stay, to resume). The task's own state rather than an
event on the scheduler: nothing to create or clean up, and it also follows a
client that died without cancelling anything.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fsspec.callbacks import DEFAULT_CALLBACK

from oss_resumable_fs.dask._results import ObjectOutcome
from oss_resumable_fs.errors import DownloadCancelledError, ObjectNotRestoredError
from oss_resumable_fs.paths import ensure_within

__all__ = [
    "LEASE_POLL",
    "PERMANENT_ERRORS",
    "Job",
    "TaskFailed",
    "TaskStop",
    "connections_for",
    "fetch_object",
]

#: Seconds a task waits for a lease before it looks again whether it was cancelled.
LEASE_POLL = 1.0

#: Errors that another attempt cannot fix: reported as failed at once, never
#: retried by dask (a missing or refused object, a bad option, an unrestored
#: Archive object). Anything else (a transient failure that outlasted the
#: engine's own retries, a changed object, a lock held by a process that is
#: going away, a full disk on one worker) raises, so dask retries it.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ValueError,
    TypeError,
    ObjectNotRestoredError,
)


@dataclass(frozen=True)
class Job:
    """One object to fetch, and where to put it (paths as the workers see them)."""

    #: ``bucket/key``.
    remote: str
    #: Absolute destination path.
    local: str
    #: The destination root: ``local`` must resolve inside it on the worker too.
    root: str
    #: From the listing; ``None`` when the object was named in a list.
    size: int | None = None
    #: Listed as a directory (a prefix, no object): ``get_file`` makes the directory.
    directory: bool = False
    #: The listing's ETag and storage class: a small object's one GET is pinned
    #: to them instead of a HEAD first.
    etag: str | None = None
    storage_class: str | None = None

    def listed(self) -> dict[str, Any] | None:
        """The object's listing entry as ``get_file`` takes it; ``None`` if not listed."""
        if self.directory or self.size is None or self.etag is None:
            return None
        entry = {"type": "file", "size": self.size, "ETag": self.etag}
        if self.storage_class is not None:
            entry["StorageClass"] = self.storage_class
        return entry


class TaskFailed(Exception):
    """A retryable failure of one object, raised so that dask retries the task.

    Carries the failed :class:`ObjectOutcome` (plain data, picklable) rather
    than the original exception, whose class or fields the client may not be
    able to rebuild.
    """

    def __init__(self, outcome: ObjectOutcome) -> None:
        super().__init__(outcome)
        self.outcome = outcome

    def __str__(self) -> str:
        return f"oss://{self.outcome.remote}: {self.outcome.error}"


def connections_for(size: int, config: Any, per_object: int) -> int:
    """Connections one object of ``size`` bytes uses: 0 (empty), 1 (one GET), or its parts'."""
    if size == 0:
        return 0
    if size < config.single_request_threshold:
        return 1
    parts = math.ceil(size / config.resolve_part_size(size))
    return max(1, min(per_object, parts))


class TaskStop(threading.Event):
    """An event that also reads as set once the dask task running it is cancelled.

    Given to ``get_file(cancel=...)``: the engine only asks ``is_set()`` (it
    polls), and this asks the worker's own record of the task, no request.
    Outside a dask task it is a plain event.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cancelled = _task_cancelled_probe()

    def is_set(self) -> bool:
        return super().is_set() or self._cancelled()


def _task_cancelled_probe() -> Callable[[], bool]:
    """A function telling whether the task running in this thread was cancelled."""
    try:
        from distributed import get_worker

        worker = get_worker()
        key = worker.get_current_task()
    except (ImportError, ValueError, KeyError):  # not inside a dask task
        return lambda: False

    def cancelled() -> bool:
        # "cancelled": the scheduler no longer wants the result (the key is
        # released while the task still runs); "resumed" means wanted again.
        task = worker.state.tasks.get(key)
        return task is None or task.state in ("cancelled", "released", "forgotten")

    return cancelled


def fetch_object(
    job: Job,
    *,
    storage_options: dict[str, Any],
    options: dict[str, Any],
    per_worker_connections: int,
    semaphore: Any = None,
    semaphore_is_ours: bool = False,
) -> ObjectOutcome:
    """The dask task: download ``job`` with ``get_file`` on this worker.

    ``semaphore_is_ours``: the semaphore was made (and registered) by this
    ``get_many`` call, which closes it when the call ends.
    """
    worker, host = _where()
    stop = TaskStop()
    try:
        ensure_within(job.root, [job.local])  # this worker's disk: its own symlinks
        fs = _filesystem(storage_options)
        want = per_worker_connections
        if semaphore is not None:
            size = job.size if job.size is not None else fs.object_head(job.remote).size
            config = fs.transfer_config.replace(**options)
            want = connections_for(size, config, per_worker_connections)
        with leases(semaphore, want, stop.is_set, registered=semaphore_is_ours) as held:
            config = fs._config_for("get_many", {**options, "concurrency": max(1, held)}, ())
            result = fs._get_file(
                job.remote,
                job.local,
                DEFAULT_CALLBACK,
                None,
                config,
                cancel=stop,
                listed=job.listed(),
            )
    except DownloadCancelledError as exc:  # nobody waits for this result: no retry
        return ObjectOutcome(
            job.remote, job.local, "failed", error=_describe(exc), worker=worker, host=host
        )
    except PERMANENT_ERRORS as exc:
        return ObjectOutcome(
            job.remote, job.local, "failed", error=_describe(exc), worker=worker, host=host
        )
    except Exception as exc:
        failed = ObjectOutcome(
            job.remote, job.local, "failed", error=_describe(exc), worker=worker, host=host
        )
        raise TaskFailed(failed) from None
    status = "directory" if result is None else result.status
    return ObjectOutcome(job.remote, job.local, status, result, worker=worker, host=host)


@contextlib.contextmanager
def leases(
    semaphore: Any,
    want: int,
    stopped: Callable[[], bool] = lambda: False,
    *,
    registered: bool = False,
) -> Iterator[int]:
    """Hold up to ``want`` leases of ``semaphore`` (one per connection); yields how many.

    The first lease is waited for, :data:`LEASE_POLL` seconds at a time, until
    ``stopped()`` (the task was cancelled: :class:`DownloadCancelledError`);
    more are taken only if free at once. A task never holds some leases while
    waiting for others, so tasks cannot deadlock on the semaphore, whatever
    ``want`` and ``max_leases`` are. Without a semaphore, ``want`` is yielded
    as is.

    ``registered``: the semaphore exists on the scheduler already (made by the
    ``get_many`` call). ``distributed`` registers a semaphore again at its first
    ``acquire`` in each process, which would bring back, for good, a semaphore
    the client closed after a Ctrl-C; told it is registered, an ``acquire`` of
    a closed semaphore fails instead, and a task that sees it closed stops.
    """
    if semaphore is None or want <= 0:
        yield want
        return
    if registered:
        semaphore._registered = True  # distributed's flag: do not re-create it here
    held = 0
    try:
        while not _acquire(semaphore, LEASE_POLL, stopped):
            if stopped():
                raise DownloadCancelledError("cancelled while waiting for a connection lease")
        held = 1
        if stopped():  # cancelled while the lease was on its way
            raise DownloadCancelledError("cancelled while waiting for a connection lease")
        while held < want and _acquire(semaphore, 0, stopped):
            held += 1
        yield held
    finally:
        for _ in range(held):
            # A release that fails (scheduler unreachable) expires with the lease timeout.
            with contextlib.suppress(Exception):
                semaphore.release()


def _acquire(semaphore: Any, timeout: float, stopped: Callable[[], bool]) -> bool:
    """One lease if one comes within ``timeout``; a semaphore closed meanwhile reads as a stop."""
    try:
        return bool(semaphore.acquire(timeout=timeout))
    except RuntimeError as exc:  # "... not known": the client closed it, the call is over
        if stopped() or "not known" in str(exc):
            raise DownloadCancelledError(
                f"the semaphore capping connections ({semaphore.name}) was closed"
            ) from None
        raise


def _filesystem(storage_options: dict[str, Any]) -> Any:
    """The worker's filesystem for these options (cached by fsspec in this process)."""
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    return ResumableOSSFileSystem(**storage_options)


def _where() -> tuple[str | None, str]:
    """(this worker's address, this host's name); no address outside a dask worker."""
    try:
        from distributed import get_worker

        address: str | None = get_worker().address
    except (ImportError, ValueError):
        address = None
    return address, socket.gethostname()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
