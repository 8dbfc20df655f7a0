"""``%oss_status`` / ``%oss_clean``: unfinished downloads below a directory, and their files.

An unfinished download leaves, beside its destination ``D``, ``D.ossr-partial``
(the data), ``D.ossr-journal`` (the checkpoint, unless a checkpoint directory
holds it) and perhaps a stale ``D.ossr-lock``. Status reads the journals to
say how far each got; clean removes the files, under the download's own lock
so that one running right now is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field

from oss_resumable_fs.engine.lock import LOCK_SUFFIX, TargetLock
from oss_resumable_fs.engine.result import resolve_directory
from oss_resumable_fs.engine.sink import PARTIAL_SUFFIX
from oss_resumable_fs.engine.status import UnfinishedDownload, find_unfinished, human_size
from oss_resumable_fs.errors import DownloadInProgressError

__all__ = ["Leftover", "clean", "find", "status"]


@dataclass
class Leftover:
    """What one unfinished download left on disk."""

    destination: str
    files: list[str] = field(default_factory=list)
    #: From its journal, when there is a readable one.
    unfinished: UnfinishedDownload | None = None

    @property
    def in_progress(self) -> bool:
        """Whether a download holds its lock now (in this process or another)."""
        try:
            fd = os.open(self.destination + LOCK_SUFFIX, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the lock we may have taken
        return False

    def bytes_on_disk(self) -> int:
        total = 0
        for path in self.files:
            with contextlib.suppress(OSError):
                total += os.stat(path).st_blocks * 512
        return total

    def describe(self) -> str:
        if self.unfinished is not None:
            text = self.unfinished.describe()
        else:
            has_partial = any(path.endswith(PARTIAL_SUFFIX) for path in self.files)
            text = f"{self.destination}: " + (
                "partial file without a readable journal (a new download starts afresh)"
                if has_partial
                else "leftover lock file"
            )
        return text + (" [in progress now]" if self.in_progress else "")


def find(directory: str, checkpoint_dirs: list[str]) -> list[Leftover]:
    """Unfinished downloads whose destination is below ``directory``, by destination.

    Those with a journal (beside them, or in one of ``checkpoint_dirs``), and
    partial or lock files that no journal describes.
    """
    root = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{directory}: no such directory")
    found: dict[str, Leftover] = {}

    def leftover(destination: str) -> Leftover:
        key = resolve_directory(destination)
        return found.setdefault(key, Leftover(key))

    existing = [d for d in checkpoint_dirs if os.path.isdir(os.path.expanduser(d))]
    for checkpoints in [None, *existing]:
        for item in find_unfinished([root], checkpoint_dir=checkpoints):
            entry = leftover(item.destination)
            entry.unfinished = item
            entry.files.append(item.journal_path)
    for folder, _dirs, names in os.walk(root):
        for name in names:
            suffix = next((s for s in (PARTIAL_SUFFIX, LOCK_SUFFIX) if name.endswith(s)), None)
            if suffix is not None:
                path = os.path.join(folder, name)
                leftover(path[: -len(suffix)]).files.append(path)
    for entry in found.values():
        entry.files = sorted(set(entry.files))
    return [found[key] for key in sorted(found)]


def status(directory: str, checkpoint_dirs: list[str]) -> str:
    leftovers = find(directory, checkpoint_dirs)
    where = os.path.abspath(os.path.expanduser(directory))
    if not leftovers:
        return f"no unfinished downloads below {where}"
    lines = [f"{len(leftovers)} unfinished download(s) below {where}:"]
    lines += [f"  {entry.describe()}" for entry in leftovers]
    lines.append("Run the same %oss_get again to resume; %oss_clean --yes removes their files.")
    return "\n".join(lines)


def clean(directory: str, checkpoint_dirs: list[str], *, yes: bool) -> str:
    leftovers = find(directory, checkpoint_dirs)
    where = os.path.abspath(os.path.expanduser(directory))
    if not leftovers:
        return f"no unfinished downloads below {where}"
    if not yes:
        lines = ["Would remove (run %oss_clean again with --yes to remove them):"]
        for entry in leftovers:
            if entry.in_progress:
                lines.append(f"  (in progress now, left alone) {entry.destination}")
                continue
            lines += [f"  {path}{_size(path)}" for path in entry.files]
        return "\n".join(lines)
    lines, removed, freed = [], 0, 0
    for entry in leftovers:
        freed_here = entry.bytes_on_disk()
        try:
            _remove(entry)
        except DownloadInProgressError:
            lines.append(f"  left alone (in progress now): {entry.destination}")
            continue
        except OSError as error:
            lines.append(f"  could not remove the files of {entry.destination}: {error}")
            continue
        lines += [f"  removed {path}" for path in entry.files]
        removed += 1
        freed += freed_here
    head = f"Removed the files of {removed} unfinished download(s), {human_size(freed)} freed:"
    return "\n".join([head, *lines])


def _remove(entry: Leftover) -> None:
    """Remove ``entry``'s files while holding its lock (no download can start meanwhile)."""
    lock = TargetLock(entry.destination).acquire()
    try:
        for path in entry.files:
            if not path.endswith(LOCK_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    finally:
        lock.release()  # unlinks the lock file too


def _size(path: str) -> str:
    try:
        return f" ({human_size(os.stat(path).st_blocks * 512)})"
    except OSError:
        return ""
