"""What a ``get`` of a URL downloads, and where each object lands: one plan for the
``oss-resumable get`` command and the ``%oss_get`` magic.

A URL names a tree when it ends in ``/``, holds a wildcard (``* ? [``), or
names a prefix or bucket and ``-r`` is given. A tree lands as ``rclone copy``
puts it, not as ``cp -r`` does: DEST receives what is under the prefix,
whether or not DEST exists yet and whether or not the URL ends in ``/``, so a
second run finds every file where the first one put it, and skips it.
``--include`` / ``--exclude`` (:mod:`oss_resumable_fs.filters`) select keys
by their path below the prefix.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from glob import has_magic
from typing import TYPE_CHECKING, Any

from oss_resumable_fs.errors import ObjectNotFoundError, OSSResumableError, TransientError
from oss_resumable_fs.filters import KeyFilter
from oss_resumable_fs.paths import expand_get_pairs, is_directory_entry

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

__all__ = [
    "Plan",
    "directory_message",
    "file_infos",
    "filter_root",
    "is_a_directory",
    "is_tree",
    "key_filter",
    "looks_like_a_tree",
    "one_destination",
    "plan_tree",
    "relative_key",
]

#: (remote path, local path, the listing's info or None) for each entry to get.
Plan = list[tuple[str, str, "dict[str, Any] | None"]]


def looks_like_a_tree(remote: str, recursive: bool) -> bool:
    """Whether ``remote`` (a URL or path) names a tree before anything is asked of OSS."""
    return recursive or remote.endswith("/") or has_magic(remote)


def key_filter(include: Sequence[str], exclude: Sequence[str], *, tree: bool) -> KeyFilter:
    """The filter of ``--include`` / ``--exclude``; ``ValueError`` for a bad glob, or for
    filters on what names no tree (they select keys below a prefix)."""
    rules = KeyFilter(include, exclude)
    if rules and not tree:
        raise ValueError("--include / --exclude select keys below a prefix: add -r")
    return rules


def is_tree(fs: ResumableOSSFileSystem, remote: str, *, recursive: bool) -> bool:
    """Whether to get ``remote`` (``bucket/key``) as a tree, or as one object.

    A directory (a prefix or a bucket) without ``recursive`` is refused with
    ``IsADirectoryError``, as ``cp`` refuses one without ``-r``, before
    anything is made on disk. With ``recursive``, an object is still one
    object: ``cp -r`` of a file copies the file.
    """
    if has_magic(remote) or remote.endswith("/"):
        return True
    if is_a_directory(fs, remote):
        if recursive:
            return True
        raise IsADirectoryError(directory_message(remote))
    return False


def is_a_directory(fs: ResumableOSSFileSystem, remote: str) -> bool:
    """A bucket, or a key that is no object but has keys under ``key/``.

    One HEAD, and a one-key listing only when it says 404. A missing key, or a
    failure that persists through the retries, is left to the download, which
    says it better; a missing bucket is said at once.
    """
    try:
        return bool(fs.info(remote, refresh=True)["type"] == "directory")
    except FileNotFoundError:
        if "/" not in remote.strip("/"):
            raise  # no such bucket
        return False
    except TransientError:
        return False


def directory_message(remote: str) -> str:
    return (
        f"oss://{remote} is a directory (a prefix or a bucket); use -r to download what is under it"
    )


def one_destination(remote: str, dest: str) -> str:
    """Where one object lands: ``dest``, or ``dest/<its name>`` for a directory (or a path
    ending in a separator)."""
    if os.path.isdir(dest) or dest.endswith(("/", os.sep)):
        return os.path.join(dest, posixpath.basename(remote))
    return dest


def plan_tree(
    fs: ResumableOSSFileSystem,
    remote: str,
    dest: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    recursive: bool = True,
) -> Plan:
    """Every entry under the prefix ``remote`` (or matching the glob), and where it lands
    in ``dest``: (remote, local, info) each, as the module says.

    A glob matches keys; only with ``recursive`` does it take what is below a
    matching prefix too. With filters, only the files they want are kept (their
    directories are made as each one lands). One listing, whatever the count.
    """
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise NotADirectoryError(f"{dest} is not a directory: get -r needs one for DEST")
    rules = KeyFilter(include, exclude)
    root = filter_root(remote)
    glob = has_magic(remote)
    try:
        # The prefix always as "prefix/": its contents into dest, never dest/prefix.
        pairs = expand_get_pairs(fs, remote if glob else root, dest, recursive or not glob, None)
    except FileNotFoundError as error:
        if not glob or isinstance(error, OSSResumableError):
            raise
        # fsspec's own, whose message is only the list of paths it expanded.
        raise ObjectNotFoundError(f"oss://{remote}: no key matches") from None
    infos = _listed_infos(fs)
    plan = [(r, local, _info(fs, infos, r)) for r, local in pairs]
    if rules:
        plan = [
            (r, local, info)
            for r, local, info in plan
            if not is_directory_entry(r, info) and rules.wants(relative_key(r, root))
        ]
    return plan


def file_infos(plan: Plan) -> list[dict[str, Any] | None]:
    """The listing's info of each file (not directory) in ``plan``."""
    return [info for r, _, info in plan if not is_directory_entry(r, info)]


def filter_root(remote: str) -> str:
    """The prefix that ``--include`` / ``--exclude`` globs are relative to, ending in ``/``.

    ``bucket/data`` and ``bucket/data/`` give ``bucket/data/``; a glob URL
    (``bucket/data/*.csv``) the directory before its first wildcard.
    """
    if not has_magic(remote):
        return remote.rstrip("/") + "/"
    head = re.split(r"[*?\[]", remote, maxsplit=1)[0]
    return head[: head.rfind("/") + 1]


def relative_key(path: str, root: str) -> str:
    """``path`` (``bucket/key``) relative to ``root`` (its name alone if it is not below it)."""
    if path.startswith(root):
        return path[len(root) :]
    return posixpath.basename(path.rstrip("/"))


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
