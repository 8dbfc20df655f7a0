"""``%oss_get``: one object, or a prefix with ``-r``; progress, a summary, Ctrl-C to resume."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import TYPE_CHECKING, Any

from oss_resumable_fs.engine.result import DownloadResult, journal_path_for
from oss_resumable_fs.engine.status import UnfinishedDownload, human_size, list_unfinished
from oss_resumable_fs.errors import InvalidArgumentError, TransientError
from oss_resumable_fs.magics.reporting import Interrupted
from oss_resumable_fs.progress import TransferProgress
from oss_resumable_fs.results import GetResult

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem
    from oss_resumable_fs.magics.session import MagicSession

__all__ = ["get", "remote_path"]


def remote_path(url: str) -> str:
    """``oss://bucket/key``, ``ossr://bucket/key`` or ``bucket/key`` -> ``bucket/key``."""
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    scheme, found, _ = url.partition("://")
    if found and scheme not in ("oss", "ossr"):
        raise InvalidArgumentError(f"{url}: not an oss:// URL")
    path = ResumableOSSFileSystem._strip_protocol(url)
    if not path.strip("/"):
        raise InvalidArgumentError(f"{url}: name a bucket (oss://bucket/key)")
    return path


def get(session: MagicSession, args: argparse.Namespace) -> DownloadResult | GetResult | None:
    """Run ``%oss_get``; the result, or None when there was nothing to download."""
    if args.output is not None and not args.output.isidentifier():
        raise InvalidArgumentError(f"-o needs a variable name, got {args.output!r}")
    fs = session.filesystem()
    remote = remote_path(args.url)
    dest = os.path.expanduser(args.dest)
    options: dict[str, Any] = {"skip_identical": not args.force}
    for name in ("part_size", "concurrency", "checkpoint_dir"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    display = "none" if args.quiet else session.settings.progress
    recursive = args.recursive or remote.endswith("/")
    if not recursive:
        if _is_a_directory(fs, remote):
            raise IsADirectoryError(_directory_message(remote))
        if os.path.isdir(dest) or dest.endswith(("/", os.sep)):
            dest = os.path.join(dest, os.path.basename(remote))
    name = os.path.basename(remote.rstrip("/")) or remote
    progress = TransferProgress(name, display=display)  # type: ignore[arg-type]
    try:
        if recursive:
            result: DownloadResult | GetResult | None = fs.get(
                remote, dest, recursive=True, callback=progress, **options
            )
        else:
            result = fs.get_file(remote, dest, callback=progress, **options)
    except KeyboardInterrupt:
        progress.close()  # end the bar's line before the message
        config = fs.transfer_config.replace(checkpoint_dir=options.get("checkpoint_dir"))
        if recursive:
            message = "Interrupted: run the cell again to resume; files already there are skipped."
        else:
            message = _interrupted_message(_kept(journal_path_for(dest, config)))
        raise Interrupted(message) from None
    finally:
        progress.close()
    if result is None:  # the object went away meanwhile, leaving a prefix
        raise IsADirectoryError(_directory_message(remote))
    if not args.quiet:
        print(result.summary())
    return result


def _is_a_directory(fs: ResumableOSSFileSystem, remote: str) -> bool:
    """A bucket, or a key that is no object but has keys under ``key/`` (as the CLI decides).

    A missing key is left to the download, which says so better.
    """
    try:
        return bool(fs.info(remote, refresh=True)["type"] == "directory")
    except FileNotFoundError:
        if "/" not in remote.strip("/"):
            raise  # no such bucket
        return False
    except TransientError:
        return False


def _directory_message(remote: str) -> str:
    return (
        f"oss://{remote} is a directory (a prefix or a bucket); use -r to download what is under it"
    )


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
