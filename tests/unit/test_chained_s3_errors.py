"""The s3fs adapter's one translation of S3's errors onto the library's tree."""

from __future__ import annotations

import pytest

from oss_resumable_fs.chained.s3 import translate
from oss_resumable_fs.errors import (
    AccessDeniedError,
    ObjectChangedError,
    ObjectNotFoundError,
    RangeNotSatisfiableError,
    TransientError,
)

botocore = pytest.importorskip("botocore")


@pytest.mark.parametrize(
    ("status", "code", "expected", "throttled"),
    [
        (412, "PreconditionFailed", ObjectChangedError, False),
        (404, "NoSuchKey", ObjectNotFoundError, False),
        (404, "404", ObjectNotFoundError, False),
        (403, "AccessDenied", AccessDeniedError, False),
        (503, "SlowDown", TransientError, True),
        (500, "InternalError", TransientError, False),
        (416, "InvalidRange", RangeNotSatisfiableError, False),
    ],
)
def test_s3_errors_map_onto_the_library_tree(
    status: int, code: str, expected: type[Exception], throttled: bool
) -> None:
    from botocore.exceptions import ClientError

    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "R1", "HTTPHeaders": {}},
    }
    error = translate(ClientError(response, "GetObject"), "s3://b/k")  # type: ignore[arg-type]
    assert type(error) is expected
    assert error.target == "s3://b/k" and error.request_id == "R1"
    assert getattr(error, "throttled", False) is throttled


def test_connection_failures_are_transient() -> None:
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    for cause in (
        EndpointConnectionError(endpoint_url="http://x"),
        ReadTimeoutError(endpoint_url="http://x"),
        ConnectionResetError(),
    ):
        assert isinstance(translate(cause, "s3://b/k"), TransientError)
