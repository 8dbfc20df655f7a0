"""The source refuses any answer that is not exactly the bytes asked for (a wrong
``Content-Range`` included), before a byte of it is written."""

from __future__ import annotations

import pytest

from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import ObjectChangedError, TransientError
from oss_resumable_fs.sources.client import GetResponse
from oss_resumable_fs.sources.oss import _check_response

IDENTITY = ObjectIdentity(size=1000, etag='"abc"')  # as normalize_etag keeps it


def answer(status: int, **headers: str) -> GetResponse:
    return GetResponse(status, {"ETag": '"abc"', **headers}, reader=None)  # type: ignore[arg-type]


def test_the_range_asked_for_passes() -> None:
    response = answer(206, **{"Content-Range": "bytes 100-199/1000", "Content-Length": "100"})
    _check_response(response, 100, 200, IDENTITY, "oss://b/k")


@pytest.mark.parametrize(
    "content_range",
    ["bytes 0-99/1000", "bytes 100-198/1000", "bytes 101-200/1000", "", "bytes */1000"],
)
def test_another_range_is_refused_and_retried(content_range: str) -> None:
    response = answer(206, **{"Content-Range": content_range, "Content-Length": "100"})
    with pytest.raises(TransientError):
        _check_response(response, 100, 200, IDENTITY, "oss://b/k")


def test_another_total_size_or_etag_is_a_changed_object() -> None:
    bigger = answer(206, **{"Content-Range": "bytes 100-199/2000", "Content-Length": "100"})
    with pytest.raises(ObjectChangedError):
        _check_response(bigger, 100, 200, IDENTITY, "oss://b/k")
    other = GetResponse(206, {"ETag": '"zzz"', "Content-Range": "bytes 100-199/1000"}, None)  # type: ignore[arg-type]
    with pytest.raises(ObjectChangedError):
        _check_response(other, 100, 200, IDENTITY, "oss://b/k")
