"""Checkpoint cost per part, 1k to 1M parts: our journal, our engine, oss2's record store.

Used by ``bench_scaling.py`` (the ``checkpoint`` curve); no network anywhere.

* **journal** -- ``engine.journal`` driven directly, as a download drives it:
  ``Journal.append`` once per finished part (one 16-byte ``O_APPEND`` write),
  then a resume's work: ``read_journal`` (parse and check every record),
  ``plan_parts`` + ``missing_parts`` (what is left to fetch), ``Journal.reopen``.
  The engine's ``TransferConfig`` refuses parts under 100 KiB and plans at most
  10,000 parts, so only this layer reaches 1M parts.
* **engine** -- a whole ``engine.download`` of a synthetic in-memory object
  (:class:`PatternSource`) in 100 KiB parts, up to the engine's 10,000: wall
  time per part (dominated by copying, CRC and writing 100 KiB), and the time
  spent inside ``Journal.append`` (timed by wrapping it in this process).
* **oss2** -- ``oss2.resumable._ResumableDownloader``'s own record-keeping
  (``__finish_part``: append to the record, then ``ResumableDownloadStore.put``
  rewrites the whole JSON file) and its resume (``__load_record`` +
  ``__get_parts_to_download``), with no network. A whole download's
  record-keeping is O(parts²), so a size whose run is predicted to exceed the
  budget is not run (its time is extrapolated, marked so); the marginal cost
  (one part finished when ``n`` are already recorded) is measured at every size
  up to oss2's own cap of 100,000 parts (``_MAX_MULTIGET_PART_COUNT``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, KiB, filesystem_type

sys.path.insert(0, str(REPO))
from oss_resumable_fs.config import MIN_PART_SIZE, TransferConfig
from oss_resumable_fs.engine import journal as journals
from oss_resumable_fs.engine.integrity import combine_all, crc64
from oss_resumable_fs.engine.plan import missing_parts, plan_parts
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.engine.transfer import download

JOURNAL_COUNTS = (1_000, 10_000, 100_000, 1_000_000)
ENGINE_COUNTS = (1_000, 3_000, 10_000)
OSS2_COUNTS = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
QUICK = {
    "journal": (1_000, 10_000, 100_000),
    "engine": (1_000, 3_000),
    "oss2": (1_000, 2_000, 5_000, 10_000, 100_000),
}
#: A journal's header names a part size; the journal layer never touches data.
JOURNAL_PART_SIZE = 4 * KiB
#: The smallest part ``TransferConfig`` accepts (OSS's own minimum).
ENGINE_PART_SIZE = MIN_PART_SIZE
#: oss2 never plans more parts than this (``oss2.resumable._MAX_MULTIGET_PART_COUNT``).
OSS2_MAX_PARTS = 100_000
_MASK = (1 << 64) - 1


def _fake_crc(index: int) -> int:
    return (index * 0x9E3779B97F4A7C15 + 1) & _MASK


def _median_us(seconds: list[float], count: int) -> float:
    return statistics.median(seconds) / count * 1e6


# -- our journal, driven directly ----------------------------------------------------


def journal_point(directory: Path, count: int, rounds: int) -> dict[str, Any]:
    """Record ``count`` parts, then resume from them; ``rounds`` times each."""
    path = str(directory / "bench.ossr-journal")
    size = count * JOURNAL_PART_SIZE
    identity = ObjectIdentity(size=size, etag="bench", last_modified="then", crc64=1)
    header = journals.new_header("oss://bench/key", str(directory / "out"), identity, 4 * KiB)
    crcs = [_fake_crc(i) for i in range(count)]
    record, read, resume = [], [], []
    for _ in range(rounds):
        journal = journals.Journal.create(path, header)
        began = time.perf_counter()
        for index, crc in enumerate(crcs):
            journal.append(index, crc)
        record.append(time.perf_counter() - began)
        journal.close()

        began = time.perf_counter()
        state = journals.read_journal(path)
        read.append(time.perf_counter() - began)
        parts = plan_parts(state.header.identity.size, state.header.part_size)
        todo = missing_parts(parts, state.parts)
        journals.Journal.reopen(path, state).close()
        resume.append(time.perf_counter() - began)
        if len(state.parts) != count or todo:
            raise SystemExit(f"journal of {count} parts read back {len(state.parts)}")
    journal_bytes = os.path.getsize(path)
    journals.remove(path)
    return {
        "parts": count,
        "record_s": record,
        "read_s": read,
        "resume_s": resume,
        "record_us_per_part": _median_us(record, count),
        "read_us_per_part": _median_us(read, count),
        "resume_us_per_part": _median_us(resume, count),
        "journal_bytes": journal_bytes,
    }


# -- our engine, on a synthetic object -------------------------------------------------


class PatternReader:
    def __init__(self, block: bytes, start: int, end: int) -> None:
        self.block = memoryview(block)
        self.pos = start
        self.end = end

    def readinto(self, buffer: memoryview) -> int:
        offset = self.pos % len(self.block)
        count = min(len(buffer), self.end - self.pos, len(self.block) - offset)
        if count <= 0:
            return 0
        buffer[:count] = self.block[offset : offset + count]
        self.pos += count
        return count

    def close(self) -> None:
        pass


class PatternSource:
    """An object of ``parts`` copies of one random ``part_size`` block, never held whole."""

    name = "oss://bench/pattern.bin"

    def __init__(self, parts: int, part_size: int) -> None:
        self.block = os.urandom(part_size)
        block_crc = crc64(self.block)
        self.identity = ObjectIdentity(
            size=parts * part_size,
            etag=f"pattern-{parts}",
            last_modified="then",
            crc64=combine_all((block_crc, part_size) for _ in range(parts)),
        )

    def stat(self) -> ObjectIdentity:
        return self.identity

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> PatternReader:
        return PatternReader(self.block, start, end)


@contextlib.contextmanager
def timed_appends() -> Iterator[list[float]]:
    """Time every ``Journal.append`` made in this process while the block runs."""
    original = journals.Journal.append
    spent: list[float] = []

    def append(self: journals.Journal, index: int, part_crc: int) -> None:
        began = time.perf_counter()
        original(self, index, part_crc)
        spent.append(time.perf_counter() - began)

    journals.Journal.append = append  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        journals.Journal.append = original  # type: ignore[method-assign]


def engine_point(directory: Path, count: int, rounds: int) -> dict[str, Any]:
    """``rounds`` whole downloads of ``count`` parts of 100 KiB with 4 fixed connections.

    Noisy on a shared machine (threads, page allocation): the minimum is kept too."""
    source = PatternSource(count, ENGINE_PART_SIZE)
    config = TransferConfig(part_size=ENGINE_PART_SIZE, concurrency=4)
    dest = directory / "engine-out.bin"
    elapsed, appends = [], []
    try:
        for _ in range(rounds):
            with timed_appends() as spent:
                began = time.perf_counter()
                result = download(source, dest, config)
                elapsed.append(time.perf_counter() - began)
            if result.parts_total != count or len(spent) != count:
                raise SystemExit(f"engine: {result.parts_total} parts, {len(spent)} appends")
            appends.append(sum(spent))
            dest.unlink()
    finally:
        dest.unlink(missing_ok=True)
    return {
        "parts": count,
        "part_size": ENGINE_PART_SIZE,
        "download_s": elapsed,
        "append_s": appends,
        "download_us_per_part": _median_us(elapsed, count),
        "download_min_us_per_part": min(elapsed) / count * 1e6,
        "append_us_per_part": _median_us(appends, count),
    }


# -- oss2's record-keeping ------------------------------------------------------------


class _Oss2Harness:
    """An ``oss2.resumable._ResumableDownloader`` whose record-keeping we drive by hand."""

    def __init__(self, directory: Path, count: int, part_size: int = ENGINE_PART_SIZE) -> None:
        import oss2
        from oss2 import resumable

        self.resumable = resumable
        info = resumable._ObjectInfo()
        info.size, info.mtime, info.etag = count * part_size, 1_700_000_000, "ETAG"
        self.args = (_Bucket(), "key.bin", str(directory / "oss2-out.bin"), info)
        self.store = oss2.ResumableDownloadStore(root=str(directory), dir="oss2-store")
        self.part_size = part_size
        self.count = count
        self.loader = self.new()
        self.loader._ResumableDownloader__load_record()
        record = self.loader._ResumableDownloader__record
        self.temp_file = Path(self.args[2] + record["tmp_suffix"])
        self.temp_file.touch()  # oss2's resume checks that its temp file exists

    def new(self) -> Any:
        return self.resumable._ResumableDownloader(
            *self.args, part_size=self.part_size, store=self.store
        )

    def part(self, index: int) -> Any:
        start = index * self.part_size
        return self.resumable._PartToProcess(index + 1, start, start + self.part_size, index)

    def finish(self, index: int) -> None:
        self.loader._ResumableDownloader__finish_part(self.part(index))

    def prefill(self, count: int) -> None:
        """Make the record hold ``count`` finished parts without rewriting it each time."""
        loader = self.loader
        for index in range(count):
            part = self.part(index)
            loader._ResumableDownloader__finished_parts.append(part)
            loader._ResumableDownloader__record["parts"].append(
                {"part_number": index + 1, "start": part.start, "end": part.end, "part_crc": index}
            )

    def resume(self) -> int:
        """oss2's resume: load and check the record, then plan the parts still to fetch."""
        loader = self.new()
        loader._ResumableDownloader__load_record()
        return len(loader._ResumableDownloader__get_parts_to_download())

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.loader._del_record()
        self.temp_file.unlink(missing_ok=True)


