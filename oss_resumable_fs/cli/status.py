"""``oss-resumable status``: unfinished downloads, and how far each one got.

Two lines each, so that two long paths and the numbers do not wrap into one
another::

    oss://bucket/data/big.bin -> /home/me/data/big.bin
      128.0 MiB of 300.0 MiB (43%), 16/38 parts, last progress 7 s ago
"""

from __future__ import annotations

import argparse

from oss_resumable_fs.cli.common import echo
from oss_resumable_fs.engine.status import find_unfinished

__all__ = ["run_status"]


def run_status(args: argparse.Namespace) -> int:
    # With only --checkpoint-dir, everything recorded there; with nothing, the cwd.
    paths = args.paths or ([] if args.checkpoint_dir else ["."])
    found = find_unfinished(paths, checkpoint_dir=args.checkpoint_dir)
    if not found:
        print("no unfinished downloads")
    for item in found:
        echo(item.headline(), indent="    ")
        echo(f"  {item.progress()}", indent="  ")
    return 0
