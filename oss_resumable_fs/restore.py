"""Restoring Archive / Cold Archive objects, and waiting until they can be read."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from oss_resumable_fs.engine.fetch import sleep_polling
from oss_resumable_fs.engine.integrity import local_file_holds
from oss_resumable_fs.errors import (
    DownloadCancelledError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
)
from oss_resumable_fs.sources.client import OSSClient
from oss_resumable_fs.sources.oss_errors import ARCHIVE_CLASSES

__all__ = ["restore_and_wait", "restore_if_needed"]

logger = logging.getLogger(__name__)


def restore_and_wait(
    client: OSSClient,
    bucket: str,
    key: str,
    *,
    wait: bool = True,
    poll_interval: float = 5.0,
    timeout: float | None = None,
    callback: Callable[[str], None] | None = None,
    version_id: str | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Ask for a restore; with ``wait``, poll (HEAD, retried) until the object is readable."""
    name = f"oss://{bucket}/{key}"
    client.restore_object(bucket, key, version_id)
    if not wait:
        return
    started = time.monotonic()
    while True:
        # Retried inside the client: one 503 must not end a wait of hours.
        if client.head_object(bucket, key, version_id).restored:
            if callback:
                callback(f"{name}: restored")
            return
        waited = time.monotonic() - started
        if callback:
            callback(f"{name}: restoring ({waited:.0f} s)")
        if timeout is not None and waited >= timeout:
            raise ObjectNotRestoredError(
                f"{name}: still restoring after {waited:.0f} s", target=name
            )
        if sleep_polling(poll_interval, lambda: cancel is not None and cancel.is_set(), 0.1):
            raise DownloadCancelledError(f"{name}: waiting for the restore: cancelled", target=name)


def restore_if_needed(
    client: OSSClient,
    bucket: str,
    key: str,
    version_id: str | None,
    cancel: threading.Event | None,
    *,
    local_copy: str | None = None,
) -> None:
    """``get_file(restore=True)``: restore (and wait for) an Archive object; others need nothing.

    A Standard object, or one already restored, is left alone: RestoreObject
    would be refused for it. A missing object is left to the download to report
    (or to find a directory there). ``local_copy``: a destination that already
    holds the object (``skip_identical``), which needs no restore.
    """
    try:
        head = client.head_object(bucket, key, version_id)
    except ObjectNotFoundError:
        return
    if local_copy is not None and local_file_holds(local_copy, head.size, head.crc64):
        return  # skip_identical will skip it: a restore is billed, and takes hours
    if head.storage_class in ARCHIVE_CLASSES and not head.restored:
        # Restores take minutes to hours: say so where a user or a log can see it.
        restore_and_wait(
            client, bucket, key, callback=logger.info, version_id=version_id, cancel=cancel
        )
