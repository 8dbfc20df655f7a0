"""OSS URLs and endpoints as people type them, for the command line and the magics.

:func:`remote_path` turns ``oss://bucket/key`` into the filesystem's
``bucket/key``; :func:`check_endpoint` refuses what is no URL or host name
before any request; :func:`require_endpoint` also says how to set one when
there is none at all.
"""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlsplit

from oss_resumable_fs.errors import InvalidArgumentError

__all__ = ["SCHEMES", "check_endpoint", "remote_path", "require_endpoint"]

#: The URL schemes the library answers to.
SCHEMES = ("oss", "ossr")
#: A host name: dot-separated labels of letters, digits, inner hyphens (and underscores,
#: which some private networks' names have).
_HOST_NAME = re.compile(r"(?!-)[\w-]{1,63}(?<!-)(\.(?!-)[\w-]{1,63}(?<!-))*\.?", re.ASCII)
_EXAMPLE = "e.g. https://oss-cn-hangzhou.aliyuncs.com"


def remote_path(url: str, *, buckets: bool = False) -> str:
    """``oss://bucket/key``, ``ossr://bucket/key`` or ``bucket/key`` -> ``bucket/key``.

    A trailing ``/`` is kept. Another scheme (``s3://``) is refused, and so is
    a URL naming no bucket, unless ``buckets`` (then ``oss://``, every bucket,
    gives ``""``).
    """
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    scheme, found, _ = url.partition("://")
    if found and scheme not in SCHEMES:
        raise InvalidArgumentError(f"{url}: not an oss:// URL")
    path = str(ResumableOSSFileSystem._strip_protocol(url))
    if not path.strip("/"):
        if buckets:
            return ""
        raise InvalidArgumentError(f"{url}: name a bucket (oss://bucket/key)")
    return path


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` stripped, if it is an http(s) URL or a host name (with a port or not).

    Refused before any request: a request to ``$endpoint`` (a variable that was
    not replaced) would only fail later, as a connection error.
    """
    from oss_resumable_fs.sources.auth import check_endpoint as check_scheme

    endpoint = check_scheme(endpoint)
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    try:
        host, _port = parts.hostname, parts.port
    except ValueError:  # a port that is no number
        host = None
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        host = None
    elif not _HOST_NAME.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            host = None
    if host is None:
        raise InvalidArgumentError(f"endpoint {endpoint!r} is not a URL or host name ({_EXAMPLE})")
    return endpoint


def require_endpoint(endpoint: str | None, how: str) -> str:
    """``endpoint``, else ``$OSS_ENDPOINT``, checked; ``how`` says how to give one when neither is.

    Checked here: ossfs would only log a warning and fail at the first request.
    """
    chosen = endpoint or os.environ.get("OSS_ENDPOINT")
    if not chosen:
        raise InvalidArgumentError(f"no OSS endpoint: {how}, or set OSS_ENDPOINT")
    return check_endpoint(chosen)
