"""``oss-resumable sign``: a signed GET URL for one object, printed on stdout.

Whoever holds the URL can download the object until it expires, with no
credentials of their own: ``oss-resumable get URL DEST`` (or
``oss_resumable_fs.download_url``) does so in parallel, resumably. The URL is
signed with the credentials of the environment (V1, or V4 when a region is
set); only the URL goes to stdout, so ``URL=$(oss-resumable sign ...)`` works.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from oss_resumable_fs.errors import InvalidArgumentError

__all__ = ["V4_MAX_EXPIRES", "duration_arg", "parse_duration", "run_sign"]

#: The longest a V4 signed URL may last (OSS's limit): 7 days.
V4_MAX_EXPIRES = 7 * 24 * 3600
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+[smhdw])+|\d+")
_EXAMPLES = "e.g. 30s, 15m, 1h, 7d, 1h30m, or seconds"


def parse_duration(text: str) -> int:
    """``"30s"`` / ``"15m"`` / ``"1h"`` / ``"7d"`` / ``"1h30m"`` / ``"90"`` -> seconds.

    Raises :class:`~oss_resumable_fs.errors.InvalidArgumentError` for anything
    else, and for a duration of zero.
    """
    cleaned = text.strip().lower()
    if not _DURATION.fullmatch(cleaned):
        raise InvalidArgumentError(f"not a duration: {text!r} ({_EXAMPLES})")
    if cleaned.isdigit():
        seconds = int(cleaned)
    else:
        seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", cleaned))
    if seconds <= 0:
        raise InvalidArgumentError(f"a signed URL must last longer than 0 s, got {text!r}")
    return seconds


def duration_arg(text: str) -> int:
    """:func:`parse_duration` for argparse: a bad value is a usage error (exit 2)."""
    try:
        return parse_duration(text)
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_sign(args: argparse.Namespace) -> int:
    from oss_resumable_fs.cli.common import PROG, filesystem
    from oss_resumable_fs.urls import remote_path

    fs = filesystem(args)
    remote = remote_path(args.url)
    if remote.endswith("/") or "/" not in remote:
        raise InvalidArgumentError(f"{args.url}: name an object (oss://bucket/key)")
    options = {"version_id": args.version_id} if args.version_id else {}
    url = fs.sign(remote, args.expires, **options)
    print(url, flush=True)
    if sys.stderr.isatty():  # for a person; a script reads stdout only
        until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() + args.expires))
        version = "V4" if fs._region else "V1"
        print(f"{PROG}: {version} signed URL, valid until {until}", file=sys.stderr)
    return 0
