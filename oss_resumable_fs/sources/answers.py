"""Whether an answer to a ranged GET is exactly the bytes asked for.

Every source (OSS, plain HTTP(S), S3 through s3fs) checks its answers the same
way before a byte of them is written: a ``206`` must name the range asked for
and the object's size in ``Content-Range``; a ``200`` is the whole object, so
only a request for the whole object may get one; ``Content-Length`` must match.
An answer of another size is another object; any other mismatch is transient
(a proxy or cache that answered wrongly) and the range is asked for again.
"""

from __future__ import annotations

import re

from oss_resumable_fs.errors import ObjectChangedError, TransientError

__all__ = ["CONTENT_RANGE", "check_served"]

#: ``Content-Range: bytes first-last/size`` (``*`` when the size is unknown).
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def check_served(
    status: int | None,
    content_range: str | None,
    content_length: int | None,
    start: int,
    end: int,
    size: int,
    name: str,
) -> None:
    """Refuse an answer that is not exactly bytes ``[start, end)`` of a ``size``-byte object.

    ``content_length`` ``None``: the answer did not say.
    """
    if status == 206:
        match = CONTENT_RANGE.fullmatch((content_range or "").strip())
        if not match:
            raise TransientError(f"{name}: 206 without a valid Content-Range", target=name)
        if match[3] != "*" and int(match[3]) != size:
            raise ObjectChangedError(f"{name}: size changed from {size} to {match[3]}", target=name)
        if (int(match[1]), int(match[2]) + 1) != (start, end):
            raise TransientError(
                f"{name}: asked for bytes {start}-{end - 1}, got {match[1]}-{match[2]}",
                target=name,
            )
    elif status == 200:
        if (start, end) != (0, size):
            raise TransientError(f"{name}: the server ignored the Range header", target=name)
    else:
        raise TransientError(f"{name}: unexpected HTTP status {status}", target=name)
    if content_length is not None and content_length != end - start:
        raise TransientError(
            f"{name}: Content-Length {content_length} for a {end - start}-byte range",
            target=name,
        )
