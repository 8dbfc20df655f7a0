"""Every contender of the single-object scenarios by name: how to build it, what it is.

Names: ``ours``; each peer at its defaults (``oss2``, ``ossfs``, ``v2``, ``s3fs``,
``obstore``, ``boto3``, ``crt``) and ``PEER matched`` (the settings ours used, see
:class:`harness.Matched`); ``ours matched`` (ours fixed at those same settings, the
tuner left out); the bounds ``curl``, ``curl+fsync``, ``copy``, ``copy+fsync``.
"""

from __future__ import annotations

from pathlib import Path

import peers_oss
import peers_s3
from harness import Matched, Runner, Target

PEERS = ("oss2", "ossfs", "v2", "s3fs", "obstore", "boto3", "crt")
BOUNDS = ("curl", "curl+fsync", "copy", "copy+fsync")
MATCHED_SUFFIX = " matched"

#: What each contender is, at its defaults (shown in the tables).
DEFAULTS: dict[str, str] = {
    "ours": "`get_file`, adaptive (16 up to 128 connections), 2-8 MiB requests, fsync",
    "oss2": "`resumable_download`: 1 GET below 100 MiB, else 10 MiB x 4 threads",
    "ossfs": "`get_file` (HEADs, then `oss2.resumable_download`)",
    "v2": "v2 `Downloader`: 6 MiB x 3",
    "s3fs": "`get_file`: 50 MiB chunks, batches of 10",
    "obstore": "`get` streamed to the file: 1 GET",
    "boto3": "`download_file`, s3transfer classic: 8 MiB x 10 threads",
    "crt": "`CRTTransferManager`: 8 MiB parts, 10 Gbit/s target (25 connections)",
    "curl": "1 connection, no fsync",
    "curl+fsync": "1 connection, then fsync",
    "copy": "local copy from the page cache, no network, no fsync",
    "copy+fsync": "local copy, then fsync: the disk's bound",
}


def is_matched(name: str) -> bool:
    return name.endswith(MATCHED_SUFFIX)


def base_name(name: str) -> str:
    return name.removesuffix(MATCHED_SUFFIX)


def kind(name: str) -> str:
    """``ours``, ``default``, ``matched`` or ``bound``."""
    if name == "ours":
        return "ours"
    if is_matched(name):
        return "matched"
    return "bound" if name in BOUNDS else "default"


def settings(name: str, matched: Matched | None) -> str:
    if is_matched(name):
        return matched.describe() if matched else "matched"
    return DEFAULTS.get(name, "")


def all_names(*, matched: bool = True, bounds: tuple[str, ...] = BOUNDS) -> list[str]:
    names = ["ours", *PEERS]
    if matched:
        names += [p + MATCHED_SUFFIX for p in ("ours", *PEERS)]
    return names + list(bounds)


def is_peer(name: str) -> bool:
    """A contender that is not ours (``ours matched`` is ours, at fixed settings)."""
    return base_name(name) != "ours"


def build(name: str, target: Target, scratch: Path, matched: Matched | None = None) -> Runner:
    """The runner for ``name``; a ``matched`` name needs ``matched``."""
    base = base_name(name)
    settings_given = matched if is_matched(name) else None
    if is_matched(name) and matched is None:
        raise ValueError(f"{name} needs the settings ours used")
    if base in peers_s3.PEERS:
        return peers_s3.build(base, target, settings_given)
    return peers_oss.build(base, target, scratch, settings_given)


def build_all(
    names: list[str], target: Target, scratch: Path, matched: Matched | None = None
) -> dict[str, Runner]:
    """Every runner; one that cannot be built fails each of its runs with the reason."""
    runners = {}
    for name in names:
        try:
            runners[name] = build(name, target, scratch, matched)
        except Exception as err:  # a missing library is a result, not a crash
            runners[name] = failing(f"could not set up {name}: {type(err).__name__}: {err}")
    return runners


def failing(reason: str) -> Runner:
    def run(dest: str) -> None:
        raise RuntimeError(reason)

    return run
