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
    ``<checkpoint_dir>/<first 32 hex digits of sha256(resolved destination)>.ossr-journal``.
    """
    target = os.path.abspath(os.fspath(destination))
    checkpoint_dir = (config or TransferConfig()).checkpoint_dir
    if not checkpoint_dir:
        return target + JOURNAL_SUFFIX
    # Hashed resolved, so every spelling of one destination finds the same checkpoint.
    digest = hashlib.sha256(os.fsencode(os.path.realpath(target))).hexdigest()[:32]
    return os.path.join(
        os.path.abspath(os.path.expanduser(checkpoint_dir)), digest + JOURNAL_SUFFIX
    )
