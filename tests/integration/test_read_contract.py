"""fsspec's read contract, call for call, with fsspec's own ``LocalFileSystem`` as the oracle.

The same bytes are written to a local file and to an object; ``cat_file``,
``cat_ranges``, ``cat``, ``head``, ``tail``, ``read_block``, file objects
(``seek`` / ``read`` / ``readinto`` / ``tell`` / lines, for every cache type)
and the metadata calls must give the same answers, or raise an exception of
the oracle's type (a subclass is fine: ``ObjectNotFoundError`` is a
``FileNotFoundError``). Each test checks its whole grid and then reports every
disagreeing call at once.

Then what no oracle can show: an object overwritten under a reader is reported
(``ObjectChangedError``), never answered with a mix of old and new bytes; reads
survive transient faults; ranged reads of an open file are pinned to the ETag.
"""

from __future__ import annotations

import errno
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

from oss_resumable_fs import ObjectChangedError, ResumableOSSFileSystem
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import RecordingProxy, make_data, make_fs
from .readers import Mismatches, Outcome, Twin, outcome, server_bytes, server_etag

BIG = "big.bin"
EMPTY = "empty.bin"
ONE = "one.bin"
TEXT = "lines.txt"
INNER = "dir/inner.bin"
OBJECTS = (BIG, EMPTY, ONE, TEXT)
MISSING = ("missing.bin", "dir/missing.bin", "nodir/missing.bin")

BIG_SIZE = 3 * MiB + 17
BIG_DATA = make_data(BIG_SIZE, seed=7)
#: A small block size: reads of an open file go to the network again and again.
BLOCK = 64 * KiB


