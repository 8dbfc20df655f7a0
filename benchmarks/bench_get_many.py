"""Many objects: ``oss_resumable_fs.dask.get_many`` on a 2-worker LocalCluster vs ``fs.get``
in one process, against one local OSS server.

Usage (from the repository root; see ``--help``)::

    .venv/bin/python benchmarks/bench_get_many.py                     # ~1 GiB, loopback, 3 rounds
    .venv/bin/python benchmarks/bench_get_many.py --link wan          # simulated WAN
    .venv/bin/python benchmarks/bench_get_many.py --scale 0.05 --rounds 1   # smoke test (~5 s)
    .venv/bin/python benchmarks/bench_get_many.py --threads-per-worker 4 --json out.json

The set: 40 objects from 1 KiB to 256 MiB (printed at the start; about 970 MiB
at ``--scale 1``): a few big objects that dominate the bytes and many small ones
that dominate the count, as a dataset directory usually looks. ``--scale``
multiplies every size (at least 1 KiB) for quick runs.

Contenders, alternated (the order flips every round), each writing the whole
set into an emptied directory on the repository's disk after ``sync(2)``:

``dask``  ``get_many("ossr://bench/data/", DIR, client=..., storage_options=...)`` on a
          ``LocalCluster(n_workers=2, threads_per_worker=T, processes=True)``, started
          once (start-up and the workers' first imports are not timed).
``get``   ``ResumableOSSFileSystem(...).get("bench/data/", DIR, recursive=True)`` in this
          process: small files 8 at a time beside the large ones, one large at a time.

Both at their defaults otherwise (8 MiB parts, 16 connections per large
object). The time is the wall clock of the call, its listing included. Every
output file's size and CRC-64 is checked against the source's; a run with a
wrong or missing file gets no speed. The server runs in its own process
(``OSSServer(mode="process")``); ``--link wan`` applies ``simulate_wan``
(16 MiB/s per connection, 30 ms to first byte).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    KiB,
    MiB,
    drop_dirty_pages,
    file_crc64,
    make_scratch,
    parse_size,
    remove_scratch,
    write_pattern_file,
)

sys.path.insert(0, str(REPO))
import distributed

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.dask import get_many
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.testing import OSSServer

BUCKET = "bench"
PREFIX = "data"
CONTENDERS = ("dask", "get")
#: (count, size at --scale 1): 40 objects, ~970 MiB.
DISTRIBUTION = (
    (2, 256 * MiB),
    (5, 64 * MiB),
    (6, 16 * MiB),
    (8, 4 * MiB),
    (10, 1 * MiB),
    (5, 64 * KiB),
    (4, 1 * KiB),
)


@dataclass
class Obj:
    key: str
    size: int
    crc64: int


@dataclass
class Run:
    contender: str
    seconds: float | None = None
    error: str | None = None
    get_requests: int = 0
    max_concurrent_gets: int = 0
    bytes_served: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def make_set(scale: float) -> list[tuple[str, int]]:
    names = []
    for count, size in DISTRIBUTION:
        scaled = max(1 * KiB, int(size * scale))
        for _ in range(count):
            names.append((f"{PREFIX}/obj-{len(names):02d}.bin", scaled))
    return names


def seed(server: OSSServer, scratch: Path, wanted: list[tuple[str, int]]) -> list[Obj]:
    """Write each object once to scratch, put it on the server, keep its CRC-64."""
    server.create_bucket(BUCKET)
    source = scratch / "source.bin"
    objects = []
    for key, size in wanted:
        write_pattern_file(source, size)
        objects.append(Obj(key, size, file_crc64(source)))
        server.put_object(BUCKET, key, source)
    source.unlink()
    return objects


def check_output(out: Path, objects: list[Obj]) -> str | None:
    """None when every object is there with the right size and CRC-64."""
    for obj in objects:
        path = out / obj.key.removeprefix(PREFIX + "/")
        if not path.is_file():
            return f"missing {path.name}"
        if path.stat().st_size != obj.size:
            return f"WRONG size for {path.name}"
        if file_crc64(path) != obj.crc64:
            return f"WRONG crc64 for {path.name}"
    extra = sorted(p.name for p in out.rglob("*") if ".ossr-" in p.name)
    return f"engine files left: {extra}" if extra else None


def one_run(name: str, runner: Any, server: OSSServer, out: Path, objects: list[Obj]) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    drop_dirty_pages()
    server.reset_stats()
    run = Run(name)
    began = time.perf_counter()
    try:
        run.extra = runner(out) or {}
    except Exception as err:  # a contender failing is a result, not a crash
        run.error = f"{type(err).__name__}: {err}"[:500]
    elapsed = time.perf_counter() - began
    stats = server.stats()
    run.get_requests = stats.requests.get("GetObject", 0)
    run.max_concurrent_gets = stats.max_concurrent_gets
    run.bytes_served = stats.total_bytes_served
    if run.error is None:
        run.error = check_output(out, objects)
        if run.error is None:
            run.seconds = elapsed
    shutil.rmtree(out, ignore_errors=True)
    return run


def build_runners(
    server: OSSServer, client: distributed.Client, args: argparse.Namespace
) -> dict[str, Any]:
    options = {
        "endpoint": server.endpoint,
        "key": server.access_key_id,
        "secret": server.access_key_secret,
    }
    fs = ResumableOSSFileSystem(**options, skip_instance_cache=True)

    def run_get(out: Path) -> dict[str, Any]:
        fs.invalidate_cache()
        result = fs.get(f"{BUCKET}/{PREFIX}/", str(out) + "/", recursive=True)
        return {"fetched": result.bytes_fetched}

    def run_dask(out: Path) -> dict[str, Any]:
        extra = {}
        if args.max_connections:
            extra["max_connections"] = args.max_connections
        result = get_many(
            f"ossr://{BUCKET}/{PREFIX}/",
            str(out),
            client=client,
            storage_options=options,
            per_worker_connections=args.per_worker_connections,
            **extra,
        )
        workers = {f.worker for f in result.files}
        return {"fetched": result.bytes_fetched, "workers": len(workers)}

    return {"dask": run_dask, "get": run_get}


def summarize(runs: list[Run], total: int) -> dict[str, Any]:
    ok = [r for r in runs if r.seconds is not None]
    errors = sorted({r.error for r in runs if r.error})
    if not ok:
        return {"ok": 0, "runs": len(runs), "errors": errors}
    seconds = [r.seconds for r in ok]  # type: ignore[misc]
    return {
        "ok": len(ok),
        "runs": len(runs),
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "median_mib_s": total / MiB / statistics.median(seconds),
        "gets": statistics.median(r.get_requests for r in ok),
        "max_conc": max(r.max_concurrent_gets for r in ok),
        "served_ratio": statistics.median(r.bytes_served for r in ok) / total,
        "errors": errors,
    }


def print_table(names: list[str], summary: dict[str, dict[str, Any]], total: int) -> None:
    mib = total / MiB
    base = summary.get("get", {})
    print(f"\n== {len(summary)} contenders, {human_size(total)} in 40 objects ==")
    header = (
        f"{'contender':<10}{'median MiB/s':>13}{'min':>8}{'max':>8}{'median s':>10}"
        f"{'X/get':>7}{'ok':>6}{'GETs':>6}{'conc':>6}{'served':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        s = summary[name]
        if not s.get("ok"):
            print(f"{name:<10}{'FAILED':>13}   {'; '.join(s['errors'])}")
            continue
        ratio = f"{base['median_s'] / s['median_s']:.2f}" if base.get("ok") else "-"
        print(
            f"{name:<10}{s['median_mib_s']:>13.1f}{mib / s['max_s']:>8.1f}{mib / s['min_s']:>8.1f}"
            f"{s['median_s']:>10.2f}{ratio:>7}{s['ok']:>3}/{s['runs']:<2}{s['gets']:>6.0f}"
            f"{s['max_conc']:>6}{s['served_ratio']:>8.2f}"
        )
        for error in s["errors"]:
            print(f"{'':<10}  some runs failed: {error}")
    print(
        "(MiB/s = total bytes / wall time of the call; min/max = slowest/fastest run; "
        "X/get = get's median time / X's (>1: X is faster); GETs = GetObject requests per run; "
        "conc = most GETs in flight; served = body bytes sent / total bytes)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median; default 3)")
    parser.add_argument("--link", choices=("loopback", "wan"), default="loopback")
    parser.add_argument("--threads-per-worker", type=int, default=2, help="default 2")
    parser.add_argument("--per-worker-connections", type=int, default=16, help="default 16")
    parser.add_argument("--max-connections", type=int, default=None, help="get_many's cap")
    parser.add_argument("--only", default=",".join(CONTENDERS), help="dask,get (default both)")
    parser.add_argument("--wan-rate", type=parse_size, default=16 * MiB)
    parser.add_argument("--wan-latency", type=float, default=0.03)
    parser.add_argument("--dir", default=None, help="scratch parent (default benchmarks/.scratch)")
    parser.add_argument("--allow-tmpfs", action="store_true")
    parser.add_argument("--json", default=None, help="also write every run to this JSON file")
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(args.names) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = make_set(args.scale)
    total = sum(size for _, size in wanted)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"set: 40 objects, {human_size(total)}, link {args.link}")
    for count, size in DISTRIBUTION:
        scaled = max(1 * KiB, int(size * args.scale))
        print(f"  {count:>3} x {human_size(scaled):>10}  = {human_size(count * scaled)}")
    scratch, _ = make_scratch(args.dir, allow_tmpfs=args.allow_tmpfs)
    server = OSSServer(root=scratch / "server", mode="process").start()
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=args.threads_per_worker,
        processes=True,
        dashboard_address=":0",
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=60)
        # The workers' first imports are start-up, not download time.
        client.run(__import__, "oss_resumable_fs.dask._worker")
        client.run(__import__, "oss_resumable_fs.fs")
        print(f"cluster: 2 workers x {args.threads_per_worker} threads, processes")
        objects = seed(server, scratch, wanted)
        if args.link == "wan":
            server.simulate_wan(bytes_per_second=args.wan_rate, latency=args.wan_latency)
        runners = build_runners(server, client, args)
        out = scratch / "out"
        runs: dict[str, list[Run]] = {name: [] for name in args.names}
        for round_number in range(args.rounds):
            order = args.names if round_number % 2 == 0 else args.names[::-1]
            for name in order:
                run = one_run(name, runners[name], server, out, objects)
                status = f"{total / MiB / run.seconds:8.1f} MiB/s" if run.seconds else run.error
                detail = f"  GETs {run.get_requests}, conc {run.max_concurrent_gets}"
                print(f"  [round {round_number + 1}/{args.rounds}] {name:<5} {status}{detail}")
                runs[name].append(run)
        summary = {name: summarize(runs[name], total) for name in args.names}
        print_table(args.names, summary, total)
        print(f"load average after: {os.getloadavg()}")
        if args.json:
            report = {
                "args": {k: v for k, v in vars(args).items() if k != "names"},
                "objects": [asdict(o) for o in objects],
                "summary": summary,
                "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
            }
            Path(args.json).write_text(json.dumps(report, indent=2))
        return 0 if all(s.get("ok") for s in summary.values()) else 1
    finally:
        client.close(timeout=20)
        cluster.close(timeout=20)
        server.stop()
        remove_scratch(scratch)


if __name__ == "__main__":
    sys.exit(main())
