"""``oss-resumable``: download, inspect and serve from the command line.

Credentials come from the environment only (``OSS_ACCESS_KEY_ID``,
``OSS_ACCESS_KEY_SECRET``, ``OSS_SESSION_TOKEN``), never from arguments, which
other users can read in the process list.

Modules: :mod:`.parser` (grammar and help), :mod:`.get`, :mod:`.ls`,
:mod:`.status`, :mod:`.sign` (the commands), :mod:`.leftovers` (what status and clean find),
:mod:`.logs` (``-v``), :mod:`.common` (the filesystem from options and environment).
What ``get -r`` fetches is planned by :mod:`oss_resumable_fs.trees`, with the
``--include`` / ``--exclude`` rules of :mod:`oss_resumable_fs.filters`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from oss_resumable_fs.cli.common import PROG, echo
from oss_resumable_fs.cli.logs import cli_logging
from oss_resumable_fs.cli.parser import build_parser, parse_size

__all__ = ["build_parser", "main", "parse_size"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        # Everything after "serve" belongs to the server's own parser: argparse's
        # REMAINDER would refuse options such as --port in the first position.
        from oss_resumable_fs.testing.__main__ import serve_main

        return serve_main(argv[1:], prog=f"{PROG} serve")
    args = build_parser().parse_args(argv)
    check = getattr(args, "check", None)
    if check is not None:
        check(args)  # usage errors: exit 2, as argparse's own
    with cli_logging(args.verbose_top + getattr(args, "verbose", 0)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        hint = "; run the same command again to resume" if args.command == "get" else ""
        echo(f"{PROG}: interrupted{hint}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout went away (`ls | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (OSError, ValueError) as error:
        from oss_resumable_fs.sources.redact import redact

        # Our errors never carry credentials; blanking is for anything else's.
        echo(f"{PROG}: {redact(str(error))}", file=sys.stderr)
        return 1
