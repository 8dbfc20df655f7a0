"""A ``get -r`` of many files killed half way, then run again (issue 9).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_job_resume.py                 # 200 files
    .venv/bin/python benchmarks/bench_job_resume.py --files 1000 --large-every 50

``--files`` objects (one in ``--large-every`` of ``--large`` bytes, the others
``--small``) are seeded into a local OSS server in its own process, shaped like
a WAN link (``--rate`` per connection, ``--latency`` per answer). Then, for each
scenario:

``job``     ``oss-resumable get -r URL DEST`` is SIGKILLed once its job manifest
            records half the files; ``oss-resumable status DEST`` is run and
            checked against the disk (files landed, journals); the same command
            is run again to the end.
``no job``  the same, but the manifest is deleted after the kill: the re-run
            then checks each landed file as a plain re-run does (a HEAD, and
            the local file's CRC-64).

Printed per scenario: the status line, the object bytes (the minimum any
correct run must fetch), the bytes served by both runs, the excess and its
bound (one part per connection in flight at the kill), the re-run's requests
and its time to finish. Every file is CRC-64 checked at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, KiB, MiB, human, make_scratch, parse_size, remove_scratch

sys.path.insert(0, str(REPO))

from oss_resumable_fs.engine.integrity import crc64, file_crc64
from oss_resumable_fs.engine.job_manifest import MANIFEST_NAME, ManifestCorrupt, read_manifest
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.testing import OSSServer, StatsSnapshot

BUCKET = "bench"
PREFIX = "job/"
SCRIPT = str(Path(sys.executable).with_name("oss-resumable"))
#: Files open at once in ``get``: 8 small ones (the filesystem's default), 2 large ones.
FILES_AT_ONCE = 8 + 2
LIMIT = 600.0


def _landed(dest: Path) -> int:
    try:
        _, records = read_manifest(str(dest / MANIFEST_NAME))
    except (FileNotFoundError, ManifestCorrupt):
        return 0
    return sum(record.landed for record in records.values())


def _settled(server: OSSServer) -> StatsSnapshot:
    """The statistics once the server has stopped sending to the killed child."""
    last = -1
    while True:
        time.sleep(0.3)
        stats = server.stats()
        if stats.total_bytes_served == last:
            return stats
        last = stats.total_bytes_served


def _scenario(
    name: str, server: OSSServer, args: argparse.Namespace, dest: Path, objects: dict[str, int]
) -> dict[str, object]:
    env = server.environment()
    url = f"oss://{BUCKET}/{PREFIX}"
    command = [SCRIPT, "get", "-r", url, str(dest), "--part-size", human(args.part_size)]
    command += ["--concurrency", str(args.concurrency)]
    server.simulate_wan(args.rate, args.latency)
    server.reset_stats()
    started = time.monotonic()
    child = subprocess.Popen([*command, "--quiet"], env=env, stderr=subprocess.PIPE)
    while _landed(dest) < args.files // 2:
        if child.poll() is not None:
            raise SystemExit(f"the first run ended before half the files landed: {child.stderr}")
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_after = time.monotonic() - started
    first = _settled(server)
    server.clear_faults()

    status = subprocess.run(
        [SCRIPT, "status", str(dest)], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    landed = _landed(dest)
    on_disk = sum(1 for p in dest.iterdir() if p.is_file() and ".ossr-" not in p.name)
    journals = sum(1 for p in dest.iterdir() if p.name.endswith(".ossr-journal"))
    match = re.search(r": (\d+)/\d+ files done, (\d+) partial, (\d+) failed", status)
    consistent = bool(match) and (int(match[1]), int(match[2]), int(match[3])) == (
        landed,
        journals,
        0,
    )
    if name == "no job":
        (dest / MANIFEST_NAME).unlink()

    server.simulate_wan(args.rate, args.latency)
    server.reset_stats()
    started = time.monotonic()
    subprocess.run([*command, "--quiet"], env=env, check=True, timeout=LIMIT)
    rerun = time.monotonic() - started
    second = server.stats()
    server.clear_faults()

    wrong = [
        key
        for key, size in objects.items()
        if file_crc64(str(dest / key[len(PREFIX) :])) != crc64(_content(key, size))
    ]
    total = sum(objects.values())
    served = first.total_bytes_served + second.total_bytes_served
    return {
        "status": status,
        "status matches disk": f"{consistent} (landed {landed} recorded, {on_disk} on disk, "
        f"{journals} journals)",
        "killed after": f"{killed_after:.2f} s",
        "object bytes (minimum)": human_size(total),
        "served, both runs": human_size(served),
        "excess": f"{human_size(served - total)} (bound {human_size(_bound(args))})",
        "re-run requests": dict(sorted(second.requests.items())),
        "re-run bytes served": human_size(second.total_bytes_served),
        "re-run time to finish": f"{rerun:.2f} s",
        "wrong files": len(wrong),
    }


def _bound(args: argparse.Namespace) -> int:
    """One part per connection in flight at the kill: each file at once, each connection."""
    return FILES_AT_ONCE * max(args.concurrency * args.part_size, args.small)


def _content(key: str, size: int) -> bytes:
    index = int(key[len(PREFIX) + 1 : len(PREFIX) + 6])
    return index.to_bytes(8, "little") * (size // 8) + b"\0" * (size % 8)


def _sizes(args: argparse.Namespace) -> dict[str, int]:
    return {
        f"{PREFIX}f{i:05d}.bin": args.large if i % args.large_every == args.large_every // 2
        else args.small
        for i in range(args.files)
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--small", type=parse_size, default=256 * KiB)
    parser.add_argument("--large", type=parse_size, default=16 * MiB)
    parser.add_argument("--large-every", type=int, default=20)
    parser.add_argument("--part-size", type=parse_size, default=2 * MiB)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=parse_size, default=8 * MiB, help="per connection")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--dir", default=None, help="parent of the scratch directory")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    scratch, _made = make_scratch(args.dir)
    results = {}
    try:
        objects = _sizes(args)
        with OSSServer(mode="process") as server:
            server.create_bucket(BUCKET)
            for key, size in objects.items():
                server.put_object(BUCKET, key, _content(key, size))
            for name in ("job", "no job"):
                results[name] = _scenario(
                    name, server, args, scratch / name.replace(" ", "-"), objects
                )
    finally:
        remove_scratch(scratch)
    large = sum(1 for size in objects.values() if size == args.large)
    print(
        f"\n== get -r of {args.files} files ({large} of {human(args.large)}, the rest "
        f"{human(args.small)}), killed at half, run again; {human(args.rate)}/s per "
        f"connection, {args.latency * 1000:.0f} ms latency =="
    )
    for name, rows in results.items():
        print(f"\n[{name}]")
        for label, value in rows.items():
            print(f"  {label:<24} {value}")
    return 0 if all(rows["wrong files"] == 0 for rows in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
