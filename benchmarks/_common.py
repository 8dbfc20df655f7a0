"""Helpers shared by the benchmark scripts (not a benchmark itself).

Run the scripts from the repository root with the project's virtualenv, e.g.
``.venv/bin/python benchmarks/bench_get_file.py``; this module is imported from
the script's own directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from oss_resumable_fs.config import parse_size
from oss_resumable_fs.testing.data import file_crc64, write_pattern_file

__all__ = ["file_crc64", "parse_size", "write_pattern_file"]  # shared with the scripts

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

REPO = Path(__file__).resolve().parent.parent
#: Default parent of scratch directories: on the repository's own filesystem.
DEFAULT_SCRATCH_PARENT = REPO / "benchmarks" / ".scratch"

_MEMORY_FILESYSTEMS = {"tmpfs", "ramfs", "devtmpfs", "overlay-tmpfs"}


def human(size: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B" if size < MiB else f"{size / MiB:.1f}MiB"


def filesystem_type(path: str | os.PathLike[str]) -> str:
    """The type (``ext4``, ``tmpfs`` ...) of the mount holding ``path``, from /proc/mounts."""
    target = os.path.realpath(path)
    best, best_type = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount_point = fields[1].replace("\\040", " ")
                inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, best_type = mount_point, fields[2]
    except OSError:
        pass
    return best_type


def make_scratch(requested: str | None, *, allow_tmpfs: bool = False) -> tuple[Path, bool]:
    """A fresh scratch directory; returns it and whether we created its parent tree.

    ``requested`` is a parent directory (created if missing). By default the
    scratch lives in ``benchmarks/.scratch/`` -- the repository's filesystem --
    rather than in /tmp, which may be a tmpfs (RAM) and would flatter every
    competitor's write path. A tmpfs target is refused unless ``allow_tmpfs``.
    """
    parent = Path(requested) if requested else DEFAULT_SCRATCH_PARENT
    parent.mkdir(parents=True, exist_ok=True)
    fstype = filesystem_type(parent)
    if fstype in _MEMORY_FILESYSTEMS and not allow_tmpfs:
        raise SystemExit(
            f"{parent} is on {fstype} (memory): downloads there never touch a disk. "
            "Pass --dir on a real disk, or --allow-tmpfs to measure it anyway."
        )
    scratch = Path(tempfile.mkdtemp(prefix="ossr-bench-", dir=parent))
    return scratch, fstype in _MEMORY_FILESYSTEMS


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    # Tidy the default parent when nothing else (another run) is using it.
    if scratch.parent == DEFAULT_SCRATCH_PARENT:
        with contextlib.suppress(OSError):
            DEFAULT_SCRATCH_PARENT.rmdir()


def drop_dirty_pages() -> None:
    """``sync(2)``: start every timed run with no other run's dirty pages pending."""
    os.sync()


#: Page cache recycled beyond what a run will write (:func:`recycle_page_cache`).
RECYCLED_MARGIN = 64 * MiB


def recycle_page_cache(directory: Path, nbytes: int) -> None:
    """Write ``nbytes`` (and :data:`RECYCLED_MARGIN`) into a scratch file in ``directory``
    and delete it: the run that starts right after, writing ``nbytes``, writes them into
    page cache the host has backed.

    This machine is a VM whose freed memory goes back to the host (virtio-balloon
    free page reporting), and page cache written into such memory may wait for the
    host: 256 MiB cost 0.29-0.81 s of CPU to write, against 0.05-0.07 s into page
    cache freed just before (``free_page_cost.py``; in some hours the host makes no
    difference). Whichever contender a timed run happened to start on handed-back
    memory took twice the CPU and ran at half the speed. A file written and deleted
    here leaves its pages free for the next writes to take (touching anonymous
    memory does not: the page cache does not reuse it).
    """
    nbytes += RECYCLED_MARGIN
    chunk = bytes(min(nbytes, 4 * MiB))
    path = directory / ".recycled-page-cache"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        while written < nbytes:
            written += os.write(fd, chunk)
    finally:
        os.close(fd)
        os.unlink(path)


def free_page_reporting() -> dict[str, str] | None:
    """The guest's free page reporting settings (``/sys/module/page_reporting``), if any.

    ``min_free_ms`` is how long freed memory stays in the guest before it goes back
    to the host; at 0, page cache written more than about a second after memory
    was freed waits for the host (see :func:`recycle_page_cache`).
    """
    root = Path("/sys/module/page_reporting/parameters")
    if not root.is_dir():
        return None
    settings = {}
    for name in ("min_free_ms", "page_reporting_order"):
        with contextlib.suppress(OSError):
            settings[name] = (root / name).read_text().strip()
    return settings


def proc_status(field: str) -> int | None:
    """``VmRSS`` / ``VmHWM`` of this process from /proc/self/status, in bytes (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True
