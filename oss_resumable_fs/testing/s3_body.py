"""Receiving an S3 PutObject body: aws-chunked decoding and integrity checks.

A body arrives plain or, with ``Content-Encoding: aws-chunked``, in chunks
(``<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`` ... a last empty chunk,
then trailer headers such as ``x-amz-checksum-crc32``). Signed chunks
(``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``) are verified against the
seed signature. Whatever the framing, the decoded bytes are checked against
``x-amz-content-sha256`` (when it is a digest), ``Content-MD5`` and any
``x-amz-checksum-{crc32,crc32c,sha1,sha256}`` (header or trailer); a
``crc64nvme`` checksum is accepted unverified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import zlib
from collections.abc import Callable
from typing import Protocol

import fastcrc
from aiohttp import web

from oss_resumable_fs.testing.diskfiles import PartialWrite
from oss_resumable_fs.testing.oss_errors import OSSError
from oss_resumable_fs.testing.s3_auth import ALGORITHM, S3Auth

__all__ = ["receive_body"]

READ_CHUNK = 1024 * 1024
MAX_CHUNK = 64 * 1024 * 1024
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_SIGNED_STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


class _Crc32:
    def __init__(self, update: Callable[[bytes, int], int]) -> None:
        self._update, self._value = update, 0

    def update(self, data: bytes) -> None:
        self._value = self._update(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_CHECKSUMS: dict[str, Callable[[], _Hasher]] = {
    "crc32": lambda: _Crc32(zlib.crc32),
    "crc32c": lambda: _Crc32(fastcrc.crc32.iscsi),
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}


def _bad_request(message: str, code: str = "InvalidRequest") -> OSSError:
    return OSSError(code, message, status=400)


class _Checks:
    """The digests one body is checked against, updated as its bytes arrive.

    Only what the request asks to be checked is computed: the payload's SHA-256
    when ``x-amz-content-sha256`` is one, and each ``x-amz-checksum-*`` sent as a
    header or announced in ``x-amz-trailer``.
    """

    def __init__(self, request: web.Request, auth: S3Auth) -> None:
        self.sha256 = hashlib.sha256() if _HEX_DIGEST.match(auth.payload_hash) else None
        announced = {h.lower() for h in request.headers} | {
            h.strip().lower() for h in request.headers.get("x-amz-trailer", "").split(",")
        }
        self.checksums = {
            name: make()
            for name, make in _CHECKSUMS.items()
            if f"x-amz-checksum-{name}" in announced
        }

    def update(self, data: bytes) -> None:
        if self.sha256 is not None:
            self.sha256.update(data)
        for hasher in self.checksums.values():
            hasher.update(data)


async def receive_body(request: web.Request, auth: S3Auth, pending: PartialWrite) -> dict[str, str]:
    """Stream the body into ``pending`` and check it; return the checksums to echo.

    Raises :class:`OSSError` (S3 codes) and discards ``pending`` on any failure.
    """
    checks = _Checks(request, auth)
    try:
        if "aws-chunked" in request.headers.get("Content-Encoding", "").lower():
            trailer = await _receive_chunked(request, auth, pending, checks)
        else:
            trailer = {}
            async for data in request.content.iter_chunked(READ_CHUNK):
                pending.write(data)
                checks.update(data)
        return _verify(request, auth, pending, checks, trailer)
    except BaseException:
        pending.discard()
        raise


def _verify(
    request: web.Request,
    auth: S3Auth,
    pending: PartialWrite,
    checks: _Checks,
    trailer: dict[str, str],
) -> dict[str, str]:
    if checks.sha256 is not None and checks.sha256.hexdigest() != auth.payload_hash:
        raise _bad_request(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            "XAmzContentSHA256Mismatch",
        )
    md5 = request.headers.get("Content-MD5")
    if md5 is not None:
        try:
            wanted = base64.b64decode(md5.strip(), validate=True)
        except binascii.Error:
            raise _bad_request(
                "The Content-MD5 you specified was invalid.", "InvalidDigest"
            ) from None
        if wanted != pending.digest.md5.digest():
            raise _bad_request(
                "The Content-MD5 you specified did not match what we received.", "BadDigest"
            )
    echoed = {}
    sent = {k.lower(): v for k, v in request.headers.items()} | trailer
    for name, hasher in checks.checksums.items():
        header = f"x-amz-checksum-{name}"
        if header in sent:
            actual = base64.b64encode(hasher.digest()).decode("ascii")
            if sent[header].strip() != actual:
                raise _bad_request(
                    f"The {name.upper()} you specified did not match the calculated checksum.",
                    "BadDigest",
                )
            echoed[header] = actual
    return echoed


async def _receive_chunked(
    request: web.Request, auth: S3Auth, pending: PartialWrite, checks: _Checks
) -> dict[str, str]:
    signed = auth.payload_hash.startswith(_SIGNED_STREAMING)
    content = request.content
    previous = auth.signature
    while True:
        line = (await content.readline()).decode("latin-1").strip()
        size_text, _, extension = line.partition(";")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _bad_request("The aws-chunked body is malformed.", "IncompleteBody") from None
        if not 0 <= size <= MAX_CHUNK:
            raise _bad_request("An aws-chunked chunk is too large.")
        data = await content.readexactly(size) if size else b""
        if signed:
            name, _, given = extension.partition("=")
            expected = auth.chunk_signature(previous, data)
            if name.strip() != "chunk-signature" or not hmac.compare_digest(given, expected):
                raise OSSError("SignatureDoesNotMatch", "A chunk signature does not match.")
            previous = expected
        if not size:
            break
        pending.write(data)
        checks.update(data)
        if await content.readexactly(2) != b"\r\n":
            raise _bad_request("The aws-chunked body is malformed.", "IncompleteBody")
    declared = request.headers.get("x-amz-decoded-content-length")
    if declared is not None and declared.strip() != str(pending.digest.size):
        raise _bad_request(
            "The decoded body is not x-amz-decoded-content-length long.", "IncompleteBody"
        )
    return await _trailer(request, auth, previous)


async def _trailer(request: web.Request, auth: S3Auth, previous: str) -> dict[str, str]:
    """The trailer headers after the last chunk; their signature when it is signed."""
    trailer: dict[str, str] = {}
    signature = None
    while True:
        line = (await request.content.readline()).decode("latin-1")
        if line.strip() == "":
            break
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-amz-trailer-signature":
            signature = value.strip()
        else:
            trailer[name.strip().lower()] = value.strip()
    declared = request.headers.get("x-amz-trailer", "").lower()
    missing = [h.strip() for h in declared.split(",") if h.strip() and h.strip() not in trailer]
    if missing:
        raise _bad_request(f"The trailer {missing[0]} was declared but not sent.", "IncompleteBody")
    if auth.payload_hash == _SIGNED_STREAMING + "-TRAILER":
        canonical = "".join(f"{k}:{v}\n" for k, v in trailer.items())
        string_to_sign = "\n".join(
            [
                f"{ALGORITHM}-TRAILER",
                auth.timestamp,
                auth.scope,
                previous,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        expected = hmac.new(auth.signing_key, string_to_sign.encode(), "sha256").hexdigest()
        if signature is None or not hmac.compare_digest(signature, expected):
            raise OSSError("SignatureDoesNotMatch", "The trailer signature does not match.")
    return trailer
