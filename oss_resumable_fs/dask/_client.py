"""``get_many``: plan on the client, fetch on the workers, gather one outcome per object."""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
import uuid
from collections.abc import Sequence
from glob import has_magic
from typing import Any

from oss_resumable_fs.config import TransferConfig, check_option_names
from oss_resumable_fs.dask._results import GetManyError, GetManyResult, ObjectOutcome
from oss_resumable_fs.dask._worker import Job, TaskFailed, fetch_object
from oss_resumable_fs.engine.result import resolve_directory
from oss_resumable_fs.errors import InvalidArgumentError, ObjectNotFoundError, OSSResumableError
from oss_resumable_fs.paths import ensure_within

__all__ = ["get_many"]

#: The dask key prefix of the tasks (what the dashboard and progress bars show).
TASK_PREFIX = "ossr-get"


def get_many(
    paths_or_prefix: str | Sequence[str],
    local_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    storage_options: dict[str, Any] | None = None,
    per_worker_connections: int = 16,
    max_connections: Any = None,
    retries: int = 2,
    raise_on_error: bool = True,
    progress: bool = False,
    **transfer_options: Any,
) -> GetManyResult:
    """Download many objects on a dask cluster, one task per object (:mod:`oss_resumable_fs.dask`).

    ``paths_or_prefix``: a list of ``ossr://`` / ``oss://`` / ``bucket/key``
    paths (each lands at ``local_dir/<basename of its key>``; an object named
    twice is fetched and reported once), or one prefix URL, listed recursively
    here (each object lands at ``local_dir/<key relative to the prefix>``).
    Objects that would land at one path (two equal basenames in a list;
    ``a.txt`` and ``./a.txt``; ``x`` and ``x/y`` under a prefix) are reported
    failed, naming each other, and never fetched; the others are.
    ``local_dir`` is a path as the workers see it (made absolute here).

    ``client``: a ``distributed.Client`` (default: ``distributed.get_client()``).
    The call blocks: with an asynchronous client, run it in a thread,
    ``await asyncio.to_thread(get_many, ..., client=client)``.
    ``storage_options``: ``ResumableOSSFileSystem`` arguments, sent to every
    task, so each value must pickle (a refreshing credentials provider:
    wrap it in :class:`LazyCredentialsProvider`); ``None``: each process
    reads the ``OSS_*`` variables.
    ``per_worker_connections``: connections a worker opens for one large
    object (the engine's ``concurrency``; small objects take one GET each).
    ``max_connections``: a cluster-wide cap on connections in use, an ``int``
    (a ``distributed.Semaphore`` made for this call) or a ``Semaphore`` of
    your own to share a cap between calls; ``None``: no cap beyond
    ``threads x per_worker_connections`` per worker.
    ``retries``: dask retries of an object that failed with an error another
    attempt may fix (a missing object or a refusal is not retried).
    ``raise_on_error``: once every object is done, raise :class:`GetManyError`
    (carrying the whole result) if any failed; ``False`` returns the result.
    ``progress``: show ``distributed.progress`` (blocks in a terminal).
    ``transfer_options``: :class:`~oss_resumable_fs.TransferConfig` fields
    (``part_size``, ``checkpoint_dir``...); ``skip_identical`` is on by default,
    so a task run again re-checks an object instead of fetching it again.
    """
    started = time.monotonic()
    options = _check_options(per_worker_connections, max_connections, retries, transfer_options)
    client = client or _default_client()
    if getattr(client, "asynchronous", False):
        # Called in the client's event loop: waiting here for the tasks would stop
        # the very loop that reports them done (it hung for good).
        raise InvalidArgumentError(
            "get_many blocks until every object is done, so it cannot run in the event loop "
            "of an asynchronous Client; call it in a thread: "
            "`result = await asyncio.to_thread(get_many, ..., client=client)`"
        )
    storage_options = dict(storage_options or {})
    _check_picklable(storage_options, options)
    fs = _client_filesystem(storage_options)
    root = os.path.abspath(os.path.expanduser(os.fspath(local_dir)))
    jobs = _plan(fs, paths_or_prefix, root)
    refused = _refuse(jobs, root, in_list=not isinstance(paths_or_prefix, str))
    to_fetch = [i for i in range(len(jobs)) if i not in refused]
    outcomes: dict[int, ObjectOutcome] = dict(refused)
    if to_fetch:
        threshold = fs.transfer_config.replace(**options).single_request_threshold
        outcomes.update(
            _run(
                client,
                jobs,
                _largest_first(jobs, to_fetch, threshold),
                storage_options=storage_options,
                options=options,
                per_worker_connections=per_worker_connections,
                max_connections=max_connections,
                retries=retries,
                progress=progress,
            )
        )
    result = GetManyResult(tuple(outcomes[i] for i in range(len(jobs))), time.monotonic() - started)
    if raise_on_error and result.failed:
        raise GetManyError(result)
    return result


