"""The partial data file: a temporary file beside the target, renamed into place last.

It sits in the destination's directory so the final ``os.replace`` is an
atomic rename on one filesystem. Nothing incomplete is ever at the
destination path itself: fsspec's simplecache takes any file there as
complete.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import sys
import threading
from collections.abc import Callable

PARTIAL_SUFFIX = ".ossr-partial"

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def partial_path_for(destination: str) -> str:
    return destination + PARTIAL_SUFFIX


class PartialFile:
    """Positional reads and writes from many threads into one pre-sized file."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._close_lock = threading.Lock()

    @classmethod
    def create(cls, path: str) -> PartialFile:
        """A new empty file at ``path``, replacing any old one; size it with :meth:`ensure_size`."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return cls(path, os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o666))

    @classmethod
    def open_existing(cls, path: str) -> PartialFile:
        """Reopen a previous run's file (``FileNotFoundError`` if it is gone).

        Its content is not trusted here: the caller re-verifies every part it
        means to keep.
        """
        return cls(path, os.open(path, os.O_RDWR | _CLOEXEC))

    def ensure_size(self, size: int) -> None:
        """Cut or extend the file to ``size`` bytes and reserve its blocks."""
        if os.fstat(self._fd).st_size != size:
            os.ftruncate(self._fd, size)
        _preallocate(self._fd, size)

    def write_at(self, offset: int, data: memoryview | bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view = view[written:]
            offset += written

    def read_at(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``offset``; fewer bytes only at the end of the file."""
        filled = 0
        while filled < len(buffer):
            chunk = os.preadv(self._fd, [buffer[filled:]], offset + filled)
            if chunk == 0:
                break
            filled += chunk
        return filled

    def start_writeback(self, offset: int, length: int) -> None:
        """Ask the kernel to start writing ``[offset, offset + length)`` to disk now.

        Without it a whole object sits dirty in the page cache until the final
        ``fsync``, which then stalls for as long as the disk needs to write
        everything (0.6-1.2 s per 512 MiB here). Started per finished part,
        writeback overlaps the download and the final ``fsync`` only waits for
        the tail. Best effort: where ``sync_file_range`` is missing, nothing happens.
        """
        if _sync_file_range is not None and self._fd >= 0:
            _sync_file_range(self._fd, offset, length, _SYNC_FILE_RANGE_WRITE)

    def allocated_bytes(self) -> int:
        return os.fstat(self._fd).st_blocks * 512

    def close(self) -> None:
        with self._close_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def commit(self, destination: str) -> None:
        """Make the bytes durable and atomically move them onto ``destination``."""
        os.fsync(self._fd)
        self.close()
        os.replace(self.path, destination)
        fsync_directory(os.path.dirname(destination) or ".")

    def abort(self) -> None:
        """Close and delete the file."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


#: ctypes releases the GIL around the call, so workers overlap it with their reads.
_sync_file_range = _load_sync_file_range()


def _preallocate(fd: int, size: int) -> None:
    """Reserve the blocks now so a full disk fails early, and fragments less."""
    if size <= 0 or not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        # Filesystems without fallocate: the file stays sparse, writes still work.
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise


def fsync_directory(directory: str) -> None:
    """Persist a rename: the directory entry lives in the directory's own blocks."""
    try:
        fd = os.open(directory, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename still happened
    finally:
        os.close(fd)
