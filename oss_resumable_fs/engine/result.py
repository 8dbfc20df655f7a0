"""What a download returns, and where its checkpoint lives."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from html import escape

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.journal import JOURNAL_SUFFIX
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.engine.tuner import TuningStep
from oss_resumable_fs.engine.verify import Verified


@dataclass(frozen=True, repr=False)
class DownloadResult:
    """What one download did: how many bytes came from where, and how long it took."""

    #: The local file the object landed at (the destination given).
    path: str
    #: The object version downloaded: size, ETag, Last-Modified, CRC-64, version id.
    identity: ObjectIdentity
    #: Body bytes received from the network in this call (repairs and restarts included).
    bytes_fetched: int
    #: Bytes kept from a previous run's parts after re-verifying them on disk.
    bytes_reused: int
    #: Checkpoint parts the object was split into (1 for an object fetched with one GET).
    parts_total: int
    #: Parts fetched in this call; the others were reused or skipped.
    parts_fetched: int
    #: Fresh starts because the object changed: a stale checkpoint, or a change mid-download.
    restarts: int
    #: Seconds the call took.
    elapsed: float
    #: True when the destination already held the object (``skip_identical``): no transfer.
    skipped: bool = False
    #: Requests retried after a transient failure (HEAD and parts).
    retries: int = 0
    #: The most connections used at once (shared with the other files of a ``get``).
    connections: int = 0
    #: How the number of connections was chosen: each change, when and why.
    tuning: tuple[TuningStep, ...] = ()
    #: What vouched for the bytes: :attr:`Verified.CRC64 <.verify.Verified.CRC64>`,
    #: ``MD5`` (an HTTP server's ETag), or ``SIZE`` (no checksum: the size, and every
    #: request pinned to one version). For a skip, what the local copy was compared by.
    verified: Verified | None = None
    #: Why the object was read with one request and no checkpoint (its server ignores
    #: ``Range``); ``None`` for a ranged download.
    single_stream: str | None = None

    @property
    def status(self) -> str:
        """``"skipped"``, ``"resumed"`` or ``"downloaded"``."""
        if self.skipped:
            return "skipped"
        return "resumed" if self.bytes_reused else "downloaded"

    @property
    def throughput(self) -> float:
        """Bytes per second received from the network."""
        return self.bytes_fetched / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        """One line for a person: what happened, how much, how fast."""
        size = human_size(self.identity.size)
        if self.skipped:
            by = "MD5" if self.verified is Verified.MD5 else "CRC-64"
            return f"{self.path}: {size}, already there (same size and {by}): skipped"
        text = f"{self.path}: {size} {self.status} in {self.elapsed:.1f} s"
        text += f", {human_size(self.bytes_fetched)} fetched at {human_size(self.throughput)}/s"
        if self.bytes_reused:
            text += f", {human_size(self.bytes_reused)} reused"
        if self.retries:
            text += f", {self.retries} {'retry' if self.retries == 1 else 'retries'}"
        if self.connections > 1 and self.parts_total > 1:  # one request: one connection
            text += f", up to {self.connections} connections"
        if self.single_stream:
            text += f", one stream ({self.single_stream})"
        if self.verified is not None:
            text += f", {self.verified.describe()}"
        return text

    def __repr__(self) -> str:
        return (
            f"DownloadResult({self.status}, path={self.path!r}, "
            f"size={self.identity.size}, fetched={self.bytes_fetched}, "
            f"reused={self.bytes_reused}, retries={self.retries}, "
            f"connections={self.connections}, elapsed={self.elapsed:.2f}s"
            + (f", verified={self.verified.value}" if self.verified is not None else "")
            + ")"
        )

    def _repr_html_(self) -> str:
        rows = {
            "status": self.status,
            "path": self.path,
            "size": human_size(self.identity.size),
            "fetched": human_size(self.bytes_fetched),
            "reused": human_size(self.bytes_reused),
            "retries": str(self.retries),
            "connections": str(self.connections),
            "verified": self.verified.describe() if self.verified is not None else "",
            "time": f"{self.elapsed:.2f} s",
            "throughput": f"{human_size(self.throughput)}/s",
        }
        return html_table("DownloadResult", [rows])


def html_table(title: str, rows: list[dict[str, str]]) -> str:
    """A small HTML table (for notebooks), every cell escaped."""
    if not rows:
        return f"<b>{escape(title)}</b>: nothing"
    head = "".join(f"<th>{escape(name)}</th>" for name in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(value))}</td>" for value in row.values()) + "</tr>"
        for row in rows
    )
    return f"<b>{escape(title)}</b><table><tr>{head}</tr>{body}</table>"


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
