"""Helpers for the S3-compatible API's tests: clients bound to a server, raw requests."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from oss_resumable_fs.testing import OSSServer, StatsSnapshot

#: The region S3 clients sign with: OSS's region id for the server's region.
S3_REGION = "oss-cn-hangzhou"


def s3_client(
    server: OSSServer, *, secret: str | None = None, endpoint: str | None = None, **config: Any
) -> Any:
    """A boto3 S3 client on ``server``: path style, SigV4, standard retries (``config``
    overrides any)."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "signature_version": "s3v4",
        "s3": {"addressing_style": "path"},
        "retries": {"mode": "standard"},
    }
    options.update(config)
    return boto3.client(
        "s3",
        endpoint_url=endpoint or server.endpoint,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=secret or server.access_key_secret,
        region_name=S3_REGION,
        config=Config(**options),
    )


def raw_get(
    url: str,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client, exactly as given (``Host`` may differ from the URL's)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextmanager
def localhost_subdomains() -> Iterator[None]:
    """Resolve ``*.localhost`` to 127.0.0.1 in this process (virtual-hosted-style clients)."""
    real: Callable[..., Any] = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = resolve  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]


def settled_stats(server: OSSServer, timeout: float = 10.0) -> StatsSnapshot:
    """The server's statistics once no GET is being answered.

    A client can have every byte before the server has finished the request
    that sent them (and counted them).
    """
    deadline = time.monotonic() + timeout
    stats = server.stats()
    while stats.gets_in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
        stats = server.stats()
    return stats
