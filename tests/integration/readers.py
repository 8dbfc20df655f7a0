"""Call-for-call comparison of a filesystem with fsspec's own ``LocalFileSystem``.

The same bytes live in a local file and in an object; every call is made on
both, and the answers (or the exception types) must agree. A mismatch is
recorded rather than raised at once, so that one failing test reports every
disagreeing call, not only the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import oss2
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from oss_resumable_fs.testing import OSSServer

#: How many disagreements a failure message lists in full.
SHOWN = 25


@dataclass(frozen=True)
class Outcome:
    """What one call gave: a value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {str(self.error)[:100]}"
        return describe_value(self.value)


def describe_value(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        digest = hashlib.sha1(data).hexdigest()[:10]
        head = data[:12]
        return f"{len(data)} bytes (sha1 {digest}, starts {head!r})"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe_value(item) for item in value[:6])
        more = f", ... {len(value)} items" if len(value) > 6 else ""
        return f"{type(value).__name__}[{inner}{more}]"
    if isinstance(value, str) and len(value) > 60:
        return f"str of {len(value)} chars ({value[:30]!r}...)"
    return repr(value)


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=call())
    except Exception as error:
        return Outcome(error=error)


def agree(expected: Outcome, actual: Outcome) -> bool:
    """Equal values, or an exception of the oracle's type (or a subclass of it)."""
    if expected.error is not None:
        return actual.error is not None and isinstance(actual.error, type(expected.error))
    if actual.error is not None:
        return False
    return normalise(actual.value) == normalise(expected.value)


def normalise(value: Any) -> Any:
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, tuple):
        return tuple(normalise(item) for item in value)
    return value


@dataclass
class Mismatches:
    """The calls on which the filesystem under test and the oracle disagreed."""

    found: list[str] = field(default_factory=list)
    calls: int = 0

    def check(self, label: str, expected: Outcome, actual: Outcome) -> bool:
        self.calls += 1
        if agree(expected, actual):
            return True
        self.found.append(
            f"{label}:\n      local  -> {expected.describe()}\n      remote -> {actual.describe()}"
        )
        return False

    def expect(self, label: str, ok: bool, detail: str) -> None:
        """A call checked by a rule rather than against the oracle."""
        self.calls += 1
        if not ok:
            self.found.append(f"{label}:\n      {detail}")

    def assert_none(self) -> None:
        if not self.found:
            return
        listed = "\n  ".join(self.found[:SHOWN])
        more = f"\n  ... and {len(self.found) - SHOWN} more" if len(self.found) > SHOWN else ""
        raise AssertionError(
            f"{len(self.found)} of {self.calls} calls disagree with LocalFileSystem:\n"
            f"  {listed}{more}"
        )


@dataclass
class Twin:
    """The same named files in a local directory and in a bucket."""

    local: LocalFileSystem
    local_root: Path
    remote: AbstractFileSystem
    bucket: str
    server: OSSServer
    sizes: dict[str, int] = field(default_factory=dict)

    def lpath(self, name: str) -> str:
        return (self.local_root / name).as_posix()

    def rpath(self, name: str) -> str:
        return f"{self.bucket}/{name}"

    def put(self, name: str, data: bytes) -> None:
        target = self.local_root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.server.put_object(self.bucket, name, data)
        self.sizes[name] = len(data)

    def both(
        self, call: Callable[[AbstractFileSystem, str], Any], name: str
    ) -> tuple[Outcome, Outcome]:
        """``call(fs, path)`` on the local file, then on the object."""
        expected = outcome(lambda: call(self.local, self.lpath(name)))
        actual = outcome(lambda: call(self.remote, self.rpath(name)))
        return expected, actual


def oss2_bucket(server: OSSServer, bucket: str) -> oss2.Bucket:
    """A plain oss2 client, independent of the filesystem under test."""
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    return oss2.Bucket(auth, server.endpoint, bucket)


def server_bytes(server: OSSServer, bucket: str, key: str) -> bytes:
    """What the server holds for ``key`` now, read with a plain oss2 GET."""
    return oss2_bucket(server, bucket).get_object(key).read()


def server_etag(server: OSSServer, bucket: str, key: str) -> str:
    return oss2_bucket(server, bucket).head_object(key).etag.strip('"')
