"""``oss-resumable get``: one object, or every object under a prefix (``-r``).

A destination that already holds the object (same size, same CRC-64) is
skipped unless ``--force``; an interrupted download resumes from its
checkpoint. The progress bar goes to stderr, the summary line to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import posixpath
import re
import sys
import time
from glob import has_magic
from typing import TYPE_CHECKING, Any

from fsspec.callbacks import NoOpCallback

from oss_resumable_fs.cli.common import PROG, echo, filesystem, log, strip_url
from oss_resumable_fs.cli.filters import KeyFilter
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.errors import TransientError
from oss_resumable_fs.paths import expand_get_pairs, is_directory_entry
from oss_resumable_fs.progress import TransferProgress

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

__all__ = ["run_get"]

#: Longest label in front of a bar: the rest of the line is for the numbers.
LABEL_WIDTH = 24
#: Columns left free at the bar's right: the terminal echoes Ctrl-C there as "^C".
#: A bar as wide as the terminal would wrap, leaving a torn copy of itself behind.
RIGHT_MARGIN = 3


class CliProgress(TransferProgress):
    """The text bar on stderr; at ``-v``, one log line per file as each one lands."""

    def __init__(self, name: str) -> None:
        super().__init__(label(name), display="text", file=sys.stderr)

    def file_done(self, outcome: Any = None) -> None:
        super().file_done(outcome)
        result = getattr(outcome, "result", None)
        if result is not None:
            log.info("%s", result.summary())

    def _ensure_bar(self) -> Any:
        bar = super()._ensure_bar()
        shape = getattr(bar, "dynamic_ncols", None)  # tqdm's (fp) -> (columns, rows)
        if callable(shape) and not getattr(shape, "with_margin", False):
            bar.dynamic_ncols = _with_margin(shape)
        return bar

    def close(self) -> None:
        # Updates that arrive late (workers outliving a Ctrl-C) must not draw a new bar
        # below the message that follows.
        self.display = "none"
        super().close()


def _with_margin(shape: Any) -> Any:
    """tqdm's terminal-size function, the columns reduced by :data:`RIGHT_MARGIN`."""

    def narrower(fp: Any) -> tuple[int | None, int | None]:
        columns, rows = shape(fp)
        return (max(columns - RIGHT_MARGIN, 20) if columns else columns), rows

    narrower.with_margin = True  # type: ignore[attr-defined]
    return narrower


