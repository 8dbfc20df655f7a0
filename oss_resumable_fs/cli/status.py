"""``oss-resumable status``: unfinished downloads, and how far each one got.

Two lines each, so that two long paths and the numbers do not wrap into one
another::

    oss://bucket/data/big.bin -> /home/me/data/big.bin
      128.0 MiB of 300.0 MiB (43%), 16/38 parts, last progress 7 s ago

then the partial and lock files no journal found describes, as ``%oss_status``
lists them (:mod:`oss_resumable_fs.cli.leftovers`)::

    /home/me/data/other.bin.ossr-partial
      no journal found here; it may be in a checkpoint directory (...)
"""

from __future__ import annotations

import argparse

from oss_resumable_fs.cli.common import echo
from oss_resumable_fs.cli.leftovers import find_leftovers

__all__ = ["run_status"]


def run_status(args: argparse.Namespace) -> int:
    # With only --checkpoint-dir, everything recorded there; with nothing, the cwd.
    paths = args.paths or ([] if args.checkpoint_dir else ["."])
    found = find_leftovers(paths, [args.checkpoint_dir] if args.checkpoint_dir else [])
    if not found:
        print("no unfinished downloads")
    for item in found:
        echo(item.headline(), indent="    ")
        echo(f"  {item.detail()}", indent="  ")
    return 0
