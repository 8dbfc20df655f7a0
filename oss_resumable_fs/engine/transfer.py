"""Download one remote object into a local file: the engine's public entry point.

See :mod:`oss_resumable_fs.engine.session` for the steps and the files a
download keeps beside its destination.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
from collections.abc import Callable
from typing import Any

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.pool import ProgressListener
from oss_resumable_fs.engine.result import DownloadResult, journal_path_for
from oss_resumable_fs.engine.scheduler import Scheduler
from oss_resumable_fs.engine.session import TransferSession
from oss_resumable_fs.engine.source import RangeSource
from oss_resumable_fs.engine.status import UnfinishedDownload, list_unfinished
from oss_resumable_fs.engine.throttle import throttled

__all__ = [
    "DownloadResult",
    "Downloader",
    "ProgressListener",
    "Scheduler",
    "UnfinishedDownload",
    "download",
    "journal_path_for",
    "list_unfinished",
]


def download(
    source: RangeSource,
    destination: str | os.PathLike[str],
    config: TransferConfig | None = None,
    *,
    progress: ProgressListener | None = None,
    cancel: threading.Event | None = None,
    journal_path: str | None = None,
    scheduler: Scheduler | None = None,
) -> DownloadResult:
    """Download ``source`` into ``destination``, resuming a previous attempt if there is one.

    Raises the source's own errors (``ObjectNotFoundError``...) unchanged,
    :class:`DownloadCancelledError` when ``cancel`` is set (``KeyboardInterrupt``
    is re-raised as is); both keep the checkpoint so a later call resumes.
    """
    return Downloader(config).download(
        source,
        destination,
        progress=progress,
        cancel=cancel,
        journal_path=journal_path,
        scheduler=scheduler,
    )


class Downloader:
    """:func:`download` with its clock, randomness and disk probe injectable (for tests)."""

    def __init__(
        self,
        config: TransferConfig | None = None,
        *,
        sleep: Callable[[float], object] | None = None,
        jitter: Callable[[], float] = random.random,
        disk_usage: Callable[[str], Any] = shutil.disk_usage,
        poll_interval: float = 0.1,
    ) -> None:
        self.config = config or TransferConfig()
        #: ``None``: wait on the transfer's stop event, so a cancel cuts a backoff short.
        self.sleep = sleep
        self.jitter = jitter
        self.disk_usage = disk_usage
        self.poll_interval = poll_interval

    def download(
        self,
        source: RangeSource,
        destination: str | os.PathLike[str],
        *,
        progress: ProgressListener | None = None,
        cancel: threading.Event | None = None,
        journal_path: str | None = None,
        scheduler: Scheduler | None = None,
    ) -> DownloadResult:
        """See :func:`download`; ``scheduler`` shares one pool of connections between
        downloads (a ``get``), else the download has its own."""
        source = throttled(source, self.config.bandwidth_limit)
        if scheduler is not None:
            return self._session(source, destination, progress, cancel, journal_path, scheduler)
        with self.scheduler() as own:
            return self._session(source, destination, progress, cancel, journal_path, own)

    def scheduler(self) -> Scheduler:
        """A pool of connections within this configuration's budgets."""
        return Scheduler.for_config(self.config, poll_interval=self.poll_interval)

    def _session(self, *args: Any) -> DownloadResult:
        return TransferSession(self, *args).run()
