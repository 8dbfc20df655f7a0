"""A small static HTTP server with ranges, validators and faults, for tests and demos.

What a plain web server (nginx, a CDN, ``python -m http.server`` with ranges)
does for a download -- ``Range`` (``206`` / ``416``), ``ETag`` and
``Last-Modified``, ``If-Match`` / ``If-Unmodified-Since`` / ``If-Range`` -- on
loopback, with hooks to make it misbehave:

>>> from oss_resumable_fs.testing import StaticHTTPServer
>>> with StaticHTTPServer() as server:                       # doctest: +SKIP
...     server.put("data/big.bin", payload)
...     server.corrupt("data/big.bin", offset=1000)           # next body covering it
...     server.replace_after("data/big.bin", other, gets=3)   # the 3rd GET gets `other`
...     download_url(server.url("data/big.bin"), "big.bin")

``ignore_ranges=True`` answers every GET with the whole body (``200``), as a
server without range support; ``etag`` picks the ETag style (``"md5"``, nginx's
``"opaque"`` ``mtime-size``, ``"weak"``, or ``None`` for none);
``bytes_per_second`` throttles each response. Objects live in memory: keep them small.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

__all__ = ["ServedRequest", "StaticHTTPServer"]

ETagStyle = Literal["md5", "opaque", "weak"] | None
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ServedRequest:
    """One request as the server saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    status: int
    #: Body bytes sent.
    sent: int


@dataclass
class _Object:
    data: bytes
    mtime: int

    def __post_init__(self) -> None:
        self.md5 = hashlib.md5(self.data, usedforsecurity=False).hexdigest()

    def etag(self, style: ETagStyle) -> str | None:
        if style is None:
            return None
        if style == "opaque":
            return f'"{self.mtime:x}-{len(self.data):x}"'
        return f'W/"{self.md5}"' if style == "weak" else f'"{self.md5}"'


@dataclass
class _Fault:
    kind: Literal["corrupt", "replace", "drop", "status"]
    path: str
    #: corrupt: the offset; drop: the bytes sent before closing; replace: the new bytes;
    #: status: the HTTP status answered instead of the object.
    argument: int | bytes
    #: Answers it still applies to (replace: GETs still to answer before it).
    count: int


