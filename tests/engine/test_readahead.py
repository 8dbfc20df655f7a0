"""SequentialReadAhead: exact bytes for any read pattern, and nothing fetched twice or wasted."""

from __future__ import annotations

import itertools
import random
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from oss_resumable_fs.engine.readahead import FIRST_BLOCK, SequentialReadAhead

SIZE = 3 * 1024 * 1024 + 17
DATA = random.Random(7).randbytes(SIZE)
BLOCK = 512 * 1024


class Recorder:
    """A fetch pair over ``DATA`` that records every range asked for."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def fetch(self, start: int, end: int) -> bytes:
        with self._lock:
            self.ranges.append((start, end))
        return DATA[start:end]

    def fetch_into(self, start: int, view: memoryview) -> None:
        with self._lock:
            self.ranges.append((start, start + len(view)))
        view[:] = DATA[start : start + len(view)]

    @property
    def fetched(self) -> int:
        return sum(end - start for start, end in self.ranges)


def make(recorder: Recorder, max_blocks: int = 4) -> SequentialReadAhead:
    return SequentialReadAhead(
        recorder.fetch, recorder.fetch_into, SIZE, block_size=BLOCK, max_blocks=max_blocks
    )


reads = st.lists(
    st.tuples(
        st.one_of(st.integers(0, SIZE + 10), st.just(-1)),  # -1: where the last read ended
        st.integers(0, 2 * BLOCK),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(reads)
def test_every_read_pattern_gets_exact_bytes(pattern: list[tuple[int, int]]) -> None:
    recorder = Recorder()
    reader = make(recorder)
    position = 0
    try:
        for start, length in pattern:
            start = position if start == -1 else start
            got = reader.read(start, start + length)
            assert got == DATA[start : start + length]
            position = start + len(got)
    finally:
        reader.close()


def test_reading_front_to_back_fetches_each_byte_once_and_ahead_in_parallel() -> None:
    recorder = Recorder()
    reader = make(recorder, max_blocks=4)
    chunk = 64 * 1024
    out = b"".join(reader.read(offset, offset + chunk) for offset in range(0, SIZE, chunk))
    reader.close()
    assert out == DATA
    assert recorder.fetched == SIZE
    covered = sorted(recorder.ranges)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    # The window grew to whole blocks: far fewer requests than reads.
    assert len(recorder.ranges) < SIZE // chunk // 2
    assert max(end - start for start, end in recorder.ranges) == BLOCK


def test_random_access_fetches_exactly_what_is_asked() -> None:
    recorder = Recorder()
    reader = make(recorder)
    asks = [(SIZE - 8, SIZE), (SIZE - 5000, SIZE - 8), (1000, 3000), (100_000, 150_000), (10, 20)]
    for start, end in asks:
        assert reader.read(start, end) == DATA[start:end]
    reader.close()
    assert recorder.ranges == asks


def test_a_first_read_at_zero_fetches_only_what_it_asks() -> None:
    """``head(path, 100)`` must not start streaming megabytes."""
    recorder = Recorder()
    reader = make(recorder)
    assert reader.read(0, 100) == DATA[:100]
    reader.close()
    assert recorder.fetched == 100


def test_the_window_starts_small() -> None:
    """A reader that stops after two small reads wastes at most one small block."""
    recorder = Recorder()
    reader = make(recorder)
    reader.read(0, 100)
    reader.read(100, 200)
    reader.close()
    assert recorder.fetched <= 100 + 2 * FIRST_BLOCK + 2 * 200


def test_readline_style_steps_back_are_served_from_the_window() -> None:
    """fsspec's ``readline`` reads a block, then seeks back to just after the newline."""
    recorder = Recorder()
    reader = make(recorder)
    position = 0
    while position < SIZE:
        block = reader.read(position, position + BLOCK)
        assert block == DATA[position : position + BLOCK]
        position += min(len(block), 997)  # "a line" of 997 bytes
    reader.close()
    assert recorder.fetched < SIZE + 2 * BLOCK + 1000


