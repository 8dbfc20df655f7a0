"""A 1 KiB object: time per download and the requests each contender makes.

On the simulated WAN of 30 ms per answer (16 MiB/s per connection), where every
request a client makes costs a round trip. Each contender downloads the object
``DOWNLOADS`` times per round, alternating download by download; the server's
statistics give the requests of each download, by operation.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import contenders
import pagekit
import plots
from _common import KiB, MiB, make_scratch, remove_scratch
from harness import BUCKET, Target, alternate, machine, seed, summarize

from oss_resumable_fs.testing import OSSServer

TITLE = "One 1 KiB object, simulated WAN 16 MiB/s + 30 ms per answer"
SIZE = 1 * KiB
RATE, LATENCY = 16 * MiB, 0.03
DOWNLOADS, QUICK_DOWNLOADS = 10, 3
ROUNDS = 3
NAMES = ["ours", "oss2", "ossfs", "v2", "s3fs", "obstore", "boto3", "crt", "curl"]


def run(
    quick: bool, *, rounds: int | None = None, scratch_parent: str | None = None, **_: Any
) -> dict[str, Any]:
    rounds = rounds or (1 if quick else ROUNDS)
    downloads = QUICK_DOWNLOADS if quick else DOWNLOADS
    meta = machine()
    scratch, _made = make_scratch(scratch_parent)
    print(f"\n== tiny: 1 KiB, {rounds} rounds x {downloads} downloads ==", flush=True)
    try:
        root = scratch / "server"
        root.mkdir()
        with OSSServer(root=root, mode="process") as server:
            server.create_bucket(BUCKET, acl="public-read")
            local_copy = scratch / "source.bin"
            key, crc = seed(server, local_copy, SIZE)
            out = scratch / "out"
            out.mkdir()
            target = Target(server, key, SIZE, crc, out, local_copy)
            server.simulate_wan(bytes_per_second=RATE, latency=LATENCY)
            runners = contenders.build_all(NAMES, target, scratch)
            runs = alternate(NAMES, runners, target, rounds * downloads, "tiny")
    finally:
        remove_scratch(scratch)
    meta["load_average_end"] = list(os.getloadavg())
    kinds = sorted({k for rs in runs.values() for r in rs for k in r.requests})
    by_kind = {
        name: {k: sorted(r.requests.get(k, 0) for r in rs)[len(rs) // 2] for k in kinds}
        for name, rs in runs.items()
    }
    return {
        "scenario": "tiny",
        "title": TITLE,
        "quick": quick,
        "rounds": rounds,
        "downloads_per_round": downloads,
        "size": SIZE,
        "link": {"rate": RATE, "latency": LATENCY},
        "names": NAMES,
        "summary": {name: summarize(rs) for name, rs in runs.items()},
        "requests_by_kind": by_kind,
        "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
        "machine": meta,
    }


def render(data: dict[str, Any], figures_dir: Path) -> str:
    ms = {n: (1000 * s["median_s"] if s.get("ok") else None) for n, s in data["summary"].items()}
    ours = ms.get("ours")
    latency_ms = 1000 * data["link"]["latency"]
    rows = []
    for name in data["names"]:
        s = data["summary"][name]
        kinds = data["requests_by_kind"][name]
        requests = ", ".join(f"{k} {v}" for k, v in kinds.items() if v) or "-"
        rows.append(
            [
                pagekit.contender_label(name),
                f"{ms[name]:.1f} ({1000 * s['min_s']:.1f}-{1000 * s['max_s']:.1f})"
                if ms[name]
                else "**FAILED**",
                pagekit.ratio(ours, ms[name], lower_is_better=True),
                f"{s['ok']}/{s['runs']}",
                pagekit.num(s.get("requests")),
                requests,
                f"{ms[name] - latency_ms * s['requests']:.1f}" if ms[name] else "-",
            ]
        )
    notes = [f"{pagekit.num(data['summary'][n].get('requests'))} req" for n in data["names"]]
    figure = plots.speed_bars(
        figures_dir / "tiny.png",
        data["title"],
        [(n, ms[n], contenders.kind(n)) for n in data["names"]],
        unit="ms per download (lower is better)",
        notes=notes,
    )
    return "\n".join(
        [
            f"## {data['title']}",
            "",
            pagekit.run_line(data)
            + f" Each round downloads the object {data['downloads_per_round']} times per "
            "contender, alternating download by download.",
            "",
            pagekit.table(
                [
                    "contender",
                    "median ms per download (min-max)",
                    "X/ours (time)",
                    "ok",
                    "requests",
                    "by operation",
                    f"ms beyond {latency_ms:.0f} ms per request",
                ],
                rows,
                align="lrrrrlr",
            ),
            "",
            f"![{data['title']}](benchmarks/figures/{figure.name})",
            "",
            *pagekit.who_beats_ours(
                "tiny", ms, lower_is_better=True, what="median time", unit="ms"
            ),
            *pagekit.failures(data["summary"]),
        ]
    )
