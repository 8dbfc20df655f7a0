"""Adaptive concurrency against every fixed setting: does the default find the link's best?

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_adaptive.py                    # every profile
    .venv/bin/python benchmarks/bench_adaptive.py --profile wan4 --rounds 3
    .venv/bin/python benchmarks/bench_adaptive.py --profile throttle

Profiles (one local server process; ``simulate_wan`` caps each connection and
delays each answer, as a cross-region or internet path to OSS does):

``wan4``      4 MiB/s per connection, 150 ms, 256 MiB object.
``wan16``     16 MiB/s per connection, 30 ms, 256 MiB object.
``loopback``  no shaping, 512 MiB object; ``curl`` is the single-stream bound.
``throttle``  ``wan4`` plus a server that answers 503 (``x-oss-qos-delay-time``)
              to any GET beyond ``--throttle-at`` in flight: the tuner must settle
              at or below it, and the download must not fail.

Contenders, alternating within each round (the order rotates every round):
``ours`` at its defaults (adaptive); ``fixed CxP``: ``concurrency=C``,
``part_size=P MiB`` for every C, P of the sweep (``16x8`` is the old default);
``oss2`` (``oss2.resumable_download`` at its defaults, what ``ossfs`` calls);
``curl`` (loopback only). Printed: medians, and the ratios the issue asks for:
ours / best fixed of this run, ours / oss2, ours / old default, ours / curl.
Each output is checked against the object's CRC-64 (a wrong file gets no speed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, MiB, human, make_scratch, remove_scratch
from harness import BUCKET, Run, Target, one_run, seed

sys.path.insert(0, str(REPO))
from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import OSSServer

PROFILES: dict[str, dict[str, Any]] = {
    "wan4": {"size": 256 * MiB, "rate": 4 * MiB, "latency": 0.15},
    "wan16": {"size": 256 * MiB, "rate": 16 * MiB, "latency": 0.03},
    "loopback": {"size": 512 * MiB, "rate": None, "latency": 0.0},
    "throttle": {"size": 256 * MiB, "rate": 4 * MiB, "latency": 0.15},
}
SWEEP_CONCURRENCY = (16, 32, 64, 128)
SWEEP_PART_MIB = (1, 2, 4, 8)
OLD_DEFAULT = "fixed 16x8"


def contenders(profile: str, sweep: bool) -> list[str]:
    if profile == "throttle":
        return ["ours"]
    names = ["ours", "oss2"]
    if sweep:
        names += [f"fixed {c}x{p}" for c in SWEEP_CONCURRENCY for p in SWEEP_PART_MIB]
    elif OLD_DEFAULT not in names:
        names.append(OLD_DEFAULT)
    if profile == "loopback":
        names.append("curl")
    return names


def ours_runner(server: OSSServer, target: Target) -> Callable[..., dict[str, Any]]:
    """``ours(dest, **options)``: ``get_file`` of the target, with ``TransferConfig`` options."""
    fs = ResumableOSSFileSystem(
        endpoint=server.endpoint,
        key=server.access_key_id,
        secret=server.access_key_secret,
        skip_instance_cache=True,
    )

    def ours(dest: str, **options: Any) -> dict[str, Any]:
        result = fs.get_file(target.rpath, dest, **options)
        assert result is not None
        return {
            "connections": result.connections,
            "retries": result.retries,
            "tuning": [step.describe() for step in result.tuning],
        }

    return ours


def runners_for(server: OSSServer, target: Target, scratch: Path) -> dict[str, Any]:
    from bench_get_file import build_runners  # the peers; the scaling curves need none

    runners = build_runners(server, target, scratch)
    ours = ours_runner(server, target)
    runners["ours"] = ours
    for concurrency in SWEEP_CONCURRENCY:
        for part in SWEEP_PART_MIB:
            options = {"concurrency": concurrency, "part_size": part * MiB}
            runners[f"fixed {concurrency}x{part}"] = lambda dest, o=options: ours(dest, **o)
    return runners


def seed_target(server: OSSServer, scratch: Path, size: int) -> Target:
    """Seed an object of ``size`` bytes (kept at ``scratch/source.bin`` too) and describe it."""
    local_copy = scratch / "source.bin"
    key, crc = seed(server, local_copy, size)
    out = scratch / "out"
    out.mkdir(exist_ok=True)
    return Target(server, key, size, crc, out, local_copy)


def sweep(
    target: Target,
    names: list[str],
    runners: dict[str, Any],
    rounds: int,
    label: str,
    *,
    repeat_under: float | None = None,
) -> dict[str, list[Run]]:
    """``rounds`` rounds of every contender, in an order rotated by one each round.

    With ``repeat_under``, a contender whose first run took longer than that many
    seconds is not run again (a link-bound run varies little, and costs the most).
    """
    runs: dict[str, list[Run]] = {name: [] for name in names}
    size = target.size
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            first = runs[name][0] if runs[name] else None
            if first and repeat_under is not None and (first.seconds or 1e9) > repeat_under:
                continue
            run = one_run(name, runners[name], target)
            runs[name].append(run)
            speed = f"{size / MiB / run.seconds:7.1f} MiB/s" if run.seconds else run.error
            extra = run.extra.get("connections")
            note = f"  {extra} connections, {run.max_concurrent_gets} GETs at most" if extra else ""
            print(f"  [{label} {round_number + 1}/{rounds}] {name:<13}{speed}{note}", flush=True)
    return runs


def run_profile(server: OSSServer, scratch: Path, profile: str, args: argparse.Namespace) -> dict:
    spec = PROFILES[profile]
    size = args.size or spec["size"]
    target = seed_target(server, scratch, size)
    runners = runners_for(server, target, scratch)
    names = contenders(profile, not args.no_sweep)
    if spec["rate"]:
        server.simulate_wan(bytes_per_second=spec["rate"], latency=spec["latency"])
    if profile == "throttle":
        server.throttle_beyond(args.throttle_at, delay=0.2)
    try:
        runs = sweep(target, names, runners, args.rounds, profile)
    finally:
        server.clear_faults()
        target.local_copy.unlink(missing_ok=True)
    return report(profile, size, names, runs, args)


def report(profile: str, size: int, names: list[str], runs: dict, args: argparse.Namespace) -> dict:
    medians: dict[str, float | None] = {}
    for name in names:
        ok = [r.seconds for r in runs[name] if r.seconds]
        medians[name] = size / MiB / statistics.median(ok) if len(ok) == len(runs[name]) else None
    print(f"\n== {profile}: {human(size)} ==")
    for name in sorted(names, key=lambda n: -(medians[n] or 0)):
        speed = f"{medians[name]:8.1f} MiB/s" if medians[name] else "  FAILED"
        print(f"  {name:<13}{speed}")
    ours = medians.get("ours")
    fixed = {n: m for n, m in medians.items() if n.startswith("fixed") and m}
    ratios: dict[str, Any] = {}
    if ours and fixed:
        best = max(fixed, key=fixed.__getitem__)
        ratios["best_fixed"] = best
        ratios["ours/best_fixed"] = ours / fixed[best]
    for other in ("oss2", OLD_DEFAULT, "curl"):
        if ours and medians.get(other):
            ratios[f"ours/{other}"] = ours / medians[other]  # type: ignore[operator]
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}" if isinstance(value, float) else f"  {name}: {value}")
    if profile == "throttle":
        ours_runs = runs["ours"]
        most = max(r.max_concurrent_gets for r in ours_runs)
        failed = [r.error for r in ours_runs if r.error]
        print(
            f"  throttled beyond {args.throttle_at}: most GETs in flight {most}, failures {failed}"
        )
        for run in ours_runs:
            print("   tuning:", "; ".join(run.extra.get("tuning", [])))
    return {
        "profile": profile,
        "size": size,
        "medians": medians,
        "ratios": ratios,
        "runs": {n: [r.__dict__ for r in rs] for n, rs in runs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=(*PROFILES, "all"), default="all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=None, help="bytes (default per profile)")
    parser.add_argument("--no-sweep", action="store_true", help="only ours, oss2, the old default")
    parser.add_argument("--throttle-at", type=int, default=24)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    profiles = list(PROFILES) if args.profile == "all" else [args.profile]
    scratch, _ = make_scratch(args.dir)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    results = []
    try:
        root = scratch / "server"
        root.mkdir()
        with OSSServer(root=root, mode="process") as server:
            server.create_bucket(BUCKET, acl="public-read")
            for profile in profiles:
                results.append(run_profile(server, scratch, profile, args))
    finally:
        remove_scratch(scratch)
    print(f"\nload average at the end {os.getloadavg()} (high: noisy numbers)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
