"""Resume after a kill at 50%: bytes fetched and time to finish, on the simulated WAN.

For each contender, each round (order rotated): a fresh download (the reference
time); then a download in a child process (``resume_child.py``) that is SIGKILLed
once it has written half of the object into its partial file, as the kernel counts
it (``wchar`` in ``/proc/PID/io``, from the moment the child has built its client;
polled every 5 ms). The files themselves cannot tell: ours preallocates its
partial file, oss2 and s3transfer write sparse ones, the v2 Downloader writes in
order. Then the same command runs again, on the same destination and checkpoint
stores, to the end. Reported: bytes written before the kill, bytes the server sent
before it (in-flight requests included, counted when their connections closed),
bytes fetched after it, bytes sent twice (both runs minus the object), the time
the second call took (in the child, client construction excluded), whether the
contender resumed or restarted from 0, and files it left beside the output. The
final file is CRC-64 checked.

Contenders at their defaults: ours (journal beside the destination), oss2
``resumable_download`` (checkpoint store in the scratch dir), the v2 Downloader with
``enable_checkpoint=True``, and s3transfer classic (``boto3`` ``download_file``: it
has no checkpoint, so it restarts from 0).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pagekit
import plots
from _common import MiB, drop_dirty_pages, make_scratch, recycle_page_cache, remove_scratch
from harness import (
    BUCKET,
    check_file,
    clear_dir,
    machine,
    rotations,
    seed,
    settled_stats,
)

from oss_resumable_fs.testing import OSSServer

TITLE = "Resume after a kill at 50%, simulated WAN 16 MiB/s + 30 ms, one {size} object"
SIZE, QUICK_SIZE = 256 * MiB, 112 * MiB  # oss2 splits only above 100 MiB
RATE, LATENCY = 16 * MiB, 0.03
ROUNDS = 3
NAMES = ["ours", "oss2", "v2", "boto3"]
CHILD = Path(__file__).resolve().parent / "resume_child.py"
#: Seconds a child may take to finish a download.
CHILD_TIMEOUT = 600
#: A download that fetches more than this share of the object after the kill restarted.
RESTART_SHARE = 0.9


class Bench:
    def __init__(self, server: OSSServer, scratch: Path, key: str, size: int, crc: int) -> None:
        self.server, self.scratch, self.key, self.size, self.crc = server, scratch, key, size, crc
        self.out = scratch / "out"
        self.out.mkdir(exist_ok=True)
        self.dest = self.out / "object.bin"

    def spec(self, contender: str) -> str:
        server = self.server
        return json.dumps(
            {
                "contender": contender,
                "server": {
                    "endpoint": server.endpoint,
                    "access_key_id": server.access_key_id,
                    "access_key_secret": server.access_key_secret,
                    "region": server.region,
                },
                "scratch": str(self.scratch),
                "key": self.key,
                "size": self.size,
                "dest": str(self.dest),
            }
        )

    def start(self, contender: str) -> subprocess.Popen[str]:
        settled_stats(self.server)
        self.server.reset_stats()
        return subprocess.Popen(
            [sys.executable, str(CHILD), self.spec(contender)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def forget(self) -> None:
        """No output, partial file or checkpoint of an earlier run."""
        clear_dir(self.out)
        for store in ("oss2-store", "v2-checkpoints"):
            path = self.scratch / store
            path.mkdir(exist_ok=True)
            clear_dir(path)
        drop_dirty_pages()

    def to_the_end(self, contender: str) -> dict[str, Any]:
        recycle_page_cache(self.out, self.size)
        began = time.perf_counter()
        child = self.start(contender)
        try:
            stdout, stderr = child.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
            stderr = f"no end after {CHILD_TIMEOUT} s; {stderr}"
        wall = time.perf_counter() - began
        served = settled_stats(self.server).bytes_served.get(f"{BUCKET}/{self.key}", 0)
        record: dict[str, Any] = {"wall_s": wall, "served": served, "error": None}
        if child.returncode != 0:
            record["error"] = f"exit {child.returncode}: {stderr.strip()[-400:]}"
            return record
        record.update(json.loads(stdout.strip().splitlines()[-1]))
        record["error"] = check_file(self.dest, self.size, self.crc)
        record["leftovers"] = sorted(p.name for p in self.out.iterdir() if p != self.dest)
        return record

    def kill_half_way(self, contender: str) -> dict[str, Any]:
        """Start a download and SIGKILL it once it has written half the object."""
        child = self.start(contender)
        assert child.stdout is not None
        ready = child.stdout.readline().strip()  # imports done, client built
        began = time.perf_counter()
        base = written_by(child.pid)
        half = self.size // 2
        written = 0
        while ready == "READY" and child.poll() is None:
            written = written_by(child.pid) - base
            if written >= half:
                break
            time.sleep(0.005)
        finished_first = child.poll() is not None
        if not finished_first:
            os.kill(child.pid, signal.SIGKILL)
        child.communicate()
        killed_after = time.perf_counter() - began
        served = settled_stats(self.server).bytes_served.get(f"{BUCKET}/{self.key}", 0)
        partial = {
            p.name: {"size": p.stat().st_size, "allocated": p.stat().st_blocks * 512}
            for p in self.out.iterdir()
        }
        return {
            "written_at_kill": written,
            "served_before_kill": served,
            "killed_after_s": killed_after,
            "finished_before_kill": finished_first,
            "files_at_kill": partial,
        }


def written_by(pid: int) -> int:
    """Bytes process ``pid`` has passed to write calls (``wchar`` of /proc/PID/io): for a
    download, what it wrote into its partial file, whatever the file's layout."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as io:
            for line in io:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


