"""What a download returns, and where its checkpoint lives."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.journal import JOURNAL_SUFFIX
from oss_resumable_fs.engine.source import ObjectIdentity


@dataclass(frozen=True)
class DownloadResult:
    path: str
    identity: ObjectIdentity
    #: Body bytes received from the network in this call (repairs and restarts included).
    bytes_fetched: int
    #: Bytes kept from a previous run's parts after re-verifying them on disk.
    bytes_reused: int
    parts_total: int
    parts_fetched: int
    #: Fresh starts because the object changed: a stale checkpoint, or a change mid-download.
    restarts: int
    elapsed: float


def journal_path_for(
    destination: str | os.PathLike[str], config: TransferConfig | None = None
) -> str:
    """Where the checkpoint for ``destination`` lives.

    ``<destination>.ossr-journal``, or, when ``config.checkpoint_dir`` is set,
    ``<checkpoint_dir>/<first 32 hex digits of sha256(destination)>.ossr-journal``, the
    destination's directory resolved first (:func:`resolve_directory`).
    """
    target = os.path.abspath(os.fspath(destination))
    checkpoint_dir = (config or TransferConfig()).checkpoint_dir
    if not checkpoint_dir:
        return target + JOURNAL_SUFFIX
    # Hashed with its directory resolved, so every spelling of one destination finds
    # the same checkpoint (as it finds the same partial and lock files beside it).
    digest = hashlib.sha256(os.fsencode(resolve_directory(target))).hexdigest()[:32]
    return os.path.join(
        os.path.abspath(os.path.expanduser(checkpoint_dir)), digest + JOURNAL_SUFFIX
    )


def resolve_directory(path: str) -> str:
    """``path`` with symlinks in its directory resolved; the name itself is kept.

    Partial, lock and journal files sit beside that name: a destination that is
    itself a symlink is replaced by the rename, not followed.
    """
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(directory), name)
