"""``%oss_status`` / ``%oss_clean``: unfinished downloads below a directory, and their files.

Status shows an unfinished ``get`` of many files (a job) as one line, its
partial files counted in it (listed with ``-v``), as ``oss-resumable status`` does.

They are found as ``oss-resumable status`` finds them
(:mod:`oss_resumable_fs.cli.leftovers`): a readable journal, beside its
destination or in a checkpoint directory, says what a download's files are;
a partial or lock file that no journal found describes is an orphan. Status
lists both; clean removes, under each download's own lock (so that one running
right now is left alone), the files journals describe, and orphans only with
``orphans=True``: the journal of one may be in a checkpoint directory that was
not given, and its partial file the progress that download would resume from.
"""

from __future__ import annotations

import contextlib
import os

from oss_resumable_fs.cli.leftovers import Leftover, find_leftovers
from oss_resumable_fs.cli.status import find_jobs_and_leftovers
from oss_resumable_fs.engine.lock import LOCK_SUFFIX, TargetLock
from oss_resumable_fs.engine.status import UnfinishedJob, human_size
from oss_resumable_fs.errors import DownloadInProgressError

__all__ = ["clean", "find", "status"]


def find(directory: str, checkpoint_dirs: list[str]) -> list[Leftover]:
    """Unfinished downloads whose destination is below ``directory``, then orphans there.

    Journals are looked for beside each destination and in those of
    ``checkpoint_dirs`` that exist (the session's may not yet).
    """
    return find_leftovers(*_where(directory, checkpoint_dirs))


def _where(directory: str, checkpoint_dirs: list[str]) -> tuple[list[str], list[str]]:
    """``[directory]`` made absolute (it must exist), and the checkpoint directories that do."""
    root = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{directory}: no such directory")
    existing = [d for d in checkpoint_dirs if os.path.isdir(os.path.expanduser(d))]
    return [root], list(dict.fromkeys(existing))


def status(directory: str, checkpoint_dirs: list[str], *, verbose: bool = False) -> str:
    """Each unfinished ``get`` job in one line (``verbose``: its partial and failed
    files below it), then the other unfinished downloads, then orphans."""
    jobs, leftovers = find_jobs_and_leftovers(*_where(directory, checkpoint_dirs))
    where = os.path.abspath(os.path.expanduser(directory))
    if not leftovers and not jobs:
        return f"no unfinished downloads below {where}"
    orphans = sum(entry.orphan for entry in leftovers)
    downloads = len(leftovers) - orphans
    head = f"{downloads} unfinished download(s)"
    if jobs:
        head = f"{len(jobs)} unfinished get job(s)" + (f", {head}" if downloads else "")
    if orphans:
        head += f", and {orphans} leftover(s) no journal describes,"
    lines = [f"{head} below {where}:", *_job_lines(jobs, verbose)]
    lines += [f"  {entry.describe()}" for entry in leftovers]
    if downloads or jobs:
        lines.append("Run the same %oss_get again to resume; %oss_clean --yes removes their files.")
    if orphans:
        lines.append(
            "%oss_clean leaves files no journal describes alone; --orphans removes them too."
        )
    return "\n".join(lines)


def _job_lines(jobs: list[UnfinishedJob], verbose: bool) -> list[str]:
    lines = []
    for job in jobs:
        lines.append(f"  {job.describe()}")
        lines += [f"    {line}" for line in job.details()] if verbose else []
    return lines


def clean(directory: str, checkpoint_dirs: list[str], *, yes: bool, orphans: bool = False) -> str:
    leftovers = find(directory, checkpoint_dirs)
    where = os.path.abspath(os.path.expanduser(directory))
    if not leftovers:
        return f"no unfinished downloads below {where}"
    chosen = [entry for entry in leftovers if orphans or not entry.orphan]
    spared = [] if orphans else [entry for entry in leftovers if entry.orphan]
    if not yes:
        lines = ["Would remove (run %oss_clean again with --yes to remove them):"]
        for entry in chosen:
            if entry.in_progress:
                lines.append(f"  (in progress now, left alone) {entry.destination}")
                continue
            lines += [f"  {path}{_size(path)}" for path in entry.files]
        if not chosen:
            lines = ["Would remove nothing."]
        return "\n".join(lines + _spared(spared))
    lines, removed, freed = [], 0, 0
    for entry in chosen:
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
    if not chosen:
        head = "Removed nothing."
    return "\n".join([head, *lines, *_spared(spared)])


def _spared(entries: list[Leftover]) -> list[str]:
    """What is left alone for want of ``--orphans``: every file, and why."""
    if not entries:
        return []
    lines = ["Left alone, as no journal found describes them (--orphans removes them too):"]
    return lines + [f"  {path}" for entry in entries for path in entry.files]


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