@contextlib.contextmanager
def server_errors_to(path: Path) -> Iterator[None]:
    """Standard error of processes started inside goes to ``path``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def one_round(bench: Bench, contender: str) -> dict[str, Any]:
    bench.forget()
    fresh = bench.to_the_end(contender)
    bench.forget()
    kill = bench.kill_half_way(contender)
    resume = bench.to_the_end(contender)
    record = {"contender": contender, "fresh": fresh, "kill": kill, "resume": resume}
    fetched = resume["served"]
    record["restarted"] = fetched > RESTART_SHARE * bench.size
    bench.forget()
    return record


def run(
    quick: bool, *, rounds: int | None = None, scratch_parent: str | None = None, **_: Any
) -> dict[str, Any]:
    size = QUICK_SIZE if quick else SIZE
    rounds = rounds or (1 if quick else ROUNDS)
    meta = machine()
    scratch, _made = make_scratch(scratch_parent)
    print(f"\n== resume: {size // MiB} MiB, kill at 50%, {rounds} rounds ==", flush=True)
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in NAMES}
    try:
        root = scratch / "server"
        root.mkdir()
        # The server logs a traceback for every GET whose client is killed mid-body:
        # its standard error goes to a file (inherited when it starts).
        with server_errors_to(scratch / "server-stderr.log"):
            server = OSSServer(root=root, mode="process").start()
        with server:
            server.create_bucket(BUCKET, acl="public-read")  # seed() reads it back plainly
            key, crc = seed(server, scratch / "source.bin", size)
            (scratch / "source.bin").unlink()
            server.simulate_wan(bytes_per_second=RATE, latency=LATENCY)
            bench = Bench(server, scratch, key, size, crc)
            for number, order in enumerate(rotations(NAMES, rounds), 1):
                for name in order:
                    record = one_round(bench, name)
                    records[name].append(record)
                    print(f"  [resume {number}/{rounds}] {name:<7}{describe(record, size)}")
    finally:
        remove_scratch(scratch)
    meta["load_average_end"] = list(os.getloadavg())
    return {
        "scenario": "resume",
        "title": TITLE.format(size=pagekit.size_text(size)),
        "quick": quick,
        "rounds": rounds,
        "size": size,
        "link": {"rate": RATE, "latency": LATENCY},
        "names": NAMES,
        "summary": {name: summarize(rs, size) for name, rs in records.items()},
        "runs": records,
        "machine": meta,
    }


def describe(record: dict[str, Any], size: int) -> str:
    resume, kill = record["resume"], record["kill"]
    if resume["error"] or record["fresh"]["error"]:
        return f"ERROR {resume['error'] or record['fresh']['error']}"
    return (
        f"killed at {kill['written_at_kill'] / size:.0%} written "
        f"({kill['served_before_kill'] / size:.0%} sent), then fetched "
        f"{resume['served'] / MiB:.1f} MiB in {resume['elapsed']:.2f} s "
        f"(fresh {record['fresh']['elapsed']:.2f} s)"
        + (" RESTARTED" if record["restarted"] else "")
    )


def summarize(records: list[dict[str, Any]], size: int) -> dict[str, Any]:
    ok = [r for r in records if not r["resume"]["error"] and not r["fresh"]["error"]]
    errors = sorted({r[p]["error"] for r in records for p in ("fresh", "resume") if r[p]["error"]})
    if not ok:
        return {"ok": 0, "runs": len(records), "errors": errors}

    def median(values: Any) -> float:
        return statistics.median(list(values))

    return {
        "ok": len(ok),
        "runs": len(records),
        "written_at_kill": median(r["kill"]["written_at_kill"] for r in ok),
        "served_before_kill": median(r["kill"]["served_before_kill"] for r in ok),
        "fetched_after_kill": median(r["resume"]["served"] for r in ok),
        "finish_s": median(r["resume"]["elapsed"] for r in ok),
        "fresh_s": median(r["fresh"]["elapsed"] for r in ok),
        "excess": median(
            r["kill"]["served_before_kill"] + r["resume"]["served"] - size for r in ok
        ),
        "restarted": sum(r["restarted"] for r in ok),
        "finished_before_kill": sum(r["kill"]["finished_before_kill"] for r in ok),
        "leftovers": sorted({n for r in ok for n in r["resume"].get("leftovers", [])})[:2],
        "leftover_count": median(len(r["resume"].get("leftovers", [])) for r in ok),
        "errors": errors,
    }


def left_behind(summary: dict[str, Any]) -> str:
    count = summary.get("leftover_count", 0)
    if not count:
        return "none"
    return f"{count:g} file(s), e.g. `{summary['leftovers'][0]}`"


def render(data: dict[str, Any], figures_dir: Path) -> str:
    size = data["size"]
    mib = size / MiB
    summary = data["summary"]
    rows, fetched, finish, fresh = [], [], [], []
    for name in data["names"]:
        s = summary[name]
        if not s.get("ok"):
            rows.append([pagekit.contender_label(name), "**FAILED**", *["-"] * 8])
            for column in (fetched, finish, fresh):
                column.append(None)
            continue
        restarted = s["restarted"] > s["ok"] / 2
        fetched.append(s["fetched_after_kill"] / MiB)
        finish.append(s["finish_s"])
        fresh.append(s["fresh_s"])
        rows.append(
            [
                pagekit.contender_label(name),
                f"{s['written_at_kill'] / MiB:.1f}",
                f"{s['served_before_kill'] / MiB:.1f}",
                f"{s['fetched_after_kill'] / MiB:.1f}",
                "**restarts from 0**" if restarted else "resumes",
                f"{s['finish_s']:.2f}",
                f"{s['fresh_s']:.2f}",
                f"{s['excess'] / MiB:.1f}",
                left_behind(s),
                f"{s['ok']}/{s['runs']}",
            ]
        )
    figure = plots.resume_chart(
        figures_dir / "resume.png", data["title"], data["names"], fetched, mib, finish, fresh
    )
    finish_by_name = dict(zip(data["names"], finish, strict=True))
    fetched_by_name = dict(zip(data["names"], fetched, strict=True))
    return "\n".join(
        [
            f"## {data['title']}",
            "",
            pagekit.run_line(data),
            "",
            pagekit.table(
                [
                    "contender",
                    "MiB written at the kill",
                    "MiB sent before the kill",
                    "MiB fetched after",
                    "after the kill",
                    "s to finish",
                    "s fresh download",
                    "MiB sent twice",
                    "left beside the output",
                    "ok",
                ],
                rows,
                align="lrrrlrrrlr",
            ),
            "",
            f"![{data['title']}](benchmarks/figures/{figure.name})",
            "",
            *pagekit.who_beats_ours(
                "resume-bytes", fetched_by_name, lower_is_better=True, what="fetched", unit="MiB"
            ),
            *pagekit.who_beats_ours(
                "resume-time", finish_by_name, lower_is_better=True, what="time to finish", unit="s"
            ),
            *pagekit.failures({n: {**s, "leftovers": []} for n, s in summary.items()}),
        ]
    )
