"""Throughput against fixed concurrency on the simulated WAN, with the adaptive choice.

Used by ``bench_scaling.py`` (the ``concurrency`` curve). One local server
process holds one object; for each WAN profile (``simulate_wan``: a per-connection
bandwidth cap and a first-byte latency) every fixed ``TransferConfig(concurrency=N)``
and ours at its defaults (adaptive) download it in rounds, the order rotated each
round (``bench_adaptive.sweep``); each output is CRC-64 checked. A setting whose
first run is link-bound and slow (over ``repeat_under`` seconds) is run once.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MiB, make_scratch, remove_scratch
from bench_adaptive import BUCKET, ours_runner, seed_target, sweep

from oss_resumable_fs.testing import OSSServer

WAN_PROFILES: dict[str, dict[str, Any]] = {
    "wan16": {"rate": 16 * MiB, "latency": 0.03, "label": "16 MiB/s + 30 ms per connection"},
    "wan4": {"rate": 4 * MiB, "latency": 0.15, "label": "4 MiB/s + 150 ms per connection"},
}
FULL = {"size": 256 * MiB, "concurrency": (1, 2, 4, 8, 16, 32, 64, 128), "rounds": 3}
QUICK = {"size": 32 * MiB, "concurrency": (1, 4, 16, 64), "rounds": 1}
#: Seconds beyond which a first run is not repeated (wan4 at 1-4 connections).
REPEAT_UNDER = 15.0
ADAPTIVE = "ours adaptive"


def _name(concurrency: int) -> str:
    return f"fixed {concurrency}"


def _speed(size: int, seconds: list[float]) -> float | None:
    return size / MiB / statistics.median(seconds) if seconds else None


def summarize(size: int, concurrencies: tuple[int, ...], runs: dict[str, list]) -> dict:
    points = []
    for concurrency in concurrencies:
        ok = [r.seconds for r in runs[_name(concurrency)] if r.seconds]
        points.append(
            {
                "concurrency": concurrency,
                "seconds": ok,
                "median_mib_s": _speed(size, ok),
                "errors": [r.error for r in runs[_name(concurrency)] if r.error],
            }
        )
    adaptive = runs[ADAPTIVE]
    ok = [r for r in adaptive if r.seconds]
    connections = [r.extra.get("connections", 0) for r in ok]
    return {
        "points": points,
        "adaptive": {
            "seconds": [r.seconds for r in ok],
            "connections": connections,
            "median_connections": statistics.median(connections) if connections else None,
            "median_mib_s": _speed(size, [r.seconds for r in ok]),
            "max_concurrent_gets": [r.max_concurrent_gets for r in ok],
            "errors": [r.error for r in adaptive if r.error],
        },
        "raw_runs": {name: [r.__dict__ for r in rs] for name, rs in runs.items()},
    }


def run_concurrency(quick: bool, parent: str | None = None) -> dict[str, Any]:
    spec = QUICK if quick else FULL
    size, concurrencies, rounds = spec["size"], spec["concurrency"], spec["rounds"]
    scratch, _ = make_scratch(parent)
    profiles = []
    try:
        root = scratch / "server"
        root.mkdir()
        with OSSServer(root=root, mode="process") as server:
            server.create_bucket(BUCKET, acl="public-read")
            target = seed_target(server, scratch, size)
            target.local_copy.unlink()  # only for bench_get_file's copy baselines
            ours = ours_runner(server, target)
            runners: dict[str, Any] = {ADAPTIVE: ours}
            for concurrency in concurrencies:
                runners[_name(concurrency)] = lambda dest, c=concurrency: ours(dest, concurrency=c)
            names = [ADAPTIVE, *(_name(c) for c in concurrencies)]
            for profile, wan in WAN_PROFILES.items():
                server.simulate_wan(bytes_per_second=wan["rate"], latency=wan["latency"])
                try:
                    runs = sweep(target, names, runners, rounds, profile, repeat_under=REPEAT_UNDER)
                finally:
                    server.clear_faults()
                profiles.append(
                    {
                        "profile": profile,
                        "label": wan["label"],
                        "rate": wan["rate"],
                        "latency": wan["latency"],
                        **summarize(size, concurrencies, runs),
                    }
                )
    finally:
        remove_scratch(scratch)
    return {
        "size": size,
        "rounds": rounds,
        "repeat_under_s": REPEAT_UNDER,
        "concurrency": list(concurrencies),
        "profiles": profiles,
    }
