"""What writing into the page cache costs on memory the host took back, and on memory it did not.

This machine is a VM with virtio-balloon free page reporting: memory freed in
the guest goes back to the host, and the next write into it waits for the host
to back it again. The script writes 256 MiB into a new file right after
deleting an earlier one, 3 s later, and 3 s later but just after
``_common.recycle_page_cache`` (what the harness does before every timed run,
so that no contender pays this by chance), and prints the CPU each write took.

    .venv/bin/python benchmarks/free_page_cost.py
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from _common import MiB, make_scratch, recycle_page_cache, remove_scratch

SIZE = 256 * MiB
CHUNK = 1 * MiB
ROUNDS = 4
#: (label, seconds between freeing and writing, recycle first)
CASES = (
    ("right after freeing as much", 0.0, False),
    ("3 s after freeing as much", 3.0, False),
    ("3 s after, page cache recycled first", 3.0, True),
)


def write_file(path: Path, chunk: bytes) -> float:
    """CPU seconds to write SIZE bytes into a new file at ``path``."""
    began = time.process_time()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(SIZE // CHUNK):
            os.write(fd, chunk)
    finally:
        os.close(fd)
    return time.process_time() - began


def main() -> None:
    chunk = os.urandom(CHUNK)
    cpu: dict[str, list[float]] = {label: [] for label, _, _ in CASES}
    scratch, _ = make_scratch(None)  # on disk: page cache, not a tmpfs's memory
    try:
        path = scratch / "data.bin"
        for _ in range(ROUNDS):
            for label, delay, recycle in CASES:
                write_file(path, chunk)
                os.sync()
                path.unlink()  # its page cache is free memory now
                time.sleep(delay)
                if recycle:
                    recycle_page_cache(scratch, SIZE)
                cpu[label].append(write_file(path, chunk))
                os.sync()
                path.unlink()
    finally:
        remove_scratch(scratch)
    for label, seconds in cpu.items():
        print(
            f"256 MiB written {label}: CPU median {statistics.median(seconds):.3f} s "
            f"(min {min(seconds):.3f}, max {max(seconds):.3f})"
        )


if __name__ == "__main__":
    main()
