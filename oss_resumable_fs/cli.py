"""``oss-resumable``: download, inspect and serve from the command line.

Credentials come from the environment only (``OSS_ACCESS_KEY_ID``,
``OSS_ACCESS_KEY_SECRET``, ``OSS_SESSION_TOKEN``), never from arguments, which
other users can read in the process list.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oss_resumable_fs.config import parse_size as config_parse_size
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.errors import InvalidArgumentError, TransientError

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem


def parse_size(text: str) -> int:
    """``"16MiB"`` / ``"16M"`` / ``"16777216"`` -> bytes, for argparse."""
    try:
        return config_parse_size(text)
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _filesystem(args: argparse.Namespace):  # -> ResumableOSSFileSystem
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    if not (args.endpoint or os.environ.get("OSS_ENDPOINT")):
        # Checked here: ossfs would only log a warning and fail at the first request.
        raise ValueError("no OSS endpoint: pass --endpoint or set OSS_ENDPOINT")
    options = {"endpoint": args.endpoint, "region": args.region}
    for name in ("part_size", "concurrency", "checkpoint_dir"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    return ResumableOSSFileSystem(**{k: v for k, v in options.items() if v is not None})


def _strip_url(url: str) -> str:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    return ResumableOSSFileSystem._strip_protocol(url)


def _cmd_get(args: argparse.Namespace) -> int:
    from fsspec.callbacks import NoOpCallback, TqdmCallback

    fs = _filesystem(args)
    remote = _strip_url(args.url)
    started = time.monotonic()
    if args.recursive or remote.endswith("/"):
        callback = NoOpCallback() if args.quiet else TqdmCallback(tqdm_kwargs={"unit": "file"})
        try:
            fs.get(remote, args.dest, recursive=True, callback=callback)
        finally:
            callback.close()
        return 0
    callback = (
        NoOpCallback()
        if args.quiet
        else TqdmCallback(
            tqdm_kwargs={
                "unit": "B",
                "unit_scale": True,
                "unit_divisor": 1024,
                "desc": os.path.basename(remote),
            }
        )
    )
    # As cp does without -r: refuse a directory, before anything is made on disk,
    # rather than exit 0 having downloaded nothing.
    if _is_a_directory(fs, remote):
        callback.close()
        return _refuse_directory(remote)
    dest = args.dest
    if os.path.isdir(dest) or dest.endswith(os.sep):
        dest = os.path.join(dest, os.path.basename(remote))
    dest_existed = os.path.lexists(dest)
    try:
        result = fs.get_file(remote, dest, callback=callback)
    finally:
        callback.close()  # end the bar's line before any error message
    if result is None:  # the object went away meanwhile, leaving a prefix
        if not dest_existed:
            with contextlib.suppress(OSError):
                os.rmdir(dest)
        return _refuse_directory(remote)
    if not args.quiet:
        elapsed = max(time.monotonic() - started, 1e-9)
        print(
            f"{result.path}: {human_size(result.identity.size)} in {elapsed:.1f} s "
            f"({human_size(result.bytes_fetched / elapsed)}/s over the network; "
            f"{human_size(result.bytes_fetched)} fetched, "
            f"{human_size(result.bytes_reused)} resumed)"
        )
    return 0


def _is_a_directory(fs: ResumableOSSFileSystem, remote: str) -> bool:
    """A bucket, or a key that is no object but has keys under ``key/``.

    One HEAD, and a one-key listing only when it says 404. A failure that
    persists through the retries is left to the download, which says it better.
    """
    try:
        return bool(fs.info(remote)["type"] == "directory")
    except FileNotFoundError:
        if "/" not in remote.strip("/"):
            raise  # no such bucket
        return False
    except TransientError:
        return False


def _refuse_directory(remote: str) -> int:
    print(
        f"oss-resumable: oss://{remote} is a directory (a prefix or a bucket); "
        "use -r to download what is under it",
        file=sys.stderr,
    )
    return 1


def _cmd_ls(args: argparse.Namespace) -> int:
    fs = _filesystem(args)
    for entry in fs.ls(_strip_url(args.url), detail=True):
        kind = "DIR" if entry.get("type") == "directory" else human_size(entry.get("size") or 0)
        print(f"{kind:>12}  {entry['name']}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from oss_resumable_fs.engine.transfer import list_unfinished

    directories = args.directories or ["."]
    found = [item for directory in directories for item in list_unfinished(directory)]
    if not found:
        print("no unfinished downloads")
        return 0
    for item in found:
        print(item.describe())
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from oss_resumable_fs.testing.__main__ import serve_main

    return serve_main(args.serve_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oss-resumable",
        description="Fast, resumable, verified downloads from Alibaba Cloud OSS.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_connection(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--endpoint", default=None, help="OSS endpoint (default $OSS_ENDPOINT)")
        sub.add_argument("--region", default=None, help="region for V4 signing ($OSS_REGION)")

    get = commands.add_parser("get", help="download an object (or a prefix with -r)")
    get.add_argument("url", help="oss://bucket/key")
    get.add_argument("dest", help="local file or directory")
    get.add_argument("--part-size", type=parse_size, default=None, help="e.g. 16MiB")
    get.add_argument("--concurrency", type=int, default=None, help="connections per object")
    get.add_argument("--checkpoint-dir", default=None, help="where journals live")
    get.add_argument("-r", "--recursive", action="store_true", help="download a prefix")
    get.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    with_connection(get)
    get.set_defaults(run=_cmd_get)

    ls = commands.add_parser("ls", help="list a bucket or prefix")
    ls.add_argument("url")
    with_connection(ls)
    ls.set_defaults(run=_cmd_ls)

    status = commands.add_parser("status", help="list unfinished downloads")
    status.add_argument("directories", nargs="*", help="where to look (default: .)")
    status.set_defaults(run=_cmd_status)

    serve = commands.add_parser(
        "serve",
        help="run the local OSS server (python -m oss_resumable_fs.testing)",
        add_help=False,
    )
    serve.add_argument("serve_args", nargs=argparse.REMAINDER)
    serve.set_defaults(run=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        # Everything after "serve" belongs to the server's own parser: argparse's
        # REMAINDER would refuse options such as --port in the first position.
        from oss_resumable_fs.testing.__main__ import serve_main

        return serve_main(argv[1:], prog="oss-resumable serve")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("oss-resumable: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (OSError, ValueError) as error:
        print(f"oss-resumable: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
