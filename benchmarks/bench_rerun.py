"""Re-running a finished download: what it costs with the CLI and the magic (issue #8).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_rerun.py                 # 1 GiB, 3 rounds
    .venv/bin/python benchmarks/bench_rerun.py --size 64MiB --rounds 1

One object is seeded into a local OSS server in its own process. Each round
runs ``oss-resumable get URL DEST`` (a fresh download), then the same command
again, the same with ``%oss_get`` in a new IPython process, and
``get_file(skip_identical=True)`` inside this process (as in a running
kernel), reading the server's statistics after each: a re-run must fetch 0
object bytes (it checks the destination's size and CRC-64 against the
object's) and take far less time than the download. The first two re-runs
include a Python (or IPython) start-up of about half a second.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, GiB, human, make_scratch, parse_size, remove_scratch, write_pattern_file

sys.path.insert(0, str(REPO))

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import OSSServer

BUCKET = "bench"
KEY = "rerun/big.bin"
BIN = Path(sys.executable).parent


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def _magic_command(url: str, dest: str) -> list[str]:
    code = f"%load_ext oss_resumable_fs\n%oss_get -q {url} {dest}\n"
    return [str(BIN / "ipython"), "--quick", "--no-banner", "-c", code]


def _report(
    round_number: int, name: str, rows: dict[str, list[float]], served: dict[str, list[int]]
) -> None:
    sent = served[name][-1]
    print(
        f"  [round {round_number}] {name:<13} {rows[name][-1]:6.2f} s, "
        f"{human(sent) if sent else '0 B'} served",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=1 * GiB)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="parent of the scratch directory")
    args = parser.parse_args()
    scratch, _made = make_scratch(args.dir)
    rows: dict[str, list[float]] = {
        "download": [],
        "cli re-run": [],
        "magic re-run": [],
        "in-process": [],
    }
    served: dict[str, list[int]] = {name: [] for name in rows}
    try:
        source = scratch / "source.bin"
        write_pattern_file(source, args.size)
        with OSSServer(mode="process") as server:
            server.create_bucket(BUCKET)
            server.put_object(BUCKET, KEY, str(source))
            source.unlink()
            env = server.environment()
            url = f"oss://{BUCKET}/{KEY}"
            for round_number in range(1, args.rounds + 1):
                dest = scratch / "big.bin"
                dest.unlink(missing_ok=True)
                cli = [str(BIN / "oss-resumable"), "get", "-q", url, str(dest)]
                for name, command in (
                    ("download", cli),
                    ("cli re-run", cli),
                    ("magic re-run", _magic_command(url, str(dest))),
                ):
                    server.reset_stats()
                    rows[name].append(_timed(command, env))
                    served[name].append(sum(server.stats().bytes_served.values()))
                    _report(round_number, name, rows, served)
                # The same check inside a running process (a notebook's kernel): no
                # interpreter start-up, only the HEAD and the local file's CRC-64.
                fs = ResumableOSSFileSystem(
                    endpoint=server.endpoint,
                    key=server.access_key_id,
                    secret=server.access_key_secret,
                    skip_instance_cache=True,
                )
                server.reset_stats()
                started = time.monotonic()
                result = fs.get_file(f"{BUCKET}/{KEY}", str(dest), skip_identical=True)
                rows["in-process"].append(time.monotonic() - started)
                served["in-process"].append(sum(server.stats().bytes_served.values()))
                assert result is not None and result.skipped
                _report(round_number, "in-process", rows, served)
    finally:
        remove_scratch(scratch)
    download = statistics.median(rows["download"])
    print(f"\n== re-running a finished {human(args.size)} download ({args.rounds} rounds) ==")
    print(f"{'run':<14}{'median s':>10}{'vs download':>13}{'bytes served':>15}")
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{name:<14}{median:>10.2f}{median / download:>12.2f}x{max(served[name]):>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
