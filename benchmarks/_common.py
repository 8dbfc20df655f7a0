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
