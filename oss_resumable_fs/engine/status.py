"""Unfinished downloads, as their checkpoint journals describe them (for a ``status`` command).

A journal lives beside its destination (``<dest>.ossr-journal``) or, with a
``checkpoint_dir``, in that directory under a hash of the destination. Either
way its header records the source and the destination, so a journal is found
by walking the folders asked about, or by reading every journal in the
checkpoint directory and keeping those whose destination lies there.

Unfinished ``get`` jobs are found the same way, by their manifests
(:mod:`oss_resumable_fs.engine.job_manifest`): ``.ossr-job`` in a job's
destination root, or ``<hash>.ossr-job`` in a checkpoint directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from oss_resumable_fs.engine.job_manifest import (
    MANIFEST_NAME,
    FileRecord,
    JobHeader,
    ManifestCorrupt,
    read_manifest,
)
from oss_resumable_fs.engine.journal import JOURNAL_SUFFIX, JournalCorrupt, read_journal
from oss_resumable_fs.engine.plan import bytes_in, plan_parts
from oss_resumable_fs.engine.sink import PARTIAL_SUFFIX

__all__ = [
    "UnfinishedDownload",
    "UnfinishedJob",
    "find_jobs",
    "find_unfinished",
    "human_size",
    "list_unfinished",
]

#: Names of the files a download keeps beside its destination.
_ENGINE_SUFFIXES = (JOURNAL_SUFFIX, PARTIAL_SUFFIX, ".ossr-lock")


@dataclass(frozen=True)
class UnfinishedDownload:
    journal_path: str
    #: The object, e.g. ``oss://bucket/key``.
    source: str
    destination: str
    size: int
    #: Bytes in the parts the journal records as done (re-verified when resumed).
    bytes_done: int
    parts_done: int
    parts_total: int
    #: Unix time the download first started.
    started: float
    #: Seconds since the journal last recorded progress.
    age: float
    #: Whether ``<destination>.ossr-partial`` (the data) is still there; without it
    #: the next run starts over.
    partial_exists: bool = True

    def describe(self) -> str:
        """One line for humans: ``source -> destination: progress``."""
        return f"{self.headline()}: {self.progress()}"

    def headline(self) -> str:
        """``oss://bucket/key -> /local/destination``."""
        return f"{self.source} -> {self.destination}"

    def progress(self) -> str:
        """How far it got: bytes and parts recorded, and how long ago the last one was."""
        percent = 100.0 * self.bytes_done / self.size if self.size else 100.0
        text = (
            f"{human_size(self.bytes_done)} of {human_size(self.size)} ({percent:.0f}%), "
            f"{self.parts_done}/{self.parts_total} parts, last progress {_human_age(self.age)} ago"
        )
        if not self.partial_exists:
            text += "; its partial file is gone: the next run starts over"
        return text


def list_unfinished(directory: str | os.PathLike[str]) -> list[UnfinishedDownload]:
    """Every readable ``*.ossr-journal`` directly in ``directory``, sorted by destination.

    Unreadable or damaged journals are skipped: a download would start those afresh.
    """
    now = time.time()
    with os.scandir(directory) as entries:
        journals = [e.path for e in entries if e.name.endswith(JOURNAL_SUFFIX) and e.is_file()]
    found = (_read(path, now) for path in journals)
    return sorted((item for item in found if item is not None), key=_order)


def find_unfinished(
    paths: Iterable[str | os.PathLike[str]], *, checkpoint_dir: str | os.PathLike[str] | None = None
) -> list[UnfinishedDownload]:
    """The unfinished downloads into ``paths``, sorted by destination.

    Each path is a directory, searched recursively (symlinks to directories are
    not followed), or a destination file (finished or not; an unfinished one
    does not exist yet), or one of a download's own ``.ossr-*`` files. With
    ``checkpoint_dir``, the journals there whose destination is one of
    ``paths`` or lies below one are found too; every one of them when
    ``paths`` is empty.

    Raises ``FileNotFoundError`` for a path that does not exist and is no
    unfinished download's destination, and for a missing ``checkpoint_dir``.
    """
    now = time.time()
    paths = [os.path.abspath(os.fspath(path)) for path in paths]
    found: dict[str, UnfinishedDownload] = {}

    def add(journal: str) -> None:
        key = os.path.realpath(journal)
        if key not in found and (item := _read(journal, now)) is not None:
            found[key] = item

    for path in paths:
        if os.path.isdir(path):
            for journal in _walk_journals(path):
                add(journal)
        elif path.endswith(JOURNAL_SUFFIX) and os.path.isfile(path):
            add(path)  # e.g. a journal in a checkpoint directory, named by its hash
        elif os.path.isfile(journal := _destination_named_by(path) + JOURNAL_SUFFIX):
            add(journal)
    if checkpoint_dir is not None:
        directory = os.path.abspath(os.path.expanduser(os.fspath(checkpoint_dir)))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"checkpoint directory {directory}: no such directory")
        for item in list_unfinished(directory):
            if not paths or any(_lies_in(item.destination, path) for path in paths):
                found.setdefault(os.path.realpath(item.journal_path), item)
    for path in paths:
        if not os.path.lexists(path) and not any(
            _lies_in(item.destination, path) for item in found.values()
        ):
            raise FileNotFoundError(
                f"{path}: no such file or directory, and no unfinished download into it"
            )
    return sorted(found.values(), key=_order)


def _walk_journals(top: str) -> Iterator[str]:
    """Every ``*.ossr-journal`` file below ``top``; unreadable directories are passed over."""
    for directory, _subdirectories, files in os.walk(top):
        for name in files:
            if name.endswith(JOURNAL_SUFFIX):
                yield os.path.join(directory, name)


