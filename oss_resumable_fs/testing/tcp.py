"""Ending a connection the way a failing network does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time

try:  # Linux: bytes in the kernel's send queue not yet acknowledged by the peer
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _OUTQ = None

#: How long a reset waits for the bytes before it to reach the client.
FLUSH_TIMEOUT = 2.0


def reset_connection(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST (SO_LINGER 0): the client sees "connection reset by peer"."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _unsent(sock: socket.socket) -> int:
    if _OUTQ is None:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


async def reset_after_flush(transport: asyncio.WriteTransport) -> None:
    """RST the connection once what was written has reached the client.

    A RST discards the sender's unsent data, so without waiting the client would
    get fewer bytes than the fault promised. Waits at most :data:`FLUSH_TIMEOUT`
    (a client that stopped reading keeps the queue full).
    """
    deadline = time.monotonic() + FLUSH_TIMEOUT
    sock = transport.get_extra_info("socket")
    while time.monotonic() < deadline and not transport.is_closing():
        if transport.get_write_buffer_size() == 0 and (sock is None or _unsent(sock) == 0):
            break
        await asyncio.sleep(0.001)
    reset_connection(transport)