class _Bucket:
    bucket_name = "bench"


def oss2_full(directory: Path, count: int) -> dict[str, Any]:
    """oss2's record-keeping over a whole download of ``count`` parts, then its resume."""
    harness = _Oss2Harness(directory, count)
    try:
        began = time.perf_counter()
        for index in range(count):
            harness.finish(index)
        record = time.perf_counter() - began
        began = time.perf_counter()
        left = harness.resume()
        resume = time.perf_counter() - began
        size = os.path.getsize(Path(harness.store.dir) / os.listdir(harness.store.dir)[0])
    finally:
        harness.close()
    assert left == 0, left
    return {
        "parts": count,
        "record_s": record,
        "record_us_per_part": record / count * 1e6,
        "resume_s": resume,
        "resume_us_per_part": resume / count * 1e6,
        "record_file_bytes": size,
    }


def oss2_marginal(directory: Path, count: int, samples: int) -> dict[str, Any]:
    """Cost of finishing one more part when ``count`` are already recorded; and resume."""
    harness = _Oss2Harness(directory, count + samples)
    try:
        harness.prefill(count)
        spent = []
        for index in range(count, count + samples):
            began = time.perf_counter()
            harness.finish(index)
            spent.append(time.perf_counter() - began)
        resumes = []
        for _ in range(3 if count <= 10_000 else 1):
            began = time.perf_counter()
            harness.resume()
            resumes.append(time.perf_counter() - began)
    finally:
        harness.close()
    return {
        "parts": count,
        "finish_s": spent,
        "finish_us": statistics.median(spent) * 1e6,
        "resume_s": resumes,
        "resume_us_per_part": _median_us(resumes, count + samples),
    }