def _check_options(
    per_worker_connections: int,
    max_connections: Any,
    retries: int,
    transfer_options: dict[str, Any],
) -> dict[str, Any]:
    """The transfer options every task gets, checked here before any request."""
    for name in ("concurrency", "max_concurrency"):
        if name in transfer_options:
            raise InvalidArgumentError(
                f"get_many takes per_worker_connections (connections per object on a worker) "
                f"and max_connections (for the whole cluster), not {name}"
            )
    if not 1 <= per_worker_connections <= 256:
        raise InvalidArgumentError(
            f"per_worker_connections must be between 1 and 256, got {per_worker_connections}"
        )
    if retries < 0:
        raise InvalidArgumentError(f"retries must not be negative, got {retries}")
    if max_connections is not None and not _is_semaphore(max_connections):
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError("max_connections must be an int or a distributed.Semaphore")
        if max_connections < 1:
            raise InvalidArgumentError(f"max_connections must be at least 1, got {max_connections}")
    options = {"skip_identical": True, **transfer_options}
    check_option_names(options, TransferConfig.field_names(), "get_many")
    TransferConfig().replace(**options)  # bad values fail here, not on every worker
    return options


def _check_picklable(storage_options: dict[str, Any], options: dict[str, Any]) -> None:
    """Refuse, here and without showing any value, an option that cannot travel to the workers.

    dask would fail in ``client.map`` with the repr of every argument in its
    message (secrets included), after the call's semaphore was registered.
    Checked as dask sends them: pickle, or cloudpickle for what pickle refuses.
    """
    import cloudpickle

    for where, values in (("storage_options", storage_options), ("option", options)):
        for name, value in values.items():
            try:
                cloudpickle.dumps(value)
            except Exception as exc:
                reason = _redact(f"{type(exc).__name__}: {exc}", storage_options)
                raise InvalidArgumentError(
                    f"{where} {name!r} cannot be pickled ({reason}), so it cannot be sent to "
                    "the workers. A credentials provider that holds locks or sessions: wrap it "
                    "in oss_resumable_fs.dask.LazyCredentialsProvider(factory, *args), which "
                    "builds it on each worker; or pass storage_options=None and let every "
                    "process read the OSS_* environment variables"
                ) from None


def _redact(text: str, storage_options: dict[str, Any]) -> str:
    """``text`` without any string value of ``storage_options`` (a secret, a token...)."""
    for value in storage_options.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _client_filesystem(storage_options: dict[str, Any]) -> Any:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    return ResumableOSSFileSystem(**storage_options)


def _default_client() -> Any:
    import distributed

    try:
        return distributed.get_client()
    except ValueError:
        raise InvalidArgumentError(
            "get_many needs a dask cluster: pass client=, or create a distributed.Client first"
        ) from None


def _plan(fs: Any, paths_or_prefix: str | Sequence[str], root: str) -> list[Job]:
    """One job per object, with its destination under ``root``."""
    if isinstance(paths_or_prefix, str):
        return _plan_prefix(fs, paths_or_prefix, root)
    if not isinstance(paths_or_prefix, Sequence):
        raise TypeError(f"get_many takes a prefix or a list of paths, not {paths_or_prefix!r}")
    jobs, named = [], set()
    for path in paths_or_prefix:
        remote = fs._strip_protocol(path)
        bucket, key = fs.split_path(remote)
        name = posixpath.basename(key)
        if not bucket or not name:
            raise InvalidArgumentError(
                f"{path!r} does not name an object; pass a prefix as one string, not in a list"
            )
        if remote in named:  # the same object twice (``oss://b/k`` and ``b/k``): once
            continue
        named.add(remote)
        jobs.append(Job(remote, os.path.normpath(os.path.join(root, name)), root))
    return jobs


