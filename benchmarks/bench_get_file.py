"""Download throughput: ``ResumableOSSFileSystem.get_file`` against the usual ways to fetch
one OSS object, side by side, against one local OSS server.

Usage (from the repository root; see ``--help``)::

    .venv/bin/python benchmarks/bench_get_file.py                      # both profiles, defaults
    .venv/bin/python benchmarks/bench_get_file.py --profile loopback --size 1GiB --repeat 5
    .venv/bin/python benchmarks/bench_get_file.py --profile wan --only ours,oss2,curl
    .venv/bin/python benchmarks/bench_get_file.py --size 64MiB --repeat 1 --json out.json

Competitors (all at their library defaults):

``ours``        ``ResumableOSSFileSystem(...).get_file`` (parallel ranged GETs, journal,
                fsync, atomic rename, CRC-64 verified).
``oss2``        ``oss2.resumable_download(bucket, key, path)`` -- what ``ossfs`` calls for
                objects >= 5 MiB; checkpoint store in the scratch dir. Its defaults: a
                single GET below 100 MiB (``multiget_threshold``), else 10 MiB parts on 4
                threads.
``ossfs``       ``ossfs.OSSFileSystem(...).get_file`` itself (adds ossfs's isdir/size
                look-ups; its checkpoint store is oss2's default, under ``$HOME``).
``curl``        ``curl -s -S -f -o PATH URL`` on the public-read bucket: one connection, no
                signing, no fsync -- the "how fast can one stream go" reference.
``curl+fsync``  the same, then ``os.fsync`` of the file: the fair durable baseline, since
                ``ours`` fsyncs before its atomic rename.
``copy``        no network at all: the same bytes copied from a local file (in the page
                cache) in 8 MiB blocks -- how fast this disk's page cache takes the object.
``copy+fsync``  the same, then ``os.fsync``: the machine's limit for landing the object
                durably. No downloader that fsyncs can beat it, whatever the network.
``v2``          alibabacloud-oss-v2 ``client.downloader().download_file(...)`` (6 MiB
                parts, 3 in parallel), path-style addressing, V4 signatures, region set.

Not included: ``s3fs`` -- it speaks the S3 protocol (AWS SigV4, S3 XML), which this
OSS server does not emulate, so there is nothing comparable to measure.

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
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import oss2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    MiB,
    drop_dirty_pages,
    file_crc64,
    filesystem_type,
    human,
    make_scratch,
    parse_size,
    remove_scratch,
    write_pattern_file,
)

sys.path.insert(0, str(REPO))
from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import OSSServer

COMPETITORS = ("ours", "oss2", "ossfs", "curl", "curl+fsync", "copy", "copy+fsync", "v2")
PROFILES = ("loopback", "wan")
DEFAULT_SIZE = {"loopback": 512 * MiB, "wan": 256 * MiB}
BUCKET = "bench"


@dataclass
class Run:
    competitor: str
    seconds: float | None = None
    error: str | None = None
    #: What the server saw during this run.
    get_requests: int = 0
    max_concurrent_gets: int = 0
    bytes_served: int = 0
    #: Files other than the output left in the scratch output directory.
    leftovers: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Target:
    server: OSSServer
    key: str
    size: int
    crc64: int
    out_dir: Path
    #: A local file with the object's bytes, for the no-network ``copy`` baselines.
    local_copy: Path

    @property
    def rpath(self) -> str:
        return f"{BUCKET}/{self.key}"

    @property
    def url(self) -> str:
        return f"{self.server.endpoint}/{BUCKET}/{self.key}"


Runner = Callable[[str], dict[str, Any] | None]


def build_runners(server: OSSServer, target: Target, scratch: Path) -> dict[str, Runner]:
    """One callable per competitor, taking the destination path; clients built here, once."""
    endpoint, ak, sk = server.endpoint, server.access_key_id, server.access_key_secret
    runners: dict[str, Runner] = {}

    ours_fs = ResumableOSSFileSystem(endpoint=endpoint, key=ak, secret=sk, skip_instance_cache=True)

    def ours(dest: str) -> dict[str, Any]:
        result = ours_fs.get_file(target.rpath, dest)
        assert result is not None
        return {
            "engine_elapsed": round(result.elapsed, 4),
            "bytes_fetched": result.bytes_fetched,
            "parts": result.parts_total,
        }

    runners["ours"] = ours

    bucket = oss2.Bucket(oss2.Auth(ak, sk), endpoint, BUCKET)
    store_root = scratch / "oss2-store"
    store_root.mkdir(exist_ok=True)
    store = oss2.ResumableDownloadStore(root=str(store_root))

    def oss2_runner(dest: str) -> None:
        oss2.resumable_download(bucket, target.key, dest, store=store)

    runners["oss2"] = oss2_runner

    import ossfs

    ossfs_fs = ossfs.OSSFileSystem(endpoint=endpoint, key=ak, secret=sk, skip_instance_cache=True)

    def ossfs_runner(dest: str) -> None:
        ossfs_fs.invalidate_cache()
        ossfs_fs.get_file(target.rpath, dest)

    runners["ossfs"] = ossfs_runner

    curl = shutil.which("curl")

    def curl_runner(dest: str, *, fsync: bool = False) -> None:
        if curl is None:
            raise RuntimeError("curl is not on PATH")
        done = subprocess.run(
            [curl, "-s", "-S", "-f", "-o", dest, target.url],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"curl exit {done.returncode}: {done.stderr.strip()}")
        if fsync:
            fd = os.open(dest, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    runners["curl"] = curl_runner
    runners["curl+fsync"] = lambda dest: curl_runner(dest, fsync=True)

    def copy_runner(dest: str, *, fsync: bool = False) -> None:
        block = bytearray(8 * MiB)
        with open(target.local_copy, "rb", buffering=0) as source, open(dest, "wb") as out:
            while count := source.readinto(block):
                out.write(memoryview(block)[:count])
            out.flush()
            if fsync:
                os.fsync(out.fileno())

    runners["copy"] = copy_runner
    runners["copy+fsync"] = lambda dest: copy_runner(dest, fsync=True)

    try:
        import alibabacloud_oss_v2 as v2
    except ImportError as err:
        v2_error = f"alibabacloud-oss-v2 is not installed ({err})"

        def v2_runner(dest: str) -> None:
            raise RuntimeError(v2_error)

    else:
        cfg = v2.config.load_default()
        cfg.credentials_provider = v2.credentials.StaticCredentialsProvider(ak, sk)
        cfg.region = server.region
        cfg.endpoint = endpoint
        cfg.use_path_style = True
        downloader = v2.Client(cfg).downloader()

        def v2_runner(dest: str) -> dict[str, Any]:
            request = v2.GetObjectRequest(bucket=BUCKET, key=target.key)
            result = downloader.download_file(request, filepath=dest)
            return {"written": getattr(result, "written", None)}

    runners["v2"] = v2_runner
    return runners


def clear_dir(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def one_run(name: str, runner: Runner, target: Target) -> Run:
    dest = target.out_dir / "object.bin"
    clear_dir(target.out_dir)
    drop_dirty_pages()
    target.server.reset_stats()
    run = Run(name)
    began = time.perf_counter()
    try:
        extra = runner(str(dest))
    except Exception as err:  # a competitor failing is a result, not a crash
        run.error = f"{type(err).__name__}: {err}"[:500]
        extra = None
    elapsed = time.perf_counter() - began
    stats = target.server.stats()
    run.get_requests = stats.requests.get("GetObject", 0)
    run.max_concurrent_gets = stats.max_concurrent_gets
    run.bytes_served = stats.total_bytes_served
    run.extra = extra or {}
    run.leftovers = sorted(p.name for p in target.out_dir.iterdir() if p != dest)
    if run.error is None:
        if not dest.exists():
            run.error = "no output file"
        elif (size := dest.stat().st_size) != target.size:
            run.error = f"WRONG size {size} != {target.size}"
        elif (crc := file_crc64(dest)) != target.crc64:
            run.error = f"WRONG crc64 {crc} != {target.crc64}"
        else:
            run.seconds = elapsed
    clear_dir(target.out_dir)
    return run


def seed(server: OSSServer, source: Path, size: int) -> tuple[str, int]:
    """Put an object of ``size`` bytes, kept at ``source`` too; return its key and CRC-64."""
    key = f"object-{size}.bin"
    write_pattern_file(source, size)
    server.put_object(BUCKET, key, source)
    head = oss2.Bucket(
        oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, BUCKET
    ).head_object(key)
    if head.content_length != size or head.server_crc is None:
        raise SystemExit(f"seeding failed: HEAD gave {head.content_length} B, {head.server_crc}")
    # Read both copies once so they are in the page cache for everyone.
    with urllib.request.urlopen(f"{server.endpoint}/{BUCKET}/{key}") as body:
        while body.read(8 * MiB):
            pass
    if file_crc64(source) != int(head.server_crc):
        raise SystemExit("seeding failed: the local copy differs from the object")
    return key, int(head.server_crc)


def summarize(runs: list[Run]) -> dict[str, Any]:
    ok = [r for r in runs if r.seconds is not None]
    errors = sorted({r.error for r in runs if r.error})
    if not ok:
        return {"ok": 0, "errors": errors}
    speeds = [r.seconds for r in ok]  # type: ignore[misc]
    return {
        "ok": len(ok),
        "runs": len(runs),
        "median_s": statistics.median(speeds),
        "min_s": min(speeds),
        "max_s": max(speeds),
        "gets": statistics.median(r.get_requests for r in ok),
        "max_conc": max(r.max_concurrent_gets for r in ok),
        "bytes_served": statistics.median(r.bytes_served for r in ok),
        "leftovers": sorted({name for r in runs for name in r.leftovers}),
        "errors": errors,
    }


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
    runners = build_runners(server, target, scratch)
    if profile == "wan":
        server.simulate_wan(bytes_per_second=args.wan_rate, latency=args.wan_latency)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    try:
        for round_number in range(args.warmup + args.repeat):
            shift = round_number % len(names)
            order = names[shift:] + names[:shift]
            warm = round_number < args.warmup
            label = "warm-up" if warm else f"rep {round_number - args.warmup + 1}/{args.repeat}"
            for name in order:
                run = one_run(name, runners[name], target)
                status = f"{size / MiB / run.seconds:8.1f} MiB/s" if run.seconds else run.error
                print(f"  [{profile} {label}] {name:<11} {status}", flush=True)
                if not warm:
                    runs[name].append(run)
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
        default=",".join(COMPETITORS),
        help=f"comma-separated subset of {','.join(COMPETITORS)} (default: all)",
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
