"""A mixed prefix on a slow link (issue 9): 1,000 small objects and two large ones in one
``get``, against ``ossfs``; and what the call held while doing it (memory, connections).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_mixed.py                     # 1,000 x 64 KiB + 2 x 512 MiB
    .venv/bin/python benchmarks/bench_mixed.py --large 128MiB --count 200 --rounds 1

One server process; ``simulate_wan`` gives each connection ``--wan-rate`` (16 MiB/s)
after ``--wan-latency`` (30 ms) on every request. Contenders alternate (the order
flips each round):

``ours``   ``ResumableOSSFileSystem(...).get(prefix, DIR, recursive=True)`` at its defaults.
``ossfs``  ``ossfs.OSSFileSystem(...).get(prefix, DIR, recursive=True)`` at its defaults.

Reported: median wall time, ``ours/ossfs`` (ossfs's time / ours), and for ours
the budgets' measurements: the most GETs the server saw in flight (against
``max_connections``) and the growth of this process's peak RSS during the call
(against ``max_buffer_memory``). Every output file is checked (size and CRC-64).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    KiB,
    MiB,
    human,
    make_scratch,
    parse_size,
    proc_status,
    remove_scratch,
    reset_peak_rss,
    write_pattern_file,
)

sys.path.insert(0, str(REPO))
import ossfs

from oss_resumable_fs import ResumableOSSFileSystem, TransferConfig
from oss_resumable_fs.engine.integrity import file_crc64
from oss_resumable_fs.testing import OSSServer

BUCKET = "bench"
PREFIX = "mixed/"


def seed(server: OSSServer, scratch: Path, count: int, small: int, large: int) -> dict[str, Any]:
    """The objects (key -> (size, crc64)), uploaded from files written once."""
    objects: dict[str, tuple[int, int]] = {}
    source = scratch / "seed.bin"
    for index in range(2):
        write_pattern_file(source, large)  # random blocks: the two differ
        key = f"{PREFIX}large-{index}.bin"
        server.put_object(BUCKET, key, source)
        objects[key] = (large, file_crc64(source))
    for index in range(count):
        data = os.urandom(small - 8) + index.to_bytes(8, "big")
        key = f"{PREFIX}small/{index:05d}.bin"
        server.put_object(BUCKET, key, data)
        source.write_bytes(data)
        objects[key] = (small, file_crc64(source))
    source.unlink()
    return objects


def check(out: Path, objects: dict[str, tuple[int, int]]) -> str | None:
    for key, (size, crc) in objects.items():
        path = out / key[len(PREFIX) :]
        if not path.is_file() or path.stat().st_size != size or file_crc64(path) != crc:
            return f"WRONG or missing: {key}"
    return None


def run_once(name: str, server: OSSServer, out: Path, objects: dict) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    endpoint, key, secret = server.endpoint, server.access_key_id, server.access_key_secret
    if name == "ours":
        fs: Any = ResumableOSSFileSystem(
            endpoint=endpoint, key=key, secret=secret, skip_instance_cache=True
        )
    else:
        fs = ossfs.OSSFileSystem(
            endpoint=endpoint, key=key, secret=secret, skip_instance_cache=True
        )
    server.reset_stats()
    rss_before = proc_status("VmRSS") or 0
    reset_peak_rss()
    began = time.perf_counter()
    fs.get(f"{BUCKET}/{PREFIX}", str(out) + "/", recursive=True)
    seconds = time.perf_counter() - began
    peak = proc_status("VmHWM") or 0
    stats = server.stats()
    error = check(out, objects)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "seconds": None if error else seconds,
        "error": error,
        "max_concurrent_gets": stats.max_concurrent_gets,
        "rss_growth": max(0, peak - rss_before),
        "requests": dict(stats.requests),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--small", type=parse_size, default=64 * KiB)
    parser.add_argument("--large", type=parse_size, default=512 * MiB)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wan-rate", type=parse_size, default=16 * MiB)
    parser.add_argument("--wan-latency", type=float, default=0.03)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    scratch, _ = make_scratch(args.dir)
    budget = TransferConfig()
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "ossfs": []}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    try:
        root = scratch / "server"
        root.mkdir()
        with OSSServer(root=root, mode="process") as server:
            server.create_bucket(BUCKET)
            objects = seed(server, scratch, args.count, args.small, args.large)
            server.simulate_wan(bytes_per_second=args.wan_rate, latency=args.wan_latency)
            names = list(runs)
            for round_number in range(args.rounds):
                order = names if round_number % 2 == 0 else names[::-1]
                for name in order:
                    run = run_once(name, server, scratch / "out", objects)
                    runs[name].append(run)
                    took = f"{run['seconds']:.1f} s" if run["seconds"] else run["error"]
                    print(
                        f"  [{round_number + 1}/{args.rounds}] {name:<6} {took:>8}  "
                        f"{run['max_concurrent_gets']} GETs at most, "
                        f"RSS +{run['rss_growth'] / MiB:.0f} MiB",
                        flush=True,
                    )
    finally:
        remove_scratch(scratch)
    total = 2 * args.large + args.count * args.small
    print(f"\n== {args.count} x {human(args.small)} + 2 x {human(args.large)} ({human(total)}) ==")
    medians = {}
    for name, done in runs.items():
        times = [run["seconds"] for run in done if run["seconds"]]
        medians[name] = statistics.median(times) if len(times) == len(done) else None
        shown = f"{medians[name]:.1f} s" if medians[name] else "FAILED"
        print(f"  {name:<6} {shown:>8}")
    if medians["ours"] and medians["ossfs"]:
        print(f"  ours/ossfs: {medians['ossfs'] / medians['ours']:.1f}x")
    most = max(run["max_concurrent_gets"] for run in runs["ours"])
    rss = max(run["rss_growth"] for run in runs["ours"])
    print(f"  ours: at most {most} GETs in flight (max_connections {budget.max_connections}),")
    print(
        f"        peak RSS growth {rss / MiB:.0f} MiB "
        f"(max_buffer_memory {budget.max_buffer_memory / MiB:.0f} MiB)"
    )
    print(f"load average at the end {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"medians": medians, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
