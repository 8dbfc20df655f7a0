"""One download call: preflight, lock, resume or start, fetch, verify, land.

Files beside the destination ``D``:

* ``D.ossr-partial`` -- the data, renamed onto ``D`` only once complete and verified;
* ``D.ossr-journal`` -- the checkpoint (unless ``checkpoint_dir`` puts it elsewhere);
* ``D.ossr-lock``    -- held (``flock``) by the one process downloading into ``D``.

A run with a journal and a partial file resumes: parts the journal records are
re-read from disk and kept only if their CRC-64 still matches, so a deleted,
truncated or tampered partial file costs a re-fetch, never a wrong result.
Errors keep the journal and partial file for a later resume, except a changed
object or a failed integrity check, after which the bytes are worthless.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from oss_resumable_fs.config import MiB
from oss_resumable_fs.engine import journal as journals
from oss_resumable_fs.engine.fetch import PartFetcher, RetryPolicy, TransferStats, sleep_polling
from oss_resumable_fs.engine.journal import Journal, JournalCorrupt, JournalState
from oss_resumable_fs.engine.lock import TargetLock
from oss_resumable_fs.engine.plan import Part, bytes_in, missing_parts, plan_parts
from oss_resumable_fs.engine.pool import Coordinator, ProgressListener, ProgressReporter
from oss_resumable_fs.engine.preflight import check_space, prepare_directories
from oss_resumable_fs.engine.result import DownloadResult, journal_path_for, resolve_directory
from oss_resumable_fs.engine.runs import Run
from oss_resumable_fs.engine.scheduler import Scheduler
from oss_resumable_fs.engine.sink import PartialFile, partial_path_for
from oss_resumable_fs.engine.source import ObjectIdentity, RangeSource
from oss_resumable_fs.engine.verify import (
    Verified,
    local_copy_matches,
    part_on_disk_crc,
    verify,
)
from oss_resumable_fs.errors import DownloadCancelledError, IntegrityError, ObjectChangedError

if TYPE_CHECKING:
    from oss_resumable_fs.engine.transfer import Downloader

log = logging.getLogger(__name__)

#: Progress is forwarded in steps of at least this many bytes (and at each part's end).
PROGRESS_STEP = 1 * MiB


class TransferSession:
    """The state and steps of one :meth:`Downloader.download` call."""

    def __init__(
        self,
        downloader: Downloader,
        source: RangeSource,
        destination: str | os.PathLike[str],
        progress: ProgressListener | None,
        cancel: threading.Event | None,
        journal_path: str | None,
        scheduler: Scheduler,
    ) -> None:
        self.d = downloader
        self.scheduler = scheduler
        self.config = downloader.config
        self.source = source
        self.destination = os.path.abspath(os.fspath(destination))
        self.partial_path = partial_path_for(self.destination)
        self.journal_path = journal_path or journal_path_for(self.destination, self.config)
        self.cancel = cancel
        self.progress = ProgressReporter(progress, PROGRESS_STEP)
        self.stats = TransferStats()
        self.policy = RetryPolicy.from_config(self.config, downloader.jitter)
        self.restarts = 0
        self.bytes_reused = 0
        self.parts_total = 0
        #: The journal's part size (parts of a single-request download: none).
        self.record_size = 0
        #: What vouched for the bytes (set by the verification, or the skip check).
        self.verified: Verified | None = None
        #: Why the object was read in one stream, without a checkpoint (the source's).
        self.single_stream: str | None = None
        #: Set when workers outlived a Ctrl-C: their files must then stay open.
        self.abandoned = False
        #: What must wait for abandoned workers: their "done" events, and the
        #: closing of the files they write.
        self._workers_running: list[threading.Event] = []
        self._deferred_closes: list[Any] = []

    # -- the whole call ---------------------------------------------------------------

    def run(self) -> DownloadResult:
        started = time.monotonic()
        prepare_directories(self.source.name, self.destination, self.journal_path)
        lock = TargetLock(self.destination).acquire()
        try:
            return self._run_locked(started)
        finally:
            if self.abandoned:
                self._release_when_workers_stop(lock)
            else:
                lock.release()

    def _release_when_workers_stop(self, lock: TargetLock) -> None:
        """Workers that outlived a Ctrl-C may still write: their files stay open and the
        lock held (no second download joins them) until they have stopped; then a
        re-run in this process (a notebook's kernel) can resume."""

        def reap() -> None:
            for done in self._workers_running:
                done.wait()
            for close in self._deferred_closes:
                try:
                    close()
                except OSError:
                    log.warning(
                        "closing %s after a cancel failed", self.partial_path, exc_info=True
                    )
            lock.release()

        threading.Thread(target=reap, name="ossr-reaper", daemon=True).start()

    def _run_locked(self, started: float) -> DownloadResult:
        identity = self._stat()
        self.progress.set_size(identity.size)
        if self.config.skip_identical and self._already_there(identity):
            # An older attempt's partial file and journal are of no use any more.
            self._discard_files()
            self.progress.add_reused(identity.size)
            return self._result(identity, started, skipped=True)
        self._check_readable()
        changes = 0
        while True:
            try:
                self._attempt(identity)
                break
            except ObjectChangedError as exc:
                if changes >= self.config.max_restarts_on_change:
                    raise ObjectChangedError(
                        f"{self.source.name} changed while it was being downloaded "
                        f"(started over {changes} time(s)); try again later"
                    ) from exc
                changes += 1
                self.restarts += 1
                log.warning("%s changed during the download; starting over", self.source.name)
                old_size = identity.size
                identity = self._stat()
                self._check_readable()
                self.progress.restart(identity.size, old_size)
        return self._result(identity, started)

    def _result(
        self, identity: ObjectIdentity, started: float, *, skipped: bool = False
    ) -> DownloadResult:
        return DownloadResult(
            path=self.destination,
            identity=identity,
            bytes_fetched=self.stats.bytes_fetched,
            bytes_reused=self.bytes_reused,
            parts_total=self.parts_total,
            parts_fetched=self.stats.parts_fetched,
            restarts=self.restarts,
            elapsed=time.monotonic() - started,
            skipped=skipped,
            retries=self.stats.retries,
            connections=0 if skipped else self.scheduler.peak,
            tuning=self.scheduler.history,
            verified=self.verified,
            single_stream=self.single_stream,
        )

    def _already_there(self, identity: ObjectIdentity) -> bool:
        """Whether the destination holds exactly the object: same size, same checksum."""
        self.verified = local_copy_matches(self.source.name, self.destination, identity)
        return self.verified is not None

    def _attempt(self, identity: ObjectIdentity) -> None:
        self._check_cancel()
        self.bytes_reused = 0
        state = self._load_journal(identity)
        # A source whose server ignores ranges says so, and why (see engine.source).
        reason = getattr(self.source, "single_stream_reason", lambda: None)()
        if identity.size == 0:
            self.parts_total = 0
            self._single(identity, [])
        elif reason is not None:  # one request, no checkpoint; still verified
            self.single_stream, self.parts_total = reason, 1
            self._single(identity, [Part(0, 0, identity.size)])
        elif state is None and identity.size < self.config.single_request_threshold:
            self.parts_total = 1
            self._single(identity, [Part(0, 0, identity.size)])
        else:
            self._multipart(identity, state)

    def _load_journal(self, identity: ObjectIdentity) -> JournalState | None:
        """The previous run's checkpoint if it is usable for ``identity``; else clear it away."""
        try:
            state = journals.read_journal(self.journal_path)
        except FileNotFoundError:
            return None
        except JournalCorrupt as exc:
            log.warning(
                "%s: unusable checkpoint %s (%s); starting afresh",
                self.source.name,
                self.journal_path,
                exc,
            )
            self._discard_files()
            return None
        header = state.header
        if header.source != self.source.name or not _same_place(
            header.destination, self.destination
        ):
            log.info(
                "%s: checkpoint %s is for another download; starting afresh",
                self.source.name,
                self.journal_path,
            )
        elif not header.identity.same_object(identity):
            log.info("%s changed since the last attempt; starting afresh", self.source.name)
            self.restarts += 1
        elif not os.path.exists(self.partial_path):
            log.info(
                "%s: partial file %s is gone; starting afresh", self.source.name, self.partial_path
            )
        else:
            return state
        self._discard_files()
        return None

    def _single(self, identity: ObjectIdentity, parts: list[Part]) -> None:
        """A zero-byte or small object: no checkpoint, still a verified atomic landing."""
        self._discard_files()
        self._check_space(identity.size)
        sink = PartialFile.create(self.partial_path)
        try:
            sink.ensure_size(identity.size)
            crcs = self._fetch(identity, parts, sink)
            self._verify(identity, parts, crcs, sink, None)
            sink.commit(self.destination)
        except BaseException:
            # Without a journal, partial bytes cannot be reused.
            if self.abandoned:
                self._deferred_closes.append(sink.abort)
            else:
                sink.abort()
            raise

    def _multipart(self, identity: ObjectIdentity, state: JournalState | None) -> None:
        size = identity.size
        part_size = state.header.part_size if state else self.config.resolve_record_size(size)
        parts = plan_parts(size, part_size)
        self.parts_total = len(parts)
        self.record_size = part_size

        sink: PartialFile | None = None
        if state is not None:
            try:
                sink = PartialFile.open_existing(self.partial_path)
            except FileNotFoundError:
                self._discard_files()
                state = None
        try:
            if sink is None:
                journals.remove(self.partial_path)
                self._check_space(size)
                sink = PartialFile.create(self.partial_path)
            else:
                self._check_space(size - min(size, sink.allocated_bytes()))
        except BaseException:
            if sink is not None:
                sink.close()
            raise

        journal: Journal | None = None
        try:
            sink.ensure_size(size)
            if state is not None:
                good = self._reverify(parts, state.parts, sink)
                journal = Journal.reopen(self.journal_path, state)
            else:
                good = {}
                header = journals.new_header(
                    self.source.name, self.destination, identity, part_size
                )
                journal = Journal.create(self.journal_path, header)
            self.bytes_reused = bytes_in(parts, good)
            self.progress.add_reused(self.bytes_reused)

            todo = missing_parts(parts, good)
            crcs = {**good, **self._fetch(identity, todo, sink, journal=journal)}
            self._verify(identity, parts, crcs, sink, journal)
            sink.commit(self.destination)
            journal.discard()
        except (ObjectChangedError, IntegrityError):
            if journal is not None:
                journal.close()
            sink.close()
            self._discard_files()
            raise
        except BaseException:
            # Cancel, Ctrl-C, a non-transient error: keep everything for a resume.
            closes = [sink.close] if journal is None else [journal.close, sink.close]
            if self.abandoned:
                self._deferred_closes += closes
            else:
                for close in closes:
                    close()
            raise

    # -- the phases --------------------------------------------------------------------

    def _cancel_message(self) -> str:
        return (
            f"download of {self.source.name} to {self.destination} was cancelled; "
            "run it again to resume"
        )

    def _coordinator(self) -> Coordinator:
        return Coordinator(self.cancel, self._cancel_message())

    def _run(
        self,
        coordinator: Coordinator,
        items: Sequence[Part],
        work: Any,
        *,
        max_run: int | None = None,
    ) -> None:
        """Run ``work`` for each item on the shared scheduler's connections.

        With ``max_run``, ``work`` gets runs of up to that many consecutive parts.
        A single-part object goes ahead of large objects' parts: it is one
        request, and a file of a ``get`` waits for it.
        """
        try:
            self.scheduler.run(coordinator, items, work, max_run=max_run, first=len(items) == 1)
        finally:
            if coordinator.abandoned:
                self.abandoned = True
                self._workers_running.append(coordinator.workers_done)

    def _fetch(
        self,
        identity: ObjectIdentity,
        parts: Sequence[Part],
        sink: PartialFile,
        *,
        journal: Journal | None = None,
        report: bool = True,
        recorded: dict[int, int] | None = None,
    ) -> dict[int, int]:
        """Fetch ``parts``; return their CRCs by index.

        Each finished part is journalled (if ``recorded`` is given, only when its
        CRC differs from the recorded one: a repair pass).
        """
        coordinator = self._coordinator()
        fetcher = PartFetcher(
            self.source,
            identity,
            sink,
            coordinator,
            self.policy,
            self.d.sleep,
            self.stats,
            self.progress if report else None,
            self.scheduler.meter,
            self.scheduler.make_way,
        )
        results: dict[int, int] = {}
        lock = threading.Lock()

        def part_done(part: Part, crc: int) -> None:
            if journal is not None and (recorded is None or recorded.get(part.index) != crc):
                journal.append(part.index, crc)
            with lock:
                results[part.index] = crc
            self.stats.add_part()
            self.progress.flush()

        def work(run: Run, buffer: memoryview) -> None:
            fetcher.fetch_run(run, buffer, part_done)

        self._run(coordinator, parts, work, max_run=self._max_run(identity.size))
        return results

    def _max_run(self, object_size: int) -> int:
        """How many journal parts one request may read: up to the request size."""
        if self.config.part_size is not None or not self.record_size:
            return 1
        return max(1, self.config.resolve_part_size(object_size) // self.record_size)

    def _reverify(
        self, parts: Sequence[Part], recorded: dict[int, int], sink: PartialFile
    ) -> dict[int, int]:
        """Recorded parts whose bytes on disk still have the recorded CRC."""
        coordinator = self._coordinator()
        good: dict[int, int] = {}
        lock = threading.Lock()

        def work(part: Part, buffer: memoryview) -> None:
            if part_on_disk_crc(sink, part, buffer, coordinator.check) == recorded[part.index]:
                with lock:
                    good[part.index] = recorded[part.index]
            else:
                log.info(
                    "%s: part %d changed on disk; fetching it again", self.source.name, part.index
                )

        self._run(coordinator, [p for p in parts if p.index in recorded], work)
        return good

    def _verify(
        self,
        identity: ObjectIdentity,
        parts: Sequence[Part],
        crcs: dict[int, int],
        sink: PartialFile,
        journal: Journal | None,
    ) -> None:
        """Check the object's CRC-64 (else MD5); on mismatch fetch every part again, then
        give up (:mod:`oss_resumable_fs.engine.verify`)."""
        refetch = functools.partial(
            self._fetch, identity, parts, sink, journal=journal, report=False
        )
        self.verified = verify(
            self.source.name,
            self.destination,
            identity,
            parts,
            crcs,
            sink,
            refetch,
            enabled=self.config.verify_crc64,
            check=self._check_cancel,
        )

    # -- helpers -------------------------------------------------------------------------

    def _stat(self) -> ObjectIdentity:
        """The object's identity, retried like a part's read.

        A throttled or reset HEAD is as transient as a GET: one must not fail a
        download (or every file of a ``get``) that a retry would have finished.
        """
        self._check_cancel()
        retries = self.stats.retries
        began = time.monotonic()
        identity = self.policy.call(self.source.stat, self._pause, f"{self.source.name}: HEAD")
        if self.stats.retries == retries:
            # One round trip: the first hint of how many connections the link needs.
            self.scheduler.meter.add_latency(time.monotonic() - began)
        return identity

    def _check_readable(self) -> None:
        """A source may refuse an object it can see but not read now (an Archive not restored).

        Asked after the skip check: a local copy of an unrestored object is still
        a copy, and a refusal before any file is made here leaves nothing behind.
        """
        check = getattr(self.source, "check_readable", None)
        if check is not None:
            check()

    def _pause(self, seconds: float) -> None:
        """Sleep between retries; a cancel cuts it short."""
        self.stats.add_retry()
        if self.d.sleep is not None:
            self.d.sleep(seconds)
            return
        sleep_polling(seconds, self._cancel_requested, self.d.poll_interval)
        self._check_cancel()

    def _cancel_requested(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def _check_cancel(self) -> None:
        if self._cancel_requested():
            raise DownloadCancelledError(self._cancel_message())

    def _check_space(self, needed: int) -> None:
        check_space(self.d.disk_usage, self.source.name, self.destination, needed)

    def _discard_files(self) -> None:
        journals.remove(self.journal_path)
        journals.remove(self.partial_path)


def _same_place(recorded: str, destination: str) -> bool:
    """Whether two spellings of a destination name one file (through symlinked directories)."""
    return recorded == destination or resolve_directory(recorded) == resolve_directory(destination)
