"""What the server saw, observed through frozen snapshots."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from oss_resumable_fs.testing.faults import FaultKind, FiredFault


@dataclass(frozen=True)
class RangedGet:
    """One GetObject that carried a ``Range`` header.

    ``start``/``end`` (end exclusive) are the object bytes the answer covered:
    the range for a 206, the whole object for a 200; ``None`` when nothing was
    served (416, 412, 304, errors). ``header`` is the ``Range`` header as sent.
    """

    bucket: str
    key: str
    header: str
    start: int | None
    end: int | None
    status: int


@dataclass(frozen=True)
class StatsSnapshot:
    """The server's counters at one moment; never changes afterwards."""

    #: Requests by operation name (``GetObject``, ``HeadObject``, ``ListObjectsV2`` ...).
    requests: Mapping[str, int] = field(default_factory=dict)
    #: Body bytes actually sent per object, keyed ``"bucket/key"``.
    bytes_served: Mapping[str, int] = field(default_factory=dict)
    #: Every ranged GetObject, in the order they were answered.
    ranged_gets: tuple[RangedGet, ...] = ()
    #: Requests that carried ``If-Match``.
    if_match_requests: int = 0
    #: Most client connections open at once (sampled when a request starts).
    max_concurrent_connections: int = 0
    #: Most requests being handled at once.
    max_concurrent_requests: int = 0
    #: Most GetObject requests being handled at once.
    max_concurrent_gets: int = 0
    #: Every fault that fired, in order.
    faults_fired: tuple[FiredFault, ...] = ()

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_bytes_served(self) -> int:
        return sum(self.bytes_served.values())

    def faults_by_kind(self) -> dict[str, int]:
        return dict(Counter(f.kind.value for f in self.faults_fired))

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "bytes_served": dict(self.bytes_served),
            "ranged_gets": [vars(r).copy() for r in self.ranged_gets],
            "if_match_requests": self.if_match_requests,
            "max_concurrent_connections": self.max_concurrent_connections,
            "max_concurrent_requests": self.max_concurrent_requests,
            "max_concurrent_gets": self.max_concurrent_gets,
            "faults_fired": [{**vars(f), "kind": f.kind.value} for f in self.faults_fired],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatsSnapshot:
        return cls(
            requests=dict(data["requests"]),
            bytes_served=dict(data["bytes_served"]),
            ranged_gets=tuple(RangedGet(**r) for r in data["ranged_gets"]),
            if_match_requests=data["if_match_requests"],
            max_concurrent_connections=data["max_concurrent_connections"],
            max_concurrent_requests=data["max_concurrent_requests"],
            max_concurrent_gets=data["max_concurrent_gets"],
            faults_fired=tuple(
                FiredFault(**{**f, "kind": FaultKind(f["kind"])}) for f in data["faults_fired"]
            ),
        )


class StatsCollector:
    """The mutable counters behind :class:`StatsSnapshot`; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._gets_in_flight = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._bytes: Counter[str] = Counter()
            self._ranged: list[RangedGet] = []
            self._if_match = 0
            self._max_connections = 0
            self._max_requests = self._in_flight
            self._max_gets = self._gets_in_flight
            self._faults: list[FiredFault] = []

    @contextmanager
    def request(self, operation: str, open_connections: int, if_match: bool) -> Iterator[None]:
        """Count one request for as long as it is being handled."""
        is_get = operation == "GetObject"
        with self._lock:
            self._requests[operation] += 1
            self._if_match += bool(if_match)
            self._in_flight += 1
            self._gets_in_flight += is_get
            self._max_requests = max(self._max_requests, self._in_flight)
            self._max_gets = max(self._max_gets, self._gets_in_flight)
            self._max_connections = max(self._max_connections, open_connections)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._gets_in_flight -= is_get

    def add_bytes(self, bucket: str, key: str, count: int) -> None:
        if count:
            with self._lock:
                self._bytes[f"{bucket}/{key}"] += count

    def add_ranged_get(self, record: RangedGet) -> None:
        with self._lock:
            self._ranged.append(record)

    def add_fault(self, fired: FiredFault) -> None:
        with self._lock:
            self._faults.append(fired)

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                requests=dict(self._requests),
                bytes_served=dict(self._bytes),
                ranged_gets=tuple(self._ranged),
                if_match_requests=self._if_match,
                max_concurrent_connections=self._max_connections,
                max_concurrent_requests=self._max_requests,
                max_concurrent_gets=self._max_gets,
                faults_fired=tuple(self._faults),
            )