class StaticHTTPServer:
    """Serves in-memory objects over HTTP/1.1 on loopback, in a thread (see the module)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ignore_ranges: bool = False,
        etag: ETagStyle = "md5",
        last_modified: bool = True,
        bytes_per_second: int | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.ignore_ranges = ignore_ranges
        self.etag_style: ETagStyle = etag
        self.last_modified = last_modified
        self.bytes_per_second = bytes_per_second
        self._objects: dict[str, _Object] = {}
        self._faults: list[_Fault] = []
        self._records: list[ServedRequest] = []
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> StaticHTTPServer:
        if self._server is None:
            handler = type("Handler", (_Handler,), {"owner": self})
            self._server = ThreadingHTTPServer((self.host, self.port), handler)
            self._server.daemon_threads = True
            self.port = self._server.server_address[1]
            threading.Thread(
                target=self._server.serve_forever, name="static-http", daemon=True
            ).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> StaticHTTPServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.endpoint}/{quote(path.lstrip('/'))}"

    # -- objects and faults ------------------------------------------------------------------

    def put(self, path: str, data: bytes) -> None:
        """Store (or replace) an object; a replacement gets a later Last-Modified (and ETag)."""
        path = path.lstrip("/")
        with self._lock:
            old = self._objects.get(path)
            mtime = max(int(time.time()), old.mtime + 1 if old else 0)
            self._objects[path] = _Object(bytes(data), mtime)

    def corrupt(self, path: str, offset: int, times: int = 1) -> None:
        """Flip the bits of the byte at ``offset`` in the next ``times`` bodies that hold it."""
        self._add("corrupt", path, offset, times)

    def replace_after(self, path: str, data: bytes, gets: int) -> None:
        """Replace the object with ``data`` just before the ``gets``-th GET of it from now
        on (1: the next one) is answered."""
        self._add("replace", path, data, gets)

    def drop_after(self, path: str, nbytes: int, times: int = 1) -> None:
        """Close the connection after ``nbytes`` body bytes, in the next ``times`` answers."""
        self._add("drop", path, nbytes, times)

    def answer(self, path: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` GETs of ``path`` with ``status`` and no body (a 503, a
        403 of an expired URL, ...); a 503 or 429 carries ``Retry-After: 0``."""
        self._add("status", path, status, times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add(
        self,
        kind: Literal["corrupt", "replace", "drop", "status"],
        path: str,
        argument: int | bytes,
        count: int,
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(kind, path.lstrip("/"), argument, count))

    # -- what was served ---------------------------------------------------------------------

    @property
    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._records)

    @property
    def in_flight(self) -> int:
        """Requests being answered now (a killed client's may still be winding down)."""
        with self._lock:
            return self._in_flight

    @property
    def bytes_sent(self) -> int:
        return sum(record.sent for record in self.requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._records.clear()

    # -- serving (called by the handler) ---------------------------------------------------

    def _take(self, path: str) -> tuple[_Object | None, int | None, int | None, int | None]:
        """The object as this GET sees it, and the status, corrupt offset and drop point
        of the faults that fire. A GET answered with a status spends no body fault."""
        corrupt = drop = status = None
        with self._lock:
            mine = [fault for fault in self._faults if fault.path == path]
            for fault in mine:
                if fault.kind == "replace":
                    fault.count -= 1
                    if fault.count == 0:
                        old = self._objects[path]
                        self._objects[path] = _Object(bytes(fault.argument), old.mtime + 1)
            refusal = next((f for f in mine if f.kind == "status" and f.count > 0), None)
            if refusal is not None:
                refusal.count -= 1
                status = int(refusal.argument)
            else:
                for fault in mine:
                    if fault.kind == "drop" and drop is None and fault.count > 0:
                        fault.count -= 1
                        drop = int(fault.argument)
                    elif fault.kind == "corrupt" and corrupt is None:
                        corrupt = int(fault.argument)  # spent only if the body holds it
            self._faults = [f for f in self._faults if f.count > 0]
            return self._objects.get(path), status, corrupt, drop

    def _fired_corrupt(self, path: str, offset: int) -> None:
        with self._lock:
            for fault in self._faults:
                if (fault.kind, fault.path, fault.argument) == ("corrupt", path, offset):
                    fault.count -= 1
                    break
            self._faults = [f for f in self._faults if f.count > 0]

    def _record(self, record: ServedRequest) -> None:
        with self._lock:
            self._records.append(record)


class _Handler(BaseHTTPRequestHandler):
    owner: StaticHTTPServer
    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # a client that went away: not news
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read ``requests`` instead

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        with self.owner._lock:
            self.owner._in_flight += 1
        try:
            self._serve_counted(body=body)
        finally:
            with self.owner._lock:
                self.owner._in_flight -= 1

    def _serve_counted(self, *, body: bool) -> None:
        owner = self.owner
        path = unquote(urlsplit(self.path).path).lstrip("/")
        if body:
            obj, status, corrupt, drop = owner._take(path)
        else:
            obj, status, corrupt, drop = owner._objects.get(path), None, None, None
        headers = {k.lower(): v for k, v in self.headers.items()}
        if status is not None:
            retry = {"Retry-After": "0"} if status in (429, 503) else {}
            owner._record(ServedRequest(self.command, path, headers, self._empty(status, retry), 0))
            return
        status, sent = self._answer(obj, headers, body, path, corrupt, drop)
        owner._record(ServedRequest(self.command, path, headers, status, sent))

    def _answer(
        self,
        obj: _Object | None,
        headers: dict[str, str],
        body: bool,
        path: str,
        corrupt: int | None,
        drop: int | None,
    ) -> tuple[int, int]:
        owner = self.owner
        if obj is None:
            return self._empty(404), 0
        size = len(obj.data)
        etag = obj.etag(owner.etag_style)
        common = {"Accept-Ranges": "none" if owner.ignore_ranges else "bytes"}
        if etag:
            common["ETag"] = etag
        if owner.last_modified:
            common["Last-Modified"] = formatdate(obj.mtime, usegmt=True)
        if not _preconditions_hold(headers, etag, obj.mtime):
            return self._empty(412, common), 0
        start, end, status = 0, size, 200
        wanted = headers.get("range")
        if wanted and not owner.ignore_ranges and _if_range_holds(headers, etag, obj.mtime):
            served = _resolve(wanted, size)
            if served is None:
                return self._empty(416, {**common, "Content-Range": f"bytes */{size}"}), 0
            if served != (0, size, 200):
                start, end, status = served
        self.send_response(status)
        for name, value in common.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if not body:
            return status, 0
        data = bytearray(obj.data[start:end])
        damaged = corrupt is not None and start <= corrupt < end
        if damaged:
            data[corrupt - start] ^= 0xFF  # type: ignore[operator]
        sent = self._send(data, drop)
        if damaged and sent > corrupt - start:  # type: ignore[operator]
            owner._fired_corrupt(path, corrupt)  # type: ignore[arg-type]
        return status, sent

    def _send(self, data: bytearray, drop: int | None) -> int:
        rate = self.owner.bytes_per_second
        limit = len(data) if drop is None else min(drop, len(data))
        sent = 0
        began = time.monotonic()
        try:
            while sent < limit:
                chunk = data[sent : min(limit, sent + _CHUNK)]
                self.wfile.write(chunk)
                sent += len(chunk)
                if rate:
                    ahead = sent / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
        except OSError:  # the client went away (a cancel, a kill)
            self.close_connection = True
            return sent
        if drop is not None and limit < len(data):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        return sent

    def _empty(self, status: int, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return status


def _resolve(header: str, size: int) -> tuple[int, int, int] | None:
    """``(start, end, status)`` for one ``Range``; the whole object for what is not one
    range; ``None`` when unsatisfiable (RFC 9110)."""
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None or (not match[1] and not match[2]):
        return 0, size, 200
    if not match[1]:  # the last n bytes
        n = int(match[2])
        return (max(0, size - n), size, 206) if n and size else None
    start = int(match[1])
    end = min(size, int(match[2]) + 1) if match[2] else size
    if match[2] and int(match[2]) < start:
        return 0, size, 200
    return (start, end, 206) if start < size else None


def _tags(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",")]


def _preconditions_hold(headers: dict[str, str], etag: str | None, mtime: int) -> bool:
    """``If-Match`` (strong comparison), else ``If-Unmodified-Since``."""
    if "if-match" in headers:
        tags = _tags(headers["if-match"])
        return "*" in tags or (etag is not None and not etag.startswith("W/") and etag in tags)
    since = _http_date(headers.get("if-unmodified-since"))
    return since is None or mtime <= since


def _if_range_holds(headers: dict[str, str], etag: str | None, mtime: int) -> bool:
    """Whether a ``Range`` applies under ``If-Range`` (absent: yes)."""
    value = headers.get("if-range")
    if value is None:
        return True
    if value.startswith(('"', "W/")):
        return etag is not None and not etag.startswith("W/") and value == etag
    return _http_date(value) == mtime


def _http_date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return None
