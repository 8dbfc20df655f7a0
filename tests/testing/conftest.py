"""Shared helpers for the emulator's tests: real clients bound to the session server."""

from __future__ import annotations

from typing import Any

import oss2
import pytest
from s3_support import s3_client

from oss_resumable_fs.testing import OSSServer


@pytest.fixture
def bucket(oss_server: OSSServer, oss_bucket: str) -> oss2.Bucket:
    """An ``oss2.Bucket`` (V1 signatures) on a fresh bucket."""
    auth = oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret)
    return oss2.Bucket(auth, oss_server.endpoint, oss_bucket)


@pytest.fixture
def bucket_v4(oss_server: OSSServer, oss_bucket: str) -> oss2.Bucket:
    """An ``oss2.Bucket`` with V4 signatures on a fresh bucket."""
    auth = oss2.AuthV4(oss_server.access_key_id, oss_server.access_key_secret)
    return oss2.Bucket(auth, oss_server.endpoint, oss_bucket, region=oss_server.region)


@pytest.fixture
def s3(oss_server: OSSServer) -> Any:
    """A boto3 S3 client (path style, SigV4) on the session server."""
    return s3_client(oss_server)
