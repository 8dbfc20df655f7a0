"""1,000 small objects under one prefix, fetched recursively, on the simulated WAN.

Contenders, each as a user would write it (listing included in the time):

``ours``            ``fs.get("bench/PREFIX/", DIR, recursive=True)``.
``ossfs``           ``ossfs.OSSFileSystem(...).get`` of the same (fsspec's loop: one at a time).
``s3fs``            ``s3fs.S3FileSystem(...).get`` of the same (async, a pool of 10).
``obstore``         ``obstore.list`` of the prefix, then ``get_async`` per object, as many
                    at once as ours had GETs in flight (no default exists: a user picks).
``boto3``           a ``list_objects_v2`` paginator, then s3transfer's ``TransferManager``
                    downloading every key (defaults: 10 threads, a pool of 10).
``boto3 matched``   the same with ours' most GETs in flight as threads and pool.
``crt``             the listing, then ``CRTTransferManager.download`` of every key.

Each run writes into a new directory; outputs are deleted only at the end (on this
machine's ext4, creating inodes right after a mass delete is up to 10x dearer: see
``bench_small_files.py``). Every file's size and CRC-64 is checked.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import pagekit
import peers_oss
import peers_s3
import plots
from _common import KiB, MiB, make_scratch, remove_scratch
from harness import (
    BUCKET,
    Matched,
    Target,
    cpu_seconds,
    machine,
    prepare_run,
    rotations,
    settled_stats,
)

from oss_resumable_fs.engine.integrity import crc64, file_crc64
from oss_resumable_fs.testing import OSSServer

TITLE = "{count:,} small objects from one prefix ({size} each), simulated WAN 16 MiB/s + 30 ms"
COUNT, SIZE = 1000, 64 * KiB
QUICK_COUNT, QUICK_SIZE = 100, 16 * KiB
RATE, LATENCY = 16 * MiB, 0.03
ROUNDS = 3
NAMES = ["ours", "ossfs", "s3fs", "obstore", "boto3", "boto3 matched", "crt"]
SETTINGS = {
    "ours": "`fs.get(prefix, dir, recursive=True)` at defaults",
    "ossfs": "`get(..., recursive=True)`: one file at a time",
    "s3fs": "`get(..., recursive=True)`: async, pool of 10",
    "obstore": "`list`, then `get_async` per key, {conc} at once (ours' most in flight)",
    "boto3": "paginator + `TransferManager`: 10 threads, pool of 10",
    "boto3 matched": "paginator + `TransferManager`: {conc} threads, pool of {conc}",
    "crt": "listing + `CRTTransferManager` per key: 10 Gbit/s target",
}


def seed(server: OSSServer, prefix: str, count: int, size: int) -> dict[str, int]:
    """``count`` distinct objects of ``size`` under ``prefix``; their CRC-64 by file name."""
    rng = random.Random(10)
    base = bytearray(rng.randbytes(size))
    crcs = {}
    for index in range(count):
        base[:8] = index.to_bytes(8, "little")
        name = f"part-{index:05d}.bin"
        server.put_object(BUCKET, f"{prefix}/{name}", bytes(base))
        crcs[name] = crc64(bytes(base))
    return crcs


def check_tree(out: Path, crcs: dict[str, int], size: int) -> str | None:
    found = {p.name: p for p in out.rglob("*") if p.is_file()}
    if set(found) != set(crcs):
        missing, extra = sorted(set(crcs) - set(found))[:3], sorted(set(found) - set(crcs))[:3]
        return f"WRONG file set ({len(found)} files): missing {missing}, extra {extra}"
    for name, path in found.items():
        if path.stat().st_size != size or file_crc64(path) != crcs[name]:
            return f"WRONG content in {name}"
    return None


def s3_keys(client: Any, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/")
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def fsspec_get(fs: Any, source: str) -> Any:
    """``fs.get(source, OUT/, recursive=True)`` as a runner, with a fresh listing each time."""

    def run(out: Path) -> None:
        fs.invalidate_cache()
        fs.get(source, str(out) + "/", recursive=True)

    return run


def build(target: Target, prefix: str, conc: int) -> dict[str, Any]:
    """One callable per contender taking the output directory."""
    from boto3.s3.transfer import create_transfer_manager

    store = peers_s3.obstore_store(target.server)
    matched = Matched(connections=conc, part_size=8 * MiB)
    crt_manager = peers_s3.crt_manager_factory(target, None)
    source = f"{BUCKET}/{prefix}/"

    def run_obstore(out: Path) -> None:
        import obstore

        async def fetch_all() -> None:
            gate = asyncio.Semaphore(conc)

            async def one(path: str) -> None:
                async with gate:
                    data = await (await obstore.get_async(store, path)).bytes_async()
                with open(out / Path(path).name, "wb") as file:
                    file.write(memoryview(data))

            paths = [meta["path"] for page in obstore.list(store, prefix + "/") for meta in page]
            await asyncio.gather(*(one(path) for path in paths))

        asyncio.run(fetch_all())

    def transfer_manager(client: Any, config: Any) -> Any:
        def run(out: Path) -> None:
            with create_transfer_manager(client, config) as manager:
                futures = [
                    manager.download(BUCKET, key, str(out / Path(key).name))
                    for key in s3_keys(client, prefix)
                ]
                for future in futures:
                    future.result()

        return run

    boto3_default = peers_s3.boto3_client(target)
    boto3_matched = peers_s3.boto3_client(target, conc)

    def run_crt(out: Path) -> None:
        with crt_manager() as manager:
            futures = [
                manager.download(BUCKET, key, str(out / Path(key).name))
                for key in s3_keys(boto3_default, prefix)
            ]
            for future in futures:
                future.result()

    return {
        "ours": fsspec_get(peers_oss.ours_fs(target), source),
        "ossfs": fsspec_get(peers_oss.ossfs_filesystem(target), source),
        "s3fs": fsspec_get(peers_s3.s3fs_filesystem(target), source),
        "obstore": run_obstore,
        "boto3": transfer_manager(boto3_default, peers_s3.boto3_transfer_config(None)),
        "boto3 matched": transfer_manager(boto3_matched, peers_s3.boto3_transfer_config(matched)),
        "crt": run_crt,
    }


def one_run(name: str, runner: Any, server: OSSServer, out: Path, crcs: dict, size: int) -> dict:
    out.mkdir(parents=True)
    prepare_run(server, out, len(crcs) * size)
    record: dict[str, Any] = {"competitor": name, "seconds": None, "error": None}
    cpu_began = cpu_seconds()
    began = time.perf_counter()
    try:
        runner(out)
    except Exception as err:  # a contender failing is a result, not a crash
        record["error"] = f"{type(err).__name__}: {err}"[:500]
    elapsed = time.perf_counter() - began
    record["cpu_seconds"] = cpu_seconds() - cpu_began
    stats = settled_stats(server)
    record.update(requests=dict(stats.requests), max_concurrent_gets=stats.max_concurrent_gets)
    record["bytes_served"] = stats.total_bytes_served
    if record["error"] is None:
        record["error"] = check_tree(out, crcs, size)
        record["seconds"] = elapsed if record["error"] is None else None
    return record


def summarize(runs: list[dict[str, Any]], files: int) -> dict[str, Any]:
    ok = [r for r in runs if r["seconds"] is not None]
    errors = sorted({r["error"] for r in runs if r["error"]})
    if not ok:
        return {"ok": 0, "runs": len(runs), "errors": errors}
    kinds = sorted({k for r in ok for k in r["requests"]})
    return {
        "ok": len(ok),
        "runs": len(runs),
        "median_s": statistics.median(r["seconds"] for r in ok),
        "min_s": min(r["seconds"] for r in ok),
        "max_s": max(r["seconds"] for r in ok),
        "requests": {k: statistics.median(r["requests"].get(k, 0) for r in ok) for k in kinds},
        "max_conc": max(r["max_concurrent_gets"] for r in ok),
        "bytes_served": statistics.median(r["bytes_served"] for r in ok),
        "cpu_ms_per_file": 1000 * statistics.median(r["cpu_seconds"] for r in ok) / files,
        "errors": errors,
    }


def run(
    quick: bool, *, rounds: int | None = None, scratch_parent: str | None = None, **_: Any
) -> dict[str, Any]:
    count, size = (QUICK_COUNT, QUICK_SIZE) if quick else (COUNT, SIZE)
    rounds = rounds or (1 if quick else ROUNDS)
    meta = machine()
    prefix = f"p{count}"
    scratch, _made = make_scratch(scratch_parent)
    print(f"\n== prefix: {count} x {size // KiB} KiB, {rounds} rounds ==", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in NAMES}
    try:
        root = scratch / "server"
        root.mkdir()
        with OSSServer(root=root, mode="process") as server:
            server.create_bucket(BUCKET)
            crcs = seed(server, prefix, count, size)
            server.simulate_wan(bytes_per_second=RATE, latency=LATENCY)
            target = Target(server, prefix, size, 0, scratch, scratch)
            calibration = one_run(
                "ours",
                fsspec_get(peers_oss.ours_fs(target), f"{BUCKET}/{prefix}/"),
                server,
                scratch / "out-calibration",
                crcs,
                size,
            )
            conc = max(1, calibration["max_concurrent_gets"])
            print(f"  calibration: ours had {conc} GETs in flight at most", flush=True)
            runners = build(target, prefix, conc)
            for number, order in enumerate(rotations(NAMES, rounds), 1):
                for name in order:
                    out = scratch / "out" / f"{number}-{name.replace(' ', '-')}"
                    record = one_run(name, runners[name], server, out, crcs, size)
                    runs[name].append(record)
                    status = f"{record['seconds']:7.2f} s" if record["seconds"] else record["error"]
                    print(f"  [prefix {number}/{rounds}] {name:<14}{status}", flush=True)
    finally:
        remove_scratch(scratch)
    meta["load_average_end"] = list(os.getloadavg())
    return {
        "scenario": "prefix",
        "title": TITLE.format(count=count, size=pagekit.size_text(size)),
        "quick": quick,
        "rounds": rounds,
        "count": count,
        "size": size,
        "link": {"rate": RATE, "latency": LATENCY},
        "concurrency": conc,
        "calibration": calibration,
        "names": NAMES,
        "summary": {name: summarize(rs, count) for name, rs in runs.items()},
        "runs": runs,
        "machine": meta,
    }


def compare(data: dict[str, Any], name: str) -> str:
    """Facts of this run for ``name`` against ours, for a missing explanation."""
    them, ours = data["summary"][name], data["summary"]["ours"]
    count = data["count"]

    def requests(s: dict[str, Any]) -> str:
        return f"{sum(s.get('requests', {}).values()) / count:.2f}"

    return (
        f"most GETs in flight {them.get('max_conc')} vs ours' {ours.get('max_conc')}, "
        f"requests per file {requests(them)} vs {requests(ours)}, client CPU ms per file "
        f"{them.get('cpu_ms_per_file', 0):.2f} vs {ours.get('cpu_ms_per_file', 0):.2f}"
    )


def render(data: dict[str, Any], figures_dir: Path) -> str:
    count, size = data["count"], data["size"]
    total_mib = count * size / MiB
    seconds = {n: s.get("median_s") if s.get("ok") else None for n, s in data["summary"].items()}
    ours = seconds.get("ours")
    rows = []
    for name in data["names"]:
        s = data["summary"][name]
        took = seconds[name]
        requests = s.get("requests", {})
        by_kind = ", ".join(f"{k} {v / count:.2f}" for k, v in requests.items() if v)
        rows.append(
            [
                pagekit.contender_label(name),
                SETTINGS[name].format(conc=data["concurrency"]),
                f"{took:.2f} ({s['min_s']:.2f}-{s['max_s']:.2f})" if took else "**FAILED**",
                f"{count / took:.0f}" if took else "-",
                f"{total_mib / took:.1f}" if took else "-",
                pagekit.ratio(ours, took, lower_is_better=True),
                f"{s['ok']}/{s['runs']}",
                by_kind or "-",
                pagekit.num(s.get("max_conc")),
                f"{s['bytes_served'] / (count * size):.2f}" if took else "-",
                f"{s['cpu_ms_per_file']:.2f}" if took else "-",
            ]
        )
    figure = plots.speed_bars(
        figures_dir / "prefix.png",
        data["title"],
        [
            (
                n,
                (count / seconds[n]) if seconds[n] else None,
                "ours"
                if n == "ours"
                else ("matched" if n.endswith("matched") or n == "obstore" else "default"),
            )
            for n in data["names"]
        ],
        unit="files/s",
    )
    return "\n".join(
        [
            f"## {data['title']}",
            "",
            pagekit.run_line(data),
            "",
            f"Ours' calibration run had {data['concurrency']} GETs in flight at most: "
            "obstore and `boto3 matched` get that concurrency.",
            "",
            pagekit.table(
                [
                    "contender",
                    "what runs",
                    "median s (min-max)",
                    "files/s",
                    "MiB/s",
                    "ours/X",
                    "ok",
                    "requests per file",
                    "most in flight",
                    "served/size",
                    "client CPU ms/file",
                ],
                rows,
                align="llrrrrrlrrr",
            ),
            "",
            f"![{data['title']}](benchmarks/figures/{figure.name})",
            "",
            *pagekit.who_beats_ours(
                "prefix",
                {n: (count / t if t else None) for n, t in seconds.items()},
                what="files/s",
                unit="files/s",
                facts=lambda n: compare(data, n),
            ),
            *pagekit.failures(data["summary"]),
        ]
    )
