"""Checks made before any data moves: directories and free space."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

from oss_resumable_fs.engine.journal import JOURNAL_SUFFIX
from oss_resumable_fs.engine.lock import LOCK_SUFFIX
from oss_resumable_fs.engine.sink import PARTIAL_SUFFIX
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.errors import AccessDeniedError, InsufficientSpaceError

#: Suffixes of the engine's own files beside a destination (data, checkpoint, lock).
RESERVED_SUFFIXES = (PARTIAL_SUFFIX, JOURNAL_SUFFIX, LOCK_SUFFIX)


def prepare_directories(name: str, destination: str, journal_path: str) -> None:
    """Create missing parent directories (as fsspec's ``get_file`` does) and check access.

    ``IsADirectoryError`` if the destination is a directory, ``NotADirectoryError``
    if a parent is a file, :class:`AccessDeniedError` if a directory is not writable.
    """
    if os.path.isdir(destination):
        raise IsADirectoryError(errno.EISDIR, "destination is a directory", destination)
    if destination.endswith(RESERVED_SUFFIXES):
        # These names belong to the files of another download (D.ossr-partial is
        # renamed onto D, D.ossr-journal is read as D's checkpoint): landing an
        # object there could put wrong bytes at D or delete a finished file.
        raise ValueError(
            f"cannot download {name} to {destination}: names ending in "
            f"{', '.join(RESERVED_SUFFIXES)} are reserved for oss-resumable-fs's own files"
        )
    for directory in sorted({os.path.dirname(destination), os.path.dirname(journal_path)}):
        try:
            # Looked up first: a mkdir, even of a directory that exists, holds its
            # parent's lock exclusively (every file of a get would take turns on it).
            if not os.path.isdir(directory):
                os.makedirs(directory, exist_ok=True)
        except PermissionError as exc:
            raise AccessDeniedError(f"cannot create directory {directory}: {exc}") from exc
        except (FileExistsError, NotADirectoryError) as exc:
            raise NotADirectoryError(
                errno.ENOTDIR, f"cannot download {name}: not a directory", directory
            ) from exc
        if not os.access(directory, os.W_OK | os.X_OK):
            raise AccessDeniedError(
                f"cannot download {name} to {destination}: directory {directory} is not writable"
            )


def check_space(disk_usage: Callable[[str], Any], name: str, destination: str, needed: int) -> None:
    """:class:`InsufficientSpaceError` unless ``needed`` more bytes fit beside ``destination``."""
    if needed <= 0:
        return
    free = disk_usage(os.path.dirname(destination)).free
    if free < needed:
        raise InsufficientSpaceError(
            f"not enough space to download {name} to {destination}: "
            f"{human_size(needed)} still to fetch, {human_size(free)} free"
        )
