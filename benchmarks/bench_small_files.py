"""Many small objects (issue 9): ``fs.get`` of a prefix of small files against ``ossfs``,
and the client's CPU time per file as the number of files grows.

Usage (from the repository root; see ``--help``)::

    .venv/bin/python benchmarks/bench_small_files.py                       # both modes
    .venv/bin/python benchmarks/bench_small_files.py --mode compare --rounds 5
    .venv/bin/python benchmarks/bench_small_files.py --mode scaling --counts 100,1000,10000
    .venv/bin/python benchmarks/bench_small_files.py --mode scaling --size 10KiB-100KiB
    .venv/bin/python benchmarks/bench_small_files.py --count 200 --counts 100,300 --rounds 1

``compare``: ``--count`` objects (1,000) of ``--size`` (64 KiB; ``10KiB-100KiB``
spreads the sizes evenly) under one prefix; at each added latency
(``--latencies``, default 0 and 20 ms: a ``LATENCY`` fault on every request,
HEADs and listings included) the contenders alternate (the order flips every
round):

``ours``   ``ResumableOSSFileSystem(...).get("bench/n1000/", DIR, recursive=True)``
``ossfs``  ``ossfs.OSSFileSystem(...).get("bench/n1000/", DIR, recursive=True)``

both at their defaults, listing caches emptied before each run. Reported per
contender: median wall time of the call (listing included), files per second,
the process's CPU time per file (``time.process_time``: every thread of this
process, and the server runs in a process of its own), requests by type, and
``ours/ossfs`` = ossfs's median time / ours (>1: ours is faster).

``scaling``: ``ours`` alone (``--scaling-only`` adds ``ossfs``) at each of
``--counts`` files (100, 1,000, 10,000; each count its own prefix) with no
added latency: CPU time per file, which must stay flat as the count grows.

Every output file's size and CRC-64 is checked against the object's; a run
with a wrong, missing or extra file gets no numbers. Objects are distinct
(a random block with the object's index stamped in). The server runs in its
own process (``OSSServer(mode="process")``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, KiB, drop_dirty_pages, make_scratch, parse_size, remove_scratch

sys.path.insert(0, str(REPO))
import ossfs

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.engine.integrity import crc64, file_crc64
from oss_resumable_fs.testing import FaultRule, OSSServer

BUCKET = "bench"
CONTENDERS = ("ours", "ossfs")
#: Request types counted per run (the server's operation names).
COUNTED = ("GetObject", "HeadObject", "ListObjects")
#: Each run writes into a directory of its own (see :func:`one_run`).
RUN_NUMBERS = itertools.count()


@dataclass
class Obj:
    name: str  # relative to the prefix
    size: int
    crc64: int


@dataclass
class Run:
    contender: str
    files: int
    latency: float
    seconds: float | None = None
    cpu_seconds: float | None = None
    user_seconds: float | None = None
    system_seconds: float | None = None
    error: str | None = None
    requests: dict[str, int] = field(default_factory=dict)


def prefix_for(count: int) -> str:
    return f"n{count}"


def parse_sizes(text: str) -> tuple[int, int]:
    """``64KiB`` (every object that size) or ``10KiB-100KiB`` (sizes spread evenly)."""
    low, _, high = text.partition("-")
    return parse_size(low), parse_size(high or low)


def seed(server: OSSServer, count: int, sizes: tuple[int, int], base: bytearray) -> list[Obj]:
    """``count`` distinct objects under ``n<count>/``, of ``sizes`` (one, or a spread)."""
    objects = []
    low, high = sizes
    for index in range(count):
        size = low + (high - low) * index // max(1, count - 1)
        base[:8] = index.to_bytes(8, "little")
        data = bytes(base[:size])
        name = f"part-{index:05d}.bin"
        server.put_object(BUCKET, f"{prefix_for(count)}/{name}", data)
        objects.append(Obj(name, size, crc64(data)))
    return objects


def check_output(out: Path, objects: list[Obj]) -> str | None:
    """None when exactly the objects are there, each with its size and CRC-64."""
    found = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {o.name for o in objects}
    if found != expected:
        missing, extra = sorted(expected - found)[:3], sorted(found - expected)[:3]
        return f"WRONG file set: missing {missing}, extra {extra}"
    for obj in objects:
        path = out / obj.name
        if path.stat().st_size != obj.size or file_crc64(path) != obj.crc64:
            return f"WRONG content in {obj.name}"
    return None


def build_runners(server: OSSServer) -> dict[str, Any]:
    options = {
        "endpoint": server.endpoint,
        "key": server.access_key_id,
        "secret": server.access_key_secret,
    }
    ours = ResumableOSSFileSystem(**options, skip_instance_cache=True)
    theirs = ossfs.OSSFileSystem(**options, skip_instance_cache=True)

    def run_ours(prefix: str, out: Path) -> None:
        ours.invalidate_cache()
        ours.get(f"{BUCKET}/{prefix}/", str(out) + "/", recursive=True)

    def run_ossfs(prefix: str, out: Path) -> None:
        theirs.invalidate_cache()
        theirs.get(f"{BUCKET}/{prefix}/", str(out) + "/", recursive=True)

    return {"ours": run_ours, "ossfs": run_ossfs}


def one_run(
    name: str, runner: Any, server: OSSServer, out: Path, objects: list[Obj], latency: float
) -> Run:
    """One timed ``get`` into ``out``, a new directory.

    Outputs are deleted only when the script ends: on ext4 without a journal
    (this machine's), every inode created in the next 30 s (300 s while the
    inode table is dirty) first skips those just deleted, so deleting the last
    run's 10,000 files made file creation 10x dearer in the kernel, for every
    contender alike (``recently_deleted`` in ``find_inode_bit``).
    """
    out.mkdir(parents=True)
    drop_dirty_pages()
    server.reset_stats()
    run = Run(name, len(objects), latency)
    cpu_began, usage = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    try:
        runner(prefix_for(len(objects)), out)
    except Exception as err:  # a contender failing is a result, not a crash
        run.error = f"{type(err).__name__}: {err}"[:500]
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    after = resource.getrusage(resource.RUSAGE_SELF)
    requests = server.stats().requests
    run.requests = {kind: requests.get(kind, 0) for kind in COUNTED}
    run.requests["other"] = sum(requests.values()) - sum(run.requests.values())
    if run.error is None:
        run.error = check_output(out, objects)
        if run.error is None:
            run.seconds, run.cpu_seconds = elapsed, cpu
            run.user_seconds = after.ru_utime - usage.ru_utime
            run.system_seconds = after.ru_stime - usage.ru_stime
    return run


def summarize(runs: list[Run]) -> dict[str, Any]:
    ok = [r for r in runs if r.seconds is not None]
    errors = sorted({r.error for r in runs if r.error})
    if not ok:
        return {"ok": 0, "runs": len(runs), "errors": errors}
    seconds = statistics.median(r.seconds for r in ok)  # type: ignore[type-var]
    cpu = statistics.median(r.cpu_seconds for r in ok)  # type: ignore[type-var]
    user = statistics.median(r.user_seconds for r in ok)  # type: ignore[type-var]
    system = statistics.median(r.system_seconds for r in ok)  # type: ignore[type-var]
    files = ok[0].files
    return {
        "ok": len(ok),
        "runs": len(runs),
        "files": files,
        "median_s": seconds,
        "min_s": min(r.seconds for r in ok),  # type: ignore[type-var]
        "max_s": max(r.seconds for r in ok),  # type: ignore[type-var]
        "files_per_s": files / seconds,
        "cpu_ms_per_file": 1000 * cpu / files,
        "user_ms_per_file": 1000 * user / files,
        "system_ms_per_file": 1000 * system / files,
        "wall_ms_per_file": 1000 * seconds / files,
        "requests_per_file": {
            kind: statistics.median(r.requests.get(kind, 0) for r in ok) / files
            for kind in (*COUNTED, "other")
        },
        "errors": errors,
    }


def alternate(
    names: list[str],
    runners: dict[str, Any],
    server: OSSServer,
    out: Path,
    objects: list[Obj],
    latency: float,
    rounds: int,
) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            where = out / f"{next(RUN_NUMBERS):03d}-{name}-{len(objects)}"
            run = one_run(name, runners[name], server, where, objects, latency)
            if run.seconds is not None:
                per_file = 1000 / run.files
                status = (
                    f"{run.seconds:7.2f} s, {run.cpu_seconds * per_file:6.2f} ms CPU/file "  # type: ignore[operator]
                    f"(user {run.user_seconds * per_file:.2f}, "  # type: ignore[operator]
                    f"system {run.system_seconds * per_file:.2f})"  # type: ignore[operator]
                )
            else:
                status = str(run.error)
            print(
                f"  [{len(objects)} files, +{latency * 1000:.0f} ms, round {round_number + 1}"
                f"/{rounds}] {name:<6} {status}  requests {run.requests}",
                flush=True,
            )
            runs[name].append(run)
    return runs


def with_latency(server: OSSServer, latency: float) -> list[int]:
    if latency <= 0:
        return []
    rule = FaultRule("latency", method=None, bucket=BUCKET, times=None, seconds=latency)
    return [server.add_fault(rule)]


def print_compare(names: list[str], latency: float, summary: dict[str, dict[str, Any]]) -> None:
    print(f"\n== compare: {latency * 1000:.0f} ms added per request ==")
    header = (
        f"{'contender':<10}{'median s':>10}{'min':>8}{'max':>8}{'files/s':>9}"
        f"{'CPU ms/file':>12}{'(user':>7}{'sys)':>6}{'GET/f':>7}{'HEAD/f':>7}{'LIST':>6}{'ok':>6}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        s = summary[name]
        if not s.get("ok"):
            print(f"{name:<10}{'FAILED':>10}   {'; '.join(s['errors'])}")
            continue
        per = s["requests_per_file"]
        print(
            f"{name:<10}{s['median_s']:>10.2f}{s['min_s']:>8.2f}{s['max_s']:>8.2f}"
            f"{s['files_per_s']:>9.0f}{s['cpu_ms_per_file']:>12.2f}{s['user_ms_per_file']:>7.2f}"
            f"{s['system_ms_per_file']:>6.2f}{per['GetObject']:>7.2f}"
            f"{per['HeadObject']:>7.2f}{per['ListObjects'] * s['files']:>6.0f}"
            f"{s['ok']:>3}/{s['runs']:<2}"
        )
    ours, theirs = summary.get("ours", {}), summary.get("ossfs", {})
    if ours.get("ok") and theirs.get("ok"):
        print(f"ours/ossfs (ossfs median time / ours): {theirs['median_s'] / ours['median_s']:.2f}")


def print_scaling(names: list[str], counts: list[int], table: dict[str, dict[int, Any]]) -> None:
    print("\n== scaling: ms per file, no added latency ==")
    header = f"{'':<14}" + "".join(f"{n:>10}" for n in counts) + f"{'last/first':>12}"
    print(header)
    print("-" * len(header))
    rows = (("CPU", "cpu"), ("  user", "user"), ("  system", "system"), ("wall", "wall"))
    for name in names:
        for label, measure in rows:
            key = measure + "_ms_per_file"
            values = [table[name].get(count, {}) for count in counts]
            cells = [f"{v[key]:>10.2f}" if v.get("ok") else f"{'FAILED':>10}" for v in values]
            first, last = values[0], values[-1]
            ok = first.get("ok") and last.get("ok")
            growth = f"{last[key] / first[key]:>12.2f}" if ok else f"{'-':>12}"
            title = f"{name} {label}" if measure == "cpu" else label
            print(f"{title:<14}" + "".join(cells) + growth)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("compare", "scaling", "both"), default="both")
    parser.add_argument("--count", type=int, default=1000, help="files in compare (1000)")
    parser.add_argument(
        "--size", type=parse_sizes, default=(64 * KiB, 64 * KiB), help="64KiB, or 10KiB-100KiB"
    )
    parser.add_argument("--latencies", default="0,0.02", help="seconds added per request")
    parser.add_argument("--counts", default="100,1000,10000", help="file counts for scaling")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per setting (median)")
    parser.add_argument("--only", default=",".join(CONTENDERS), help="compare: ours,ossfs")
    parser.add_argument("--scaling-only", default="ours", help="scaling: ours[,ossfs]")
    parser.add_argument("--dir", default=None, help="scratch parent (default benchmarks/.scratch)")
    parser.add_argument("--allow-tmpfs", action="store_true")
    parser.add_argument("--json", default=None, help="also write every run to this JSON file")
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()]
    args.scaling_names = [n.strip() for n in args.scaling_only.split(",") if n.strip()]
    unknown = set(args.names + args.scaling_names) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {sorted(unknown)}")
    args.latency_list = [float(x) for x in args.latencies.split(",") if x.strip()]
    args.count_list = [int(x) for x in args.counts.split(",") if x.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    scratch, _ = make_scratch(args.dir, allow_tmpfs=args.allow_tmpfs)
    server = OSSServer(root=scratch / "server", mode="process").start()
    report: dict[str, Any] = {"args": {k: v for k, v in vars(args).items()}}
    failed = False
    try:
        server.create_bucket(BUCKET)
        counts = set(args.count_list if args.mode != "compare" else [])
        if args.mode != "scaling":
            counts.add(args.count)
        base = bytearray(random.Random(9).randbytes(args.size[1]))
        began = time.perf_counter()
        sets = {count: seed(server, count, args.size, base) for count in sorted(counts)}
        print(
            f"seeded {sum(counts)} objects of {'-'.join(map(str, sorted(set(args.size))))} B "
            f"in {time.perf_counter() - began:.1f} s"
        )
        runners = build_runners(server)
        out = scratch / "out"
        if args.mode != "scaling":
            report["compare"] = {}
            for latency in args.latency_list:
                rules = with_latency(server, latency)
                runs = alternate(
                    args.names, runners, server, out, sets[args.count], latency, args.rounds
                )
                for rule in rules:
                    server.remove_fault(rule)
                summary = {name: summarize(runs[name]) for name in args.names}
                print_compare(args.names, latency, summary)
                failed |= not all(s.get("ok") for s in summary.values())
                report["compare"][str(latency)] = {
                    "summary": summary,
                    "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
                }
        if args.mode != "compare":
            table: dict[str, dict[int, Any]] = {name: {} for name in args.scaling_names}
            report["scaling"] = {}
            for count in args.count_list:
                runs = alternate(
                    args.scaling_names, runners, server, out, sets[count], 0.0, args.rounds
                )
                for name in args.scaling_names:
                    table[name][count] = summarize(runs[name])
                    failed |= not table[name][count].get("ok")
                report["scaling"][str(count)] = {
                    "summary": {name: table[name][count] for name in args.scaling_names},
                    "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
                }
            print_scaling(args.scaling_names, args.count_list, table)
        print(f"load average after: {os.getloadavg()}")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        return 1 if failed else 0
    finally:
        server.stop()
        remove_scratch(scratch)


if __name__ == "__main__":
    sys.exit(main())
