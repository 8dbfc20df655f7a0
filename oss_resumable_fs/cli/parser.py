"""The command line's grammar and its help."""

from __future__ import annotations

import argparse
from importlib import metadata

from oss_resumable_fs.cli.common import PROG
from oss_resumable_fs.cli.sign import V4_MAX_EXPIRES, duration_arg
from oss_resumable_fs.config import parse_size as config_parse_size
from oss_resumable_fs.errors import InvalidArgumentError

__all__ = ["build_parser", "parse_size"]

_RAW = argparse.RawDescriptionHelpFormatter

MAIN_EPILOG = """\
environment:
  OSS_ENDPOINT           endpoint URL (--endpoint overrides it)
  OSS_REGION             region; selects V4 signatures (--region overrides it)
  OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN
                         credentials: read from the environment only, never from
                         arguments (which other users can see in the process list)

exit status: 0 done; 1 failed (one line on stderr); 2 bad usage;
130 interrupted (Ctrl-C): run the same command again to resume.
"""

GET_DESCRIPTION = """\
Download one object, or with -r every object under a prefix, on many
connections, checkpointed and verified (size, ETag, CRC-64). A destination that
already holds the object (same size and CRC-64) is skipped, so running a
finished command again transfers nothing; --force downloads it anyway.
Interrupted (Ctrl-C, a crash, a lost network), it resumes where it stopped
when run again. A bar on stderr shows bytes, rate, ETA (and files done with
-r); one summary line on stdout ends it.
"""

GET_EPILOG = """\
with -r, DEST receives what is under the prefix, whether or not the URL ends
in "/" and whether or not DEST exists yet (as rclone copy does), so a second
run finds every file where the first one put it. A URL ending in "/" or holding
a wildcard (* ? [) implies -r.

--include / --exclude (rclone's filter rules) match each key by its path
relative to the prefix: under oss://b/data/, the key data/2024/x.csv is
"2024/x.csv".
  *       any characters except "/"        **     any characters, "/" too
  ?       one character except "/"         {a,b}  either alternative
  [a-z]   one character of a set           [!a-z] one character not in it
  \\*      a literal "*" (any character after "\\" is itself)
  GLOB starting with "/" is anchored at the prefix and matches the whole path:
    /*.csv matches x.csv, not 2024/x.csv
  otherwise it matches the end of the path, from a "/" boundary on:
    *.csv matches x.csv and 2024/x.csv; 2024/*.csv matches 2024/x.csv and
    old/2024/x.csv, not 2024/q1/x.csv; x.csv does not match ax.csv
  GLOB ending in "/" names a directory: --exclude tmp/ leaves out every key
    below any directory tmp (as an --include it would match no file: use tmp/**)
  Every --exclude is tried first, in the order given, then every --include;
  the first glob that matches decides. A key no glob matches is downloaded,
  unless some --include was given. Matching is case-sensitive. Only files
  that match are downloaded, and only the directories holding them created.

an http(s):// URL -- a signed URL (oss-resumable sign), or any server that
answers ranged GETs -- is downloaded the same way, with no credentials: its
size and ETag come from the first ranged GET, every later part is pinned to
that ETag (If-Match), the checkpoint is named by the URL without its query
string (a newly signed URL for the same object resumes it), and the bytes are
checked with the CRC-64 OSS sends, else the MD5 a plain ETag is; the summary
says which. A server that ignores ranges is read in one stream.

examples:
  oss-resumable get oss://bkt/data/big.parquet .
  oss-resumable get "$(oss-resumable sign oss://bkt/big.bin --expires 1h)" big.bin
  oss-resumable get -r oss://bkt/data/ ./data --include '*.csv' --exclude '/tmp/**'
"""

LS_EPILOG = """\
-l columns: size in bytes, last modified (local time and UTC offset), storage
class, ETag, name; a prefix shows DIR. -r lists every object below (no DIRs).
"""

STATUS_DESCRIPTION = """\
List unfinished downloads and how far each one got, from their checkpoint
journals. Each PATH is a folder, searched recursively, or a destination file
(which does not exist yet while its download is unfinished). Journals kept in a
--checkpoint-dir (named by a hash of their destination) are read there and
listed when their destination is one of the PATHs or lies below one; with
--checkpoint-dir and no PATH, all of them. Default PATH: the current folder.
Then partial and lock files (.ossr-partial, .ossr-lock) that no journal found
describes: their journal may be in a checkpoint directory not given, or they
are no download's at all. An unfinished get -r (a job, recorded in
DEST/.ossr-job) is one line: files done, partial, failed, bytes; -v lists its
partial and failed files.
"""


SIGN_DESCRIPTION = """\
Print a URL that lets whoever holds it download one object until it expires,
with no credentials of their own (oss-resumable get URL DEST, or any HTTP
client). Signed with the credentials of the environment: V1, or V4 when a
region is set (--region, $OSS_REGION) or --v4 is given. Only the URL goes to
stdout.
"""

SIGN_EPILOG = """\
examples:
  oss-resumable sign oss://bkt/data/big.bin --expires 7d --region cn-hangzhou
  URL=$(oss-resumable sign oss://bkt/data/big.bin --expires 2h)
"""

VERBOSE_HELP = "-v: retries and timings; -vv: debug; -vvv: also each HTTP request"


