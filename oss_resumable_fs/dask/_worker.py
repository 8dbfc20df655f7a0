"""What runs on a dask worker for one object of ``get_many``.

A task receives plain data only (a :class:`Job`, the storage options, the
transfer options and, optionally, a ``distributed.Semaphore``, which pickles
by name), builds the filesystem there (fsspec caches the instance in the
worker process, one per worker thread), takes its connection leases and runs
``get_file``. It never receives a live connection or filesystem.
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from oss_resumable_fs.dask._results import ObjectOutcome
from oss_resumable_fs.errors import ObjectNotRestoredError
from oss_resumable_fs.paths import ensure_within

__all__ = ["PERMANENT_ERRORS", "Job", "TaskFailed", "connections_for", "fetch_object"]

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


def fetch_object(
    job: Job,
    *,
    storage_options: dict[str, Any],
    options: dict[str, Any],
    per_worker_connections: int,
    semaphore: Any = None,
) -> ObjectOutcome:
    """The dask task: download ``job`` with ``get_file`` on this worker."""
    worker, host = _where()
    try:
        ensure_within(job.root, [job.local])  # this worker's disk: its own symlinks
        fs = _filesystem(storage_options)
        want = per_worker_connections
        if semaphore is not None:
            size = job.size if job.size is not None else fs.object_head(job.remote).size
            config = fs.transfer_config.replace(**options)
            want = connections_for(size, config, per_worker_connections)
        with leases(semaphore, want) as held:
            result = fs.get_file(job.remote, job.local, concurrency=max(1, held), **options)
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
def leases(semaphore: Any, want: int) -> Iterator[int]:
    """Hold up to ``want`` leases of ``semaphore`` (one per connection); yields how many.

    The first lease is waited for; more are taken only if free at once. A task
    never holds some leases while waiting for others, so tasks cannot deadlock
    on the semaphore, whatever ``want`` and ``max_leases`` are. Without a
    semaphore, ``want`` is yielded as is.
    """
    if semaphore is None or want <= 0:
        yield want
        return
    held = 0
    try:
        semaphore.acquire()
        held = 1
        while held < want and semaphore.acquire(timeout=0):
            held += 1
        yield held
    finally:
        for _ in range(held):
            # A release that fails (scheduler unreachable) expires with the lease timeout.
            with contextlib.suppress(Exception):
                semaphore.release()


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
