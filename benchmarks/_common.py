"""Helpers shared by the benchmark scripts (not a benchmark itself).

Run the scripts from the repository root with the project's virtualenv, e.g.
``.venv/bin/python benchmarks/bench_get_file.py``; this module is imported from
the script's own directory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import fastcrc

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

REPO = Path(__file__).resolve().parent.parent
#: Default parent of scratch directories: on the repository's own filesystem.
DEFAULT_SCRATCH_PARENT = REPO / "benchmarks" / ".scratch"

_UNITS = {
    "": 1,
    "b": 1,
    "k": KiB,
    "kb": 1000,
    "kib": KiB,
    "m": MiB,
    "mb": 1000**2,
    "mib": MiB,
    "g": GiB,
    "gb": 1000**3,
    "gib": GiB,
}
_MEMORY_FILESYSTEMS = {"tmpfs", "ramfs", "devtmpfs", "overlay-tmpfs"}


def parse_size(text: str) -> int:
    """``512MiB`` / ``4GiB`` / ``64M`` / ``1048576`` -> bytes (binary units for K/M/G)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 512MiB, 4GiB, 64M)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


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


def write_pattern_file(path: str | os.PathLike[str], size: int, block: int = 64 * MiB) -> None:
    """Write ``size`` bytes of incompressible data quickly, in constant memory.

    One ``os.urandom`` block is repeated, with the block number stamped into
    its first 8 bytes so no two blocks (and so no two parts) are identical.
    """
    base = bytearray(os.urandom(min(block, max(size, 1))))
    with open(path, "wb") as out:
        written, index = 0, 0
        while written < size:
            base[:8] = index.to_bytes(8, "little")
            chunk = memoryview(base)[: min(len(base), size - written)]
            out.write(chunk)
            written += len(chunk)
            index += 1


def file_crc64(path: str | os.PathLike[str], chunk: int = 16 * MiB) -> int:
    """CRC-64/ECMA (as OSS's ``x-oss-hash-crc64ecma``) of a local file."""
    crc = 0
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as data:
        while True:
            n = data.readinto(buffer)
            if not n:
                return crc
            crc = fastcrc.crc64.xz(view[:n], initial=crc)


def drop_dirty_pages() -> None:
    """``sync(2)``: start every timed run with no other run's dirty pages pending."""
    os.sync()