def test_a_failed_block_raises_on_read_and_a_later_read_fetches_again() -> None:
    recorder = Recorder()
    failures = {"left": 1}

    def flaky_into(start: int, view: memoryview) -> None:
        if start > 0 and failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("cut")
        recorder.fetch_into(start, view)

    reader = SequentialReadAhead(recorder.fetch, flaky_into, SIZE, block_size=BLOCK, max_blocks=2)
    reader.read(0, 10)
    raised = False
    position = 10
    while position < SIZE:
        try:
            got = reader.read(position, position + 4096)
        except ConnectionResetError:
            raised = True
            continue
        assert got == DATA[position : position + 4096]
        position += len(got)
    reader.close()
    assert raised


def test_forward_jumps_over_blocks_still_in_flight_never_corrupt_reads() -> None:
    """A block skipped while its fetch still runs must not lend its buffer to a new block."""
    rng = random.Random(3)
    lock = threading.Lock()

    def slow_fetch_into(start: int, view: memoryview) -> None:
        with lock:
            delay = rng.random() * 0.004
        threading.Event().wait(delay)
        view[:] = DATA[start : start + len(view)]

    for seed in range(5):
        steps = random.Random(seed)
        reader = SequentialReadAhead(
            lambda s, e: DATA[s:e], slow_fetch_into, SIZE, block_size=256 * 1024, max_blocks=4
        )
        position = 0
        try:
            while position < SIZE:
                if steps.random() < 0.2:
                    position += steps.randint(1, 600 * 1024)  # jump ahead, maybe past a block
                length = steps.choice([10, 4096, 100_000])
                assert (
                    reader.read(position, position + length) == DATA[position : position + length]
                )
                position += length
        finally:
            reader.close()


def test_a_read_wider_than_the_window_is_exact_and_keeps_nothing() -> None:
    recorder = Recorder()
    reader = make(recorder, max_blocks=2)
    reader.read(0, 100)
    assert reader.read(100, SIZE) == DATA[100:]
    assert recorder.ranges == [(0, 100), (100, SIZE)]
    assert not reader._blocks
    reader.close()


def test_readline_steps_grow_the_window_by_bytes_read_not_by_calls() -> None:
    """Six ``readline`` calls of a huge object must not stream the whole window."""
    recorder = Recorder()
    reader = make(recorder, max_blocks=8)
    position = 0
    for _ in range(6):
        reader.read(position, position + BLOCK)
        position += 120  # one short line used per call
    reader.close()
    assert recorder.fetched <= 4 * BLOCK


def test_a_front_to_back_reader_reaches_the_full_window_within_a_few_blocks() -> None:
    """Speed comes from many blocks in flight: a CSV parser's steady small reads must get
    there after a few blocks, not after reading a whole window's worth."""
    recorder = Recorder()
    block = FIRST_BLOCK
    reader = SequentialReadAhead(
        recorder.fetch, recorder.fetch_into, SIZE, block_size=block, max_blocks=9
    )
    position = 0
    while sum(1 for b in reader._blocks if b.start >= position) < 8:
        reader.read(position, position + 64 * 1024)
        position += 64 * 1024
        assert position <= 4 * block, "the window grows too slowly"
    reader.close()


def test_reads_wider_than_one_block_stay_within_max_blocks() -> None:
    for read_size in (64 * 1024, 256 * 1024, 512 * 1024, 768 * 1024):
        recorder = Recorder()
        reader = SequentialReadAhead(
            recorder.fetch, recorder.fetch_into, SIZE, block_size=FIRST_BLOCK, max_blocks=4
        )
        position, most = 0, 0
        while position < SIZE:
            reader.read(position, position + read_size)
            most = max(most, len(reader._blocks))
            position += read_size
        reader.close()
        assert most <= 4, (read_size, most)
