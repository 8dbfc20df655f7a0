"""Many objects at once on a dask cluster: ``get_many``, and ``oss://`` on workers.

>>> from distributed import Client
>>> from oss_resumable_fs.dask import get_many, UseResumableForOSS
>>> client = Client("tcp://scheduler:8786")                             # doctest: +SKIP
>>> opts = {"endpoint": "https://oss-cn-hangzhou-internal.aliyuncs.com"}
>>> result = get_many("oss://my-bucket/dataset/", "/mnt/shared/dataset",
...                   client=client, storage_options=opts)              # doctest: +SKIP
>>> result                                                              # doctest: +SKIP
GetManyResult(40 files (40 downloaded), 970.3 MiB: 970.3 MiB fetched, in 3.7 s (261.5 MiB/s);
2 worker(s) on 1 host(s))
>>> client.register_plugin(UseResumableForOSS())  # oss:// is ossr on workers  # doctest: +SKIP

``get_many(paths_or_prefix, local_dir, *, client=None, storage_options=None,
per_worker_connections=16, max_connections=None, retries=2, raise_on_error=True,
progress=False, **transfer_options)``

**What goes where.** One prefix URL is listed recursively on the client (the
listing ``fs.get`` uses) and each object lands at ``local_dir/<key relative to
the prefix>``. A list of paths (``ossr://``, ``oss://`` or ``bucket/key``)
lands at ``local_dir/<basename>``, as fsspec's ``get`` of a list does; an
object named twice in the list is fetched (and reported) once. Every
destination is normalised and checked on the client, before any task starts:
one that resolves outside ``local_dir`` (``..`` in a key, or a symlink out of
the tree; checked again on the worker, against its own disk), and objects
whose destinations collide, are reported failed and nothing is written for
them; the others are fetched. Colliding: two objects at one path (``a.txt``
and ``./a.txt`` under a prefix, two equal basenames in a list: each names the
other, and neither is fetched, since whichever finished last would have won),
or an object where another needs a directory (``x`` and ``x/y``: ``x`` fails,
``x/y`` lands). ``local_dir`` is the path *as the workers see it*; a relative
one is made absolute on the client.

**How it runs.** One task per object: ``client.map(..., pure=False,
retries=retries)`` with the key prefix ``ossr-get`` (that is what the dashboard's
task stream and progress bars show; ``progress=True`` also draws
``distributed.progress``), gathered with ``as_completed``. Large objects
(at least ``single_request_threshold``, 8 MiB, in parts) are submitted first,
biggest first, so that the small ones fill the gaps instead of a big one
running alone at the end. Each task gets plain data only (the object, its
destination, ``storage_options``, the transfer options), builds a
``ResumableOSSFileSystem`` *on the worker* (fsspec caches it in the worker
process, per worker thread: no connection ever crosses the network) and runs
``get_file(..., skip_identical=True)``: a task that runs again (a retry, a
worker that died, a second call) checks size and CRC-64 of what is already
there instead of fetching it again. A worker fetches as many objects at once as
it has threads (``dask worker --nthreads``; downloads wait on the network, so
more threads than cores is fine); a large object uses ``per_worker_connections``
connections (16 by default, the engine's own default), a small one one GET.

**A cap for the whole cluster.** ``max_connections=N`` bounds the connections
in use (GETs in flight) across all workers with a ``distributed.Semaphore`` of
N leases, one lease per connection: a task waits for its first lease, then
takes as many more as are free at that moment, up to what its object can use,
and runs with exactly that many connections (objects of a list are not sized
on the client: with a cap, each task HEADs its object first). It never waits
while holding leases, so there is no deadlock whatever N is. Why a semaphore and not worker
resources: resources are declared when each worker starts (``dask worker
--resources``), per worker, and cannot change per call; a semaphore works on
any running cluster, caps the cluster as a whole and can be shared between
calls (pass your own ``distributed.Semaphore`` as ``max_connections``). Its
cost: leases held by a worker that dies come back only after
``distributed.scheduler.locks.lease-timeout`` (30 s by default); meanwhile the
rest of the cluster runs with fewer connections. Without ``max_connections``
(the default) the bound is ``threads x per_worker_connections`` per worker, which
grows with the cluster; set a cap when the bucket, a NAT gateway or the link
is what all workers share.

**Failures.** One object's failure never stops the others. A missing or refused
object, a bad option or an unrestored Archive object fails at once (another
attempt cannot help); anything else (a transient error that outlasted the
engine's own retries, an object that changed, a full disk on one worker) is
retried by dask ``retries`` times (2), perhaps on another worker. A worker that
dies mid-object does not fail the call: the scheduler runs the task again
elsewhere (this counts against ``distributed.scheduler.allowed-failures``, 3,
not ``retries``), and on a shared destination the new task *resumes* from the
journal the dead one left beside the destination. When every object is done,
``raise_on_error=True`` (the default: a failure must not pass unnoticed)
raises :class:`GetManyError`, whose ``.result`` is the full
:class:`GetManyResult`; ``raise_on_error=False`` returns it.

**Ctrl-C** (any exception in the waiting client) cancels the tasks, then closes
the call's semaphore. Tasks not started never start. dask cannot interrupt a
running task, so each task watches its own state on its worker (cancelled, or
released because the client went away): one waiting for a lease asks the
semaphore a second at a time and gives up, one downloading stops within about a
second through ``get_file(cancel=...)``; a stopped download keeps its partial
file and journal, and the next call resumes it.

**Asynchronous clients.** ``get_many`` blocks until every object is done; with
``Client(..., asynchronous=True)`` call it in a thread,
``await asyncio.to_thread(get_many, ..., client=client)`` (called in the event
loop itself it raises ``InvalidArgumentError`` rather than hang).

**The result** lists every object in the order given (or listed) as an
:class:`ObjectOutcome`: ``remote``, ``local``, ``status`` (``downloaded``,
``resumed``, ``skipped``, ``failed``), ``worker`` (address) and ``host`` (name)
of the worker that wrote it, the :class:`~oss_resumable_fs.engine.result.DownloadResult`
(bytes fetched and reused, retries, time) or the ``error``. It is a
:class:`~oss_resumable_fs.results.GetResult` (totals, ``summary()``, an HTML
table in notebooks) with ``failed``, ``ok``, ``by_host()`` and
``raise_for_errors()``.

**On a real cluster, unchanged.**

- *Shared destination* (NFS, CPFS, a cloud NAS mounted at the same path on every
  machine): each object is written once, by one task; a task re-run on another
  machine after a crash resumes from the journal; a second call skips what is
  there. The lock beside each destination uses ``flock``, which Linux maps to
  NFS locks (NFSv4, or v3 with lockd): a task the scheduler wrongly thought dead
  cannot write beside its replacement. Keep ``checkpoint_dir`` unset or shared.
- *Local disks* (``/mnt/local`` on each machine): each object lands on the disk of
  the worker that fetched it; ``result.by_host()`` and each outcome's
  ``host``/``local`` say where. A task re-run on another machine starts afresh
  there (the dead machine's partial file stays behind: ``oss-resumable status``
  lists it), and a second call skips only the objects that land on the same
  host again.
- *Credentials*: ``storage_options`` is sent with every task (use TLS between
  client, scheduler and workers if that matters), or pass ``None`` and let each
  process read ``OSS_ACCESS_KEY_ID`` / ``OSS_ACCESS_KEY_SECRET`` /
  ``OSS_SESSION_TOKEN`` / ``OSS_ENDPOINT`` from its environment (the client lists
  the prefix with its own). A refreshing provider (ECS RAM role, STS) must
  pickle: wrap it in :class:`LazyCredentialsProvider`, which ships only its
  factory and arguments and builds one provider per worker process. An option
  that does not pickle is refused before anything starts, with an
  ``InvalidArgumentError`` that names the option but shows no value.
- *Endpoint*: workers inside Alibaba Cloud should use the ``-internal`` endpoint
  (free, faster traffic); the client only lists.
- *oss:// URLs*: ``client.register_plugin(UseResumableForOSS())`` makes every
  worker (including ones that join or restart later) resolve ``oss://`` to
  ``ResumableOSSFileSystem``; call ``oss_resumable_fs.use_for_oss_urls()`` in
  the client too, where dask builds the filesystem of ``dd.read_csv("oss://...")``.
"""

from __future__ import annotations

from oss_resumable_fs.dask._client import get_many
from oss_resumable_fs.dask._credentials import LazyCredentialsProvider
from oss_resumable_fs.dask._plugin import UseResumableForOSS
from oss_resumable_fs.dask._results import GetManyError, GetManyResult, ObjectOutcome

__all__ = [
    "GetManyError",
    "GetManyResult",
    "LazyCredentialsProvider",
    "ObjectOutcome",
    "UseResumableForOSS",
    "get_many",
]