def _plan_prefix(fs: Any, prefix: str, root: str) -> list[Job]:
    """Every object under ``prefix``, at its key relative to the prefix."""
    base = fs._strip_protocol(prefix).rstrip("/")
    if has_magic(base):
        raise InvalidArgumentError(
            f"get_many does not expand globs ({prefix!r}): pass fs.glob(...)'s list instead"
        )
    fs.invalidate_cache(base)  # a listing cached by an earlier call may be stale
    found = fs.find(base, detail=True, on_error="raise")
    if not found:
        raise ObjectNotFoundError(f"oss://{base}/: no objects under this prefix", target=base)
    jobs = []
    for name, info in found.items():
        inside = name.startswith(base + "/")  # else the prefix named one object
        relative = name[len(base) + 1 :] if inside else posixpath.basename(name)
        size = info.get("size")
        size = size if isinstance(size, int) else None
        local = os.path.normpath(os.path.join(root, relative))
        directory = info.get("type") == "directory"
        etag, storage_class = info.get("ETag"), info.get("StorageClass")
        jobs.append(Job(name, local, root, size, directory, etag=etag, storage_class=storage_class))
    return jobs


def _refuse(jobs: list[Job], root: str, *, in_list: bool) -> dict[int, ObjectOutcome]:
    """Failed outcomes, by index, for the jobs that must not start.

    A destination outside ``root`` (``..``, a symlink out of the tree), and
    objects whose destinations collide: two at one path (all of them fail:
    whichever finished last would have won), one at ``root`` itself, or one
    where another needs a directory (``x`` and ``x/y``: ``x`` fails, ``x/y``
    lands). Paths are compared normalised, their directories resolved
    (``resolve_directory``), as the engine names its partial and lock files.
    """
    refused: dict[int, ObjectOutcome] = {}

    def fail(index: int, error: str) -> None:
        job = jobs[index]
        refused.setdefault(index, ObjectOutcome(job.remote, job.local, "failed", error=error))

    for index, job in enumerate(jobs):
        try:
            ensure_within(root, [job.local])
        except PermissionError as exc:
            fail(index, f"{type(exc).__name__}: {exc}")
    candidates = [i for i in range(len(jobs)) if i not in refused]
    spots = {i: resolve_directory(jobs[i].local) for i in candidates}
    at: dict[str, list[int]] = {}
    below: dict[str, int] = {}  # a directory some destination needs -> the first such job
    top = resolve_directory(root)
    for i in candidates:
        at.setdefault(spots[i], []).append(i)
        parent = os.path.dirname(spots[i])
        while parent not in below and parent != os.path.dirname(parent):
            below[parent] = i
            parent = os.path.dirname(parent)
    hint = (
        "objects of a list land under their base names; download their common prefix instead"
        if in_list
        else "neither is fetched"
    )
    for i in candidates:
        if jobs[i].directory:
            continue  # a directory entry only makes its directory
        others = [j for j in at[spots[i]] if j != i]
        if spots[i] == top:
            fail(i, f"FileExistsError: oss://{jobs[i].remote} would land at {root!r} itself")
        elif others:
            fail(
                i,
                f"FileExistsError: oss://{jobs[i].remote} and oss://{jobs[others[0]].remote} "
                f"would both land at {jobs[i].local!r}; {hint}",
            )
        elif spots[i] in below:
            fail(
                i,
                f"FileExistsError: oss://{jobs[i].remote} would land at {jobs[i].local!r}, "
                f"where oss://{jobs[below[spots[i]]].remote} needs a directory",
            )
    return refused


