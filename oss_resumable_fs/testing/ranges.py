"""OSS's rules for ``Range`` and the conditional headers, as pure functions.

OSS reads a single ``Range: bytes=a-b | a- | -n`` header in one of two ways:

* legacy (no ``x-oss-range-behavior``): any range it cannot serve exactly -- an
  end past the end of the object, a start past it, several ranges, bad syntax --
  is ignored and the whole object is returned with ``200``;
* ``x-oss-range-behavior: standard``: an end past the object is clipped (``206``),
  as is a suffix longer than the object; a start at or past the end, ``-0``, and
  any range at all on an empty object are ``416 InvalidRange`` (with
  ``Content-Range: bytes */size``); bad syntax still yields the whole object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.xmlio import parse_http_date

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ServedRange:
    """What to send: bytes ``[start, end)`` of the object, with ``status``."""

    start: int
    end: int
    status: int  # 200 (whole object) or 206

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def resolve_range(header: str | None, size: int, *, standard: bool) -> ServedRange:
    """The part of an object of ``size`` bytes to serve for a ``Range`` header."""
    whole = ServedRange(0, size, 200)
    if not header:
        return whole
    match = _RANGE.match(header)
    if match is None:
        return whole
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return whole
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return _unsatisfiable(header, size) if standard else whole
        if n > size:
            return ServedRange(0, size, 206) if standard else whole
        return ServedRange(size - n, size, 206)
    start = int(first)
    end = int(last) + 1 if last else size
    if last and end <= start:
        return whole
    if start >= size:
        return _unsatisfiable(header, size) if standard else whole
    if end > size:
        if not standard:
            return whole
        end = size
    return ServedRange(start, end, 206)


def misserved(served: ServedRange, size: int, shift: int) -> ServedRange:
    """What a ``wrong_range`` fault sends instead of ``served``: the whole object
    (``shift`` 0), or the same length ``shift`` bytes on, clipped to the object."""
    if served.status != 206:
        return served
    if shift == 0 or size == 0:
        return ServedRange(0, size, 200)
    start = min(served.start + shift, size - 1)
    return ServedRange(start, min(start + served.length, size), 206)


def _unsatisfiable(header: str, size: int) -> ServedRange:
    raise OSSError(
        "InvalidRange",
        "The requested range cannot be satisfied.",
        headers={"Content-Range": f"bytes */{size}"},
        extra={"RangeRequested": header, "ActualObjectSize": str(size)},
    )


def _etags(value: str) -> list[str]:
    out = []
    for item in value.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        out.append(item.strip('"'))
    return out


def _matches(value: str, etag: str) -> bool:
    return any(tag == "*" or tag == etag for tag in _etags(value))


def check_conditions(headers: Mapping[str, str], etag: str, last_modified: float) -> int | None:
    """``412``, ``304`` or ``None`` (go on) for the ``If-*`` headers of a GET / HEAD.

    Precedence is RFC 7232's: If-Match, then If-Unmodified-Since (only without
    If-Match), then If-None-Match, then If-Modified-Since (only without
    If-None-Match). Dates compare at whole seconds, the precision of
    Last-Modified; unparsable dates are ignored.
    """
    modified = int(last_modified)
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _matches(if_match, etag):
            return 412
    else:
        since = parse_http_date(headers.get("If-Unmodified-Since", ""))
        if since is not None and modified > since:
            return 412
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if _matches(if_none_match, etag):
            return 304
    else:
        since = parse_http_date(headers.get("If-Modified-Since", ""))
        if since is not None and modified <= since:
            return 304
    return None
