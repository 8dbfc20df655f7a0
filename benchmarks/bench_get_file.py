"""Download throughput: ``ResumableOSSFileSystem.get_file`` against the usual ways to fetch
one OSS object, side by side, against one local OSS server.

Usage (from the repository root; see ``--help``)::

    .venv/bin/python benchmarks/bench_get_file.py                      # both profiles, defaults
    .venv/bin/python benchmarks/bench_get_file.py --profile loopback --size 1GiB --repeat 5
    .venv/bin/python benchmarks/bench_get_file.py --profile wan --only ours,oss2,curl
    .venv/bin/python benchmarks/bench_get_file.py --size 64MiB --repeat 1 --json out.json

Competitors, all at their library defaults (described in ``peers_oss.py`` and
``peers_s3.py``): ``ours``, ``oss2``, ``ossfs``, ``v2``, ``s3fs``, ``obstore``,
``boto3``, ``crt``, and the bounds ``curl``, ``curl+fsync``, ``copy``, ``copy+fsync``.
The default set is the OSS-API ones and the bounds; name the S3 ones with ``--only``.
``bench_peers.py`` (``make bench``) runs them all, with matched settings too.

Method. One server process (``OSSServer(mode="process")``, so it does not share
the client's GIL) serves one object. All competitors run in this one process,
each writing the same object to the same path on the same disk; before each
timed run the previous output is deleted and ``sync(2)`` is called so nobody
pays for another's write-back. The order of competitors is rotated by one
place every repetition. The time is the wall clock around the call (setup such
as building clients is excluded; HEADs and listings the call itself makes are
included). Each output's CRC-64 is checked against the server's
``x-oss-hash-crc64ecma``: a wrong file is reported as WRONG and gets no speed.

Profiles. ``loopback``: no shaping (the server uses sendfile). ``wan``:
``server.simulate_wan`` caps every GET to ``--wan-rate`` per connection and
delays every answer by ``--wan-latency`` -- a stand-in for OSS over the
internet, where a single TCP stream is limited well below the link.

On a busy machine (other test suites running) the numbers are noise: the load
averages are printed before and after; rerun on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contenders
from _common import MiB, filesystem_type, human, make_scratch, parse_size, remove_scratch
from harness import (  # re-exported: bench_adaptive.py builds on them
    BUCKET,
    Run,
    Runner,
    Target,
    alternate,
    isolate_from_real_clouds,
    one_run,
    seed,
    summarize,
)

from oss_resumable_fs.testing import OSSServer

__all__ = ["BUCKET", "Run", "Target", "build_runners", "one_run", "seed"]

DEFAULT_SET = ("ours", "oss2", "ossfs", "curl", "curl+fsync", "copy", "copy+fsync", "v2")
COMPETITORS = (*DEFAULT_SET, "s3fs", "obstore", "boto3", "crt")
PROFILES = ("loopback", "wan")
DEFAULT_SIZE = {"loopback": 512 * MiB, "wan": 256 * MiB}


def build_runners(
    server: OSSServer, target: Target, scratch: Path, names: tuple[str, ...] = DEFAULT_SET
) -> dict[str, Runner]:
    """One callable per competitor, taking the destination path; clients built here, once."""
    return contenders.build_all(list(names), target, scratch)


def print_table(profile: str, size: int, names: list[str], summary: dict[str, dict]) -> None:
    mib = size / MiB
    ours = summary.get("ours", {})
    ours_speed = mib / ours["median_s"] if ours.get("ok") else None
    print(f"\n== {profile}: {human(size)} object ==")
    header = (
        f"{'competitor':<12}{'median MiB/s':>13}{'min':>9}{'max':>9}{'ours/X':>8}"
        f"{'ok':>6}{'GETs':>6}{'conc':>6}{'served/size':>12}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        s = summary[name]
        if not s.get("ok"):
            print(f"{name:<12}{'FAILED':>13}   {'; '.join(s['errors'])}")
            continue
        median = mib / s["median_s"]
        ratio = f"{ours_speed / median:.2f}" if ours_speed else "-"
        print(
            f"{name:<12}{median:>13.1f}{mib / s['max_s']:>9.1f}{mib / s['min_s']:>9.1f}"
            f"{ratio:>8}{s['ok']:>3}/{s['runs']:<2}{s['gets']:>6.0f}{s['max_conc']:>6}"
            f"{s['bytes_served'] / size:>12.2f}"
        )
        for error in s["errors"]:
            print(f"{'':<12}  some runs failed: {error}")
        if s["leftovers"]:
            print(f"{'':<12}  left files beside the output: {', '.join(s['leftovers'])}")
    print(
        "(MiB/s = object size / wall time; min/max are the slowest/fastest run; "
        "ours/X = ours' median speed / X's; GETs = GetObject requests per run; "
        "conc = most GETs in flight; served/size = body bytes the server sent / object size)"
    )


def run_profile(
    profile: str,
    server: OSSServer,
    scratch: Path,
    size: int,
    names: list[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    local_copy = scratch / f"source-{profile}.bin"
    key, crc = seed(server, local_copy, size)
    out_dir = scratch / "out"
    out_dir.mkdir(exist_ok=True)
    target = Target(server, key, size, crc, out_dir, local_copy)
    runners = build_runners(server, target, scratch, tuple(names))
    if profile == "wan":
        server.simulate_wan(bytes_per_second=args.wan_rate, latency=args.wan_latency)
    try:
        if args.warmup:
            alternate(names, runners, target, args.warmup, f"{profile} warm-up")
        runs = alternate(names, runners, target, args.repeat, profile)
    finally:
        server.clear_faults()
        local_copy.unlink(missing_ok=True)
    summary = {name: summarize(runs[name]) for name in names}
    print_table(profile, size, names, summary)
    return {
        "profile": profile,
        "size": size,
        "crc64": crc,
        "summary": summary,
        "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=None,
        help="object size, e.g. 512MiB (default: 512MiB loopback, 256MiB wan)",
    )
    parser.add_argument("--profile", choices=(*PROFILES, "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs each (median; default 3)")
    parser.add_argument("--warmup", type=int, default=0, help="untimed rounds first (default 0)")
    parser.add_argument(
        "--dir",
        default=None,
        help="parent of the scratch directory where outputs land (default benchmarks/.scratch, "
        "on the repository's disk; a tmpfs is refused)",
    )
    parser.add_argument("--allow-tmpfs", action="store_true", help="allow --dir on tmpfs")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_SET),
        help=f"comma-separated subset of {','.join(COMPETITORS)} (default: all but the S3 ones)",
    )
    parser.add_argument(
        "--wan-rate", type=parse_size, default=16 * MiB, help="per-connection bytes/s (16MiB)"
    )
    parser.add_argument(
        "--wan-latency", type=float, default=0.03, help="first-byte latency, s (0.03)"
    )
    parser.add_argument("--json", default=None, help="also write all runs to this JSON file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(COMPETITORS))
    if unknown or not names:
        parser.error(f"unknown competitor(s) {unknown}; choose from {', '.join(COMPETITORS)}")
    if "ours" not in names:
        print("note: 'ours' not selected, so no ours/X ratios", file=sys.stderr)
    args.names = list(dict.fromkeys(names))
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    isolate_from_real_clouds()
    args = parse_args(argv)
    profiles = list(PROFILES) if args.profile == "both" else [args.profile]
    scratch, _ = make_scratch(args.dir, allow_tmpfs=args.allow_tmpfs)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"scratch {scratch} ({filesystem_type(scratch)}), load avg {os.getloadavg()}"
    )
    results: list[dict[str, Any]] = []
    try:
        server_root = scratch / "server"
        server_root.mkdir()
        with OSSServer(root=server_root, mode="process") as server:
            server.create_bucket(BUCKET, acl="public-read")
            for profile in profiles:
                size = args.size or DEFAULT_SIZE[profile]
                print(f"\n-- {profile}: seeding {human(size)} ...", flush=True)
                results.append(run_profile(profile, server, scratch, size, args.names, args))
    finally:
        remove_scratch(scratch)
    print(f"\nload avg at the end {os.getloadavg()} (high = noisy numbers)")
    if args.json:
        meta = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "wan_rate": args.wan_rate,
            "wan_latency": args.wan_latency,
            "repeat": args.repeat,
        }
        Path(args.json).write_text(json.dumps({"meta": meta, "profiles": results}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