def _largest_first(jobs: list[Job], indices: list[int], threshold: int) -> list[int]:
    """Large objects (in parts) first, biggest first, then the rest in their order.

    Tasks of one ``client.map`` start in the order given: the long ones begin
    early and the small ones fill the gaps, so no big object is left to run
    alone at the end.
    """
    large = [i for i in indices if (jobs[i].size or 0) >= threshold]
    large.sort(key=lambda i: -(jobs[i].size or 0))
    chosen = set(large)
    return large + [i for i in indices if i not in chosen]


def _run(
    client: Any,
    jobs: list[Job],
    order: list[int],
    *,
    storage_options: dict[str, Any],
    options: dict[str, Any],
    per_worker_connections: int,
    max_connections: Any,
    retries: int,
    progress: bool,
) -> dict[int, ObjectOutcome]:
    """Submit one task per job (in ``order``), wait for all, return their outcomes by index."""
    import distributed

    outcomes: dict[int, ObjectOutcome] = {}
    futures: list[Any] = []
    semaphore, ours = None, False
    try:
        semaphore, ours = _semaphore(client, max_connections)
        futures = _submit(
            client,
            [jobs[i] for i in order],
            retries=retries,
            storage_options=storage_options,
            options=options,
            per_worker_connections=per_worker_connections,
            semaphore=semaphore,
            semaphore_is_ours=ours,
        )
        index_of = {future.key: i for future, i in zip(futures, order, strict=True)}
        if progress:
            _show_progress(futures, client)
        for future in distributed.as_completed(futures, loop=client.loop):
            index = index_of[future.key]
            outcomes[index] = _outcome(future, jobs[index])
    except BaseException:
        # Ctrl-C. Cancelling is the stop signal: tasks not started never start, and a
        # running task sees itself cancelled on its worker (it waits for a lease a
        # second at a time, and get_file polls it), stops within about a second and
        # keeps its checkpoint. Cancelled first, the semaphore closed after: a task
        # waiting for a lease gives up instead of waiting for good on a deleted one.
        if futures:
            with contextlib.suppress(Exception):
                client.cancel(futures)
        raise
    finally:
        if ours:
            _close(semaphore)
    return outcomes


def _submit(client: Any, jobs: list[Job], *, retries: int, **kwargs: Any) -> list[Any]:
    """``client.map`` of the tasks; an error that would show a secret option is redacted."""
    try:
        return client.map(  # type: ignore[no-any-return]
            fetch_object, jobs, key=TASK_PREFIX, pure=False, retries=retries, **kwargs
        )
    except Exception as exc:
        text = str(exc)
        redacted = _redact(text, kwargs["storage_options"])
        if redacted == text:
            raise
        # dask puts the repr of every argument in its serialisation errors.
        raise OSSResumableError(
            f"could not submit the tasks ({type(exc).__name__}): {redacted}"
        ) from None


def _show_progress(futures: list[Any], client: Any) -> None:
    """dask's progress bar: a text bar that blocks until done, or a notebook widget."""
    import distributed

    bar = distributed.progress(futures, multi=False, scheduler=client.scheduler.address)
    if bar is not None:  # a widget: shown only if displayed (we are not a cell's last line)
        from IPython.display import display

        display(bar)


def _outcome(future: Any, job: Job) -> ObjectOutcome:
    try:
        return future.result()  # type: ignore[no-any-return]
    except TaskFailed as failed:
        return failed.outcome  # retries exhausted: the last worker's error
    except Exception as exc:  # the task never finished: KilledWorker, cancelled
        return ObjectOutcome(job.remote, job.local, "failed", error=f"{type(exc).__name__}: {exc}")


def _semaphore(client: Any, max_connections: Any) -> tuple[Any, bool]:
    """(the semaphore the tasks share, whether this call made it and must close it)."""
    if max_connections is None:
        return None, False
    if _is_semaphore(max_connections):
        return max_connections, False
    import distributed

    semaphore = distributed.Semaphore(
        max_leases=max_connections,
        name=f"ossr-get-many-{uuid.uuid4().hex}",
        scheduler_rpc=client.scheduler,
        loop=client.loop,
    )
    semaphore.register()
    return semaphore, True


def _is_semaphore(value: Any) -> bool:
    import distributed

    return isinstance(value, distributed.Semaphore)


def _close(semaphore: Any) -> None:
    with contextlib.suppress(Exception):
        semaphore.close()
