"""``pd.read_csv("ossr://...")`` against ``pd.read_csv("oss://...")`` (plain ossfs): speed
and peak memory, each read in a fresh child process, against one local OSS server.

Usage (from the repository root; see ``--help``)::

    .venv/bin/python benchmarks/bench_read_csv.py                         # 256MiB, WAN, 3 rounds
    .venv/bin/python benchmarks/bench_read_csv.py --size 32MiB --rounds 1 # smoke test
    .venv/bin/python benchmarks/bench_read_csv.py --link loopback --only ossr,ossfs,local
    .venv/bin/python benchmarks/bench_read_csv.py --concurrency 32 --part-size 4MiB --json out.json

The target (issue #7): on the simulated WAN (16 MiB/s per connection, 30 ms to
first byte), ``pd.read_csv("ossr://bucket/key")`` of a 256 MiB CSV is at least
3x as fast as ``pd.read_csv("oss://bucket/key")`` through plain
``ossfs.OSSFileSystem``, with peak RSS growth under 3x the configured in-flight
bound of the ossr read path (``concurrency x part_size``; today 16 x 8 MiB).

Contenders (``--only``), alternated within one run, the order rotated by one
place every round:

``ossr``         ``pd.read_csv("ossr://bench/KEY", storage_options={endpoint, key, secret,
                 [concurrency, part_size]})`` -- ``ResumableOSSFileSystem``.
``ossfs``        ``pd.read_csv("oss://bench/KEY", storage_options={endpoint, key, secret})``
                 -- plain ``ossfs.OSSFileSystem`` (5 MiB read-ahead blocks, one stream).
``simplecache``  ``pd.read_csv("simplecache::ossr://bench/KEY", ...)``: fsspec copies the
                 object to a local file with our parallel ``get_file`` (fsync included),
                 then pandas parses the local copy.
``local``        ``pd.read_csv(open(LOCAL_PATH, "rb"))`` of the same bytes (in the page
                 cache): no network, the parse alone -- the floor for every other
                 contender. A binary handle, like the file fsspec hands pandas for a URL:
                 given a path, pandas reads in text mode, which here doubles the growth.

Method. The CSV is generated once (numpy, deterministic, fixed-width rows so the
row count is known exactly; columns ``id,ts,price,qty,x,y,flag``: four integer
columns, a 2-decimal price and two 15-digit floats) and stored in one server process
(``OSSServer(mode="process")``). Each read runs in a fresh child Python that
imports pandas, fsspec, ossfs and oss_resumable_fs and builds the filesystem
(through ``fsspec.core.url_to_fs``, so ``read_csv`` reuses that very instance)
before anything is measured. The child reports the wall time of the
``pd.read_csv`` call alone (its HEADs included), the rows parsed and a checksum
of the ``id`` column (both must match), ``VmRSS`` just before the call and the
high-water mark ``VmHWM`` during it (reset through ``/proc/self/clear_refs``
just before, as in ``bench_memory.py``; ``ru_maxrss`` is not used since it
inherits the parent's peak across fork+exec). The parent also polls the child's
RSS with psutil every 20 ms as a cross-check, and reads the server's counters
(GETs, most GETs in flight, bytes served).

Memory. ``growth`` = peak during ``read_csv`` - RSS before it. It includes the
DataFrame itself (about 0.75x the CSV's size here) and pandas' parse buffers,
which any reader pays: the ``local`` row shows that floor; ``beyond df`` is
growth minus the DataFrame's own bytes; ``/bound`` is growth divided by the
ossr in-flight bound.

Links. ``wan`` (default): ``server.simulate_wan`` -- fault rules of kind
``bandwidth`` (``--wan-rate`` per connection) and ``latency`` (``--wan-latency``
before every answer). ``loopback``: no shaping.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
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
    filesystem_type,
    human,
    make_scratch,
    parse_size,
    proc_status,
    remove_scratch,
    reset_peak_rss,
)

sys.path.insert(0, str(REPO))

CONTENDERS = ("ossr", "ossfs", "simplecache", "local")
BUCKET = "bench"
#: Rows generated per numpy block (x 73 bytes: ~37 MiB of text at a time).
_BLOCK_ROWS = 512 * 1024
_SEED = 20261124

# -- the CSV -------------------------------------------------------------------------------

HEADER = b"id,ts,price,qty,x,y,flag\n"
#: (column, kind, digits); kinds: int (zero-padded), dec (digits split as int.frac),
#: sfrac ("+d." or "-d." then frac digits), frac ("0." then frac digits).
_LAYOUT = (
    ("id", "int", 10),
    ("ts", "int", 10),
    ("price", "dec", (3, 2)),
    ("qty", "int", 4),
    ("x", "sfrac", 15),
    ("y", "frac", 15),
    ("flag", "int", 1),
)


def _row_width() -> int:
    width = 0
    for _, kind, digits in _LAYOUT:
        if kind == "int":
            width += digits
        elif kind == "dec":
            width += digits[0] + 1 + digits[1]
        elif kind == "sfrac":
            width += 3 + digits
        else:
            width += 2 + digits
        width += 1  # "," or "\n"
    return width


ROW_WIDTH = _row_width()


def _put_digits(out: Any, pos: int, values: Any, width: int) -> None:
    """Write ``values`` (non-negative int64 < 10**width) as ``width`` ASCII digits."""
    import numpy as np

    v = values.copy()
    for k in range(width - 1, -1, -1):
        out[:, pos + k] = (v % 10).astype(np.uint8) + 48
        v //= 10


def _csv_block(first_row: int, rows: int) -> bytes:
    """Rows ``first_row .. first_row + rows - 1``, as CSV text; the same bytes every time."""
    import numpy as np

    rng = np.random.default_rng([_SEED, first_row])
    out = np.empty((rows, ROW_WIDTH), dtype=np.uint8)
    pos = 0
    for column, kind, digits in _LAYOUT:
        if column == "id":
            _put_digits(out, pos, np.arange(first_row, first_row + rows, dtype=np.int64), digits)
            pos += digits
        elif column == "ts":
            _put_digits(out, pos, rng.integers(1_600_000_000, 1_700_000_000, rows), digits)
            pos += digits
        elif column == "flag":
            _put_digits(out, pos, rng.integers(0, 2, rows), digits)
            pos += digits
        elif kind == "int":
            _put_digits(out, pos, rng.integers(10 ** (digits - 1), 10**digits, rows), digits)
            pos += digits
        elif kind == "dec":
            whole, frac = digits
            _put_digits(out, pos, rng.integers(10 ** (whole - 1), 10**whole, rows), whole)
            out[:, pos + whole] = ord(".")
            _put_digits(out, pos + whole + 1, rng.integers(0, 10**frac, rows), frac)
            pos += whole + 1 + frac
        elif kind == "sfrac":
            negative = rng.random(rows) < 0.5
            out[:, pos] = np.where(negative, ord("-"), ord("+")).astype(np.uint8)
            _put_digits(out, pos + 1, rng.integers(0, 4, rows), 1)
            out[:, pos + 2] = ord(".")
            _put_digits(out, pos + 3, rng.integers(0, 10**digits, rows), digits)
            pos += 3 + digits
        else:  # frac
            out[:, pos] = ord("0")
            out[:, pos + 1] = ord(".")
            _put_digits(out, pos + 2, rng.integers(0, 10**digits, rows), digits)
            pos += 2 + digits
        out[:, pos] = ord(",")
        pos += 1
    out[:, pos - 1] = ord("\n")
    assert pos == ROW_WIDTH
    return out.tobytes()


def write_csv(path: Path, size: int) -> int:
    """Write the largest CSV of whole rows that fits in ``size`` bytes; return its row count."""
    rows = (size - len(HEADER)) // ROW_WIDTH
    if rows < 1:
        raise SystemExit(f"--size {size} is too small for one {ROW_WIDTH}-byte row")
    with open(path, "wb") as out:
        out.write(HEADER)
        for first in range(0, rows, _BLOCK_ROWS):
            out.write(_csv_block(first, min(_BLOCK_ROWS, rows - first)))
    return rows


# -- the child: one read_csv, measured -----------------------------------------------------


class _RSSPoller:
    """The child's own RSS, polled every 5 ms: the fallback where VmHWM cannot be reset."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.005)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._process.memory_info().rss)


