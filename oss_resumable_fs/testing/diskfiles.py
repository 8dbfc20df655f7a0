"""Crash-safe file writing for the emulator's storage.

Every write goes to a temporary file in the destination directory, hashed
(MD5 and CRC-64/XZ) on the way in, and is then renamed into place, so a reader
that already opened a file keeps reading the version it opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import BinaryIO

import fastcrc

COPY_CHUNK = 4 * 1024 * 1024


class Digest:
    """MD5 and CRC-64/XZ computed in one pass."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.crc = 0
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self.md5.update(chunk)
        self.crc = fastcrc.crc64.xz(chunk, self.crc)
        self.size += len(chunk)


def key_file_name(key: str) -> str:
    """A safe file name for any object key: the SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


class PartialWrite:
    """A temporary file being filled; the storage renames it into place."""

    def __init__(self, directory: Path) -> None:
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=directory)
        self.path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self.digest = Digest()

    def write(self, chunk: bytes | memoryview) -> None:
        self._file.write(chunk)
        self.digest.update(chunk)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
