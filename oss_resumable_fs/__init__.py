"""oss-resumable-fs: fast, checkpointed, resumable downloads from Alibaba Cloud OSS."""

from typing import TYPE_CHECKING, Any

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.errors import (
    AccessDeniedError,
    DownloadCancelledError,
    DownloadInProgressError,
    InsufficientSpaceError,
    IntegrityError,
    InvalidArgumentError,
    NotAnObjectError,
    ObjectChangedError,
    ObjectNotFoundError,
    ObjectNotRestoredError,
    OSSResumableError,
    RangeNotSatisfiableError,
    TransientError,
    UnknownOptionError,
    URLExpiredError,
)

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem
    from oss_resumable_fs.url_downloads import download_url

__version__ = "0.1.0.dev0"


def __getattr__(name: str) -> Any:
    # Imported on first use, so that the engine (``import oss_resumable_fs.engine``)
    # stays free of oss2/ossfs/fsspec and fast to import.
    if name == "ResumableOSSFileSystem":
        from oss_resumable_fs.fs import ResumableOSSFileSystem

        return ResumableOSSFileSystem
    if name == "download_url":
        from oss_resumable_fs.url_downloads import download_url

        return download_url
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def use_for_oss_urls() -> None:
    """Make plain ``oss://`` URLs (pandas, dask, fsspec.open) use ResumableOSSFileSystem.

    ``ossr://`` always does; this one-liner switches ``oss://`` too, for the
    current process (dask workers need it in their own start-up, or use ``ossr://``).
    """
    import fsspec

    from oss_resumable_fs.fs import ResumableOSSFileSystem

    fsspec.register_implementation("oss", ResumableOSSFileSystem, clobber=True)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext oss_resumable_fs``: the ``%oss_get`` / ``%oss_ls`` / ... magics.

    IPython is imported only here, when the extension is loaded.
    """
    from oss_resumable_fs.magics import load_ipython_extension as load

    load(ipython)


__all__ = [
    "AccessDeniedError",
    "DownloadCancelledError",
    "DownloadInProgressError",
    "InsufficientSpaceError",
    "IntegrityError",
    "InvalidArgumentError",
    "NotAnObjectError",
    "OSSResumableError",
    "ObjectChangedError",
    "ObjectNotFoundError",
    "ObjectNotRestoredError",
    "RangeNotSatisfiableError",
    "ResumableOSSFileSystem",
    "TransferConfig",
    "TransientError",
    "URLExpiredError",
    "UnknownOptionError",
    "__version__",
    "download_url",
    "use_for_oss_urls",
]
