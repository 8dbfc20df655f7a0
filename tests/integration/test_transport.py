"""Object GETs go out through urllib3 (``sources/transport.py``), set up as requests
would be from the environment: an HTTP proxy is used, and ``NO_PROXY`` bypasses it."""

from __future__ import annotations

import base64
import http.client
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
import urllib3

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.sources.transport import USER_AGENT, Transport, proxy_for, range_header
from oss_resumable_fs.testing import OSSServer

MiB = 1024 * 1024


class ForwardingProxy(http.server.ThreadingHTTPServer):
    """A plain-HTTP forward proxy on 127.0.0.1 that records the requests it relays."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.seen: list[tuple[str, str]] = []
        #: The ``Proxy-Authorization`` header of each relayed request (``None``: none).
        self.authorizations: list[str | None] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ForwardingProxy

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _relay(self) -> None:
        target = urlsplit(self.path)  # a proxy gets the absolute URL
        with self.server.lock:
            self.server.seen.append((self.command, target.path))
            self.server.authorizations.append(self.headers.get("Proxy-Authorization"))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        hop_by_hop = ("proxy-connection", "proxy-authorization")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, headers=headers)
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        upstream.close()

    do_GET = _relay
    do_HEAD = _relay


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    server = ForwardingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def _fs(server: OSSServer) -> ResumableOSSFileSystem:
    return ResumableOSSFileSystem(
        endpoint=server.endpoint,
        key=server.access_key_id,
        secret=server.access_key_secret,
        skip_instance_cache=True,
        part_size=MiB,
        concurrency=2,
    )


def test_gets_go_through_the_environments_proxy(
    oss_server: OSSServer,
    oss_bucket: str,
    proxy: ForwardingProxy,
    no_proxy_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB on two connections: 2 GETs or more
    oss_server.put_object(oss_bucket, "via-proxy.bin", data)
    oss_server.reset_stats()
    no_proxy_env.setenv("HTTP_PROXY", proxy.url)
    _fs(oss_server).get_file(f"{oss_bucket}/via-proxy.bin", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == data
    gets = [path for method, path in proxy.seen if method == "GET"]
    assert len(gets) >= 2
    assert len(gets) == oss_server.stats().requests["GetObject"]  # every one of them
    assert all(path.endswith("/via-proxy.bin") for path in gets)


def test_credentials_in_the_proxy_url_are_sent_as_proxy_authorization(
    oss_server: OSSServer,
    oss_bucket: str,
    proxy: ForwardingProxy,
    no_proxy_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    oss_server.put_object(oss_bucket, "authed.bin", b"y" * (2 * MiB))
    no_proxy_env.setenv("HTTP_PROXY", proxy.url.replace("://", "://alice:p%40ss@"))
    _fs(oss_server).get_file(f"{oss_bucket}/authed.bin", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == b"y" * (2 * MiB)
    expected = "Basic " + base64.b64encode(b"alice:p@ss").decode()
    gets = [
        auth
        for (method, _), auth in zip(proxy.seen, proxy.authorizations, strict=True)
        if method == "GET"
    ]
    assert gets and all(auth == expected for auth in gets)


def test_no_proxy_bypasses_it(
    oss_server: OSSServer,
    oss_bucket: str,
    proxy: ForwardingProxy,
    no_proxy_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    oss_server.put_object(oss_bucket, "direct.bin", b"x" * (2 * MiB))
    no_proxy_env.setenv("HTTP_PROXY", proxy.url)
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    _fs(oss_server).get_file(f"{oss_bucket}/direct.bin", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").stat().st_size == 2 * MiB
    assert proxy.seen == []


def test_proxy_choice(no_proxy_env: pytest.MonkeyPatch) -> None:
    assert proxy_for("http", "bucket.oss-cn-hangzhou.aliyuncs.com") is None
    no_proxy_env.setenv("HTTPS_PROXY", "proxy.corp:3128")
    no_proxy_env.setenv("NO_PROXY", ".internal.example")
    assert proxy_for("https", "bucket.oss-cn-hangzhou.aliyuncs.com") == "http://proxy.corp:3128"
    assert proxy_for("http", "bucket.oss-cn-hangzhou.aliyuncs.com") is None
    assert proxy_for("https", "oss.internal.example") is None
    no_proxy_env.setenv("ALL_PROXY", "http://fallback:8080")
    assert proxy_for("http", "bucket.oss-cn-hangzhou.aliyuncs.com") == "http://fallback:8080"


def test_range_header_and_user_agent() -> None:
    assert range_header((0, 1023)) == "bytes=0-1023"
    assert range_header((None, 500)) == "bytes=-500"
    assert range_header((100, None)) == "bytes=100-"
    assert USER_AGENT.startswith("aliyun-sdk-python/") and USER_AGENT.endswith("/oss-resumable-fs")


class _Hello(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate only a test CA vouches for."""
    authority = trustme.CA()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    bundle = tmp_path / "test-ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/object", bundle
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_against_the_ca_bundle_requests_would_use(
    tls_server: tuple[str, Path], no_proxy_env: pytest.MonkeyPatch
) -> None:
    url, bundle = tls_server
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        no_proxy_env.delenv(name, raising=False)
    with pytest.raises(urllib3.exceptions.SSLError):  # certifi's roots do not know it
        Transport(pool_size=1, connect_timeout=5, read_timeout=5).get(url, {})
    no_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    answer = Transport(pool_size=1, connect_timeout=5, read_timeout=5).get(url, {})
    assert (answer.status, answer.read()) == (200, b"hello")