def _in_flight_bound(fs: Any, size: int) -> dict[str, Any]:
    """``concurrency x part_size`` as ``fs`` resolves them for an object of ``size`` bytes."""
    config = fs.transfer_config
    part_size = config.resolve_part_size(size)
    # As the file does: never more connections than there are parts (a 32 MiB CSV at
    # 8 MiB parts reads ahead on 4, so its bound is 4 x 8 MiB, not 16 x 8 MiB).
    concurrency = config.resolve_concurrency(size, part_size)
    config_dict = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}
    return {
        "concurrency": concurrency,
        "part_size": part_size,
        "bound": concurrency * part_size,
        "transfer_config": {k: v for k, v in config_dict.items() if _jsonable(v)},
    }


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def child_main(spec_json: str) -> int:
    """In the child: one ``pd.read_csv`` as ``spec`` says; print one JSON line."""
    spec = json.loads(spec_json)
    # The same imports for every contender, so their "before" RSS compare.
    import fsspec
    import fsspec.core
    import ossfs  # noqa: F401
    import pandas as pd

    import oss_resumable_fs.fs  # noqa: F401  (fsspec finds "ossr" through the entry point)

    url, options = spec["url"], spec["storage_options"]
    report: dict[str, Any] = {"contender": spec["contender"]}
    if options is not None:
        # The very instance read_csv will use (fsspec caches instances by their options).
        fs, _ = fsspec.core.url_to_fs(url, **options)
        report["fs_class"] = f"{type(fs).__module__}.{type(fs).__qualname__}"
        inner = getattr(fs, "fs", fs)  # simplecache wraps the ossr filesystem
        if hasattr(inner, "transfer_config"):
            report["in_flight"] = _in_flight_bound(inner, spec["size"])
    before = proc_status("VmRSS")
    reset = reset_peak_rss() and before is not None
    poller = None if reset else _RSSPoller()
    began = time.perf_counter()
    if options is None:  # local: a binary handle, as pandas gets from fsspec for a URL
        with open(url, "rb") as source:
            frame = pd.read_csv(source, engine=spec["engine"])
    else:
        frame = pd.read_csv(url, storage_options=options, engine=spec["engine"])
    elapsed = time.perf_counter() - began
    if poller is not None:
        peak = poller.stop()
        before = before or 0
    else:
        peak = proc_status("VmHWM") or 0
    rows = len(frame)
    report.update(
        {
            "seconds": elapsed,
            "rows": rows,
            "columns": list(frame.columns),
            "id_sum": int(frame["id"].sum()) if "id" in frame else None,
            "df_bytes": int(frame.memory_usage(deep=True).sum()),
            "rss_before": before,
            "peak_during": peak,
            "peak_source": "VmHWM" if poller is None else "psutil-5ms",
            "vm_hwm_life": proc_status("VmHWM"),
        }
    )
    print(json.dumps(report), flush=True)
    return 0