def label(name: str, width: int = LABEL_WIDTH) -> str:
    """``name`` cut from the left to ``width`` characters, so the bar fits one line."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def run_get(args: argparse.Namespace) -> int:
    fs = filesystem(args)
    remote = strip_url(args.url)
    if has_magic(remote) or remote.endswith("/"):
        return _get_tree(fs, remote, args)
    if args.recursive:
        if _is_a_directory(fs, remote):
            return _get_tree(fs, remote, args)
        # else: an object; cp -r of a file copies the file.
    elif _is_a_directory(fs, remote):
        # As cp does without -r: refuse a directory, before anything is made on disk,
        # rather than exit 0 having downloaded nothing.
        return _refuse_directory(remote)
    return _get_one(fs, remote, args)


def _get_one(fs: ResumableOSSFileSystem, remote: str, args: argparse.Namespace) -> int:
    dest = args.dest
    if os.path.isdir(dest) or dest.endswith(os.sep):
        dest = os.path.join(dest, posixpath.basename(remote))
    dest_existed = os.path.lexists(dest)
    progress = NoOpCallback() if args.quiet else CliProgress(posixpath.basename(remote))
    try:
        result = fs.get_file(remote, dest, callback=progress, skip_identical=not args.force)
    finally:
        progress.close()  # end the bar's line before any message
    if result is None:  # the object went away meanwhile, leaving a prefix
        if not dest_existed:
            with contextlib.suppress(OSError):
                os.rmdir(dest)
        return _refuse_directory(remote)
    if not args.quiet:
        # The destination as it was typed (cp and rsync echo paths so), not made absolute.
        echo(dataclasses.replace(result, path=dest).summary())
    return 0


def _get_tree(fs: ResumableOSSFileSystem, remote: str, args: argparse.Namespace) -> int:
    """Every object under the prefix (or matching the glob) into ``args.dest``.

    DEST receives what is under the prefix, whether or not it exists yet and
    whether or not the URL ends in ``/`` (rclone's ``copy``, not ``cp -r``): a
    second run finds every file where the first put it, and skips it.
    """
    if os.path.exists(args.dest) and not os.path.isdir(args.dest):
        raise NotADirectoryError(f"{args.dest} is not a directory: get -r needs one for DEST")
    root = filter_root(remote)
    rules = KeyFilter(args.include, args.exclude)
    started = time.monotonic()
    source = remote if has_magic(remote) else root
    recursive = args.recursive or not has_magic(remote)
    pairs = expand_get_pairs(fs, source, args.dest, recursive, None)
    infos = _listed_infos(fs)
    listed = [(r, local, _info(fs, infos, r)) for r, local in pairs]
    if rules:
        # Only the files wanted; their directories are made as each one lands.
        listed = [
            (r, local, info)
            for r, local, info in listed
            if not is_directory_entry(r, info) and rules.wants(relative_key(r, root))
        ]
    files = [info for r, _, info in listed if not is_directory_entry(r, info)]
    log.info(
        "listed oss://%s in %.2f s: %d files, %s",
        source,
        time.monotonic() - started,
        len(files),
        human_size(sum(int((info or {}).get("size") or 0) for info in files)),
    )
    quiet = args.quiet or not files  # (no bar for nothing: the summary says so)
    progress = NoOpCallback() if quiet else CliProgress(posixpath.basename(root.rstrip("/")))
    try:
        result = fs.get(
            [r for r, _, _ in listed],
            [local for _, local, _ in listed],
            callback=progress,
            skip_identical=not args.force,
            on_error="return",  # every file is tried; the failures are listed at the end
        )
    finally:
        progress.close()
    if not args.quiet:
        echo(result.summary())
    for failure in result.failed:
        print(f"{PROG}: failed: {failure.error}", file=sys.stderr)
    return 1 if result.failed else 0


def filter_root(remote: str) -> str:
    """The prefix that ``--include`` / ``--exclude`` globs are relative to, ending in ``/``.

    ``bucket/data`` and ``bucket/data/`` give ``bucket/data/``; a glob URL
    (``bucket/data/*.csv``) the directory before its first wildcard.
    """
    if not has_magic(remote):
        return remote.rstrip("/") + "/"
    head = re.split(r"[*?\[]", remote, maxsplit=1)[0]
    return head[: head.rfind("/") + 1]


def relative_key(remote_path: str, root: str) -> str:
    """``remote_path`` relative to ``root`` (its name alone if it is not below it)."""
    if remote_path.startswith(root):
        return remote_path[len(root) :]
    return posixpath.basename(remote_path.rstrip("/"))


def _listed_infos(fs: ResumableOSSFileSystem) -> dict[str, dict[str, Any]]:
    """Every entry the listings just cached, by name: one pass, however many files."""
    return {
        entry["name"]: entry
        for entries in list(fs.dircache.values())
        for entry in entries
        if isinstance(entry, dict) and "name" in entry
    }


def _info(
    fs: ResumableOSSFileSystem, infos: dict[str, dict[str, Any]], path: str
) -> dict[str, Any] | None:
    found = infos.get(path.rstrip("/"))
    if found is not None:
        return found
    try:
        return dict(fs.info(path))
    except OSError:  # gone since the listing: get says so
        return None


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
    echo(
        f"{PROG}: oss://{remote} is a directory (a prefix or a bucket); "
        "use -r to download what is under it",
        file=sys.stderr,
    )
    return 1
