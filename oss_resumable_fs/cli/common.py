"""What the commands share: the filesystem, built from options and the environment."""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import textwrap
from typing import TYPE_CHECKING, TextIO

from oss_resumable_fs.urls import require_endpoint

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

PROG = "oss-resumable"
_NUMBER_AND_UNIT = re.compile(r"(\d) (B|KiB|MiB|GiB|TiB|s)\b")
#: The CLI's own logger (timings at INFO, settings at DEBUG), under the library's.
log = logging.getLogger("oss_resumable_fs.cli")

#: ``get`` options that are TransferConfig fields, by their argparse names.
TRANSFER_OPTIONS = ("part_size", "concurrency", "checkpoint_dir")


def filesystem(args: argparse.Namespace) -> ResumableOSSFileSystem:
    """The filesystem for ``args``; credentials come from the environment only."""
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    require_endpoint(args.endpoint, "pass --endpoint")
    options = {"endpoint": args.endpoint, "region": args.region}
    for name in TRANSFER_OPTIONS:
        options[name] = getattr(args, name, None)
    options = {name: value for name, value in options.items() if value is not None}
    fs = ResumableOSSFileSystem(**options)
    # Never the credentials: only where requests go and how transfers run.
    log.debug("endpoint %s, region %s, %s", fs._endpoint, fs._region, fs.transfer_config)
    return fs


def echo(text: str, *, indent: str = "  ", file: TextIO | None = None) -> None:
    """Print one line (to stdout); in a terminal too narrow for it, wrapped between words.

    The terminal would cut it anywhere, even inside a number; piped, it stays
    one line for whatever reads it.
    """
    file = file or sys.stdout
    if getattr(file, "isatty", lambda: False)():
        width = shutil.get_terminal_size().columns
        if len(text) >= width > 20:
            # A number stays with its unit ("300.0 MiB", "12.1 s"): joined by a
            # no-break space, which textwrap does not split at, while it wraps.
            glued = _NUMBER_AND_UNIT.sub("\\1\u00a0\\2", text)
            text = textwrap.fill(
                glued,
                width=width - 1,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            ).replace("\u00a0", " ")
    print(text, file=file)
