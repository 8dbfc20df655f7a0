"""Scaling curves: checkpoint cost per part, peak RSS against size, throughput against concurrency.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_scaling.py --quick                 # under a minute
    .venv/bin/python benchmarks/bench_scaling.py                         # 7-10 minutes
    .venv/bin/python benchmarks/bench_scaling.py --curves checkpoint --json out.json \\
        --figures docs/benchmarks/figures

Three curves (``--curves``, comma-separated; all by default):

``checkpoint``   microseconds per part of recording and of resuming a checkpoint,
                 1k to 1M parts: our journal (directly), our engine (whole
                 downloads of a synthetic object, up to its 10,000 parts) and
                 oss2's record store (``scaling_checkpoint``). CPU only.
``rss``          peak RSS of a child process running ``get_file`` at defaults, for
                 objects of 256 MiB to 8 GiB (``bench_memory.measure_sizes``; the
                 8 GiB run needs about 16 GiB free disk at its peak).
``concurrency``  throughput of every fixed ``concurrency`` from 1 to 128 and of
                 ours at defaults (adaptive) on the two simulated WAN profiles
                 (``scaling_wan``; loopback only, never a real endpoint).

``--quick`` shrinks every curve (1k-100k parts; 64 and 256 MiB; a 32 MiB object
at 1, 4, 16, 64 connections, one round). ``report.py`` calls :func:`run` and
:func:`render`; ``--figures`` writes the PNGs and prints the markdown section.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, GiB, MiB, make_scratch, remove_scratch

CURVES = ("checkpoint", "rss", "concurrency")
RSS_SIZES = (256 * MiB, 1 * GiB, 4 * GiB, 8 * GiB)
RSS_SIZES_QUICK = (64 * MiB, 256 * MiB)


def machine_info() -> dict[str, Any]:
    import oss2

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = None
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "load_average_start": os.getloadavg(),
        "oss2": oss2.__version__,
        "commit": commit or None,
    }


def run_checkpoint_curve(quick: bool) -> dict[str, Any]:
    from scaling_checkpoint import run_checkpoint

    scratch, _ = make_scratch(None)
    try:
        return run_checkpoint(scratch, quick)
    finally:
        remove_scratch(scratch)


def run_rss_curve(quick: bool) -> dict[str, Any]:
    from bench_memory import measure_sizes

    sizes = list(RSS_SIZES_QUICK if quick else RSS_SIZES)
    reports = measure_sizes(sizes)
    for report in reports:
        print(
            f"  rss {report['size'] / MiB:>6.0f} MiB: peak {report['peak'] / MiB:.1f} MiB, "
            f"before {report['rss_before'] / MiB:.1f} MiB, {report['elapsed']:.1f} s"
        )
    return {"sizes": sizes, "reports": reports}


def run_concurrency_curve(quick: bool) -> dict[str, Any]:
    from scaling_wan import run_concurrency

    return run_concurrency(quick)


def run(quick: bool, curves: tuple[str, ...] = CURVES) -> dict[str, Any]:
    """Measure ``curves``; a JSON-able dict with machine info and every raw sample."""
    from harness import isolate_from_real_clouds

    isolate_from_real_clouds()  # every client here is given the local server explicitly
    data: dict[str, Any] = {"quick": quick, "machine": machine_info(), "seconds": {}}
    runners = {
        "checkpoint": run_checkpoint_curve,
        "rss": run_rss_curve,
        "concurrency": run_concurrency_curve,
    }
    for curve in curves:
        print(f"== scaling: {curve}{' (quick)' if quick else ''} ==", flush=True)
        began = time.perf_counter()
        data[curve] = runners[curve](quick)
        data["seconds"][curve] = time.perf_counter() - began
        print(f"== {curve}: {data['seconds'][curve]:.0f} s ==", flush=True)
    data["machine"]["load_average_end"] = os.getloadavg()
    return data


def render(data: dict[str, Any], figures_dir: Path) -> str:
    """Write the curves' PNGs into ``figures_dir``; return the markdown section."""
    from scaling_render import render_all

    return render_all(data, Path(figures_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument(
        "--curves",
        default=",".join(CURVES),
        help="comma-separated subset of %(default)s",
    )
    parser.add_argument("--json", default=None, help="write the raw results to this file")
    parser.add_argument(
        "--figures", default=None, help="write PNGs here and print the markdown section"
    )
    args = parser.parse_args(argv)
    curves = tuple(c.strip() for c in args.curves.split(",") if c.strip())
    unknown = sorted(set(curves) - set(CURVES))
    if unknown:
        parser.error(f"unknown curve(s) {', '.join(unknown)}; choose from {', '.join(CURVES)}")
    data = run(args.quick, curves)
    print(f"load average at the end {os.getloadavg()} (high: noisy numbers)")
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))
        print(f"wrote {args.json}")
    if args.figures:
        figures = Path(args.figures)
        figures.mkdir(parents=True, exist_ok=True)
        print(render(data, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