def make_text(seed: int = 5) -> bytes:
    """Lines of varied length (some empty, one longer than a block, multi-byte
    UTF-8, a CRLF), the last one without a newline."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "δέλτα", "ε", "日本語", "zeta", "x" * 40, ""]
    lines = [
        f"{i}," + " ".join(rng.choice(words) for _ in range(rng.randrange(20))) for i in range(5000)
    ]
    lines[2500] = "L" * (100 * KiB)
    lines[1000] = ""
    lines[1001] = "crlf line\r"
    return ("\n".join(lines) + "\nlast line without a newline").encode()


TEXT_DATA = make_text()

#: Open options: the filesystem's defaults, then every cache type over small blocks.
OPEN_OPTIONS = {
    "defaults": {},
    "default-cache": {"block_size": BLOCK},
    "none": {"block_size": BLOCK, "cache_type": "none"},
    "bytes": {"block_size": BLOCK, "cache_type": "bytes"},
    "readahead": {"block_size": BLOCK, "cache_type": "readahead"},
    "blockcache": {"block_size": BLOCK, "cache_type": "blockcache"},
}
#: The filesystem's default cache (None: cache_type not given), then fsspec's.
CACHE_TYPES = (None, "none", "bytes", "readahead", "blockcache")
CACHE_IDS = ["default", "none", "bytes", "readahead", "blockcache"]


def cache(cache_type: str | None) -> dict[str, Any]:
    return {} if cache_type is None else {"cache_type": cache_type}


@pytest.fixture
def twin(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> Twin:
    pair = Twin(LocalFileSystem(), tmp_path / "local", fs, oss_bucket, oss_server)
    pair.put(BIG, BIG_DATA)
    pair.put(EMPTY, b"")
    pair.put(ONE, b"\n")
    pair.put(TEXT, TEXT_DATA)
    pair.put(INNER, b"inner")
    return pair


def compare(
    twin: Twin, mismatches: Mismatches, name: str, method: str, *args: Any, **kwargs: Any
) -> None:
    """``fs.<method>(path, *args, **kwargs)`` on both sides."""
    expected, actual = twin.both(lambda fs, path: getattr(fs, method)(path, *args, **kwargs), name)
    shown = ", ".join([repr(name), *map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    mismatches.check(f"{method}({shown})", expected, actual)


def dedupe(values: list[int | None]) -> list[int | None]:
    return list(dict.fromkeys(values))


def edge_values(size: int) -> list[int | None]:
    return dedupe(
        [
            None,
            0,
            1,
            size - 1,
            size,
            size + 5,
            -1,
            -10,
            -size,
            -(size + 5),
            size // 3,
            size // 2 + 7,
        ]
    )


def local_quirk(size: int, start: int | None, end: int | None) -> bool:
    """True for the inverted ranges LocalFileSystem answers by accident.

    ``cat_file`` reads ``end - position`` bytes: an inverted range reads a
    negative count, which io refuses (ValueError), except -1, io's "read to the
    end" sentinel: ``cat_file(p, 10, 9)`` returns ``p[10:]``, and at or past the
    end (or on an empty file, ``cat_file(p, end=-1)``) ``b""``. That is an accident
    of the sentinel, not a contract: these pairs are not compared with the oracle
    but checked by :func:`check_inverted_by_one`.
    """
    if end is None:
        return False
    position = 0 if start is None else start if start >= 0 else max(0, size + start)
    stop = end if end >= 0 else size + end
    return stop - position == -1


def check_inverted_by_one(
    twin: Twin, mismatches: Mismatches, name: str, start: int | None, end: int | None
) -> None:
    """A range inverted by one byte: empty bytes or ValueError, as any other
    inverted range; never the bytes up to the end of the object."""
    actual = outcome(lambda: twin.remote.cat_file(twin.rpath(name), start, end))
    empty = actual.error is None and actual.value == b""
    mismatches.expect(
        f"cat_file({name!r}, {start}, {end}) (inverted by one byte)",
        empty or isinstance(actual.error, ValueError),
        f"b'' or ValueError, got {actual.describe()}",
    )


# -- cat_file -----------------------------------------------------------------------


@pytest.mark.parametrize("name", OBJECTS)
def test_cat_file_grid(twin: Twin, name: str) -> None:
    size = twin.sizes[name]
    values = edge_values(size)
    mismatches = Mismatches()
    for start in values:
        for end in values:
            if local_quirk(size, start, end):
                check_inverted_by_one(twin, mismatches, name, start, end)
            else:
                compare(twin, mismatches, name, "cat_file", start, end)
    mismatches.assert_none()


@pytest.mark.parametrize("name", [BIG, TEXT])
def test_cat_file_random_ranges(twin: Twin, name: str) -> None:
    size = twin.sizes[name]
    rng = random.Random(f"cat_file {name}")

    def draw() -> int | None:
        roll = rng.random()
        if roll < 0.1:
            return None
        if roll < 0.2:
            return rng.choice([0, size, -size, size - 1])
        if roll < 0.3:
            return rng.randint(-(size + 10), -1)
        return rng.randint(0, size + 10)

    mismatches = Mismatches()
    for _ in range(80):
        start, end = draw(), draw()
        if local_quirk(size, start, end):
            check_inverted_by_one(twin, mismatches, name, start, end)
        else:
            compare(twin, mismatches, name, "cat_file", start, end)
    mismatches.assert_none()


def test_cat_file_accepts_ossr_urls(twin: Twin) -> None:
    url = f"ossr://{twin.rpath(BIG)}"
    assert twin.remote.cat_file(url) == BIG_DATA
    assert twin.remote.cat_file(url, 5, 105) == BIG_DATA[5:105]
    assert twin.remote.cat_file(url, -100) == BIG_DATA[-100:]


def test_cat_file_of_missing_objects(twin: Twin) -> None:
    mismatches = Mismatches()
    for name in MISSING:
        compare(twin, mismatches, name, "cat_file")
        compare(twin, mismatches, name, "cat_file", 0, 10)
    mismatches.assert_none()


# -- cat_ranges, cat, head, tail, read_block ------------------------------------------


def check_ranges(
    twin: Twin,
    mismatches: Mismatches,
    names: list[str],
    starts: Any,
    ends: Any,
    **kwargs: Any,
) -> None:
    """``cat_ranges`` on both sides: one answer per range (bytes, or an exception)."""
    label = f"cat_ranges({names}, {starts}, {ends}, {kwargs})"
    expected = outcome(
        lambda: twin.local.cat_ranges([twin.lpath(n) for n in names], starts, ends, **kwargs)
    )
    actual = outcome(
        lambda: twin.remote.cat_ranges([twin.rpath(n) for n in names], starts, ends, **kwargs)
    )
    if expected.error is not None or actual.error is not None:
        mismatches.check(label, expected, actual)
        return
    if not isinstance(actual.value, list) or len(actual.value) != len(names):
        mismatches.check(label, expected, actual)
        return
    for i, (mine, theirs) in enumerate(zip(expected.value, actual.value, strict=True)):
        s = starts[i] if isinstance(starts, list) else starts
        e = ends[i] if isinstance(ends, list) else ends
        mismatches.check(
            f"cat_ranges item {i}: ({names[i]!r}, {s}, {e})", as_outcome(mine), as_outcome(theirs)
        )


def as_outcome(item: Any) -> Outcome:
    return Outcome(error=item) if isinstance(item, BaseException) else Outcome(value=item)


def test_cat_ranges(twin: Twin) -> None:
    size = BIG_SIZE
    ranges = [
        (BIG, 0, 10),
        (BIG, 2 * MiB, 2 * MiB + 100),
        (BIG, 10, 10),  # empty
        (BIG, size - 5, size + 100),  # runs past the end
        (BIG, size + 5, size + 10),  # wholly past the end
        (BIG, size, size),
        (BIG, -100, None),
        (BIG, None, 100),
        (BIG, 1000, -1000),
        (BIG, 0, size),
        (BIG, 100, 50_000),  # overlaps the next one
        (BIG, 60, 70),
        (BIG, 5 * KiB, 5 * KiB + 1),
        (BIG, 500, 400),  # inverted
        (ONE, 0, 1),
        (ONE, 0, 5),
        (EMPTY, 0, 0),
        (EMPTY, 0, 10),
        (TEXT, 5, 500),
        ("missing.bin", 0, 10),
    ]
    names = [r[0] for r in ranges]
    starts = [r[1] for r in ranges]
    ends = [r[2] for r in ranges]
    mismatches = Mismatches()
    check_ranges(twin, mismatches, names, starts, ends)
    # One start and one end for every path.
    check_ranges(twin, mismatches, [BIG, TEXT, ONE, EMPTY], 0, 10)
    check_ranges(twin, mismatches, [BIG, BIG, TEXT], 3, 3)
    # Only valid ranges, errors raised: the plain list of bytes.
    valid = [i for i, r in enumerate(ranges) if r[0] != "missing.bin" and r[1:] != (500, 400)]
    check_ranges(
        twin,
        mismatches,
        [names[i] for i in valid],
        [starts[i] for i in valid],
        [ends[i] for i in valid],
        on_error="raise",
    )
    # A missing path with on_error="raise" raises FileNotFoundError.
    check_ranges(twin, mismatches, [BIG, "missing.bin"], [0, 0], [10, 10], on_error="raise")
    mismatches.assert_none()


def by_name(result: dict[str, bytes], root: str) -> dict[str, bytes]:
    return {key.split(root + "/", 1)[-1]: value for key, value in result.items()}


def test_cat(twin: Twin) -> None:
    mismatches = Mismatches()
    for name in [*OBJECTS, *MISSING]:
        compare(twin, mismatches, name, "cat")
    mismatches.assert_none()

    names = list(OBJECTS)
    local = twin.local.cat([twin.lpath(n) for n in names])
    remote = twin.remote.cat([twin.rpath(n) for n in names])
    assert by_name(remote, twin.bucket) == by_name(local, twin.local_root.as_posix())
    assert by_name(remote, twin.bucket) == {n: twin.local.cat(twin.lpath(n)) for n in names}

    omitted = twin.remote.cat([twin.rpath(BIG), twin.rpath("missing.bin")], on_error="omit")
    assert by_name(omitted, twin.bucket) == {BIG: BIG_DATA}
    with pytest.raises(FileNotFoundError):
        twin.remote.cat([twin.rpath(BIG), twin.rpath("missing.bin")])


@pytest.mark.parametrize("name", OBJECTS)
def test_head_and_tail(twin: Twin, name: str) -> None:
    size = twin.sizes[name]
    mismatches = Mismatches()
    for n in dedupe([0, 1, 100, 70_000, size, size + 5]):
        compare(twin, mismatches, name, "head", n)
        compare(twin, mismatches, name, "tail", n)
    mismatches.assert_none()


@pytest.mark.parametrize("name", OBJECTS)
def test_read_block(twin: Twin, name: str) -> None:
    size = twin.sizes[name]
    # LocalFileSystem raises ValueError (a negative read) for an offset past the end:
    # an accident of its read(-n), not a contract; offsets stop at the size.
    offsets = dedupe(
        [o for o in [0, 1, size // 3, size // 2 + 1, size - 1, size] if 0 <= o <= size]
    )
    lengths = dedupe([0, 1, 100, 70_000, size, size + 5, None])
    mismatches = Mismatches()
    for offset in offsets:
        for length in lengths:
            compare(twin, mismatches, name, "read_block", offset, length, delimiter=b"\n")
            compare(twin, mismatches, name, "read_block", offset, length)
    mismatches.assert_none()


# -- file objects ---------------------------------------------------------------------


Step = tuple[Any, ...]


def binary_script(size: int) -> list[Step]:
    mid = size // 2 + 3
    return [
        ("tell",),
        ("read", 0),
        ("tell",),
        ("read", 1),
        ("tell",),
        ("read", 4096),
        ("tell",),
        ("seek", 100, 0),
        ("read", 10),
        ("seek", 10, 1),
        ("read", 10),
        ("tell",),
        ("seek", -20, 1),
        ("read", 10),
        ("seek", -100, 2),
        ("tell",),
        ("read", -1),
        ("tell",),
        ("read",),  # after EOF
        ("read", 1),
        ("tell",),
        ("seek", -1, 0),  # before the start: an error, the position unchanged
        ("tell",),
        ("seek", -(size + 5), 2),
        ("tell",),
        ("seek", size + 10, 0),  # past the end
        ("tell",),
        ("read", 5),
        ("read",),
        ("readinto", 8),
        ("tell",),
        ("seek", 0, 0),
        ("read", size),
        ("read", 1),
        ("tell",),
        ("seek", 0, 0),
        ("read", size + 1),
        ("tell",),
        ("seek", 5, 2),
        ("tell",),
        ("read",),
        ("seek", mid, 0),
        ("readinto", 4096),
        ("tell",),
        ("readinto", 0),
        ("seek", -3, 2),
        ("readinto", 10),
        ("readinto", 10),
        ("tell",),
        ("seek", 1, 0),
        ("read", -1),
        ("tell",),
        ("seek", -(size // 3), 2),
        ("read", 70_000),
        ("seek", -70_000, 1),
        ("read", 140_000),
        ("seek", mid, 0),
        ("read", 4096),
        ("seek", mid - 4096, 0),  # backwards, across what was just read
        ("read", 8192),
        ("seek", 0, 2),
        ("read", 1),
        ("tell",),
        ("seek", 0, 0),
        ("read", BLOCK),
        ("read", BLOCK),
        ("read", BLOCK + 1),
        ("readinto", BLOCK),
        ("tell",),
        ("seek", 0, 1),
        ("read",),
        ("tell",),
    ]


LINE_SCRIPT: list[Step] = [
    ("readline",),
    ("readline",),
    ("read", 7),
    ("readline",),
    ("tell",),
    ("lines",),  # iterate to the end
    ("readline",),
    ("read",),
    ("seek", 0, 0),
    ("readlines",),
    ("seek", 0, 0),
    ("read",),
]


def run_step(f: Any, step: Step) -> Outcome:
    op, *args = step
    if op == "readinto":
        buffer = bytearray(args[0])
        return outcome(lambda: (f.readinto(buffer), bytes(buffer)))
    if op == "lines":
        return outcome(lambda: list(f))
    return outcome(lambda: getattr(f, op)(*args))


def seek_before_start(expected: Outcome, actual: Outcome) -> bool:
    """Local files raise OSError(EINVAL), fsspec's buffered files ValueError: both say no."""
    return (
        isinstance(expected.error, OSError)
        and expected.error.errno == errno.EINVAL
        and isinstance(actual.error, (OSError, ValueError))
    )


