"""Transfer settings: one frozen, validated, picklable object."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from oss_resumable_fs.errors import InvalidArgumentError, UnknownOptionError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# OSS's own limits for ranged downloads (the same as for multipart uploads).
MIN_PART_SIZE = 100 * KiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": KiB, "M": MiB, "G": GiB}
#: Fields given in bytes: they also accept ``"16MiB"``-style strings.
SIZE_FIELDS = (
    "part_size",
    "buffer_size",
    "single_request_threshold",
    "bandwidth_limit",
    "max_buffer_memory",
)


def parse_size(value: str | int) -> int:
    """``"16MiB"`` / ``"16M"`` / ``"16777216"`` / ``16777216`` -> bytes (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise InvalidArgumentError(f"not a size: {value!r} (try 16MiB)")
    unit = (match[2] or "").upper()[:1]
    return int(float(match[1]) * _UNITS[unit])


def check_option_names(
    given: Iterable[str],
    known: Iterable[str],
    where: str,
    hints: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`UnknownOptionError` for a name not in ``known``, suggesting the closest.

    ``hints`` maps names users bring from elsewhere to ours.
    """
    known = sorted(known)
    for name in given:
        if name in known:
            continue
        close = [hints[name]] if hints and name in hints else []
        close = close or difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
        raise UnknownOptionError(f"{where} got an unknown option {name!r}{hint}")


_INT_FIELDS = (
    "part_size",
    "concurrency",
    "buffer_size",
    "single_request_threshold",
    "max_attempts",
    "max_restarts_on_change",
    "bandwidth_limit",
    "max_connections",
    "max_buffer_memory",
)
_NUMBER_FIELDS = ("read_timeout", "connect_timeout", "backoff_base", "backoff_max")
_BOOL_FIELDS = ("verify_crc64", "skip_identical")


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """How one download is carried out.

    ``part_size`` left as ``None`` is chosen from the object size; ``concurrency``
    left as ``None`` is found while downloading (see :meth:`connection_ceiling`).
    """

    #: Bytes per request, and per checkpoint record. ``None``: records of 2 MiB, and
    #: requests of up to 8 MiB that shrink when many connections share an object.
    part_size: int | None = None
    #: Connections for the whole call, fixed. ``None``: measured and adjusted while
    #: downloading, from 16 up to :attr:`max_connections`.
    concurrency: int | None = None
    #: The most connections one call may open (adaptive concurrency's ceiling).
    #: 128 fills a path that gives each connection 4 MiB/s at 150 ms; beyond that a
    #: client machine, not the link, is usually the limit.
    max_connections: int = 128
    #: Memory for network buffers, all connections together: each connection owns one
    #: ``buffer_size`` buffer, so this also bounds the connections (128 MiB: 128 of 1 MiB).
    max_buffer_memory: int = 128 * MiB
    #: Bytes read from the network per ``readinto`` call, per connection. Memory in
    #: flight is bounded by ``connections * buffer_size``, whatever the object size.
    buffer_size: int = 1 * MiB
    #: Objects smaller than this take one plain GET, with no checkpoint.
    single_request_threshold: int = 8 * MiB
    #: Seconds a connection may stay silent before it is abandoned and its part resumed.
    read_timeout: float = 30.0
    #: Seconds to wait for a connection to the endpoint to open.
    connect_timeout: float = 10.0
    #: Failures in a row *without progress* on one part before the download fails
    #: (each retry resumes from the last byte written; bytes received reset the count).
    max_attempts: int = 8
    #: The longest wait before the first retry, in seconds; it doubles with each failure
    #: in a row, and each wait is a random fraction of it (full jitter).
    backoff_base: float = 0.2
    #: The cap on that doubling wait, in seconds. A delay the service asks for
    #: (``x-oss-qos-delay-time``) is a floor.
    backoff_max: float = 20.0
    #: How many times a download starts over from scratch when the object changes under it.
    max_restarts_on_change: int = 1
    #: Check the bytes against the object's CRC-64 (a source without one: its MD5, if
    #: known) before landing them; ``False``: size and ETag only.
    verify_crc64: bool = True
    #: Directory for checkpoint journals; ``None`` keeps them beside the destination.
    checkpoint_dir: str | None = None
    #: Transfer nothing when the destination already holds the object: same size
    #: and the local file's CRC-64 equals the object's. Off by default, as fsspec's
    #: ``get_file`` always copies; the CLI and the magics turn it on.
    skip_identical: bool = False
    #: Bytes per second that every download and read of the process receives in
    #: all (those with the same limit share one budget); ``"50MiB"`` or bytes.
    #: ``None``: no cap.
    bandwidth_limit: int | None = None

    def __post_init__(self) -> None:
        for name in SIZE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_size(value))
        if isinstance(self.checkpoint_dir, os.PathLike):
            object.__setattr__(self, "checkpoint_dir", os.fspath(self.checkpoint_dir))
        try:
            self._validate()
        except ValueError as error:
            raise InvalidArgumentError(str(error)) from None

    def _check_types(self) -> None:
        """Say which field got a wrong type (``concurrency="8"``, ``verify_crc64="no"``)."""
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        for name in _NUMBER_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number of seconds, got {value!r}")
        for name in _BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, str):
            raise ValueError(f"checkpoint_dir must be a path, got {self.checkpoint_dir!r}")

    def _validate(self) -> None:
        self._check_types()
        if self.part_size is not None and not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes, "
                f"got {self.part_size}"
            )
        if self.concurrency is not None and not 1 <= self.concurrency <= 256:
            raise ValueError(f"concurrency must be between 1 and 256, got {self.concurrency}")
        if not 1 <= self.max_connections <= 1024:
            raise ValueError(
                f"max_connections must be between 1 and 1024, got {self.max_connections}"
            )
        if self.max_buffer_memory < self.buffer_size:
            raise ValueError(
                f"max_buffer_memory ({self.max_buffer_memory}) must hold at least one "
                f"buffer of buffer_size ({self.buffer_size})"
            )
        if self.buffer_size < 4 * KiB:
            raise ValueError(f"buffer_size must be at least 4 KiB, got {self.buffer_size}")
        if self.single_request_threshold < 0:
            raise ValueError("single_request_threshold must not be negative")
        if self.read_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff_base < 0 or self.backoff_max < self.backoff_base:
            raise ValueError("need 0 <= backoff_base <= backoff_max")
        if self.bandwidth_limit is not None and self.bandwidth_limit < KiB:
            raise ValueError(
                f"bandwidth_limit must be at least 1 KiB/s, got {self.bandwidth_limit}"
            )
        if self.max_restarts_on_change < 0:
            raise ValueError("max_restarts_on_change must not be negative")

    def replace(self, **changes: object) -> TransferConfig:
        """A copy with ``changes`` applied; ``None`` values are ignored.

        An unknown name raises :class:`UnknownOptionError` naming the closest field.
        """
        check_option_names(changes, self.field_names(), "TransferConfig")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def split_options(cls, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``options`` split into (TransferConfig fields, everything else)."""
        names = set(cls.field_names())
        ours = {k: v for k, v in options.items() if k in names}
        return ours, {k: v for k, v in options.items() if k not in names}

    def resolve_part_size(self, object_size: int) -> int:
        """The part size for an object of ``object_size`` bytes.

        The default is 8 MiB: large enough that per-request overhead (a signed
        request, a round trip, a journal record) is noise even on a WAN, small
        enough that a crash loses little and a 256 MiB object still spreads over
        32 connections. It grows only to stay within OSS's 10,000-part limit
        (at 80 GB and beyond), rounded up to a whole MiB.
        """
        if self.part_size is not None:
            chosen = self.part_size
        else:
            chosen = max(8 * MiB, math.ceil(object_size / MAX_PARTS / MiB) * MiB)
        # An explicit part size that would exceed the part limit is raised to fit.
        chosen = max(chosen, math.ceil(object_size / MAX_PARTS))
        return min(max(chosen, MIN_PART_SIZE), MAX_PART_SIZE)

    def resolve_record_size(self, object_size: int) -> int:
        """The size of one checkpoint record (a journal part) for a download.

        An explicit ``part_size``, else 2 MiB: small enough that 128 connections
        share a 256 MiB object and that a crash loses little; requests then read
        several records at once (:meth:`resolve_part_size`) when connections are
        few. It grows to stay within 10,000 records (beyond 20 GB).
        """
        if self.part_size is not None:
            return self.resolve_part_size(object_size)
        chosen = max(2 * MiB, math.ceil(object_size / MAX_PARTS / MiB) * MiB)
        return min(chosen, MAX_PART_SIZE)

    def connection_ceiling(self) -> int:
        """The most connections a call may use: a fixed ``concurrency`` as given, else
        ``max_connections`` within ``max_buffer_memory``."""
        if self.concurrency is not None:
            return self.concurrency
        return min(self.max_connections, max(1, self.max_buffer_memory // self.buffer_size))

    def resolve_concurrency(self, object_size: int, part_size: int) -> int:
        """Connections for one object: 16 by default, never more than there are parts.

        Sixteen connections saturate a 2-core client on loopback and fill a
        WAN link whose per-connection throughput is capped (OSS and most
        networks limit a single TCP stream well below the link's rate).
        """
        parts = max(1, math.ceil(object_size / part_size))
        return min(self.concurrency or 16, parts)
