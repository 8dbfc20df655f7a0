"""A ``get`` of many files as a job: what landed is recorded, so a re-run skips it unasked.

The job's manifest (:mod:`oss_resumable_fs.engine.job_manifest`: a header,
then one appended line per file outcome) is written, atomically (a temporary
file renamed), at the first file that lands, so a ``get`` that lands nothing
leaves nothing; it is removed when the ``get`` ends with every file done, and
kept otherwise, so the next run retries only what is not done.

A re-run into the same root skips, with no request and no read, each file
recorded as landed whose fresh listing still shows the same size and ETag and
whose local file still has the recorded size, mtime and inode; every other
file goes through ``get_file`` (an unfinished one resumes from its journal).
One process at a time owns a manifest (``flock`` on it); a second ``get`` into
the same root runs without a job rather than wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from typing import Any

from oss_resumable_fs.engine.job_manifest import (
    FORMAT,
    VERSION,
    FileRecord,
    JobHeader,
    ManifestCorrupt,
    encode_line,
    manifest_path,
    read_manifest,
)
from oss_resumable_fs.engine.result import DownloadResult
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.engine.status import human_size

__all__ = ["Job", "SkippedByJob", "get_job"]

log = logging.getLogger(__name__)

#: Longest error text kept per failed file.
MAX_ERROR = 500
Pair = tuple[str, str]


class SkippedByJob(DownloadResult):
    """A file an earlier run of the same ``get`` landed, untouched since: nothing fetched."""

    def summary(self) -> str:
        size = human_size(self.identity.size)
        return f"{self.path}: {size}, landed by an earlier run of this get (unchanged): skipped"


class Job:
    """One ``get``'s manifest: consulted before each file, told each outcome. Thread-safe."""

    def __init__(self, path: str, header: JobHeader, carried: dict[Pair, FileRecord]) -> None:
        self.path = path
        self.header = header
        self.redact: Callable[[str], str] = str
        self._carried = carried  # landed earlier, still valid: skipped this time
        self._pending: list[FileRecord] = []  # failures before the manifest exists
        self._lock = threading.Lock()
        self._fd = -1  # the manifest being appended to (locked)
        self._held = -1  # the previous run's manifest, locked until replaced
        self.failures = 0
        self._broken = False

    @classmethod
    def open(
        cls, source: str, root: str, files: dict[Pair, tuple[int, str | None]], path: str
    ) -> Job | None:
        """The job of a ``get`` of ``files`` ((remote, local) -> listed size and ETag)."""
        header = JobHeader(source, root, len(files), sum(s for s, _ in files.values()), time.time())
        job = cls(path, header, {})
        try:
            job._held = _lock_existing(path)
        except BlockingIOError:
            log.info("another get into %s is running: this one runs without a job", root)
            return None
        if job._held >= 0:
            with contextlib.suppress(ManifestCorrupt):
                _, records = read_manifest(path)
                for pair, (size, etag) in files.items():
                    record = records.get(pair)
                    if record is not None and _unchanged(record, size, etag):
                        job._carried[pair] = replace(record, status="skipped")
        return job

    def skip(self, remote: str, local: str, callback: Any) -> DownloadResult | None:
        """A result for a file to skip (its bytes reported to ``callback``), or None."""
        record = self._carried.get((_remote(remote), os.path.abspath(local)))
        if record is None:
            return None
        with contextlib.suppress(Exception):  # a progress display's bug is no failure
            callback.set_size(record.size)
            report = getattr(callback, "reuse", None) or callback.relative_update
            report(record.size)
        identity = ObjectIdentity(record.size, _quoted(record.etag), crc64=record.crc64)
        return SkippedByJob(
            path=local, identity=identity, bytes_fetched=0, bytes_reused=0, parts_total=0,
            parts_fetched=0, restarts=0, elapsed=0.0, skipped=True,
        )  # fmt: skip

    def record(self, outcome: Any) -> None:
        """Note one file's outcome (a :class:`~oss_resumable_fs.results.FileOutcome`)."""
        result = outcome.result
        if outcome.status == "directory" or isinstance(result, SkippedByJob):
            return
        remote, local = _remote(outcome.remote), os.path.abspath(outcome.local)
        if outcome.status == "failed" or result is None:
            error = self.redact(str(outcome.error or "failed"))[:MAX_ERROR]
            record = FileRecord(remote, local, 0, None, None, "failed", error)
        else:
            try:
                st = os.stat(local)
            except OSError:
                return  # gone already: not landed as far as a re-run can tell
            ident = result.identity
            etag = ident.etag.strip('"') if ident.etag else None
            record = FileRecord(
                remote, local, ident.size, etag, ident.crc64, "done",
                local_size=st.st_size, mtime_ns=st.st_mtime_ns, ino=st.st_ino,
            )  # fmt: skip
        with self._lock:
            self.failures += record.status == "failed"
            if self._broken:
                return
            if self._fd < 0 and not record.landed:
                self._pending.append(record)
                return
            try:
                if self._fd < 0:
                    self._create([*self._carried.values(), *self._pending])
                _write_all(self._fd, encode_line(asdict(record)))
            except OSError as exc:
                log.warning("job manifest %s: %s; the job goes on without it", self.path, exc)
                self._broken = True

    def close(self, finished: bool) -> None:
        """``finished``: every file was tried. With no failure, the manifest goes."""
        with self._lock:
            if finished and not self.failures and (self._fd >= 0 or self._held >= 0):
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                except OSError as exc:  # the next run trusts only what is still true
                    log.warning("could not remove the job manifest %s: %s", self.path, exc)
            for fd in (self._fd, self._held):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._held = -1
            self._broken = True

    def _create(self, records: list[FileRecord]) -> None:
        """Write the header and ``records`` to a new manifest, then put it in place."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        temporary = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the mode given to os.open is filtered by the umask
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else has it
            head = {"format": FORMAT, "version": VERSION, **asdict(self.header)}
            _write_all(fd, b"".join(encode_line(r) for r in [head, *map(asdict, records)]))
            os.fsync(fd)
            if self._held >= 0:
                os.replace(temporary, self.path)  # we hold the old one's lock: it is ours
            else:
                os.link(temporary, self.path)  # FileExistsError: another get began meanwhile
                os.unlink(temporary)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        self._fd = fd
        self._pending.clear()
        with contextlib.suppress(OSError):
            directory = os.open(os.path.dirname(self.path), os.O_RDONLY | os.O_CLOEXEC)
            os.fsync(directory)
            os.close(directory)


def _lock_existing(path: str) -> int:
    """The existing manifest at ``path`` opened and locked (-1 if none); BlockingIOError if
    another process holds it. Brief holders (a ``status`` looking) are waited for."""
    for attempt in range(20):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return -1
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held, current = os.fstat(fd), os.stat(path)
            if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                return fd
        except BlockingIOError:
            if attempt >= 4:
                os.close(fd)
                raise
            time.sleep(0.02)
        except FileNotFoundError:
            pass  # removed by its finishing owner: look again
        os.close(fd)
    return -1


def _unchanged(record: FileRecord, size: int, etag: str | None) -> bool:
    """Landed, of the object the listing shows now, and not touched locally since."""
    same_object = record.size == size and etag is not None and record.etag == etag.strip('"')
    return record.landed and same_object and record.still_there()


def _remote(path: str) -> str:
    return path.split("://", 1)[-1].lstrip("/")


def _quoted(etag: str | None) -> str | None:
    return f'"{etag}"' if etag else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def source_of(rpath: str | list[str], scheme: str = "oss") -> str:
    """``oss://...`` (or another ``scheme``) of what a ``get`` was asked for; of a
    list, its common prefix."""
    paths = [_remote(p) for p in ([rpath] if isinstance(rpath, str) else rpath)]
    if len(paths) == 1:
        return f"{scheme}://{paths[0]}"
    common = posixpath.commonpath([posixpath.dirname(p) for p in paths]) if paths else ""
    return f"{scheme}://{common}/"


def _root_of(lpath: str | list[str], locals_: list[str]) -> str:
    """The directory every file lands below: ``lpath`` if one was given, else the
    deepest directory common to all."""
    common = os.path.commonpath([os.path.dirname(p) for p in locals_])
    given = os.path.abspath(lpath) if isinstance(lpath, str) else None
    if given and (common == given or common.startswith(given.rstrip(os.sep) + os.sep)):
        return given
    return common


@contextlib.contextmanager
def get_job(
    rpath: str | list[str],
    lpath: str | list[str],
    pairs: list[Pair],
    infos: dict[str, dict[str, Any] | None],
    checkpoint_dir: str | None = None,
    redact: Callable[[str], str] = str,
    scheme: str = "oss",
) -> Iterator[Job | None]:
    """The job of one ``get`` (None for fewer than two files, or when another run owns
    it); its manifest is kept when the ``get`` raises or a file failed. ``scheme``
    names the source in ``oss-resumable status``."""
    files: dict[Pair, tuple[int, str | None]] = {}
    for remote, local in pairs:
        info = infos.get(remote) or {}
        if not remote.endswith("/") and info.get("type") != "directory":
            etag = info.get("ETag")
            files[_remote(remote), os.path.abspath(local)] = (
                int(info.get("size") or 0),
                etag if isinstance(etag, str) else None,
            )
    job = None
    if len(files) >= 2:
        root = _root_of(lpath, [local for _, local in files])
        path = manifest_path(root, checkpoint_dir)
        if any(local == path for _, local in files):
            log.info("a key lands at %s: this get runs without a job", path)
        else:
            try:
                job = Job.open(source_of(rpath, scheme), root, files, path)
            except OSError as exc:  # a job saves work; it never fails a get
                log.warning("this get runs without a job (%s): a re-run fetches it all", exc)
    if job is not None:
        job.redact = redact
    try:
        yield job
    except BaseException:
        if job is not None:
            job.close(finished=False)
        raise
    if job is not None:
        job.close(finished=True)
