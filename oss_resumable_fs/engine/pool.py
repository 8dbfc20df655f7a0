"""The outcome of one batch of work, and coalesced progress.

The :class:`Coordinator` keeps the first error (as s3transfer's
``TransferCoordinator`` does), tells the other workers to stop, and closes
their in-flight readers so blocked reads end too; the error is re-raised in
the caller's thread. The workers themselves are the scheduler's
(:mod:`oss_resumable_fs.engine.scheduler`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Protocol

from oss_resumable_fs.engine.source import RangeReader
from oss_resumable_fs.errors import DownloadCancelledError

log = logging.getLogger(__name__)

#: How long the caller waits for workers to exit after stopping them (Ctrl-C).
STOP_GRACE = 5.0


class Stopped(Exception):
    """Raised inside a worker when the coordinator has stopped the work."""


class Coordinator:
    """Owns the outcome of one batch of work: the first error wins."""

    def __init__(self, cancel: threading.Event | None, cancel_message: str) -> None:
        self.stop = threading.Event()
        self._cancel = cancel
        self._cancel_message = cancel_message
        self._lock = threading.Lock()
        self._exception: BaseException | None = None
        self._readers: set[RangeReader] = set()
        #: Workers still running when the caller gave up waiting for them; the
        #: caller must then leave the files they write to open until
        #: :attr:`workers_done` is set.
        self.abandoned = False
        self.workers_done = threading.Event()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._exception is None:
                self._exception = exc
        self.halt()

    def poll_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set() and not self.stop.is_set():
            self.fail(DownloadCancelledError(self._cancel_message))

    def halt(self) -> None:
        """Stop every worker: between buffers, and by closing blocked readers."""
        self.stop.set()
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            _close_quietly(reader)

    def check(self) -> None:
        """Called by workers between buffers; notices a cancel too."""
        self.poll_cancel()
        if self.stop.is_set():
            raise Stopped

    def check_failed(self) -> None:
        """Re-raise the first error, in the calling thread."""
        if self._exception is not None:
            raise self._exception

    @contextlib.contextmanager
    def track(self, reader: RangeReader) -> Iterator[RangeReader]:
        """Make ``reader`` closable by :meth:`halt` while in use; always close it after."""
        with self._lock:
            self._readers.add(reader)
        try:
            if self.stop.is_set():  # halted before we registered: halt() missed us
                raise Stopped
            yield reader
        finally:
            with self._lock:
                self._readers.discard(reader)
            _close_quietly(reader)


def _close_quietly(reader: RangeReader) -> None:
    try:
        reader.close()
    except Exception:  # closing is best effort; the read's own error matters more
        log.debug("closing a range reader failed", exc_info=True)


class ProgressListener(Protocol):
    """Receives progress; the method names match ``fsspec.callbacks.Callback``."""

    def set_size(self, size: int) -> None: ...

    def relative_update(self, inc: int) -> None: ...


class ProgressReporter:
    """Forwards progress to a listener from one thread at a time, in coalesced steps.

    A listener that raises is a display's bug, not the download's: it is
    logged once and not called again, and the download goes on.
    """

    def __init__(self, listener: ProgressListener | None, min_step: int) -> None:
        self._listener = listener
        self._min_step = min_step
        self._lock = threading.Lock()
        self._pending = 0
        self._reported = 0

    def _call(self, method: str, value: int) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            getattr(listener, method)(value)
        except Exception:
            log.warning(
                "progress callback %r failed; no more progress shown", listener, exc_info=True
            )
            self._listener = None

    def set_size(self, size: int) -> None:
        with self._lock:
            self._call("set_size", size)

    def add(self, count: int) -> None:
        if self._listener is None or count == 0:
            return
        with self._lock:
            self._pending += count
            if self._pending >= self._min_step:
                self._flush_locked()

    def add_reused(self, count: int) -> None:
        """Bytes that did not cross the network (reused from disk, or skipped).

        A listener with a ``reuse`` method gets them there, so a progress bar
        can count them without mistaking them for transfer speed.
        """
        if self._listener is None or count == 0:
            return
        with self._lock:
            self._flush_locked()
            self._reported += count
            if hasattr(type(self._listener), "reuse"):
                self._call("reuse", count)
            else:
                self._call("relative_update", count)

    def flush(self) -> None:
        if self._listener is None:
            return
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending and self._listener is not None:
            pending, self._pending = self._pending, 0
            self._reported += pending
            self._call("relative_update", pending)

    def restart(self, size: int, old_size: int) -> None:
        """Take back what was reported, for a download that starts over."""
        if self._listener is None:
            return
        with self._lock:
            self._pending = 0
            if self._reported:
                self._call("relative_update", -self._reported)
                self._reported = 0
            if size != old_size:
                self._call("set_size", size)
