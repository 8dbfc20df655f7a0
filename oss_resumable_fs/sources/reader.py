"""The body of one GET, read straight from the socket into the caller's buffer."""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

import urllib3

from oss_resumable_fs.errors import TransientError
from oss_resumable_fs.sources.oss_errors import READ_ERRORS

if TYPE_CHECKING:
    from oss_resumable_fs.sources.client import OSSClient

__all__ = ["OSSRangeReader"]

logger = logging.getLogger(__name__)


class OSSRangeReader:
    """The body of one GET, read straight from the socket into the caller's buffer."""

    def __init__(self, response: urllib3.BaseHTTPResponse, name: str, client: OSSClient) -> None:
        self._name = name
        self._client = client
        self._response = response
        # http.client's response reads with recv_into into our buffer: no copy, no
        # allocation per call. urllib3's own readinto() copies through a bytes object.
        self._body = getattr(response, "_fp", None) or response
        self._lock = threading.Lock()
        self._closed = False

    def readinto(self, buffer: memoryview) -> int:
        """Read what one ``recv`` delivers (at most ``len(buffer)`` bytes).

        One receive per call, never a loop that fills the whole buffer: when the
        connection fails, every byte returned so far is the caller's to keep, and
        a download resumes from the last byte received, not from the start of the
        buffer (``BufferedReader.readinto`` would lose everything it had read in
        the failing call).
        """
        try:
            body = self._body
            if _is_plain_http_response(body):
                return _readinto1(body, buffer)
            return body.readinto(buffer)
        except ValueError as error:  # read on a response closed by close() from another thread
            raise TransientError(f"{self._name}: connection closed") from error
        except READ_ERRORS as error:
            raise self._client.translate(error, self._name) from error

    def close(self) -> None:
        """Release the connection; from another thread, abort the read.

        A body read to its end leaves the connection reusable: it goes back to the
        pool, so the next part needs no new TCP (and TLS) handshake. Otherwise the
        socket is shut down, so that a recv() blocked in another thread returns
        at once. Idempotent and thread-safe.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if _body_complete(self._body):
            self._response.release_conn()
            return
        sock = _socket_of(self._response)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        try:
            self._response.close()
            self._response.release_conn()  # closed: the pool opens a new one when needed
        except Exception:  # closing an aborted connection may fail; nothing is lost
            logger.debug("closing %s failed", self._name, exc_info=True)


def _is_plain_http_response(body: Any) -> bool:
    """An ``http.client`` response with a known length, not chunked: one we can read by hand."""
    return (
        isinstance(body, http.client.HTTPResponse)
        and not body.chunked
        and isinstance(body.length, int)
        and body.fp is not None
        and hasattr(body.fp, "readinto1")
    )


def _readinto1(body: http.client.HTTPResponse, buffer: memoryview) -> int:
    """``body.readinto`` with at most one underlying receive, keeping its byte count."""
    remaining = body.length or 0
    if remaining <= 0:
        body.close()
        return 0
    view = buffer[:remaining] if len(buffer) > remaining else buffer
    fp = body.fp  # once: close() in another thread may set it to None meanwhile
    if not view or fp is None:
        return 0
    count = fp.readinto1(view)
    if count == 0:  # the server closed the connection early: a short body
        body.close()
        return 0
    body.length = remaining - count
    if body.length == 0:
        body.close()  # as http.client does: the connection is ready for the next request
    return count


def _body_complete(body: Any) -> bool:
    """True when every byte of the body was read (the connection can be reused)."""
    if isinstance(body, http.client.HTTPResponse):
        return body.isclosed() and body.length == 0
    return False


def _socket_of(raw: urllib3.BaseHTTPResponse) -> socket.socket | None:
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