def _destination_named_by(path: str) -> str:
    """``path``, or the destination whose engine file (``.ossr-partial``...) it is."""
    for suffix in _ENGINE_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _lies_in(destination: str, path: str) -> bool:
    """Whether ``destination`` is ``path`` (or one of its engine files) or lies below it."""
    destination = _resolved(destination)
    path = _resolved(_destination_named_by(path))
    return destination == path or destination.startswith(path.rstrip(os.sep) + os.sep)


def _resolved(path: str) -> str:
    """``path`` absolute, with symlinks in its directory resolved (the name itself kept)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(directory), name)


def _read(journal: str, now: float) -> UnfinishedDownload | None:
    try:
        state = read_journal(journal)
        modified = os.stat(journal).st_mtime
    except (JournalCorrupt, OSError):
        return None
    header = state.header
    parts = plan_parts(header.identity.size, header.part_size)
    return UnfinishedDownload(
        journal_path=journal,
        source=header.source,
        destination=header.destination,
        size=header.identity.size,
        bytes_done=bytes_in(parts, state.parts),
        parts_done=len(state.parts),
        parts_total=len(parts),
        started=header.created,
        age=max(0.0, now - modified),
        partial_exists=os.path.exists(header.destination + PARTIAL_SUFFIX),
    )


@dataclass(frozen=True)
class UnfinishedJob:
    """A ``get`` of many files that has not ended with every file done, from its manifest."""

    manifest_path: str
    header: JobHeader
    #: Each file's last recorded outcome.
    records: tuple[FileRecord, ...]
    #: The unfinished downloads (journals) below the job's destination.
    partial: tuple[UnfinishedDownload, ...] = field(default=())
    #: Partial and lock files below it that no journal describes (a small file's
    #: download killed midway leaves them; the next run replaces them).
    leftovers: tuple[str, ...] = field(default=())

    @property
    def done(self) -> int:
        return sum(record.landed for record in self.records)

    @property
    def failed(self) -> tuple[FileRecord, ...]:
        return tuple(record for record in self.records if record.status == "failed")

    @property
    def bytes_done(self) -> int:
        landed = sum(record.size for record in self.records if record.landed)
        return landed + sum(item.bytes_done for item in self.partial)

    @property
    def in_progress(self) -> bool:
        """Whether a ``get`` owns the manifest now (it holds a ``flock`` on it)."""
        try:
            fd = os.open(self.manifest_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # and with it our lock
        return False

    def covers(self, destination: str) -> bool:
        """Whether a download into ``destination`` is one of this job's files."""
        return _lies_in(destination, self.header.destination)

    def describe(self) -> str:
        """One line: ``get oss://b/p/ -> /out: 97/200 files done, 3 partial, 0 failed, ...``."""
        header = self.header
        text = (
            f"{header.headline()}: {self.done}/{header.files} files done, "
            f"{len(self.partial)} partial, {len(self.failed)} failed, "
            f"{human_size(self.bytes_done)} of {human_size(header.total_bytes)}"
        )
        if self.leftovers:  # (a partial file and its lock: one download)
            count = len({_destination_named_by(path) for path in self.leftovers})
            text += f", {count} to start over (no journal)"
        return text + (" [in progress now]" if self.in_progress else "")

    def details(self) -> list[str]:
        """Its partial files, its failed ones with their errors, its leftovers: a line each."""
        lines = [f"partial: {item.describe()}" for item in self.partial]
        lines += [f"failed: {r.remote} -> {r.local}: {r.error}" for r in self.failed]
        return lines + [f"leftover: {path}" for path in self.leftovers]


def find_jobs(
    paths: Iterable[str | os.PathLike[str]],
    checkpoint_dirs: Sequence[str | os.PathLike[str]] = (),
    downloads: Iterable[UnfinishedDownload] = (),
) -> list[UnfinishedJob]:
    """The unfinished jobs into ``paths``, sorted by destination root.

    Manifests are looked for in each directory of ``paths`` (recursively) and in
    each of ``checkpoint_dirs``, whose are kept when their destination lies in
    one of ``paths`` (all of them when ``paths`` is empty). Each of
    ``downloads`` whose destination lies below a job's root becomes one of its
    partial files. Unreadable or damaged manifests are passed over.
    """
    targets = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]
    manifests = [
        os.path.join(folder, MANIFEST_NAME)
        for target in targets
        if os.path.isdir(target)
        for folder, _dirs, files in os.walk(target)
        if MANIFEST_NAME in files
    ]
    for directory in checkpoint_dirs:
        directory = os.path.abspath(os.path.expanduser(os.fspath(directory)))
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            manifests += [e.path for e in entries if e.name.endswith(MANIFEST_NAME)]
    found: dict[str, UnfinishedJob] = {}
    for path in manifests:
        try:
            header, records = read_manifest(path)
        except (ManifestCorrupt, OSError):
            continue
        if targets and not any(_lies_in(header.destination, t) for t in targets):
            continue
        found.setdefault(os.path.realpath(path), UnfinishedJob(path, header, (*records.values(),)))
    jobs = sorted(found.values(), key=lambda job: (job.header.destination, job.manifest_path))
    unclaimed = list(downloads)
    for index in reversed(range(len(jobs))):  # a job inside another's root claims first
        job = jobs[index]
        mine = tuple(item for item in unclaimed if job.covers(item.destination))
        unclaimed = [item for item in unclaimed if not job.covers(item.destination)]
        jobs[index] = UnfinishedJob(job.manifest_path, job.header, job.records, mine)
    return jobs


def _order(item: UnfinishedDownload) -> tuple[str, str]:
    return item.destination, item.journal_path


def human_size(count: float) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _human_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
