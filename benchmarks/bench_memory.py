"""Peak memory of ``ResumableOSSFileSystem.get_file`` (defaults) does not grow with object size.

Usage (from the repository root; see ``--help``)::

    .venv/bin/python benchmarks/bench_memory.py                          # 256MiB vs 4GiB
    .venv/bin/python benchmarks/bench_memory.py --sizes 64MiB,512MiB     # quick smoke run

For each size an object is seeded into one local OSS server process, then a
fresh child Python process downloads it with ``get_file`` at its defaults. The
child reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the kernel's peak
resident set size) just before the download -- its baseline: interpreter,
imports, clients -- and after it; the parent also polls the child's RSS with
psutil every 20 ms as a cross-check. The output is CRC-64 checked against the
server's, then deleted; the object is deleted from the server, and the scratch
directory removed at the end.

What "good" looks like: peak RSS about the same for both sizes (ratio near
1.0), because memory in flight is bounded by ``concurrency x buffer_size``
(16 x 1 MiB by default) whatever the object size. Page cache used for the
output file is not in RSS, and is not counted.

The source is written quickly in constant memory: one 64 MiB ``os.urandom``
block repeated, each copy stamped with its index (so no two parts are
identical). A 4 GiB run needs about 8 GiB free disk at its peak (the server's
copy + the output).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    MiB,
    file_crc64,
    filesystem_type,
    human,
    make_scratch,
    parse_size,
    proc_status,
    remove_scratch,
    reset_peak_rss,
    write_pattern_file,
)

sys.path.insert(0, str(REPO))

BUCKET = "bench"


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def child_main(endpoint: str, ak: str, sk: str, rpath: str, dest: str) -> int:
    """In the child: download ``rpath`` to ``dest`` at defaults; print one JSON line.

    Peaks come from ``VmHWM`` (this process image's own high-water mark), not
    ``ru_maxrss``: on Linux ``ru_maxrss`` survives fork+exec, so a child starts
    with its *parent's* peak (here the parent held a 64 MiB seeding block).
    """
    from oss_resumable_fs import ResumableOSSFileSystem

    fs = ResumableOSSFileSystem(endpoint=endpoint, key=ak, secret=sk, skip_instance_cache=True)
    fs.info(rpath)  # connections and lazy imports made: what is left is the download
    setup_peak = proc_status("VmHWM")
    before = proc_status("VmRSS")
    reset = reset_peak_rss()
    began = time.perf_counter()
    result = fs.get_file(rpath, dest)
    elapsed = time.perf_counter() - began
    assert result is not None
    during = proc_status("VmHWM")
    if during is None or before is None or setup_peak is None:  # no /proc: ru_maxrss only
        during = setup_peak = _maxrss_bytes()
        before = 0
    report = {
        # Resident set just before get_file: interpreter, imports, clients.
        "rss_before": before,
        # Highest RSS while get_file ran (the whole child's life if the reset failed).
        "peak_during": during,
        "peak_reset_ok": reset,
        # Highest RSS over the child's whole life (setup included).
        "peak": max(during, setup_peak),
        # For reference only: inherits the parent's peak across fork+exec on Linux.
        "ru_maxrss": _maxrss_bytes(),
        "elapsed": elapsed,
        "bytes_fetched": result.bytes_fetched,
        "parts": result.parts_total,
        # The most connections at once: each holds one buffer_size buffer.
        "connections": result.connections,
        "config": {
            "concurrency": fs.transfer_config.concurrency,
            "buffer_size": fs.transfer_config.buffer_size,
            "max_buffer_memory": fs.transfer_config.max_buffer_memory,
        },
    }
    print(json.dumps(report), flush=True)
    return 0


def _poll_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    import psutil

    try:
        process = psutil.Process(pid)
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            stop.wait(0.02)
    except psutil.Error:  # the child has exited
        pass


def measure(server: Any, scratch: Path, size: int, verify: bool) -> dict[str, Any]:
    import oss2

    key = f"object-{size}.bin"
    source = scratch / "source.bin"
    began = time.perf_counter()
    write_pattern_file(source, size)
    server.put_object(BUCKET, key, source)
    source.unlink()
    seed_seconds = time.perf_counter() - began
    print(f"  seeded {human(size)} in {seed_seconds:.1f}s", flush=True)
    bucket = oss2.Bucket(
        oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, BUCKET
    )
    server_crc = int(bucket.head_object(key).server_crc)
    dest = scratch / "out.bin"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", server.endpoint]
    argv += [server.access_key_id, server.access_key_secret, f"{BUCKET}/{key}", str(dest)]
    peak = [0]
    stop = threading.Event()
    try:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        poller = threading.Thread(target=_poll_rss, args=(child.pid, stop, peak), daemon=True)
        poller.start()
        out, _ = child.communicate()
        stop.set()
        poller.join()
        if child.returncode != 0:
            raise SystemExit(f"the child failed (exit {child.returncode}) for {human(size)}")
        report = json.loads(out.strip().splitlines()[-1])
        report["psutil_peak_rss"] = peak[0]
        report["size"] = size
        report["seed_s"] = seed_seconds
        if verify:
            crc = file_crc64(dest)
            report["crc_ok"] = crc == server_crc
            if crc != server_crc:
                raise SystemExit(f"WRONG output for {human(size)}: crc {crc} != {server_crc}")
    finally:
        dest.unlink(missing_ok=True)
        bucket.delete_object(key)
    return report


def measure_sizes(
    sizes: list[int],
    *,
    parent: str | None = None,
    allow_tmpfs: bool = False,
    verify: bool = True,
) -> list[dict[str, Any]]:
    """One report per size (see :func:`measure`), from one server in a fresh scratch
    directory under ``parent`` that is removed at the end."""
    from oss_resumable_fs.testing import OSSServer

    scratch, _ = make_scratch(parent, allow_tmpfs=allow_tmpfs)
    print(f"scratch {scratch} ({filesystem_type(scratch)}), load avg {os.getloadavg()}")
    reports: list[dict[str, Any]] = []
    try:
        server_root = scratch / "server"
        server_root.mkdir()
        with OSSServer(root=server_root, mode="process") as server:
            server.create_bucket(BUCKET)
            for size in sizes:
                reports.append(measure(server, scratch, size, verify=verify))
    finally:
        remove_scratch(scratch)
    return reports


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child_main(*sys.argv[2:7])
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="256MiB,4GiB",
        help="comma-separated object sizes, smallest first (default %(default)s)",
    )
    parser.add_argument(
        "--dir",
        default=None,
        help="parent of the scratch directory (default benchmarks/.scratch, on the repo's disk)",
    )
    parser.add_argument("--allow-tmpfs", action="store_true", help="allow --dir on tmpfs")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the parent's CRC-64 check of each output"
    )
    parser.add_argument("--json", default=None, help="also write the reports to this JSON file")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    if len(sizes) < 2:
        parser.error("give at least two sizes to compare")

    reports = measure_sizes(
        sizes, parent=args.dir, allow_tmpfs=args.allow_tmpfs, verify=not args.no_verify
    )
    print(
        f"\n{'size':>8}{'peak RSS':>11}{'before':>10}{'growth':>10}"
        f"{'psutil peak':>13}{'time s':>8}{'MiB/s':>8}"
    )
    for r in reports:
        print(
            f"{human(r['size']):>8}{r['peak'] / MiB:>10.1f}M{r['rss_before'] / MiB:>9.1f}M"
            f"{(r['peak_during'] - r['rss_before']) / MiB:>9.1f}M"
            f"{r['psutil_peak_rss'] / MiB:>12.1f}M{r['elapsed']:>8.2f}"
            f"{r['size'] / MiB / r['elapsed']:>8.1f}"
        )
    small, large = reports[0], reports[-1]
    grow = large["peak_during"] - large["rss_before"]
    base_grow = small["peak_during"] - small["rss_before"]
    growth_ratio = f"{grow / base_grow:.2f}" if base_grow > 0 else "n/a"
    print(
        f"\npeak RSS ratio {human(large['size'])}/{human(small['size'])}: "
        f"{large['peak'] / small['peak']:.2f}  (growth ratio {growth_ratio}; "
        f"object size ratio {large['size'] / small['size']:.0f})"
    )
    cfg = small["config"]
    print(
        "(peak RSS = the child's VmHWM over its life; before = VmRSS just before get_file; "
        "growth = VmHWM during get_file - before; psutil peak = parent polling every 20 ms; "
        f"in-flight bound concurrency x buffer_size = {cfg['concurrency'] or 16} x "
        f"{human(cfg['buffer_size'])})"
    )
    if not all(r["peak_reset_ok"] for r in reports):
        print("note: VmHWM could not be reset, so 'growth' includes setup")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
