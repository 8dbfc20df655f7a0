"""Fault rules and their seeded, thread-safe matching.

A :class:`FaultRule` says *which* requests it hits (method, bucket/key glob,
optional byte range) and *what* happens to them (its :class:`FaultKind`). Rules
are matched in the order they were added; every matching rule fires, subject to
its ``probability`` (drawn from one RNG seeded by the server's ``seed``, so a run
is reproducible) and its remaining ``times``. A ``throttle`` rule is the
exception: it is not fired with the others but consulted when a GetObject
arrives (:meth:`FaultPlan.throttle`), and fires only when it refuses one.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class FaultKind(str, enum.Enum):
    #: Abort the connection (TCP reset) after ``after_bytes`` body bytes.
    RESET = "reset"
    #: Answer ``status`` (500, 503, or 403 for a RAM policy that denies the
    #: request) with an OSS error document; a 503 carries
    #: ``x-oss-qos-delay-time`` (``seconds`` as milliseconds, default 1000).
    ERROR = "error"
    #: Send ``after_bytes`` bytes of the promised Content-Length, then close.
    SHORT_BODY = "short_body"
    #: Pause ``seconds`` after ``after_bytes`` body bytes, then go on.
    STALL = "stall"
    #: Flip the bits of the body byte at offset ``after_bytes`` (length intact).
    CORRUPT = "corrupt"
    #: Rewrite the object with other bytes of the same size before answering.
    REPLACE = "replace"
    #: Cap the body to ``bytes_per_second`` on this connection.
    BANDWIDTH = "bandwidth"
    #: Wait ``seconds`` before the first byte (the status line) is sent.
    LATENCY = "latency"
    #: While ``max_in_flight`` GetObjects on the rule's bucket/key globs are being
    #: served, answer further ones 503 with ``x-oss-qos-delay-time`` (``seconds``
    #: as milliseconds, default 1000), as a service throttling a client that
    #: opens too many connections does. A refused GET is not in flight.
    THROTTLE = "throttle"
    #: Answer a ranged GetObject with other bytes than asked, as a broken proxy or
    #: cache may: the range moved on by ``after_bytes`` (clipped to the object,
    #: with a truthful ``Content-Range``), or with ``after_bytes`` 0 the whole
    #: object with ``200``. A GET without ``Range`` is answered as usual.
    WRONG_RANGE = "wrong_range"


#: Kinds that act on the bytes of a response body.
BODY_KINDS = frozenset({FaultKind.RESET, FaultKind.SHORT_BODY, FaultKind.STALL, FaultKind.CORRUPT})


@dataclass(frozen=True)
class FaultRule:
    """One fault and the requests it applies to.

    ``kind`` takes a :class:`FaultKind` or its value (``FaultRule("reset", ...)``).
    ``method`` ``None`` or ``"*"`` matches every method; ``bucket`` and ``key`` are
    exact names or :mod:`fnmatch` globs. ``byte_range`` ``(start, end)`` (end
    exclusive, object offsets) restricts the rule to GETs whose served bytes
    overlap it. ``times`` is how many requests it fires on (``None``: always).
    """

    kind: FaultKind
    method: str | None = "GET"
    bucket: str = "*"
    key: str = "*"
    byte_range: tuple[int, int] | None = None
    times: int | None = 1
    probability: float = 1.0
    #: Body offset for reset / short_body / stall / corrupt.
    after_bytes: int = 0
    #: HTTP status for ``error``.
    status: int = 503
    #: Duration for ``stall`` / ``latency``; the suggested retry delay of a 503.
    seconds: float = 0.0
    #: Rate for ``bandwidth``.
    bytes_per_second: int = 0
    #: GetObjects a ``throttle`` rule lets be in flight at once.
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.byte_range is not None:
            start, end = self.byte_range
            object.__setattr__(self, "byte_range", (int(start), int(end)))
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if self.kind is FaultKind.ERROR and self.status not in (403, 500, 503):
            raise ValueError("an error fault answers 403, 500 or 503")
        if self.kind is FaultKind.BANDWIDTH and self.bytes_per_second <= 0:
            raise ValueError("a bandwidth fault needs bytes_per_second > 0")
        if self.after_bytes < 0 or self.seconds < 0:
            raise ValueError("after_bytes and seconds must not be negative")
        if self.kind is FaultKind.THROTTLE:
            if self.max_in_flight < 1:
                raise ValueError("a throttle fault needs max_in_flight >= 1")
            if (self.method or "").upper() != "GET" or self.byte_range is not None:
                raise ValueError("a throttle fault counts GETs: method 'GET', no byte_range")

    def matches(self, method: str, bucket: str, key: str, served: tuple[int, int] | None) -> bool:
        if self.method not in (None, "*") and self.method.upper() != method.upper():
            return False
        if not fnmatch.fnmatchcase(bucket, self.bucket) or not fnmatch.fnmatchcase(key, self.key):
            return False
        if self.byte_range is not None:
            if served is None:
                return False
            start, end = self.byte_range
            if not (served[0] < end and start < served[1]):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["kind"] = self.kind.value
        out["byte_range"] = list(self.byte_range) if self.byte_range else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        values = dict(data)
        if values.get("byte_range") is not None:
            values["byte_range"] = tuple(values["byte_range"])
        return cls(**values)


@dataclass(frozen=True)
class FiredFault:
    """A fault that fired: which rule, on which object."""

    rule_id: int
    kind: FaultKind
    method: str
    bucket: str
    key: str


class FaultPlan:
    """The active rules of one server; thread-safe, deterministic under ``seed``."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: dict[int, FaultRule] = {}
        self._remaining: dict[int, int | None] = {}
        self._next_id = 1
        self._rng = random.Random(seed)

    def add(self, rule: FaultRule) -> int:
        with self._lock:
            rule_id = self._next_id
            self._next_id += 1
            self._rules[rule_id] = rule
            self._remaining[rule_id] = rule.times
            return rule_id

    def remove(self, rule_id: int) -> None:
        with self._lock:
            self._rules.pop(rule_id, None)
            self._remaining.pop(rule_id, None)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._remaining.clear()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def rules(self) -> dict[int, FaultRule]:
        with self._lock:
            return dict(self._rules)

    def empty(self) -> bool:
        return not self._rules

    def fire(
        self, method: str, bucket: str, key: str, served: tuple[int, int] | None = None
    ) -> list[tuple[int, FaultRule]]:
        """The rules that fire on this request; spends their ``times``.

        ``throttle`` rules never fire here: see :meth:`throttle`.
        """
        if not self._rules:
            return []
        fired = []
        with self._lock:
            for rule_id, rule in list(self._rules.items()):
                if rule.kind is FaultKind.THROTTLE:
                    continue
                if not rule.matches(method, bucket, key, served):
                    continue
                if self._draw(rule_id):
                    fired.append((rule_id, rule))
        return fired

    def throttle(
        self, bucket: str, key: str, in_flight: Callable[[str, str], int]
    ) -> tuple[int, FaultRule] | None:
        """The first ``throttle`` rule that refuses a GetObject of ``bucket/key``.

        ``in_flight(bucket_glob, key_glob)`` counts the GetObjects being served on
        the objects a rule covers. A rule refuses when that count has reached its
        ``max_in_flight`` (and its ``probability`` allows); only a refusal spends
        its ``times``.
        """
        if not self._rules:
            return None
        with self._lock:
            for rule_id, rule in list(self._rules.items()):
                if rule.kind is not FaultKind.THROTTLE:
                    continue
                if not rule.matches("GET", bucket, key, None):
                    continue
                if in_flight(rule.bucket, rule.key) < rule.max_in_flight:
                    continue
                if self._draw(rule_id):
                    return rule_id, rule
        return None

    def _draw(self, rule_id: int) -> bool:
        """Whether a matching rule fires (its probability); spends its ``times``.

        Call with the lock held.
        """
        rule = self._rules[rule_id]
        if rule.probability < 1.0 and self._rng.random() >= rule.probability:
            return False
        remaining = self._remaining[rule_id]
        if remaining is not None:
            if remaining <= 1:
                del self._rules[rule_id]
                del self._remaining[rule_id]
            else:
                self._remaining[rule_id] = remaining - 1
        return True