def parse_size(text: str) -> int:
    """``"16MiB"`` / ``"16M"`` / ``"16777216"`` -> bytes, for argparse."""
    try:
        return config_parse_size(text)
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _version() -> str:
    try:
        return metadata.version("oss-resumable-fs")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fast, resumable, verified downloads from Alibaba Cloud OSS.",
        epilog=MAIN_EPILOG,
        formatter_class=_RAW,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, dest="verbose_top", help=VERBOSE_HELP
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    get = commands.add_parser(
        "get",
        help="download an object (or a prefix with -r); skips what is already there",
        description=GET_DESCRIPTION,
        epilog=GET_EPILOG,
        formatter_class=_RAW,
    )
    get.add_argument(
        "url",
        metavar="URL",
        help="oss://bucket/key (with -r a prefix or bucket), or an http(s):// URL",
    )
    get.add_argument("dest", metavar="DEST", help="local file or directory")
    what = get.add_argument_group("what to download")
    what.add_argument("-r", "--recursive", action="store_true", help="everything under a prefix")
    what.add_argument(
        "--include",
        metavar="GLOB",
        action="append",
        default=[],
        help="only keys matching GLOB (repeatable; rules below)",
    )
    what.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="not keys matching GLOB (repeatable; rules below)",
    )
    what.add_argument(
        "-f", "--force", action="store_true", help="download even what is already there"
    )
    output = get.add_argument_group("output")
    output.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    _add_verbosity(output)
    transfer = get.add_argument_group("transfer")
    transfer.add_argument("--part-size", metavar="SIZE", type=parse_size, help="e.g. 16MiB")
    transfer.add_argument("--concurrency", metavar="N", type=int, help="connections per object")
    transfer.add_argument("--checkpoint-dir", metavar="DIR", help="keep journals in DIR")
    _add_connection(get)
    get.set_defaults(run=_run("get", "run_get"), check=lambda args: _check_get(get, args))

    ls = commands.add_parser(
        "ls",
        help="list a bucket or prefix",
        description="List a bucket, or what is directly under a prefix.",
        epilog=LS_EPILOG,
        formatter_class=_RAW,
    )
    ls.add_argument("url", metavar="URL", help="oss://bucket[/prefix]")
    ls.add_argument("-l", "--long", action="store_true", help="size, date, class, ETag")
    ls.add_argument("-r", "--recursive", action="store_true", help="every object below")
    _add_verbosity(ls)
    _add_connection(ls)
    ls.set_defaults(run=_run("ls", "run_ls"))

    status = commands.add_parser(
        "status",
        help="list unfinished downloads",
        description=STATUS_DESCRIPTION,
        formatter_class=_RAW,
    )
    status.add_argument("paths", nargs="*", metavar="PATH", help="folder or destination file")
    status.add_argument("--checkpoint-dir", metavar="DIR", help="also read the journals in DIR")
    _add_verbosity(status)
    status.set_defaults(run=_run("status", "run_status"))

    sign = commands.add_parser(
        "sign",
        help="print a signed URL that downloads an object with no credentials",
        description=SIGN_DESCRIPTION,
        epilog=SIGN_EPILOG,
        formatter_class=_RAW,
    )
    sign.add_argument("url", metavar="URL", help="oss://bucket/key")
    sign.add_argument(
        "--expires",
        metavar="DURATION",
        type=duration_arg,
        default=3600,
        help="how long the URL works: 30s, 15m, 1h, 7d (default 1h; V4: at most 7d)",
    )
    sign.add_argument("--v4", action="store_true", help="sign with V4 (needs a region)")
    sign.add_argument("--version-id", metavar="ID", help="a version of a versioned object")
    _add_verbosity(sign)
    _add_connection(sign)
    sign.set_defaults(run=_run("sign", "run_sign"), check=lambda args: _check_sign(sign, args))

    # Usually handed to the server's own parser before this one runs (see main).
    serve = commands.add_parser(
        "serve", help="run the local OSS server (oss-resumable serve --help)", add_help=False
    )
    serve.add_argument("serve_args", nargs=argparse.REMAINDER)
    serve.set_defaults(run=_serve)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from oss_resumable_fs.testing.__main__ import serve_main

    return serve_main(args.serve_args, prog=f"{PROG} serve")


def _add_verbosity(group: argparse._ActionsContainer) -> None:
    group.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (credentials: from the environment only)")
    group.add_argument("--endpoint", metavar="URL", help="OSS endpoint ($OSS_ENDPOINT)")
    group.add_argument("--region", help="region for V4 signing ($OSS_REGION)")


def _run(module: str, function: str):  # -> Callable[[argparse.Namespace], int]
    """The command's entry point, imported only when that command runs."""

    def run(args: argparse.Namespace) -> int:
        from importlib import import_module

        return int(getattr(import_module(f"oss_resumable_fs.cli.{module}"), function)(args))

    return run


def _check_get(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors that argparse cannot see: bad globs, filters without -r."""
    from oss_resumable_fs.trees import key_filter, looks_like_a_tree

    if args.url[:8].lower().startswith(("http://", "https://")):
        if args.recursive or args.include or args.exclude:
            parser.error("-r, --include and --exclude take an oss:// URL, not an http(s) one")
        return
    try:
        key_filter(args.include, args.exclude, tree=looks_like_a_tree(args.url, args.recursive))
    except ValueError as error:
        parser.error(str(error))


def _check_sign(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """V4 needs a region, and lasts at most 7 days."""
    import os

    region = args.region or os.environ.get("OSS_REGION")
    if args.v4 and not region:
        parser.error("--v4 needs a region: pass --region (e.g. cn-hangzhou) or set OSS_REGION")
    if region and args.expires > V4_MAX_EXPIRES:
        parser.error(
            f"a V4 signed URL lasts at most 7 days ({V4_MAX_EXPIRES} s); "
            f"--expires asks for {args.expires} s"
        )