# -- the parent ----------------------------------------------------------------------------


def _poll_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    import psutil

    try:
        process = psutil.Process(pid)
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            stop.wait(0.02)
    except psutil.Error:  # the child has exited
        pass


def _spec(name: str, args: argparse.Namespace, server: Any, key: str, scratch: Path) -> dict:
    creds = {
        "endpoint": server.endpoint,
        "key": server.access_key_id,
        "secret": server.access_key_secret,
    }
    ours = dict(creds)
    if args.concurrency is not None:
        ours["concurrency"] = args.concurrency
    if args.part_size is not None:
        ours["part_size"] = args.part_size
    spec: dict[str, Any] = {"contender": name, "size": args.actual_size, "engine": args.engine}
    if name == "ossr":
        spec.update(url=f"ossr://{BUCKET}/{key}", storage_options=ours)
    elif name == "ossfs":
        spec.update(url=f"oss://{BUCKET}/{key}", storage_options=creds)
    elif name == "simplecache":
        cache = scratch / "simplecache"
        spec.update(
            url=f"simplecache::ossr://{BUCKET}/{key}",
            storage_options={"ossr": ours, "simplecache": {"cache_storage": str(cache)}},
        )
    else:
        spec.update(url=str(args.local_csv), storage_options=None)
    return spec


