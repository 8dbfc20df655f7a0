"""oss-resumable-fs: fast, checkpointed, resumable downloads from Alibaba Cloud OSS."""

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.errors import (
    AccessDeniedError,
    DownloadCancelledError,
    DownloadInProgressError,
    InsufficientSpaceError,
    IntegrityError,
    ObjectChangedError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
    OSSResumableError,
    TransientError,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AccessDeniedError",
    "DownloadCancelledError",
    "DownloadInProgressError",
    "InsufficientSpaceError",
    "IntegrityError",
    "OSSResumableError",
    "ObjectChangedError",
    "ObjectNotFoundError",
    "ObjectNotRestoredError",
    "TransferConfig",
    "TransientError",
    "__version__",
]
