"""A scripted in-memory RangeSource for engine tests.

The object lives in memory; faults are rules matched against each ranged
request (by an object offset the range must cover) and applied to that
response: fail after N bytes, end early, corrupt a byte, block until closed,
or fail at open. Every request and every byte served is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastcrc import crc64

from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import ObjectChangedError


@dataclass
class Fault:
    #: The rule applies to a request whose range covers this object offset (None: any).
    covering: int | None = None
    #: How many matching requests it applies to (None: all of them).
    times: int | None = 1
    #: Raised by open_range itself.
    open_error: BaseException | None = None
    #: Raised by readinto once ``after`` bytes of this response were served.
    error: BaseException | None = None
    #: The response ends (readinto returns 0) once ``after`` bytes were served.
    short: bool = False
    after: int = 0
    #: Flip the byte at ``covering`` in this response.
    corrupt: bool = False
    #: readinto blocks until the reader is closed.
    block: bool = False
    #: Seconds each readinto of this response takes (a slow connection).
    delay: float = 0.0
    #: Called with the source when a request matches (e.g. to change the object).
    action: Callable[[FakeSource], None] | None = None
    used: int = field(default=0, init=False)


class FakeReader:
    def __init__(self, source: FakeSource, data: bytes, start: int, end: int, fault: Fault | None):
        self.source = source
        self.data = data
        self.pos = start
        self.end = end
        self.fault = fault
        self.served = 0
        self.closed = threading.Event()

    def readinto(self, buffer: memoryview) -> int:
        source = self.source
        with source.lock:
            source.buffer_sizes.append(len(buffer))
        assert len(buffer) <= source.max_buffer, f"buffer of {len(buffer)} bytes given"
        if self.closed.is_set():
            raise ConnectionError("read on a closed connection")
        fault = self.fault
        if fault is not None and fault.block:
            with source.lock:
                source.blocked.append(self)
            source.blocked_event.set()
            if not self.closed.wait(10):
                raise AssertionError("blocked reader was never closed")
            raise ConnectionError("connection closed while reading")
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        count = min(len(buffer), self.end - self.pos, source.chunk)
        if fault is not None and (fault.error is not None or fault.short):
            left = fault.after - self.served
            if left <= 0:
                if fault.short:
                    return 0
                raise fault.error  # type: ignore[misc]
            count = min(count, left)
        if count <= 0:
            return 0
        chunk = bytearray(self.data[self.pos : self.pos + count])
        if fault is not None and fault.corrupt and self.pos <= fault.covering < self.pos + count:  # type: ignore[operator]
            chunk[fault.covering - self.pos] ^= 0xFF  # type: ignore[operator]
        buffer[:count] = chunk
        self.pos += count
        self.served += count
        with source.lock:
            source.bytes_served += count
        if source.rate is not None:
            # Paced like a link that gives each connection ``rate`` bytes/s.
            time.sleep(count / source.rate)
        return count

    def close(self) -> None:
        self.closed.set()


class FakeSource:
    name = "oss://bucket/some/key.bin"

    def __init__(
        self,
        data: bytes,
        *,
        etag: str = "etag-1",
        with_crc: bool = True,
        max_buffer: int = 1 << 30,
        chunk: int = 1 << 30,
        rate: float | None = None,
        latency: float = 0.0,
    ) -> None:
        self.lock = threading.Lock()
        #: Bytes per second per connection, and seconds to first byte (None, 0: instant).
        self.rate = rate
        self.latency = latency
        self.with_crc = with_crc
        self.max_buffer = max_buffer
        #: Most bytes one readinto call hands out (to exercise many small reads).
        self.chunk = chunk
        self.faults: list[Fault] = []
        self.requests: list[tuple[int, int]] = []
        self.buffer_sizes: list[int] = []
        self.bytes_served = 0
        self.stat_calls = 0
        #: Raised by the next stat() calls, one each, before any succeeds.
        self.stat_errors: list[BaseException] = []
        self.blocked: list[FakeReader] = []
        self.blocked_event = threading.Event()
        self.open_hook: Callable[[int, int], None] | None = None
        self.replace(data, etag=etag)

    def replace(self, data: bytes, *, etag: str) -> None:
        """Change the object: later requests pinned to the old identity get a 412."""
        self.data = bytes(data)
        self.identity = ObjectIdentity(
            size=len(self.data),
            etag=etag,
            last_modified=f"modified-{etag}",
            crc64=crc64.xz(self.data) if self.with_crc else None,
        )

    def add_fault(self, **kwargs: object) -> Fault:
        fault = Fault(**kwargs)  # type: ignore[arg-type]
        self.faults.append(fault)
        return fault

    def stat(self) -> ObjectIdentity:
        self.stat_calls += 1
        if self.latency:
            time.sleep(self.latency)  # a HEAD is a round trip too
        if self.stat_errors:
            raise self.stat_errors.pop(0)
        return self.identity

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> FakeReader:
        assert 0 <= start < end <= identity.size, (start, end, identity.size)
        with self.lock:
            self.requests.append((start, end))
            fault = self._match(start, end)
        if self.open_hook is not None:
            self.open_hook(start, end)
        if fault is not None and fault.action is not None:
            fault.action(self)
        if fault is not None and fault.open_error is not None:
            raise fault.open_error
        if self.latency:
            time.sleep(self.latency)
        if not identity.same_object(self.identity):
            raise ObjectChangedError(f"{self.name}: precondition failed (412)")
        return FakeReader(self, self.data, start, end, fault)

    def _match(self, start: int, end: int) -> Fault | None:
        for fault in self.faults:
            if fault.times is not None and fault.used >= fault.times:
                continue
            if fault.covering is None or start <= fault.covering < end:
                fault.used += 1
                return fault
        return None

    def requested_bytes(self) -> int:
        return sum(end - start for start, end in self.requests)


class RecordingProgress:
    """A ProgressListener that checks it is never called from two threads at once."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.updates: list[int] = []
        self._busy = threading.Lock()

    def set_size(self, size: int) -> None:
        assert self._busy.acquire(blocking=False), "listener called concurrently"
        try:
            self.sizes.append(size)
        finally:
            self._busy.release()

    def relative_update(self, inc: int) -> None:
        assert self._busy.acquire(blocking=False), "listener called concurrently"
        try:
            self.updates.append(inc)
        finally:
            self._busy.release()

    @property
    def total(self) -> int:
        return sum(self.updates)
