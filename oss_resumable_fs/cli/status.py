"""``oss-resumable status``: unfinished ``get`` jobs and downloads, and how far each got.

An unfinished ``get`` of many files (a job, :mod:`oss_resumable_fs.jobs`) is
one line, its partial files counted in it (``-v`` lists them, its failed
files with their errors, and the leftovers of its files killed midway)::

    get oss://bucket/data/ -> /home/me/data: 97/200 files done, 3 partial, 0 failed,
    1.2 GiB of 2.5 GiB

Any other unfinished download takes two lines, so that two long paths and the
numbers do not wrap into one another::

    oss://bucket/data/big.bin -> /home/me/big.bin
      128.0 MiB of 300.0 MiB (43%), 16/38 parts, last progress 7 s ago

then the partial and lock files no journal found describes, as ``%oss_status``
lists them (:mod:`oss_resumable_fs.cli.leftovers`)::

    /home/me/data/other.bin.ossr-partial
      no journal found here; it may be in a checkpoint directory (...)
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from oss_resumable_fs.cli.common import echo
from oss_resumable_fs.cli.leftovers import Leftover, find_leftovers
from oss_resumable_fs.engine.status import UnfinishedJob, find_jobs

__all__ = ["find_jobs_and_leftovers", "run_status"]


def run_status(args: argparse.Namespace) -> int:
    # With only --checkpoint-dir, everything recorded there; with nothing, the cwd.
    paths = args.paths or ([] if args.checkpoint_dir else ["."])
    jobs, found = find_jobs_and_leftovers(
        paths, [args.checkpoint_dir] if args.checkpoint_dir else []
    )
    if not jobs and not found:
        print("no unfinished downloads")
    for job in jobs:
        echo(job.describe(), indent="    ")
        for line in job.details() if args.verbose else ():
            echo(f"  {line}", indent="    ")
    for item in found:
        echo(item.headline(), indent="    ")
        echo(f"  {item.detail()}", indent="  ")
    return 0


def find_jobs_and_leftovers(
    paths: Sequence[str], checkpoint_dirs: Sequence[str]
) -> tuple[list[UnfinishedJob], list[Leftover]]:
    """The unfinished jobs into ``paths``, and the leftovers that are none of their files.

    A job's partial files (downloads with a journal below its root), and the
    orphans below its root, are counted in it and not listed again.
    """
    leftovers = find_leftovers(paths, checkpoint_dirs)
    downloads = [entry.unfinished for entry in leftovers if entry.unfinished is not None]
    jobs = find_jobs(paths, checkpoint_dirs, downloads)
    claimed = {id(item) for job in jobs for item in job.partial}
    rest = [entry for entry in leftovers if id(entry.unfinished) not in claimed]
    for index in reversed(range(len(jobs))):  # (sorted by root: the deepest claims first)
        job = jobs[index]
        mine = [entry for entry in rest if entry.orphan and job.covers(entry.destination)]
        if mine:
            files = tuple(path for entry in mine for path in entry.files)
            jobs[index] = dataclasses.replace(job, leftovers=files)
            rest = [entry for entry in rest if entry not in mine]
    return jobs, rest
