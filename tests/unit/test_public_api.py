"""The public surface: what users import must not drift silently."""

import oss_resumable_fs

EXPECTED = {
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
}


def test_all_lists_exactly_the_public_names():
    assert set(oss_resumable_fs.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(oss_resumable_fs, name), name


def test_errors_fit_builtin_hierarchy():
    assert issubclass(oss_resumable_fs.ObjectNotFoundError, FileNotFoundError)
    assert issubclass(oss_resumable_fs.AccessDeniedError, PermissionError)
    assert issubclass(oss_resumable_fs.OSSResumableError, OSError)
    assert issubclass(oss_resumable_fs.InvalidArgumentError, ValueError)
    assert issubclass(oss_resumable_fs.UnknownOptionError, TypeError)
    for name in EXPECTED - {
        "ResumableOSSFileSystem",
        "TransferConfig",
        "__version__",
        "download_url",
        "use_for_oss_urls",
    }:
        assert issubclass(getattr(oss_resumable_fs, name), oss_resumable_fs.OSSResumableError)


def test_url_expired_is_an_access_denied():
    assert issubclass(oss_resumable_fs.URLExpiredError, oss_resumable_fs.AccessDeniedError)
    assert issubclass(oss_resumable_fs.URLExpiredError, PermissionError)


def test_download_url_is_imported_on_first_use():
    from oss_resumable_fs.url_downloads import download_url

    assert oss_resumable_fs.download_url is download_url
