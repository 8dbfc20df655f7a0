"""Unfinished downloads and the files they left: ``oss-resumable status``, ``%oss_status``
and ``%oss_clean`` all find them here, so that they list the same things the same way.

A download into ``D`` leaves, beside it, ``D.ossr-partial`` (the data),
``D.ossr-journal`` (the checkpoint, unless a checkpoint directory holds it) and
perhaps a stale ``D.ossr-lock``. A readable journal says what its files are
(:func:`oss_resumable_fs.engine.status.find_unfinished` reads them). A partial
or lock file that no journal found describes is an *orphan*: its journal may be
in a checkpoint directory that was not looked at (removing the partial would
lose that download's progress), or it is no download's at all (someone's
``notes.ossr-partial``). Orphans are listed, and removed only when asked for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from oss_resumable_fs.engine.journal import JOURNAL_SUFFIX
from oss_resumable_fs.engine.lock import LOCK_SUFFIX
from oss_resumable_fs.engine.result import resolve_directory
from oss_resumable_fs.engine.sink import PARTIAL_SUFFIX
from oss_resumable_fs.engine.status import UnfinishedDownload, find_unfinished

__all__ = ["ORPHAN_NOTE", "Leftover", "find_leftovers"]

#: What is said of a file no journal describes.
ORPHAN_NOTE = (
    "no journal found here; it may be in a checkpoint directory (look there with "
    "--checkpoint-dir DIR), or the file is no download's"
)
#: The files a download keeps beside its destination, data first.
_BESIDE = (PARTIAL_SUFFIX, LOCK_SUFFIX)


@dataclass
class Leftover:
    """What one unfinished download left on disk, or one orphan's files."""

    destination: str
    files: list[str] = field(default_factory=list)
    #: From its journal; None for an orphan (no readable journal found).
    unfinished: UnfinishedDownload | None = None

    @property
    def orphan(self) -> bool:
        return self.unfinished is None

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

    def headline(self) -> str:
        """``oss://bucket/key -> /local/destination``; an orphan's own file(s)."""
        if self.unfinished is not None:
            return self.unfinished.headline()
        return ", ".join(self.files)

    def detail(self) -> str:
        """How far it got (from the journal), or :data:`ORPHAN_NOTE`; whether it runs now."""
        text = ORPHAN_NOTE if self.unfinished is None else self.unfinished.progress()
        return text + (" [in progress now]" if self.in_progress else "")

    def describe(self) -> str:
        """One line: headline and detail."""
        return f"{self.headline()}: {self.detail()}"


def find_leftovers(paths: Sequence[str], checkpoint_dirs: Sequence[str] = ()) -> list[Leftover]:
    """The unfinished downloads into ``paths``, then the orphans there, each sorted.

    Each path is a directory (searched recursively), a destination file (an
    unfinished one does not exist yet), or one of a download's own files.
    Journals are looked for beside their destinations and in each of
    ``checkpoint_dirs``; with no ``paths``, every journal in those.

    Raises ``FileNotFoundError`` for a missing checkpoint directory, and for a
    path that is nothing at all (no file, and no download's file or journal).
    """
    directories = [os.path.abspath(os.path.expanduser(d)) for d in checkpoint_dirs]
    for directory in directories:
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"checkpoint directory {directory}: no such directory")
    targets = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    journals: dict[str, Leftover] = {}
    for item in _journals(targets, directories):
        beside = [p for s in _BESIDE if os.path.isfile(p := item.destination + s)]
        journals[os.path.realpath(item.journal_path)] = Leftover(
            resolve_directory(item.destination), [item.journal_path, *beside], item
        )
    described = {entry.destination: entry for entry in journals.values()}
    orphans: dict[str, Leftover] = {}
    for path in _engine_files(targets):
        destination = resolve_directory(path[: -len(_suffix(path))])
        entry = described.get(destination) or orphans.setdefault(destination, Leftover(destination))
        entry.files.append(path)
    found = sorted(journals.values(), key=lambda e: (e.destination, e.files[0]))
    found += [orphans[key] for key in sorted(orphans)]
    for entry in found:
        # Once each, however spelled; an orphan's partial before its lock.
        unique: dict[str, str] = {}
        for path in entry.files:
            unique.setdefault(resolve_directory(path), path)
        entry.files = sorted(
            unique.values(), key=lambda p: entry.orphan and p.endswith(LOCK_SUFFIX)
        )
    return found


def _journals(targets: list[str], checkpoint_dirs: list[str]) -> Iterator[UnfinishedDownload]:
    """The readable journals of downloads into ``targets`` (see :func:`find_leftovers`)."""
    if not targets:
        for directory in checkpoint_dirs:
            yield from find_unfinished([], checkpoint_dir=directory)
        return
    for target in targets:
        named = target
        if not os.path.lexists(target):
            # An unfinished destination is named by its partial (or lock) file when
            # there is one: find_unfinished then looks for its journal as for the
            # destination, without calling the path nothing at all.
            named = next((target + s for s in _BESIDE if os.path.lexists(target + s)), target)
        failures = []
        for directory in checkpoint_dirs or [None]:
            try:
                yield from find_unfinished([named], checkpoint_dir=directory)
            except FileNotFoundError as error:  # nothing at the path, nor any journal of it
                failures.append(error)
        if len(failures) == len(checkpoint_dirs or [None]):
            raise failures[0]


def _engine_files(targets: list[str]) -> Iterator[str]:
    """The regular partial and lock files in (or of) ``targets``; symlinks are never ours."""
    for target in targets:
        if os.path.isdir(target):
            for folder, _dirs, names in os.walk(target):
                for name in names:
                    path = os.path.join(folder, name)
                    if _suffix(name) and os.path.isfile(path) and not os.path.islink(path):
                        yield path
        else:
            destination = target.removesuffix(_suffix(target, (JOURNAL_SUFFIX, *_BESIDE)))
            for suffix in _BESIDE:
                path = destination + suffix
                if os.path.isfile(path) and not os.path.islink(path):
                    yield path


def _suffix(name: str, suffixes: Sequence[str] = _BESIDE) -> str:
    """Which of ``suffixes`` ``name`` ends with ("" for none)."""
    return next((s for s in suffixes if name.endswith(s)), "")