def run_script(
    twin: Twin, name: str, mode: str, script: list[Step], options: dict[str, Any]
) -> None:
    mismatches = Mismatches()
    label = f"open({name!r}, {mode!r}, {options})"
    kwargs = {"encoding": "utf-8"} if "t" in mode else {}
    with (
        twin.local.open(twin.lpath(name), mode, **kwargs) as local,
        twin.remote.open(twin.rpath(name), mode, **kwargs, **options) as remote,
    ):
        for i, step in enumerate(script):
            expected, actual = run_step(local, step), run_step(remote, step)
            if step[0] == "seek" and seek_before_start(expected, actual):
                continue
            mismatches.check(f"{label} step {i} {step}", expected, actual)
    mismatches.assert_none()


@pytest.mark.parametrize("options", OPEN_OPTIONS.values(), ids=OPEN_OPTIONS.keys())
@pytest.mark.parametrize("name", OBJECTS)
def test_file_object_seek_read_tell(twin: Twin, name: str, options: dict[str, Any]) -> None:
    run_script(twin, name, "rb", binary_script(twin.sizes[name]), options)


@pytest.mark.parametrize("options", OPEN_OPTIONS.values(), ids=OPEN_OPTIONS.keys())
def test_file_object_lines_binary(twin: Twin, options: dict[str, Any]) -> None:
    run_script(twin, TEXT, "rb", [step for step in LINE_SCRIPT if step[0] != "tell"], options)


