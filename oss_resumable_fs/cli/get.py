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
import sys
import time
from glob import has_magic
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fsspec.callbacks import NoOpCallback

from oss_resumable_fs.cli.common import PROG, TRANSFER_OPTIONS, echo, filesystem, log
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.progress import TransferProgress
from oss_resumable_fs.sources.redact import redact
from oss_resumable_fs.trees import (
    directory_message,
    file_infos,
    filter_root,
    is_tree,
    one_destination,
    plan_tree,
)
from oss_resumable_fs.urls import remote_path

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
    from oss_resumable_fs.url_downloads import is_http_url

    if is_http_url(args.url):
        return _get_url(args)
    fs = filesystem(args)
    remote = remote_path(args.url)
    if is_tree(fs, remote, recursive=args.recursive):
        return _get_tree(fs, remote, args)
    return _get_one(fs, remote, args)


def _get_one(fs: ResumableOSSFileSystem, remote: str, args: argparse.Namespace) -> int:
    dest = one_destination(remote, args.dest)
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
        raise IsADirectoryError(directory_message(remote))
    if not args.quiet:
        # The destination as it was typed (cp and rsync echo paths so), not made absolute.
        echo(dataclasses.replace(result, path=dest).summary())
    return 0


def _get_url(args: argparse.Namespace) -> int:
    """An http(s) URL (a signed one, or any ranged server): no credentials, no listing."""
    from oss_resumable_fs.config import TransferConfig
    from oss_resumable_fs.sources.http_errors import public_name
    from oss_resumable_fs.url_downloads import download_url, url_destination

    options = {name: getattr(args, name, None) for name in TRANSFER_OPTIONS}
    config = TransferConfig().replace(skip_identical=not args.force, **options)
    dest = url_destination(args.url, args.dest)
    name = posixpath.basename(urlsplit(public_name(args.url)).path) or "download"
    progress = NoOpCallback() if args.quiet else CliProgress(name)
    try:
        result = download_url(args.url, dest, config, progress=progress)
    finally:
        progress.close()  # end the bar's line before any message
    if not args.quiet:
        echo(dataclasses.replace(result, path=dest).summary())
    return 0


def _get_tree(fs: ResumableOSSFileSystem, remote: str, args: argparse.Namespace) -> int:
    """Every object under the prefix (or matching the glob) into ``args.dest``, as
    :mod:`oss_resumable_fs.trees` maps them (rclone's ``copy``, not ``cp -r``)."""
    started = time.monotonic()
    plan = plan_tree(fs, remote, args.dest, args.include, args.exclude, recursive=args.recursive)
    files = file_infos(plan)
    log.info(
        "listed oss://%s in %.2f s: %d files, %s",
        remote if has_magic(remote) else filter_root(remote),
        time.monotonic() - started,
        len(files),
        human_size(sum(int((info or {}).get("size") or 0) for info in files)),
    )
    quiet = args.quiet or not files  # (no bar for nothing: the summary says so)
    name = posixpath.basename(filter_root(remote).rstrip("/"))
    progress = NoOpCallback() if quiet else CliProgress(name)
    try:
        result = fs.get(
            [r for r, _, _ in plan],
            [local for _, local, _ in plan],
            callback=progress,
            skip_identical=not args.force,
            on_error="return",  # every file is tried; the failures are listed at the end
        )
    finally:
        progress.close()
    if not args.quiet:
        echo(result.summary())
    for failure in result.failed:
        # As every other error: whatever an error echoes of a request is blanked.
        print(f"{PROG}: failed: {redact(str(failure.error))}", file=sys.stderr)
    return 1 if result.failed else 0
