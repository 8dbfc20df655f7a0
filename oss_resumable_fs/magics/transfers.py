"""``%oss_get``: one object, or a prefix with ``-r``; progress, a summary, Ctrl-C to resume."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import TYPE_CHECKING, Any

from oss_resumable_fs.engine.result import DownloadResult, journal_path_for
from oss_resumable_fs.engine.status import UnfinishedDownload, human_size, list_unfinished
from oss_resumable_fs.errors import InvalidArgumentError
from oss_resumable_fs.magics.reporting import Interrupted
from oss_resumable_fs.progress import TransferProgress
from oss_resumable_fs.results import GetResult
from oss_resumable_fs.trees import (
    directory_message,
    filter_root,
    is_tree,
    key_filter,
    looks_like_a_tree,
    one_destination,
    plan_tree,
)
from oss_resumable_fs.urls import remote_path

if TYPE_CHECKING:
    from oss_resumable_fs.magics.session import MagicSession

__all__ = ["get"]


def get(session: MagicSession, args: argparse.Namespace) -> DownloadResult | GetResult | None:
    """Run ``%oss_get``; the result, or None when there was nothing to download.

    What it downloads, and where each object lands, is what ``oss-resumable get``
    does (:mod:`oss_resumable_fs.trees`): a prefix lands in DEST itself, so the
    same cell run again finds every file and skips it.
    """
    if args.output is not None and not args.output.isidentifier():
        raise InvalidArgumentError(f"-o needs a variable name, got {args.output!r}")
    # IPython keeps quotes in a magic's arguments: '*.csv' as typed in a shell is *.csv.
    include, exclude = _unquoted(args.include), _unquoted(args.exclude)
    key_filter(include, exclude, tree=looks_like_a_tree(args.url, args.recursive))
    fs = session.filesystem()
    remote = remote_path(args.url)
    dest = os.path.expanduser(args.dest)
    options: dict[str, Any] = {"skip_identical": not args.force}
    for name in ("part_size", "concurrency", "checkpoint_dir"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    display = "none" if args.quiet else session.settings.progress
    tree = is_tree(fs, remote, recursive=args.recursive)
    if tree:
        plan = plan_tree(fs, remote, dest, include, exclude, recursive=args.recursive)
    else:
        dest = one_destination(remote, dest)
    name = os.path.basename(filter_root(remote).rstrip("/") if tree else remote) or remote
    progress = TransferProgress(name, display=display)  # type: ignore[arg-type]
    try:
        if tree:
            remotes, locals_ = [r for r, _, _ in plan], [local for _, local, _ in plan]
            result: DownloadResult | GetResult | None = fs.get(
                remotes, locals_, callback=progress, **options
            )
        else:
            result = fs.get_file(remote, dest, callback=progress, **options)
    except KeyboardInterrupt:
        progress.close()  # end the bar's line before the message
        config = fs.transfer_config.replace(checkpoint_dir=options.get("checkpoint_dir"))
        if tree:
            message = "Interrupted: run the cell again to resume; files already there are skipped."
        else:
            message = _interrupted_message(_kept(journal_path_for(dest, config)))
        raise Interrupted(message) from None
    finally:
        progress.close()
    if result is None:  # the object went away meanwhile, leaving a prefix
        raise IsADirectoryError(directory_message(remote))
    if not args.quiet:
        print(result.summary())
    return result


def _unquoted(globs: list[str]) -> list[str]:
    return [g[1:-1] if len(g) > 1 and g[0] == g[-1] and g[0] in "'\"" else g for g in globs]


def _kept(journal_path: str) -> UnfinishedDownload | None:
    """What the checkpoint an interrupted download left says, if it left one."""
    with contextlib.suppress(OSError):
        for item in list_unfinished(os.path.dirname(journal_path)):
            if item.journal_path == journal_path:
                return item
    return None


def _interrupted_message(kept: UnfinishedDownload | None) -> str:
    again = "run the cell again to resume the download."
    if kept is None:
        return f"Interrupted: {again}"
    # Only whole parts are kept: a part in flight is fetched again.
    return (
        f"Interrupted: {human_size(kept.bytes_done)} of {human_size(kept.size)} kept "
        f"({kept.parts_done}/{kept.parts_total} parts complete); {again}"
    )
