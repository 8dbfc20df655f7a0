"""Case 6: the journal parser under fuzzing.

``read_journal`` on any bytes raises nothing but :class:`JournalCorrupt` (or
returns a state), and a resume never keeps a part whose bytes on disk do not
match: whatever the journal claims, the landed file is the object's.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oss_resumable_fs.engine.integrity import crc64
from oss_resumable_fs.engine.job_manifest import ManifestCorrupt, read_manifest
from oss_resumable_fs.engine.journal import (
    MAGIC,
    VERSION,
    JournalCorrupt,
    JournalHeader,
    new_header,
    read_journal,
)
from oss_resumable_fs.engine.plan import plan_parts
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.sources.oss import OSSRangeSource
from oss_resumable_fs.testing import OSSServer

from .outcomes import make_data, make_fs, record, settle
from .report import Collector

PART = 256 * 1024
SIZE = 2 * 1024 * 1024 + 99
IDENTITY = ObjectIdentity(size=SIZE, etag="E", last_modified="L", crc64=1)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _valid(header: JournalHeader, records: list[tuple[int, int]]) -> bytes:
    out = header.encode()
    for index, crc in records:
        body = struct.pack("<IQ", index, crc)
        out += body + struct.pack("<I", zlib.crc32(body))
    return out


def _parse(tmp: Path, blob: bytes) -> None:
    path = tmp / "j.ossr-journal"
    path.write_bytes(blob)
    try:
        state = read_journal(str(path))
    except JournalCorrupt:
        return
    total = len(plan_parts(state.header.identity.size, state.header.part_size))
    assert all(0 <= index < total for index in state.parts)
    assert state.valid_length <= len(blob)


HEADER = new_header("oss://b/k", "/tmp/k", IDENTITY, PART)
VALID = _valid(HEADER, [(i, i * 7) for i in range(5)])


@FUZZ
@given(st.binary(max_size=600))
def test_any_bytes(tmp_path_factory: pytest.TempPathFactory, blob: bytes) -> None:
    _parse(tmp_path_factory.mktemp("j"), blob)


@FUZZ
@given(st.data())
def test_mutated_valid_journal(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    blob = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    _parse(tmp_path_factory.mktemp("j"), bytes(blob[:cut]))


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_header_payload_with_valid_checksum(
    tmp_path_factory: pytest.TempPathFactory, value: object
) -> None:
    """A header whose checksum is right but whose JSON is anything at all."""
    payload = json.dumps(value).encode()
    head = struct.pack("<8sHI", MAGIC, VERSION, len(payload)) + payload
    _parse(tmp_path_factory.mktemp("j"), head + struct.pack("<Q", crc64(head)))


def test_deeply_nested_header_payload(tmp_path: Path) -> None:
    """BUG: json.loads raises RecursionError, which read_journal does not map to JournalCorrupt."""
    payload = b"[" * 60000
    head = struct.pack("<8sHI", MAGIC, VERSION, len(payload)) + payload
    _parse(tmp_path, head + struct.pack("<Q", crc64(head)))


def test_deeply_nested_job_manifest(tmp_path: Path) -> None:
    """BUG: read_manifest lets json's RecursionError through instead of ManifestCorrupt."""
    path = tmp_path / ".ossr-job"
    path.write_bytes(b"[" * 100_000 + b"\n")
    with pytest.raises(ManifestCorrupt):
        read_manifest(str(path))


@pytest.mark.parametrize("lie", ["wrong-crc", "zeroed-part", "swapped-parts"])
def test_resume_never_trusts_unmatched_parts(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector, lie: str
) -> None:
    """A journal (well formed, for this very object) whose records lie about the partial file."""
    data = make_data(SIZE, 21)
    chaos_server.put_object(bucket, "obj.bin", data)
    fs = make_fs(chaos_server)
    dest = tmp_path / "obj.bin"
    identity = OSSRangeSource(fs.client, bucket, "obj.bin").stat()
    parts = plan_parts(SIZE, PART)
    partial = bytearray(data)
    records = [(p.index, crc64(data[p.start : p.end])) for p in parts]
    if lie == "wrong-crc":
        records = [(i, c ^ 1) for i, c in records]
    elif lie == "zeroed-part":
        partial[parts[1].start : parts[1].end] = bytes(parts[1].size)
    else:
        a, b = parts[0], parts[2]
        partial[a.start : a.end], partial[b.start : b.end] = (
            data[b.start : b.end],
            data[a.start : a.end],
        )
    header = new_header(f"oss://{bucket}/obj.bin", str(dest), identity, PART)
    Path(str(dest) + ".ossr-journal").write_bytes(_valid(header, records))
    Path(str(dest) + ".ossr-partial").write_bytes(bytes(partial))
    results: list = []
    kind = settle(
        lambda: results.append(fs.get_file(f"{bucket}/obj.bin", str(dest))), {str(dest): data}
    )
    assert kind == "file"
    if lie != "wrong-crc":
        assert results[0].bytes_reused < SIZE
    record(collector, f"journal-lies[{lie}]", kind, chaos_server, minimum=SIZE)
