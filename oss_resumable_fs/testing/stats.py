"""What the server saw, observed through frozen snapshots."""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from oss_resumable_fs.testing.faults import FaultKind, FaultPlan, FaultRule, FiredFault


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
    #: Most GetObject requests being handled at once (a throttled one never counts).
    max_concurrent_gets: int = 0
    #: Every fault that fired, in order.
    faults_fired: tuple[FiredFault, ...] = ()
    #: GetObject requests being handled at the moment of the snapshot.
    gets_in_flight: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_bytes_served(self) -> int:
        return sum(self.bytes_served.values())

    @property
    def throttled(self) -> int:
        """GetObject requests a ``throttle`` rule refused (answered 503)."""
        return sum(1 for f in self.faults_fired if f.kind is FaultKind.THROTTLE)

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
            "gets_in_flight": self.gets_in_flight,
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
            gets_in_flight=data["gets_in_flight"],
        )


class StatsCollector:
    """The mutable counters behind :class:`StatsSnapshot`; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        #: GetObjects being served, by (bucket, key); what ``throttle`` rules count.
        self._gets_in_flight: Counter[tuple[str, str]] = Counter()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._bytes: Counter[str] = Counter()
            self._ranged: list[RangedGet] = []
            self._if_match = 0
            self._max_connections = 0
            self._max_requests = self._in_flight
            self._max_gets = sum(self._gets_in_flight.values())
            self._faults: list[FiredFault] = []

    @contextmanager
    def request(
        self,
        operation: str,
        open_connections: int,
        if_match: bool,
        *,
        bucket: str = "",
        key: str = "",
        faults: FaultPlan | None = None,
    ) -> Iterator[FaultRule | None]:
        """Count one request for as long as it is being handled.

        A GetObject is first put to the ``throttle`` rules of ``faults``: the
        rule that refuses it is yielded (the caller answers 503), and a refused
        GET is not counted as in flight. Admission and counting happen under
        one lock, so no other request slips in between.
        """
        obj = (bucket, key)
        with self._lock:
            self._requests[operation] += 1
            self._if_match += bool(if_match)
            self._in_flight += 1
            self._max_requests = max(self._max_requests, self._in_flight)
            self._max_connections = max(self._max_connections, open_connections)
            refusal = None
            if operation == "GetObject" and faults is not None:
                refusal = faults.throttle(bucket, key, self._count_gets)
            admitted_get = operation == "GetObject" and refusal is None
            if admitted_get:
                self._gets_in_flight[obj] += 1
                self._max_gets = max(self._max_gets, sum(self._gets_in_flight.values()))
            elif refusal is not None:
                rule_id, rule = refusal
                self._faults.append(FiredFault(rule_id, rule.kind, "GET", bucket, key))
        try:
            yield None if refusal is None else refusal[1]
        finally:
            with self._lock:
                self._in_flight -= 1
                if admitted_get:
                    self._gets_in_flight[obj] -= 1
                    if not self._gets_in_flight[obj]:
                        del self._gets_in_flight[obj]

    def _count_gets(self, bucket_glob: str, key_glob: str) -> int:
        """GetObjects in flight on objects matching the globs; call with the lock held."""
        return sum(
            count
            for (bucket, key), count in self._gets_in_flight.items()
            if fnmatch.fnmatchcase(bucket, bucket_glob) and fnmatch.fnmatchcase(key, key_glob)
        )

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
                gets_in_flight=sum(self._gets_in_flight.values()),
            )