def run_child(spec: dict[str, Any], server: Any, expected: dict[str, Any]) -> dict[str, Any]:
    """One contender's read in a fresh child; its report, the server's counters and checks."""
    server.reset_stats()
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    peak = [0]
    stop = threading.Event()
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    poller = threading.Thread(target=_poll_rss, args=(child.pid, stop, peak), daemon=True)
    poller.start()
    timeout = 300 + spec["size"] / (256 * 1024)  # generous: 256 KiB/s would still finish
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        err = f"timed out after {timeout:.0f}s\n{err}"
    finally:
        stop.set()
        poller.join()
    lines = out.strip().splitlines()
    report: dict[str, Any] = {"contender": spec["contender"]}
    if child.returncode == 0 and lines:
        report = json.loads(lines[-1])
    else:
        last = (err.strip().splitlines() or ["no output"])[-1]
        report["error"] = f"child exit {child.returncode}: {last}"[:300]
        report["stderr_tail"] = err[-4000:]
    report["child_seconds"] = time.perf_counter() - started
    report["psutil_peak"] = peak[0]
    stats = server.stats()
    report["gets"] = stats.requests.get("GetObject", 0)
    report["heads"] = stats.requests.get("HeadObject", 0)
    report["requests"] = stats.total_requests
    report["max_concurrent_gets"] = stats.max_concurrent_gets
    report["bytes_served"] = stats.total_bytes_served
    if "error" not in report:
        problems = []
        if report["rows"] != expected["rows"]:
            problems.append(f"rows {report['rows']} != {expected['rows']}")
        if report["id_sum"] != expected["id_sum"]:
            problems.append(f"id checksum {report['id_sum']} != {expected['id_sum']}")
        if report["columns"] != expected["columns"]:
            problems.append(f"columns {report['columns']}")
        if problems:
            report["error"] = "WRONG " + "; ".join(problems)
    return report


def summarize(reports: list[dict[str, Any]], size: int) -> dict[str, Any]:
    ok = [r for r in reports if "error" not in r]
    errors = sorted({r["error"] for r in reports if "error" in r})
    if not ok:
        return {"ok": 0, "runs": len(reports), "errors": errors}
    seconds = [r["seconds"] for r in ok]
    growth = [r["peak_during"] - r["rss_before"] for r in ok]
    return {
        "ok": len(ok),
        "runs": len(reports),
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "median_mib_s": size / MiB / statistics.median(seconds),
        "rss_before": statistics.median(r["rss_before"] for r in ok),
        "growth": statistics.median(growth),
        "max_growth": max(growth),
        "psutil_growth": statistics.median(r["psutil_peak"] - r["rss_before"] for r in ok),
        "beyond_df": statistics.median(g - r["df_bytes"] for g, r in zip(growth, ok, strict=True)),
        "gets": statistics.median(r["gets"] for r in ok),
        "max_conc": max(r["max_concurrent_gets"] for r in ok),
        "served": statistics.median(r["bytes_served"] for r in ok),
        "errors": errors,
    }