@pytest.mark.parametrize("options", OPEN_OPTIONS.values(), ids=OPEN_OPTIONS.keys())
def test_file_object_lines_text(twin: Twin, options: dict[str, Any]) -> None:
    # A text file's tell() is an opaque cookie: not compared.
    run_script(twin, TEXT, "rt", [step for step in LINE_SCRIPT if step[0] != "tell"], options)


@pytest.mark.parametrize("mode", ["rb", "rt"])
@pytest.mark.parametrize("options", [{}, {"block_size": BLOCK}], ids=["defaults", "small-blocks"])
def test_line_iteration_fetches_each_block_about_once(
    twin: Twin, oss_server: OSSServer, mode: str, options: dict[str, Any]
) -> None:
    """``readline`` reads a block, then seeks back to the line's end: the default
    cache must serve that from memory, not with a new GET for every line."""
    size = twin.sizes[TEXT]
    oss_server.reset_stats()
    with twin.remote.open(twin.rpath(TEXT), mode, **options) as f:
        lines = sum(1 for _ in f)
        blocksize = (f.buffer if mode == "rt" else f).blocksize
    assert lines == TEXT_DATA.count(b"\n") + 1
    blocks = -(-size // blocksize)
    stats = oss_server.stats()
    gets = stats.requests.get("GetObject", 0)
    assert gets <= 4 * blocks + 16, f"{gets} GETs for {lines} lines in {blocks} blocks"
    assert stats.total_bytes_served <= 4 * size


def test_text_iteration_of_small_objects(twin: Twin) -> None:
    for name in (EMPTY, ONE):
        with twin.remote.open(twin.rpath(name), "rt", encoding="utf-8") as f:
            assert list(f) == twin.local.open(twin.lpath(name), "rt").readlines()


def test_file_object_after_close(twin: Twin) -> None:
    f = twin.remote.open(twin.rpath(BIG), "rb", block_size=BLOCK)
    assert f.read(10) == BIG_DATA[:10]
    f.close()
    with pytest.raises(ValueError):
        f.read(10)


# -- metadata -------------------------------------------------------------------------


def metadata_calls(twin: Twin, mismatches: Mismatches, name: str) -> None:
    for method in ("isfile", "isdir", "exists"):
        compare(twin, mismatches, name, method)
    expected, actual = twin.both(lambda fs, path: fs.info(path)["type"], name)
    mismatches.check(f"info({name!r})['type']", expected, actual)


@pytest.mark.parametrize("name", [*OBJECTS, INNER])
def test_metadata_of_a_file(twin: Twin, name: str) -> None:
    mismatches = Mismatches()
    metadata_calls(twin, mismatches, name)
    compare(twin, mismatches, name, "size")
    expected, actual = twin.both(lambda fs, path: fs.info(path)["size"], name)
    mismatches.check(f"info({name!r})['size']", expected, actual)
    mismatches.assert_none()
    assert twin.remote.info(twin.rpath(name))["name"] == twin.rpath(name)
    assert twin.remote.info(f"ossr://{twin.rpath(name)}")["size"] == twin.sizes[name]


def test_metadata_of_a_directory(twin: Twin) -> None:
    mismatches = Mismatches()
    metadata_calls(twin, mismatches, "dir")
    mismatches.assert_none()


@pytest.mark.parametrize("name", MISSING)
def test_metadata_of_a_missing_path(twin: Twin, name: str) -> None:
    mismatches = Mismatches()
    metadata_calls(twin, mismatches, name)
    for method in ("info", "size", "open"):
        compare(twin, mismatches, name, method)
    mismatches.assert_none()
    with pytest.raises(FileNotFoundError):
        twin.remote.info(twin.rpath(name))


def test_ukey_and_checksum_follow_the_object(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str
) -> None:
    path = f"{oss_bucket}/versioned.bin"
    size = 300 * KiB
    oss_server.put_object(oss_bucket, "versioned.bin", make_data(size, seed=1))
    ukey, checksum = fs.ukey(path), fs.checksum(path)
    # Stable while the object is unchanged: again, and from another instance.
    assert (fs.ukey(path), fs.checksum(path)) == (ukey, checksum)
    other = make_fs(oss_server)
    assert (other.ukey(path), other.checksum(path)) == (ukey, checksum)

    oss_server.put_object(oss_bucket, "versioned.bin", make_data(size, seed=2))  # same size
    fresh = make_fs(oss_server)
    assert fresh.ukey(path) != ukey
    assert fresh.checksum(path) != checksum
    # The first instance sees the change once its listings are invalidated.
    fs.invalidate_cache()
    new_ukey, new_checksum = fs.ukey(path), fs.checksum(path)
    assert (new_ukey, new_checksum) != (ukey, checksum)
    assert new_ukey != ukey and new_checksum != checksum
    assert (fs.ukey(path), fs.checksum(path)) == (new_ukey, new_checksum)
    assert (fresh.ukey(path), fresh.checksum(path)) == (new_ukey, new_checksum)


# -- an object that changes under a reader -------------------------------------------


KEY = "changing.bin"
SIZE = 2 * MiB + 5


@pytest.fixture
def old(oss_server: OSSServer, oss_bucket: str) -> bytes:
    data = make_data(SIZE, seed=31)
    oss_server.put_object(oss_bucket, KEY, data)
    return data


def read_until_changed(f: Any, old: bytes, got: bytearray, step: int = BLOCK) -> None:
    """Read ``f`` to its end, checking that every byte so far is the old version's."""
    while chunk := f.read(step):
        got += chunk
        assert got == old[: len(got)], f"bytes {len(got) - len(chunk)}..{len(got)} mix versions"


@pytest.mark.parametrize("cache_type", CACHE_TYPES, ids=CACHE_IDS)
def test_overwrite_while_open_is_detected(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, old: bytes, cache_type: str
) -> None:
    new = make_data(SIZE, seed=32)
    with fs.open(f"{oss_bucket}/{KEY}", "rb", block_size=BLOCK, **cache(cache_type)) as f:
        got = bytearray(f.read(1000))
        assert got == old[:1000]
        oss_server.put_object(oss_bucket, KEY, new)  # other bytes, same size
        with pytest.raises(ObjectChangedError):
            read_until_changed(f, old, got)
    assert len(got) < SIZE


@pytest.mark.parametrize("cache_type", CACHE_TYPES, ids=CACHE_IDS)
def test_overwrite_then_seek_ahead_is_detected(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, old: bytes, cache_type: str
) -> None:
    with fs.open(f"{oss_bucket}/{KEY}", "rb", block_size=BLOCK, **cache(cache_type)) as f:
        assert f.read(BLOCK // 2) == old[: BLOCK // 2]
        oss_server.put_object(oss_bucket, KEY, make_data(SIZE, seed=33))
        f.seek(MiB + 3)
        with pytest.raises(ObjectChangedError):
            data = f.read(3 * BLOCK)
            assert data == old[MiB + 3 : MiB + 3 + 3 * BLOCK], "read the new version's bytes"


def test_replace_fault_during_an_open_read(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, old: bytes
) -> None:
    # The GET that first covers byte 1 MiB rewrites the object just before it is answered.
    oss_server.add_fault(FaultRule("replace", key=KEY, byte_range=(MiB, MiB + 1)))
    got = bytearray()
    with fs.open(f"{oss_bucket}/{KEY}", "rb", block_size=BLOCK) as f:
        assert f.read(100) == old[:100]
        got += old[:100]
        with pytest.raises(ObjectChangedError):
            read_until_changed(f, old, got, step=BLOCK // 3)
    assert len(got) <= MiB  # the old byte at 1 MiB was never served
    assert oss_server.stats().faults_by_kind() == {"replace": 1}


def consistent(result: Outcome, old: bytes, new: bytes, start: int = 0, end: int = SIZE) -> None:
    """All old bytes, all new bytes, or ObjectChangedError; nothing else."""
    assert new != old
    if result.error is not None:
        assert isinstance(result.error, ObjectChangedError), result.describe()
        return
    value = bytes(result.value)
    assert value in (old[start:end], new[start:end]), (
        f"cat_file returned {len(value)} bytes that are neither the old version "
        f"({value == old[start : start + len(value)]} as a prefix) nor the new one"
    )


@pytest.mark.parametrize(("start", "end"), [(None, None), (100, SIZE - 100)])
def test_cat_file_racing_a_replace(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    old: bytes,
    start: int | None,
    end: int | None,
) -> None:
    # Whatever GET first covers byte 1.5 MiB rewrites the object before it is answered.
    oss_server.add_fault(
        FaultRule("replace", key=KEY, byte_range=(MiB + MiB // 2, MiB + MiB // 2 + 1))
    )
    result = outcome(lambda: fs.cat_file(f"{oss_bucket}/{KEY}", start, end))
    assert oss_server.stats().faults_by_kind() == {"replace": 1}
    new = server_bytes(oss_server, oss_bucket, KEY)
    consistent(result, old, new, start or 0, end or SIZE)


def wait_for_fault(oss_server: OSSServer, kind: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while kind not in oss_server.stats().faults_by_kind():
        assert time.monotonic() < deadline, f"no {kind} fault fired within {timeout} s"
        time.sleep(0.005)


def test_cat_file_replaced_mid_response(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, old: bytes
) -> None:
    """The connection breaks after some old bytes; before the client asks for the rest,
    the object is replaced. Resuming without If-Match would splice two versions."""
    after = 100_000
    oss_server.add_fault(FaultRule("stall", key=KEY, after_bytes=after, seconds=1.0))
    oss_server.add_fault(FaultRule("reset", key=KEY, after_bytes=after))
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(outcome, lambda: fs.cat_file(f"{oss_bucket}/{KEY}"))
        wait_for_fault(oss_server, "stall")
        # The broken GET is already being answered: the replace strikes the next GET.
        oss_server.add_fault(FaultRule("replace", key=KEY))
        result = future.result(timeout=120)
    consistent(result, old, server_bytes(oss_server, oss_bucket, KEY))
    assert oss_server.stats().faults_by_kind() == {"stall": 1, "reset": 1, "replace": 1}


@pytest.mark.parametrize("cache_type", [None, "none"], ids=["default", "none"])
def test_open_file_replaced_mid_response(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    old: bytes,
    cache_type: str | None,
) -> None:
    """As above, for a file being read: old bytes up to the break, then an error."""
    after = 20_000
    region = (MiB, MiB + 1)
    oss_server.add_fault(
        FaultRule("stall", key=KEY, after_bytes=after, seconds=1.0, byte_range=region)
    )
    oss_server.add_fault(FaultRule("reset", key=KEY, after_bytes=after, byte_range=region))
    got = bytearray()

    def read_all() -> None:
        with fs.open(f"{oss_bucket}/{KEY}", "rb", block_size=BLOCK, **cache(cache_type)) as f:
            read_until_changed(f, old, got, step=BLOCK)

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(outcome, read_all)
        wait_for_fault(oss_server, "stall")
        oss_server.add_fault(FaultRule("replace", key=KEY))
        result = future.result(timeout=120)
    assert isinstance(result.error, ObjectChangedError), result.describe()
    assert got == old[: len(got)] and len(got) < SIZE


# -- transient faults -------------------------------------------------------------------


def read_in_steps(f: Any, step: int) -> bytes:
    out = bytearray()
    while chunk := f.read(step):
        out += chunk
    return bytes(out)


@pytest.mark.parametrize(
    "cache_type",
    [None, "readahead", "none", "blockcache"],
    ids=["default", "readahead", "none", "blockcache"],
)
def test_open_file_survives_reset_and_503(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, old: bytes, cache_type: str
) -> None:
    after = 20_000
    region = (MiB, MiB + 1)
    # A pause before the reset lets the bytes sent reach the client (see test_fs_faults).
    oss_server.add_fault(
        FaultRule("stall", key=KEY, after_bytes=after, seconds=0.2, byte_range=region)
    )
    oss_server.add_fault(FaultRule("reset", key=KEY, after_bytes=after, byte_range=region))
    later = (MiB + MiB // 2, MiB + MiB // 2 + 1)
    oss_server.add_fault(FaultRule("error", key=KEY, status=503, seconds=0.05, byte_range=later))
    with fs.open(f"{oss_bucket}/{KEY}", "rb", block_size=BLOCK, **cache(cache_type)) as f:
        assert read_in_steps(f, BLOCK // 2 + 1) == old
        f.seek(MiB - 7)
        assert f.read(BLOCK) == old[MiB - 7 : MiB - 7 + BLOCK]
    stats = oss_server.stats()
    assert stats.faults_by_kind() == {"stall": 1, "reset": 1, "error": 1}
    # The server counts requests that carried If-Match (not their values): every
    # GetObject of the file, the retried ones included, was conditional.
    gets = stats.requests.get("GetObject", 0)
    assert gets >= 3
    assert stats.if_match_requests >= gets


def test_cat_file_survives_reset_and_503(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, old: bytes
) -> None:
    after = 100_000
    oss_server.add_fault(FaultRule("stall", key=KEY, after_bytes=after, seconds=0.2))
    oss_server.add_fault(FaultRule("reset", key=KEY, after_bytes=after))
    assert fs.cat_file(f"{oss_bucket}/{KEY}") == old
    oss_server.add_fault(FaultRule("error", key=KEY, status=503, seconds=0.05, times=2))
    assert fs.cat_file(f"{oss_bucket}/{KEY}", 10, MiB) == old[10:MiB]
    assert oss_server.stats().faults_by_kind() == {"stall": 1, "reset": 1, "error": 2}


def test_ranged_reads_of_an_open_file_carry_the_etag(
    oss_server: OSSServer, oss_bucket: str, old: bytes, proxy: RecordingProxy
) -> None:
    etag = server_etag(oss_server, oss_bucket, KEY)
    fs = make_fs(oss_server, endpoint=proxy.endpoint)
    with fs.open(f"{oss_bucket}/{KEY}", "rb", block_size=BLOCK) as f:
        assert f.read(BLOCK + 1) == old[: BLOCK + 1]
        f.seek(MiB)
        assert f.read(3 * BLOCK) == old[MiB : MiB + 3 * BLOCK]
        f.seek(-10, 2)
        assert f.read() == old[-10:]
    ranged = [h for line, h in proxy.requests() if line.startswith("GET ") and "range" in h]
    assert len(ranged) >= 3
    assert [h.get("if-match", "").strip('"') for h in ranged] == [etag] * len(ranged)


def test_many_small_reads_match_the_local_file(twin: Twin) -> None:
    """Odd-sized reads in a row, across many block boundaries, for each cache type."""
    for cache_type in CACHE_TYPES:
        rng = random.Random(str(cache_type))
        with twin.remote.open(twin.rpath(BIG), "rb", block_size=BLOCK, **cache(cache_type)) as f:
            position = 0
            while position < BIG_SIZE:
                n = rng.choice([1, 7, 4095, 4097, BLOCK - 1, BLOCK + 1])
                assert f.read(n) == BIG_DATA[position : position + n], (cache_type, position, n)
                position = min(position + n, BIG_SIZE)
                assert f.tell() == position
