"""The transfer engine: parallel, checkpointed, verified ranged downloads.

It knows nothing of OSS or fsspec. It reads from a :class:`RangeSource` and
writes a local file; ``tests/engine`` drives it with a scripted fake source.
"""

from oss_resumable_fs.engine.source import ObjectIdentity, RangeReader, RangeSource
from oss_resumable_fs.engine.transfer import (
    Downloader,
    DownloadResult,
    ProgressListener,
    UnfinishedDownload,
    download,
    journal_path_for,
    list_unfinished,
)

__all__ = [
    "DownloadResult",
    "Downloader",
    "ObjectIdentity",
    "ProgressListener",
    "RangeReader",
    "RangeSource",
    "UnfinishedDownload",
    "download",
    "journal_path_for",
    "list_unfinished",
]
