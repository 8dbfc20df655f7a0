"""One downloader per destination, across processes and threads.

``flock`` locks belong to an open file description, so two opens of the lock
file conflict even inside one process. The lock file is unlinked on release;
a process that opened it just before the unlink could then lock a dead inode,
so after locking we check that the path still names the inode we hold.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from oss_resumable_fs.errors import AccessDeniedError, DownloadInProgressError

LOCK_SUFFIX = ".ossr-lock"


class TargetLock:
    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.path = destination + LOCK_SUFFIX
        self._fd = -1

    def acquire(self) -> TargetLock:
        """Take the lock or raise :class:`DownloadInProgressError` at once."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except PermissionError as exc:
                raise AccessDeniedError(
                    f"cannot create {self.path}: the destination directory is not writable"
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DownloadInProgressError(
                    f"another download into {self.destination} is in progress "
                    f"(lock {self.path} is held)"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            if self._still_linked(fd):
                self._fd = fd
                return self
            os.close(fd)  # lost a race with a releasing holder; try the new file

    def _still_linked(self, fd: int) -> bool:
        held = os.fstat(fd)
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)

    def release(self) -> None:
        if self._fd < 0:
            return
        # Unlink while still holding the lock, so no one can lock this inode and
        # believe it is the live lock file.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> TargetLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
