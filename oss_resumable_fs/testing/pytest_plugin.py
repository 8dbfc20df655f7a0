"""pytest fixtures for the local OSS server (registered through the ``pytest11`` entry point).

=====================  =========  =================================================
Fixture                Scope      Value
=====================  =========  =================================================
``oss_server``         session    a running :class:`OSSServer` (thread mode)
``oss_endpoint``       session    its endpoint URL, ``http://127.0.0.1:<port>``
``oss_credentials``    session    ``{"endpoint", "key", "secret"}``
``oss_storage_options`` session   fsspec / ossfs kwargs: ``{"endpoint", "key", "secret"}``
``oss_bucket``         function   name of a fresh, empty, private bucket; before the
                                  test the server's faults are cleared and its
                                  statistics reset (faults cleared after, too)
=====================  =========  =================================================

Example::

    def test_read(oss_server, oss_bucket, oss_storage_options):
        oss_server.put_object(oss_bucket, "a.bin", b"x" * 1000)
        fs = ossfs.OSSFileSystem(**oss_storage_options)
        assert fs.cat(f"{oss_bucket}/a.bin") == b"x" * 1000
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from oss_resumable_fs.testing.server import OSSServer


@pytest.fixture(scope="session")
def oss_server() -> Iterator[OSSServer]:
    """A local OSS server shared by the whole session (thread mode, temporary root)."""
    with OSSServer() as server:
        yield server


@pytest.fixture(scope="session")
def oss_endpoint(oss_server: OSSServer) -> str:
    return oss_server.endpoint


@pytest.fixture(scope="session")
def oss_credentials(oss_server: OSSServer) -> dict[str, str]:
    return {
        "endpoint": oss_server.endpoint,
        "key": oss_server.access_key_id,
        "secret": oss_server.access_key_secret,
    }


@pytest.fixture(scope="session")
def oss_storage_options(oss_server: OSSServer) -> dict[str, str]:
    """Keyword arguments for ``ossfs.OSSFileSystem`` / ``fsspec.filesystem("oss", ...)``."""
    return {
        "endpoint": oss_server.endpoint,
        "key": oss_server.access_key_id,
        "secret": oss_server.access_key_secret,
    }


@pytest.fixture
def oss_bucket(oss_server: OSSServer) -> Iterator[str]:
    """A new bucket for this test; faults cleared and statistics reset beforehand.

    Afterwards the faults are cleared again and the restore delay set back to 0,
    so a test's rules never leak into the next one.
    """
    name = f"ossr-test-{secrets.token_hex(6)}"
    oss_server.create_bucket(name)
    oss_server.clear_faults()
    oss_server.reset_stats()
    yield name
    oss_server.clear_faults()
    oss_server.set_restore_delay(0)
