"""Where ``get`` puts each object: fsspec's expansion rules, and no escape from the target."""

from __future__ import annotations

import os
from glob import has_magic
from typing import Any

from fsspec.implementations.local import LocalFileSystem, make_path_posix, trailing_sep
from fsspec.utils import other_paths

from oss_resumable_fs.errors import AccessDeniedError, InvalidArgumentError

__all__ = ["Within", "ensure_within", "expand_get_pairs", "is_directory_entry", "refuse_collisions"]


def expand_get_pairs(
    fs: Any,
    rpath: str | list[str],
    lpath: str | list[str],
    recursive: bool,
    maxdepth: int | None,
) -> list[tuple[str, str]]:
    """(remote, local) pairs, expanded exactly as ``AbstractFileSystem.get`` does."""
    if isinstance(lpath, list) and isinstance(rpath, list):
        return refuse_collisions(list(zip(rpath, lpath, strict=True)))
    source_is_str = isinstance(rpath, str)
    # A listing that fails must fail the get, not leave a subtree out of it.
    rpaths = fs.expand_path(rpath, recursive=recursive, maxdepth=maxdepth, on_error="raise")
    if source_is_str and (not recursive or maxdepth is not None):
        # A non-recursive glob does not copy directories.
        rpaths = [p for p in rpaths if not (trailing_sep(p) or fs.isdir(p))]
    if not rpaths:
        return []
    if isinstance(lpath, str):
        lpath = make_path_posix(lpath)
    dest_is_dir = isinstance(lpath, str) and (trailing_sep(lpath) or LocalFileSystem().isdir(lpath))
    exists = source_is_str and (
        (has_magic(rpath) and len(rpaths) == 1)
        or (not has_magic(rpath) and dest_is_dir and not trailing_sep(rpath))
    )
    lpaths = other_paths(rpaths, lpath, exists=exists, flatten=not source_is_str)
    if isinstance(lpath, str):
        within = Within(lpath)
        for remote, local in zip(rpaths, lpaths, strict=True):
            try:
                within.check(local)
            except AccessDeniedError as error:
                raise AccessDeniedError(f"key {remote!r}: {error}", target=remote) from None
    return refuse_collisions(list(zip(rpaths, lpaths, strict=True)))


def refuse_collisions(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs without exact repeats; two keys that would land on one local file are refused.

    Both would download, each "succeed", and the file would hold whichever
    finished last: a wrong file that a re-run can never make right. Directory
    entries (a folder marker ``dir/`` beside the prefix ``dir``) are no file.
    """
    seen: dict[str, str] = {}
    asked: set[tuple[str, str]] = set()
    unique: list[tuple[str, str]] = []
    for remote, local in pairs:
        place = os.path.normcase(os.path.normpath(os.path.abspath(local)))
        key = remote.split("://", 1)[-1]
        if (key, place) in asked:
            continue  # the same object to the same place, asked twice
        asked.add((key, place))
        unique.append((remote, local))
        if remote.endswith("/") or local.endswith(("/", os.sep)):
            continue
        if place in seen:
            raise InvalidArgumentError(
                f"keys {seen[place]!r} and {key!r} would both be written to {local!r}",
                target=remote,
            )
        seen[place] = key
    return unique


def is_directory_entry(rpath: str, info: dict[str, Any] | None) -> bool:
    """A listed "directory": a prefix, or a key ending in "/" (a folder marker object)."""
    return trailing_sep(rpath) or (info is not None and info.get("type") == "directory")


def ensure_within(root: str, paths: list[str]) -> None:
    """Refuse destination paths that resolve outside ``root``.

    Local names are built from listed keys; a key holding ``..`` segments (or
    reaching a symlink that leaves the tree) must never write above ``root``.
    """
    within = Within(root)
    for path in paths:
        within.check(path)


class Within:
    """:func:`ensure_within` for many paths: each directory is resolved once.

    ``realpath`` costs one ``lstat`` per path component; for thousands of
    files in a few directories, the directories are resolved once and each
    file costs one ``lstat`` (is it a symlink, which must be followed?).
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._base = os.path.realpath(root)
        self._inside = self._base.rstrip(os.sep) + os.sep
        self._directories: dict[str, str] = {}

    def check(self, path: str) -> None:
        resolved = self._resolve(path)
        if resolved != self._base and not resolved.startswith(self._inside):
            raise AccessDeniedError(
                f"refusing to write {path!r}: it resolves to {resolved!r}, outside {self.root!r}",
                target=path,
            )

    def _resolve(self, path: str) -> str:
        """``os.path.realpath(path)``, its directory's resolution reused."""
        # Not normalised first: "link/../x" must go through where "link" points.
        directory, name = os.path.split(path)
        if name in ("", os.curdir, os.pardir) or os.path.islink(path):
            return os.path.realpath(path)
        resolved = self._directories.get(directory)
        if resolved is None:
            resolved = self._directories[directory] = os.path.realpath(directory)
        return os.path.join(resolved, name)
