"""``python -m oss_resumable_fs.testing``: run the local OSS server until SIGINT / SIGTERM.

The first line written to stdout is exactly the endpoint URL
(``http://127.0.0.1:40123``), so a parent process can read it and connect.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import stat
import sys
import tempfile

from oss_resumable_fs.testing.runtime import start_server
from oss_resumable_fs.testing.state import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_REGION,
    ServerState,
)
from oss_resumable_fs.testing.storage import Storage


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local OSS-compatible server (for tests and demos). "
        "Prints the endpoint URL as its first line, then serves until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    parser.add_argument(
        "--root",
        default=None,
        help="directory for buckets and objects (default: a temporary directory removed on exit)",
    )
    parser.add_argument(
        "--access-key-id", default=DEFAULT_ACCESS_KEY_ID, help="(default %(default)s)"
    )
    parser.add_argument(
        "--access-key-secret", default=DEFAULT_ACCESS_KEY_SECRET, help="(default %(default)s)"
    )
    parser.add_argument(
        "--region", default=DEFAULT_REGION, help="V4 signing region (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG (default 0)")
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="stop when standard input closes (the parent that started us has gone)",
    )
    return parser


async def _serve(args: argparse.Namespace, root: str) -> None:
    state = ServerState(
        Storage(root),
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        region=args.region,
        seed=args.seed,
    )
    running = await start_server(state, args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_with_stdin:
        mode = os.fstat(sys.stdin.fileno()).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            await running.stop()
            raise SystemExit("--exit-with-stdin needs standard input to be a pipe from the parent")
        loop.add_reader(sys.stdin.fileno(), lambda: os.read(sys.stdin.fileno(), 4096) or stop.set())
    print(running.endpoint, flush=True)
    try:
        await stop.wait()
    finally:
        await running.stop()


def serve_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Entry point of ``python -m oss_resumable_fs.testing`` and ``oss-resumable serve``."""
    args = build_parser(prog).parse_args(argv)
    root = args.root or tempfile.mkdtemp(prefix="ossr-server-")
    try:
        asyncio.run(_serve(args, root))
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve_main())
