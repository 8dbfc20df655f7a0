"""One large object, every contender: loopback, and two simulated WAN paths.

``run(quick, profile=...)`` measures and returns a JSON-able dict; ``render(data,
figures_dir)`` writes the scenario's bar chart and returns its markdown section.

Before the timed rounds, ours runs once untimed (the calibration): its
``DownloadResult.connections`` and the median length of its ranged GETs (as the
server saw them, rounded to a MiB) are the settings the ``matched`` peers get.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import contenders
import pagekit
import plots
from _common import GiB, MiB, make_scratch, remove_scratch
from harness import (
    BUCKET,
    Matched,
    Target,
    alternate,
    clear_dir,
    machine,
    prepare_run,
    seed,
    settled_stats,
    summarize,
)

from oss_resumable_fs.testing import OSSServer

PROFILES: dict[str, dict[str, Any]] = {
    "loopback": {
        "title": "Loopback, one {size} object",
        "size": 1 * GiB,
        "quick_size": 64 * MiB,
        "rate": None,
        "latency": 0.0,
        "note": (
            "No shaping: the server answers from its page cache with `sendfile`, so this "
            "measures the clients' CPU and the disk, on 2 cores shared with the server."
        ),
    },
    "wan16": {
        "title": "Simulated WAN, 16 MiB/s + 30 ms per connection, one {size} object",
        "size": 256 * MiB,
        "quick_size": 32 * MiB,
        "rate": 16 * MiB,
        "latency": 0.03,
        "note": (
            "Every GET body is capped at 16 MiB/s per connection and every answer delayed "
            "30 ms: a single stream reaches 16 MiB/s at best, so parallelism pays."
        ),
    },
    "wan4": {
        "title": "Simulated WAN, 4 MiB/s + 150 ms per connection, one {size} object",
        "size": 128 * MiB,
        "quick_size": 16 * MiB,
        "rate": 4 * MiB,
        "latency": 0.15,
        "note": (
            "Every GET body is capped at 4 MiB/s per connection and every answer delayed "
            "150 ms. The object is 128 MiB, not 256: the single-stream contenders (curl "
            "twice, obstore at its defaults) take 32 s each per round at 4 MiB/s, 64 s at "
            "256 MiB, which would double this scenario's time. At 2 MiB parts a 128 MiB "
            "object has 64 parts, so nobody uses more than 64 connections here (on 256 MiB "
            "ours goes up to 128)."
        ),
    },
}
ROUNDS = 3
#: Bounds run in these scenarios (``copy`` without fsync adds nothing to the question).
BOUNDS = ("curl", "curl+fsync", "copy+fsync")


def calibrate(target: Target, scratch: Path) -> tuple[Matched, dict[str, Any]]:
    """One untimed run of ours at its defaults: the settings the matched peers get."""
    runner = contenders.build("ours", target, scratch)
    clear_dir(target.out_dir)
    prepare_run(target.server, target.out_dir, target.size)
    began = time.perf_counter()
    facts = runner(str(target.out_dir / "object.bin")) or {}
    elapsed = time.perf_counter() - began
    stats = settled_stats(target.server)
    clear_dir(target.out_dir)
    lengths = [
        g.end - g.start
        for g in stats.ranged_gets
        if g.status == 206 and g.start is not None and g.end is not None
    ]
    request = statistics.median(lengths) if lengths else target.size
    part_size = max(1, round(request / MiB)) * MiB
    matched = Matched(connections=max(1, int(facts.get("connections") or 1)), part_size=part_size)
    record = {
        "seconds": elapsed,
        "connections": facts.get("connections"),
        "median_request": request,
        "gets": stats.requests.get("GetObject", 0),
        "max_concurrent_gets": stats.max_concurrent_gets,
    }
    return matched, record


def run(
    quick: bool,
    *,
    profile: str = "wan16",
    rounds: int | None = None,
    scratch_parent: str | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    spec = PROFILES[profile]
    size = spec["quick_size"] if quick else spec["size"]
    rounds = rounds or (1 if quick else ROUNDS)
    names = names or contenders.all_names(bounds=BOUNDS)
    meta = machine()
    scratch, _ = make_scratch(scratch_parent)
    title = spec["title"].format(size=pagekit.size_text(size))
    print(f"\n== {profile}: {title} ({rounds} rounds) ==", flush=True)
    try:
        root = scratch / "server"
        root.mkdir()
        with OSSServer(root=root, mode="process") as server:
            server.create_bucket(BUCKET, acl="public-read")
            local_copy = scratch / "source.bin"
            key, crc = seed(server, local_copy, size)
            out = scratch / "out"
            out.mkdir()
            target = Target(server, key, size, crc, out, local_copy)
            if spec["rate"]:
                server.simulate_wan(bytes_per_second=spec["rate"], latency=spec["latency"])
            matched, calibration = calibrate(target, scratch)
            print(f"  calibration: ours used {matched.describe()}", flush=True)
            runners = contenders.build_all(names, target, scratch, matched)
            runs = alternate(names, runners, target, rounds, profile)
    finally:
        remove_scratch(scratch)
    meta["load_average_end"] = list(os.getloadavg())
    return {
        "scenario": profile,
        "title": title,
        "quick": quick,
        "rounds": rounds,
        "size": size,
        "link": {"rate": spec["rate"], "latency": spec["latency"]},
        "note": spec["note"],
        "matched": asdict(matched),
        "calibration": calibration,
        "names": names,
        "summary": {name: summarize(rs) for name, rs in runs.items()},
        "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
        "machine": meta,
    }


def speeds(data: dict[str, Any]) -> dict[str, float | None]:
    """Median MiB/s per contender (None: no correct run)."""
    mib = data["size"] / MiB
    return {
        name: (mib / s["median_s"] if s.get("ok") else None) for name, s in data["summary"].items()
    }


def compare(data: dict[str, Any], name: str) -> str:
    """Facts of this run for ``name`` against ours, for a missing explanation."""
    them, ours = data["summary"][name], data["summary"]["ours"]

    def pair(key: str, digits: int = 0) -> str:
        return f"{pagekit.num(them.get(key), digits)} vs ours' {pagekit.num(ours.get(key), digits)}"

    fsync = "fsyncs" if name in ("ours", "curl+fsync", "copy+fsync") else "no fsync"
    return (
        f"most GETs in flight {pair('max_conc')}, requests {pair('requests')}, "
        f"client CPU s {pair('cpu_s', 2)}, context switches {pair('context_switches')}; "
        f"{name}: {fsync}, ours: fsync"
    )


def notes(runs: list[dict[str, Any]]) -> str:
    """What a runner said about its runs (e.g. settings it could not take)."""
    said = sorted({r["extra"]["note"] for r in runs if r.get("extra", {}).get("note")})
    return "".join(f" ({note})" for note in said)


def render(data: dict[str, Any], figures_dir: Path) -> str:
    name = data["scenario"]
    matched = Matched(**data["matched"])
    size, mib = data["size"], data["size"] / MiB
    median = speeds(data)
    ours = median.get("ours")
    rows = []
    for contender in data["names"]:
        s = data["summary"][contender]
        speed = median[contender]
        rows.append(
            [
                pagekit.contender_label(contender),
                contenders.settings(contender, matched) + notes(data["runs"][contender]),
                pagekit.speed_cell(speed, s, mib),
                pagekit.ratio(ours, speed),
                f"{s['ok']}/{s['runs']}",
                pagekit.num(s.get("requests")) + f" ({pagekit.num(s.get('gets'))})",
                pagekit.num(s.get("max_conc")),
                f"{s['bytes_served'] / size:.2f}" if s.get("ok") else "-",
                f"{s['cpu_s']:.2f}" if s.get("cpu_s") is not None else "-",
                pagekit.num(s.get("context_switches")),
            ]
        )
    figure = plots.speed_bars(
        figures_dir / f"{name}.png",
        data["title"],
        [(c, median[c], contenders.kind(c)) for c in data["names"]],
        unit="MiB/s",
    )
    calibration = data["calibration"]
    lines = [
        f"## {data['title']}",
        "",
        data.get("note", ""),
        "",
        pagekit.run_line(data),
        "",
        f"Matched settings (from ours' untimed calibration run: "
        f"`DownloadResult.connections` = {calibration['connections']}, median ranged GET "
        f"{calibration['median_request'] / MiB:.2f} MiB, {calibration['gets']} GETs, "
        f"{calibration['max_concurrent_gets']} in flight at most): **{matched.describe()}**.",
        "",
        pagekit.table(
            [
                "contender",
                "settings",
                "median MiB/s (min-max)",
                "ours/X",
                "ok",
                "requests (GETs)",
                "most in flight",
                "served/size",
                "client CPU s",
                "context switches",
            ],
            rows,
            align="llrrrrrrrr",
        ),
        "",
        f"![{data['title']}](benchmarks/figures/{figure.name})",
        "",
        *pagekit.who_beats_ours(name, median, facts=lambda c: compare(data, c)),
        *pagekit.failures(data["summary"]),
    ]
    return "\n".join(lines)