def print_table(
    names: list[str], summary: dict[str, dict], size: int, bound: dict | None, args: Any
) -> None:
    link = (
        f"WAN {human(args.wan_rate)}/s per connection, {args.wan_latency * 1000:.0f} ms"
        if args.link == "wan"
        else "loopback (no shaping)"
    )
    print(f"\n== pd.read_csv of a {size / MiB:.1f} MiB CSV ({args.rows} rows), {link} ==")
    bound_bytes = bound["bound"] if bound else None
    if bound:
        print(
            f"ossr in-flight bound: concurrency {bound['concurrency']} x part_size "
            f"{human(bound['part_size'])} = {human(bound_bytes)}"
        )
    ossr = summary.get("ossr", {})
    header = (
        f"{'contender':<12}{'MiB/s':>8}{'min':>7}{'max':>7}{'ossr/X':>8}{'ok':>6}"
        f"{'before':>9}{'growth':>9}{'/bound':>8}{'beyond df':>11}{'GETs':>6}{'conc':>6}"
        f"{'served':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        s = summary[name]
        if not s.get("ok"):
            print(f"{name:<12}{'FAILED':>8}   {'; '.join(s['errors'])}")
            continue
        ratio = f"{s['median_s'] / ossr['median_s']:.2f}" if ossr.get("ok") else "-"
        per_bound = f"{s['growth'] / bound_bytes:.2f}" if bound_bytes else "-"
        print(
            f"{name:<12}{s['median_mib_s']:>8.1f}{size / MiB / s['max_s']:>7.1f}"
            f"{size / MiB / s['min_s']:>7.1f}{ratio:>8}{s['ok']:>3}/{s['runs']:<2}"
            f"{s['rss_before'] / MiB:>8.1f}M{s['growth'] / MiB:>8.1f}M{per_bound:>8}"
            f"{s['beyond_df'] / MiB:>10.1f}M{s['gets']:>6.0f}{s['max_conc']:>6}"
            f"{s['served'] / size:>8.2f}"
        )
        for error in s["errors"]:
            print(f"{'':<12}  some runs failed: {error}")
    print(
        "(MiB/s = CSV size / median wall time of pd.read_csv; min/max = slowest/fastest run; "
        "ossr/X = ossr's median speed / X's; before = child RSS after imports, just before "
        "read_csv; growth = median peak RSS during read_csv - before; /bound = growth / ossr "
        "in-flight bound; beyond df = growth - the DataFrame's own bytes; GETs = GetObject "
        "requests per read; conc = most GETs in flight; served = body bytes sent / CSV size)"
    )
    if ossr.get("ok") and summary.get("ossfs", {}).get("ok") and bound_bytes:
        speedup = summary["ossfs"]["median_s"] / ossr["median_s"]
        growth_ratio = ossr["growth"] / bound_bytes
        floor = summary.get("local", {})
        print(
            f"\nissue #7 target: ossr/ossfs >= 3.00 -> {speedup:.2f} "
            f"({'met' if speedup >= 3 else 'NOT met'}); ossr growth < 3 x bound -> "
            f"{growth_ratio:.2f} x bound ({'met' if growth_ratio < 3 else 'NOT met'})"
            + (
                f"; over the local parse's growth: "
                f"{(ossr['growth'] - floor['growth']) / bound_bytes:+.2f} x bound"
                if floor.get("ok")
                else ""
            )
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", type=parse_size, default=256 * MiB, help="CSV size, e.g. 256MiB (default)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (median; default 3)")
    parser.add_argument("--link", choices=("wan", "loopback"), default="wan")
    parser.add_argument(
        "--wan-rate", type=parse_size, default=16 * MiB, help="per-connection bytes/s (16MiB)"
    )
    parser.add_argument(
        "--wan-latency", type=float, default=0.03, help="latency before every answer, s (0.03)"
    )
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {','.join(CONTENDERS)} (default: all)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="ossr storage option concurrency="
    )
    parser.add_argument(
        "--part-size", type=parse_size, default=None, help="ossr storage option part_size="
    )
    parser.add_argument(
        "--engine", choices=("c", "python", "pyarrow"), default="c", help="read_csv engine (c)"
    )
    parser.add_argument(
        "--dir",
        default=None,
        help="parent of the scratch directory (default benchmarks/.scratch, on the repo's disk)",
    )
    parser.add_argument("--allow-tmpfs", action="store_true", help="allow --dir on tmpfs")
    parser.add_argument("--json", default=None, help="also write every run to this JSON file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown or not names:
        parser.error(f"unknown contender(s) {unknown}; choose from {', '.join(CONTENDERS)}")
    args.names = list(dict.fromkeys(names))
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child_main(sys.argv[2])
    args = parse_args(argv)

    import oss2

    from oss_resumable_fs.testing import OSSServer

    scratch, _ = make_scratch(args.dir, allow_tmpfs=args.allow_tmpfs)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"scratch {scratch} ({filesystem_type(scratch)}), load avg {os.getloadavg()}",
        flush=True,
    )
    reports: dict[str, list[dict[str, Any]]] = {name: [] for name in args.names}
    try:
        args.local_csv = scratch / "table.csv"
        began = time.perf_counter()
        args.rows = write_csv(args.local_csv, args.size)
        args.actual_size = args.local_csv.stat().st_size
        print(
            f"generated {args.actual_size / MiB:.1f} MiB CSV, {args.rows} rows of "
            f"{ROW_WIDTH} B, in {time.perf_counter() - began:.1f}s",
            flush=True,
        )
        expected = {
            "rows": args.rows,
            "id_sum": args.rows * (args.rows - 1) // 2,
            "columns": [column for column, _, _ in _LAYOUT],
        }
        key = f"table-{args.actual_size}.csv"
        server_root = scratch / "server"
        server_root.mkdir()
        with OSSServer(root=server_root, mode="process") as server:
            server.create_bucket(BUCKET)
            server.put_object(BUCKET, key, args.local_csv)
            head = oss2.Bucket(
                oss2.Auth(server.access_key_id, server.access_key_secret),
                server.endpoint,
                BUCKET,
            ).head_object(key)
            if head.content_length != args.actual_size:
                raise SystemExit(f"upload failed: HEAD gave {head.content_length} B")
            if args.link == "wan":
                server.simulate_wan(bytes_per_second=args.wan_rate, latency=args.wan_latency)
            try:
                for round_number in range(args.rounds):
                    shift = round_number % len(args.names)
                    order = args.names[shift:] + args.names[:shift]
                    for name in order:
                        spec = _spec(name, args, server, key, scratch)
                        report = run_child(spec, server, expected)
                        report["round"] = round_number + 1
                        reports[name].append(report)
                        if "error" in report:
                            status = report["error"]
                        else:
                            growth = (report["peak_during"] - report["rss_before"]) / MiB
                            status = (
                                f"{args.actual_size / MiB / report['seconds']:7.1f} MiB/s "
                                f"{report['seconds']:6.2f}s  growth {growth:6.1f} MiB  "
                                f"GETs {report['gets']}"
                            )
                        label = f"round {round_number + 1}/{args.rounds}"
                        print(f"  [{label}] {name:<11} {status}", flush=True)
                        cache = scratch / "simplecache"
                        if cache.exists():
                            shutil.rmtree(cache, ignore_errors=True)
            finally:
                server.clear_faults()
    finally:
        remove_scratch(scratch)

    summary = {name: summarize(reports[name], args.actual_size) for name in args.names}
    bound = next(
        (r["in_flight"] for rs in reports.values() for r in rs if r.get("in_flight")), None
    )
    print_table(args.names, summary, args.actual_size, bound, args)
    print(f"\nload avg at the end {os.getloadavg()} (high = noisy numbers)")
    if args.json:
        meta = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "size": args.actual_size,
            "rows": args.rows,
            "row_width": ROW_WIDTH,
            "link": args.link,
            "wan_rate": args.wan_rate,
            "wan_latency": args.wan_latency,
            "rounds": args.rounds,
            "engine": args.engine,
            "concurrency": args.concurrency,
            "part_size": args.part_size,
            "in_flight": bound,
            # glibc tunables change the growth a lot (see the README): note any that were set.
            "malloc_env": {
                k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_"))
            },
        }
        out = {"meta": meta, "summary": summary, "runs": reports}
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
