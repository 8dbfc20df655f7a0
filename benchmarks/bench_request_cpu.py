"""Client CPU per ranged GET, one request at a time: ours against oss2 and obstore.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_request_cpu.py [--requests 2000] [--rounds 3]

Each contender asks the same local server (its own process, 127.0.0.1) for the
same 4 KiB range, ``--requests`` times in a row, and the process CPU time
(user + system, all threads) is divided by the count. Contenders alternate
within every round; the medians over rounds are printed with ratios. This is
the number the benchmark page quotes when it explains per-request costs.

``ours``     ``OSSClient.get_object`` pinned with ``If-Match``, body read into a buffer
             with the engine's reader (what a part of a download does).
``oss2``     ``oss2.Bucket.get_object`` with a range, body read.
``obstore``  ``obstore.get_range`` (Rust ``object_store``) over the server's S3 API.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import oss2
from _common import MiB
from harness import BUCKET
from peers_s3 import obstore_store

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import OSSServer

RANGE = 4096


def contenders(server: OSSServer, key: str) -> dict[str, Callable[[], None]]:
    fs = ResumableOSSFileSystem(
        endpoint=server.endpoint,
        key=server.access_key_id,
        secret=server.access_key_secret,
        skip_instance_cache=True,
    )
    client = fs.client
    etag = client.head_object(BUCKET, key).etag
    buffer = memoryview(bytearray(RANGE))

    def ours() -> None:
        response = client.get_object(BUCKET, key, (0, RANGE - 1), if_match=etag)
        got = 0
        while got < RANGE:
            got += response.reader.readinto(buffer[got:]) or RANGE
        response.reader.close()

    bucket = oss2.Bucket(
        oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, BUCKET
    )

    def oss2_get() -> None:
        bucket.get_object(key, byte_range=(0, RANGE - 1)).read()

    runners = {"ours": ours, "oss2": oss2_get}
    try:
        import obstore
    except ImportError:
        return runners
    store = obstore_store(server)
    runners["obstore"] = lambda: obstore.get_range(store, key, start=0, end=RANGE)
    return runners


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        OSSServer(root=Path(scratch), mode="process") as server,
    ):
        server.create_bucket(BUCKET)
        key = "request-cpu.bin"
        server.put_object(BUCKET, key, os.urandom(MiB))
        runners = contenders(server, key)
        for run in runners.values():  # warm: connections, imports
            for _ in range(20):
                run()
        per_request: dict[str, list[float]] = {name: [] for name in runners}
        for number in range(args.rounds):
            names = list(runners)
            names = names[number % len(names) :] + names[: number % len(names)]
            for name in names:
                began = cpu_seconds()
                for _ in range(args.requests):
                    runners[name]()
                per_request[name].append((cpu_seconds() - began) / args.requests * 1000)
    ours = statistics.median(per_request["ours"])
    print(f"client CPU per ranged GET ({args.requests} in a row, median of {args.rounds}):")
    for name, values in per_request.items():
        median = statistics.median(values)
        ratio = "" if name == "ours" else f"   ours/{name}: {ours / median:.2f}"
        print(f"  {name:8s} {median:.3f} ms{ratio}")


if __name__ == "__main__":
    main()