def oss2_curve(
    directory: Path, counts: tuple[int, ...], budget: float, log: Callable[[str], None]
) -> dict[str, Any]:
    full: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    for count in counts:
        if last is not None:
            # Each finished part rewrites the whole record: time grows as parts².
            predicted = last["record_s"] * (count / last["parts"]) ** 2
            if predicted > budget:
                full.append(
                    {
                        "parts": count,
                        "not_run": True,
                        "extrapolated_s": predicted,
                        "record_us_per_part": predicted / count * 1e6,
                    }
                )
                log(f"  oss2 full {count:>9,} parts: not run (about {predicted:,.0f} s)")
                continue
        last = oss2_full(directory, count)
        full.append(last)
        log(
            f"  oss2 full {count:>9,} parts: {last['record_us_per_part']:10.1f} us/part "
            f"({last['record_s']:.1f} s), resume {last['resume_us_per_part']:.2f} us/part"
        )
    marginal = []
    for count in counts:
        point = oss2_marginal(directory, count, samples=5 if count <= 10_000 else 3)
        marginal.append(point)
        log(f"  oss2 part #{count:>9,}: {point['finish_us']:12.1f} us for that one part")
    return {"full": full, "marginal": marginal, "budget_s": budget, "max_parts": OSS2_MAX_PARTS}


# -- the whole curve ---------------------------------------------------------------


def _engine_directory(scratch: Path) -> tuple[Path, str]:
    """Where the engine runs write: /dev/shm (memory) when there is one, so the disk's
    speed does not drown the per-part overhead measured here; else the scratch."""
    shm = Path("/dev/shm")
    if filesystem_type(shm) == "tmpfs" and os.access(shm, os.W_OK):
        import tempfile

        return Path(tempfile.mkdtemp(prefix="ossr-scaling-", dir=shm)), "tmpfs"
    return scratch, filesystem_type(scratch)


def run_checkpoint(scratch: Path, quick: bool, log: Callable[[str], None] = print) -> dict:
    journal_counts = QUICK["journal"] if quick else JOURNAL_COUNTS
    engine_counts = QUICK["engine"] if quick else ENGINE_COUNTS
    oss2_counts = QUICK["oss2"] if quick else OSS2_COUNTS
    logging.getLogger("oss2").setLevel(logging.WARNING)  # as in a normal run: no DEBUG
    data: dict[str, Any] = {"journal": [], "engine": []}
    log(f"checkpoint: our journal, {JOURNAL_PART_SIZE // KiB} KiB parts (journal only)")
    for count in journal_counts:
        point = journal_point(scratch, count, rounds=3)
        data["journal"].append(point)
        log(
            f"  journal {count:>9,} parts: record {point['record_us_per_part']:.2f} us/part, "
            f"read {point['read_us_per_part']:.2f}, resume {point['resume_us_per_part']:.2f}"
        )
    engine_dir, fstype = _engine_directory(scratch)
    data["engine_filesystem"] = fstype
    log(f"checkpoint: our engine, {ENGINE_PART_SIZE // KiB} KiB parts, on {fstype}")
    try:
        for count in engine_counts:
            point = engine_point(engine_dir, count, rounds=3 if quick else 5)
            data["engine"].append(point)
            log(
                f"  engine  {count:>9,} parts: download {point['download_us_per_part']:.1f} "
                f"us/part, of which journal append {point['append_us_per_part']:.2f}"
            )
    finally:
        if engine_dir != scratch:
            import shutil

            shutil.rmtree(engine_dir, ignore_errors=True)
    log("checkpoint: oss2's record store (ResumableDownloadStore), 100 KiB parts")
    data["oss2"] = oss2_curve(scratch, oss2_counts, budget=5.0 if quick else 20.0, log=log)
    return data
