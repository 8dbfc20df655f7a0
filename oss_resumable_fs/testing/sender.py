"""Streaming an object's bytes to the client.

With no fault or bandwidth rule in play the bytes go out with
``loop.sendfile`` (``sendfile(2)``: zero-copy from the page cache to the socket,
as aiohttp's ``FileResponse`` does). Otherwise they are read and written in
chunks, so that a fault can strike at an exact body offset and a bandwidth cap
can pace the writes.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import BinaryIO

from aiohttp import web

from oss_resumable_fs.testing.fault_effects import BodyPlan
from oss_resumable_fs.testing.faults import FaultKind
from oss_resumable_fs.testing.tcp import reset_after_flush

CHUNK = 1024 * 1024


async def send_range(
    request: web.Request,
    response: web.StreamResponse,
    file: BinaryIO,
    start: int,
    length: int,
    plan: BodyPlan,
) -> int:
    """Send ``length`` bytes of ``file`` from ``start``; return how many went out.

    ``response`` must be prepared. Connection errors (the client went away, or a
    fault closed the connection) end the body early; they are not raised.
    """
    if length <= 0:
        return 0
    if plan.plain:
        return await _send_zero_copy(request, response, file, start, length)
    return await _send_chunks(request, response, file, start, length, plan)


async def _send_zero_copy(
    request: web.Request, response: web.StreamResponse, file: BinaryIO, start: int, length: int
) -> int:
    transport = request.transport
    if transport is None:
        return 0
    loop = asyncio.get_running_loop()
    try:
        await loop.sendfile(transport, file, start, length)
    except NotImplementedError:
        return await _send_chunks(request, response, file, start, length, BodyPlan())
    except (ConnectionError, OSError, RuntimeError):
        # The client went away; the file position tells how far sendfile got.
        return max(0, file.tell() - start)
    return length


async def _send_chunks(
    request: web.Request,
    response: web.StreamResponse,
    file: BinaryIO,
    start: int,
    length: int,
    plan: BodyPlan,
) -> int:
    corrupt = sorted(off for off, rule in plan.events if rule.kind is FaultKind.CORRUPT)
    events = [(off, rule) for off, rule in plan.events if rule.kind is not FaultKind.CORRUPT]
    rate = plan.bytes_per_second
    chunk_limit = CHUNK if rate is None else max(4096, min(CHUNK, rate // 50))
    fd = file.fileno()
    sent = 0
    began = time.monotonic()
    try:
        while sent < length:
            while events and events[0][0] <= sent:
                _, rule = events.pop(0)
                if rule.kind is FaultKind.STALL:
                    await asyncio.sleep(rule.seconds)
                else:  # reset or short_body
                    await _close(request, abort=rule.kind is FaultKind.RESET)
                    return sent
            size = min(chunk_limit, length - sent)
            if events:
                size = min(size, events[0][0] - sent)
            chunk = bytearray(os.pread(fd, size, start + sent))
            if not chunk:
                break  # the file is shorter than its metadata says; send what there is
            while corrupt and corrupt[0] < sent + len(chunk):
                chunk[corrupt.pop(0) - sent] ^= 0xFF
            await response.write(chunk)
            sent += len(chunk)
            if rate is not None and sent < length:  # not after the last byte: done is done
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    except ConnectionError:
        pass
    return sent


async def _close(request: web.Request, *, abort: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    if abort:
        await reset_after_flush(transport)
    else:
        transport.close()  # FIN after what is buffered: the client sees a short body
