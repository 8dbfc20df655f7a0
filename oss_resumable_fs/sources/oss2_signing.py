"""oss2's request signing without oss2's HTTP session: the one module that uses oss2 internals.

An object GET is signed exactly as ``oss2.Bucket`` signs it (``Bucket._do``:
an ``oss2.http.Request`` for ``Bucket._make_url``, then the auth's
``_sign_request``), V1 or V4, static, STS or provider credentials alike, with
the signature in the ``Authorization`` header. A presigned URL would have
been public API, but it puts the signature (and an STS token) in the request
line, where proxies and the bucket's access log record it.

The names used here are private to oss2: ``pyproject.toml`` pins ``oss2<3``
and ``tests/unit/test_oss2_signing.py`` fails when one of them goes away.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

import oss2
import oss2.http

__all__ = ["OSS2_PRIVATE_NAMES", "signed_get"]

#: ``(class, method)`` pairs of oss2 this module relies on (and a bucket's ``_make_url``).
OSS2_PRIVATE_NAMES = (
    (oss2.Auth, "_sign_request"),
    (oss2.AuthV4, "_sign_request"),
    (oss2.AnonymousAuth, "_sign_request"),
    (oss2.ProviderAuth, "_sign_request"),
    (oss2.ProviderAuthV4, "_sign_request"),
    (oss2.StsAuth, "_sign_request"),
)


def signed_get(
    bucket: oss2.Bucket,
    key: str,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """The URL and headers of a GET of ``key``, signed as ``bucket.get_object`` would sign it."""
    request = oss2.http.Request(
        "GET",
        bucket._make_url(bucket.bucket_name, key),
        params=dict(params or {}),
        headers=dict(headers),
        app_name=bucket.app_name,
        proxies=bucket.proxies,
        region=bucket.region,
        product=bucket.product,
        cloudbox_id=bucket.cloudbox_id,
    )
    bucket.auth._sign_request(request, bucket.bucket_name, key)
    url = request.url
    if request.params:
        url += "?" + urlencode(request.params)
    # oss2 marks headers requests should leave out (Accept-Encoding) with None.
    return url, {name: value for name, value in request.headers.items() if value is not None}
