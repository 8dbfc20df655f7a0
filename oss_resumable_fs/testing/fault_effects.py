"""Carrying out the fault rules that fire on a request.

What can happen before a handler answers (replace, latency, error) happens in
:func:`apply_request_faults`; what happens to a response body (reset,
short_body, stall, corrupt, bandwidth, wrong_range) is returned as a :class:`BodyPlan` that
:mod:`.sender` follows while it streams the object. A ``throttle`` refusal is
decided as a GetObject is counted (:meth:`.StatsCollector.request`) and answered
with :func:`fault_error`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from oss_resumable_fs.testing.faults import BODY_KINDS, FaultKind, FaultRule, FiredFault
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.state import Call, ServerState
from oss_resumable_fs.testing.tcp import reset_connection

_ERROR_CODES = {500: ("InternalError", "We encountered an internal error. Please try again.")}
_ERROR_CODES[503] = ("ServiceUnavailable", "Please reduce your request rate.")
_ERROR_CODES[403] = ("AccessDenied", "You have no right to access this object because of policy.")


@dataclass
class BodyPlan:
    """What to do to the body of one response."""

    #: (body offset, rule) for reset / short_body / stall / corrupt, by offset.
    events: list[tuple[int, FaultRule]] = field(default_factory=list)
    bytes_per_second: int | None = None
    #: A ``wrong_range`` rule fired: how far to move the range (0: whole object).
    range_shift: int | None = None

    @property
    def plain(self) -> bool:
        """True when the body can go out untouched (zero-copy)."""
        return not self.events and self.bytes_per_second is None


def _replace_object(state: ServerState, bucket: str, key: str) -> None:
    """Rewrite ``key`` with other bytes of the same size: new ETag, CRC and mtime."""
    try:
        old = state.storage.head(bucket, key)
    except OSSError:
        return  # nothing to replace
    state.storage.put_bytes(
        bucket,
        key,
        state.replacement_chunks(old.size),
        content_type=old.content_type,
        storage_class=old.storage_class,
        user_meta=old.user_meta,
        not_before=old.last_modified,
    )


async def apply_request_faults(call: Call, served: tuple[int, int] | None) -> BodyPlan:
    """Fire the rules matching ``call``; ``served`` is the object range a GET will send.

    Replaces the object and waits out latency now, raises the error of an
    ``error`` rule, and returns the body effects. On a request that has no body
    to send, a ``reset`` rule aborts the connection before any answer.
    """
    state = call.state
    fired = state.faults.fire(call.request.method, call.bucket, call.key, served)
    plan = BodyPlan()
    if not fired:
        return plan
    latency = 0.0
    error: FaultRule | None = None
    for rule_id, rule in fired:
        state.stats.add_fault(
            FiredFault(rule_id, rule.kind, call.request.method, call.bucket, call.key)
        )
        if rule.kind is FaultKind.REPLACE:
            await asyncio.to_thread(_replace_object, state, call.bucket, call.key)
        elif rule.kind is FaultKind.LATENCY:
            latency = max(latency, rule.seconds)
        elif rule.kind is FaultKind.BANDWIDTH:
            rate = plan.bytes_per_second or rule.bytes_per_second
            plan.bytes_per_second = min(rate, rule.bytes_per_second)
        elif rule.kind is FaultKind.ERROR:
            error = error or rule
        elif rule.kind is FaultKind.WRONG_RANGE:
            plan.range_shift = rule.after_bytes
        elif rule.kind in BODY_KINDS:
            plan.events.append((rule.after_bytes, rule))
    plan.events.sort(key=lambda event: event[0])
    if latency:
        await asyncio.sleep(latency)
    if error is not None:
        raise fault_error(error)
    if served is None and any(rule.kind is FaultKind.RESET for _, rule in plan.events):
        transport = call.request.transport
        if transport is not None:
            reset_connection(transport)
        raise ConnectionAborted()
    return plan


def fault_error(rule: FaultRule) -> OSSError:
    """The answer to a request an ``error`` or ``throttle`` rule fails.

    A 503 carries ``x-oss-qos-delay-time``: the rule's ``seconds`` in
    milliseconds (default 1000), the delay OSS suggests before a retry.
    """
    status = 503 if rule.kind is FaultKind.THROTTLE else rule.status
    code, message = _ERROR_CODES[status]
    headers = {}
    if status == 503:
        headers["x-oss-qos-delay-time"] = str(int((rule.seconds or 1.0) * 1000))
    return OSSError(code, message, status=status, headers=headers)


class ConnectionAborted(Exception):
    """A fault rule reset the connection before any answer was sent."""
