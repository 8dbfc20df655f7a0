"""The measuring loop every download benchmark shares (not a benchmark itself).

One object on one local server (:class:`Target`); one callable per contender
taking the destination path (:data:`Runner`); :func:`one_run` times a call,
reads what the server saw and checks the output's CRC-64 (a wrong or short
file is an error and gets no speed); :func:`alternate` runs every contender
once per round, the order rotated by one place each round; :func:`summarize`
takes the medians.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO,
    MiB,
    drop_dirty_pages,
    file_crc64,
    free_page_reporting,
    recycle_page_cache,
    write_pattern_file,
)

sys.path.insert(0, str(REPO))
import oss2

from oss_resumable_fs.testing import OSSServer, StatsSnapshot

BUCKET = "bench"
#: The region S3 clients sign with: OSS's region id for the server's region.
S3_REGION = "oss-cn-hangzhou"


def isolate_from_real_clouds() -> None:
    """No S3 client of this process may read real credentials or reach a metadata service.

    Every client is given the local server's endpoint and keys explicitly; this
    removes what the SDKs would otherwise pick up from the environment or ``~/.aws``.
    """
    for name in list(os.environ):
        if name.startswith(("AWS_", "OSS_", "ALIBABA_CLOUD_")):
            del os.environ[name]
    os.environ.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        os.environ.pop(proxy, None)


@dataclass(frozen=True)
class Matched:
    """Settings given to a peer to match what ours used in the same scenario."""

    connections: int
    part_size: int

    def describe(self) -> str:
        return f"{self.connections} connections x {self.part_size / MiB:g} MiB parts"


@dataclass
class Run:
    competitor: str
    seconds: float | None = None
    error: str | None = None
    #: What the server saw during this run.
    get_requests: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    max_concurrent_gets: int = 0
    bytes_served: int = 0
    #: CPU seconds the client used (this process and its children: see :func:`cpu_seconds`).
    cpu_seconds: float | None = None
    #: Context switches of this process's threads and waited-for children (see
    #: :func:`context_switches`).
    context_switches: int | None = None
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


#: Downloads the target to the path given; may return extra facts for the record.
Runner = Callable[[str], dict[str, Any] | None]


def settled_stats(server: OSSServer, timeout: float = 10.0) -> StatsSnapshot:
    """The server's statistics once no GET is being answered (a client can hold
    every byte before the server has finished counting the request that sent them)."""
    deadline = time.monotonic() + timeout
    stats = server.stats()
    while stats.gets_in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
        stats = server.stats()
    return stats


def prepare_run(server: OSSServer, out_dir: Path, writes: int) -> None:
    """Right before a timed run that writes ``writes`` bytes into ``out_dir``: no other
    run's dirty pages pending, the server's counters at zero once its last answers are
    counted, and page cache recycled for the run (:func:`_common.recycle_page_cache`)."""
    drop_dirty_pages()
    settled_stats(server)
    server.reset_stats()
    recycle_page_cache(out_dir, writes)


def clear_dir(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def one_run(name: str, runner: Runner, target: Target) -> Run:
    """Time one download of ``target`` into an empty directory and check the file."""
    dest = target.out_dir / "object.bin"
    clear_dir(target.out_dir)
    prepare_run(target.server, target.out_dir, target.size)
    run = Run(name)
    cpu_began, switches_began = cpu_seconds(), context_switches()
    began = time.perf_counter()
    try:
        extra = runner(str(dest))
    except Exception as err:  # a competitor failing is a result, not a crash
        run.error = f"{type(err).__name__}: {err}"[:500]
        extra = None
    elapsed = time.perf_counter() - began
    run.cpu_seconds = cpu_seconds() - cpu_began
    run.context_switches = context_switches() - switches_began
    record_stats(run, settled_stats(target.server))
    run.extra = extra or {}
    run.leftovers = sorted(p.name for p in target.out_dir.iterdir() if p != dest)
    if run.error is None:
        run.error = check_file(dest, target.size, target.crc64)
        run.seconds = elapsed if run.error is None else None
    clear_dir(target.out_dir)
    return run


def cpu_seconds() -> float:
    """CPU time of this process (all its threads, native ones too) and of its waited-for
    children (curl), user + system."""
    mine = os.times()
    return mine.user + mine.system + mine.children_user + mine.children_system


def context_switches() -> int:
    """Context switches, voluntary and not, of this process's threads (native ones too)
    and of its waited-for children: a thread per connection blocks and wakes far more
    often than a few threads multiplexing the connections."""
    counts = 0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        counts += usage.ru_nvcsw + usage.ru_nivcsw
    return counts


def record_stats(run: Run, stats: StatsSnapshot) -> None:
    run.requests = dict(stats.requests)
    run.get_requests = stats.requests.get("GetObject", 0)
    run.max_concurrent_gets = stats.max_concurrent_gets
    run.bytes_served = stats.total_bytes_served


def check_file(path: Path, size: int, crc: int) -> str | None:
    """None when ``path`` holds exactly the object; else what is wrong."""
    if not path.exists():
        return "no output file"
    if (got := path.stat().st_size) != size:
        return f"WRONG size {got} != {size}"
    if (got := file_crc64(path)) != crc:
        return f"WRONG crc64 {got} != {crc}"
    return None


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


def rotations(names: list[str], rounds: int) -> list[list[str]]:
    """The order of each round: ``names`` rotated by one place per round."""
    return [names[r % len(names) :] + names[: r % len(names)] for r in range(rounds)]


def alternate(
    names: list[str],
    runners: Mapping[str, Runner],
    target: Target,
    rounds: int,
    label: str,
) -> dict[str, list[Run]]:
    """Every contender once per round, alternating; the runs by contender."""
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for number, order in enumerate(rotations(names, rounds), 1):
        for name in order:
            run = one_run(name, runners[name], target)
            runs[name].append(run)
            status = f"{target.size / MiB / run.seconds:8.1f} MiB/s" if run.seconds else run.error
            note = f"  ({run.max_concurrent_gets} GETs in flight at most)"
            print(f"  [{label} {number}/{rounds}] {name:<15}{status}{note}", flush=True)
    return runs


def summarize(runs: list[Run]) -> dict[str, Any]:
    """Medians over the runs that produced a correct file (a failed run counts in ``runs``)."""
    ok = [r for r in runs if r.seconds is not None]
    errors = sorted({r.error for r in runs if r.error})
    if not ok:
        return {"ok": 0, "runs": len(runs), "errors": errors}
    times = [r.seconds for r in ok if r.seconds is not None]
    return {
        "ok": len(ok),
        "runs": len(runs),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "gets": statistics.median(r.get_requests for r in ok),
        "requests": statistics.median(sum(r.requests.values()) for r in ok),
        "max_conc": max(r.max_concurrent_gets for r in ok),
        "bytes_served": statistics.median(r.bytes_served for r in ok),
        "cpu_s": statistics.median(r.cpu_seconds or 0.0 for r in ok),
        "context_switches": round(statistics.median(r.context_switches or 0 for r in ok)),
        "leftovers": sorted({name for r in runs for name in r.leftovers}),
        "errors": errors,
    }


def machine() -> dict[str, Any]:
    """Facts about this machine and checkout, for the record."""
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    packages = (
        "oss2",
        "ossfs",
        "alibabacloud-oss-v2",
        "s3fs",
        "obstore",
        "boto3",
        "s3transfer",
        "awscrt",
        "fsspec",
    )
    return {
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "versions": {name: version(name) for name in packages},
        "curl": (shutil.which("curl") and curl_version()) or None,
        "free_page_reporting": free_page_reporting(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def curl_version() -> str:
    done = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.split("\n", 1)[0][:60]
