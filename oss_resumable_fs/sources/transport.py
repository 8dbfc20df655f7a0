"""Object GETs on the hot path: oss2 signs them, urllib3 sends them.

A download is hundreds of ranged GETs, most of them started at once. oss2's
``get_object`` goes through requests and costs about 1 ms of CPU per GET
here; on two cores that left the hundredth GET of a download starting 0.2 s
after the first. The same request signed by oss2 (:mod:`.oss2_signing`, 30 µs)
and sent through a urllib3 pool costs about 0.3 ms.

The pool is set up from the environment as requests would be (``HTTP(S)_PROXY``
and ``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, else certifi's
bundle), so a GET reaches OSS the way oss2's HEADs and listings do.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import oss2.exceptions
import oss2.http
import requests.certs
import urllib3

__all__ = ["ErrorAnswer", "Transport", "proxy_for", "range_header"]

#: What oss2's own requests send (its ``app_name`` suffix included).
USER_AGENT = f"{oss2.http.USER_AGENT}/oss-resumable-fs"


class Transport:
    """A pool of HTTP(S) connections for signed object GETs. Thread-safe."""

    def __init__(self, *, pool_size: int, connect_timeout: float, read_timeout: float) -> None:
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._options: dict[str, Any] = {"maxsize": pool_size, "block": False}
        bundle = environment_ca_bundle() or requests.certs.where()
        if os.path.isdir(bundle):
            self._options["ca_cert_dir"] = bundle
        else:
            self._options["ca_certs"] = bundle
        self._direct = urllib3.PoolManager(**self._options)
        self._proxied: dict[str, urllib3.PoolManager] = {}
        #: The proxy (or ``None``) per ``(scheme, host)``, read from the environment once.
        self._proxy_of: dict[tuple[str, str], str | None] = {}

    def get(self, url: str, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        """Send a GET; the body is left on the socket for the caller to read.

        Neither retried nor redirected: a body is resumed by the engine from its
        last byte, and an OSS redirect is an error to report, not to follow.
        Any status comes back; transport failures raise urllib3's errors.
        """
        return self._manager_for(url).urlopen(
            "GET",
            url,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers},
            preload_content=False,
            decode_content=False,
            retries=False,
            redirect=False,
            timeout=self._timeout,
        )

    def _manager_for(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        where = (parts.scheme, parts.hostname or "")
        if where not in self._proxy_of:
            self._proxy_of[where] = proxy_for(*where)
        proxy = self._proxy_of[where]
        if proxy is None:
            return self._direct
        manager = self._proxied.get(proxy)
        if manager is None:
            manager = self._proxied.setdefault(proxy, _proxy_manager(proxy, self._options))
        return manager


def _proxy_manager(proxy: str, options: dict[str, Any]) -> urllib3.PoolManager:
    """A pool through ``proxy``; credentials in its URL (``http://user:pass@host``) are
    sent as ``Proxy-Authorization``, as requests does (urllib3 ignores them)."""
    parts = urlsplit(proxy)
    if parts.scheme.startswith("socks"):
        # As with requests, SOCKS needs PySocks (``pip install requests[socks]``).
        from urllib3.contrib.socks import SOCKSProxyManager

        return SOCKSProxyManager(proxy, **options)
    if parts.username is None:
        return urllib3.ProxyManager(proxy, **options)
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    bare = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    headers = urllib3.make_headers(proxy_basic_auth=credentials)
    return urllib3.ProxyManager(bare, proxy_headers=headers, **options)


def environment_ca_bundle() -> str | None:
    """The CA bundle the environment names for requests (``REQUESTS_CA_BUNDLE``, then
    ``CURL_CA_BUNDLE``), if any."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy requests would use for ``scheme://host``: ``HTTP(S)_PROXY``, else
    ``ALL_PROXY``, unless ``NO_PROXY`` names the host."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def range_header(byte_range: tuple[int | None, int | None]) -> str:
    """``bytes=a-b`` for an inclusive range; ``(None, n)``: the last n bytes."""
    start, last = byte_range
    return f"bytes={'' if start is None else start}-{'' if last is None else last}"


class ErrorAnswer:
    """An error answer as :func:`oss2.exceptions.make_exception` reads one."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self.status = response.status
        self.headers = oss2.CaseInsensitiveDict(response.headers)
        self._response = response

    def read(self, amount: int | None = None) -> bytes:
        return self._response.read(amount)

    def exception(self) -> oss2.exceptions.OssError:
        """The oss2 exception for this answer (its body read, the connection released)."""
        try:
            return oss2.exceptions.make_exception(self)
        finally:
            self._response.drain_conn()
            self._response.release_conn()
