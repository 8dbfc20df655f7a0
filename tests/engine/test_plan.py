from __future__ import annotations

import itertools

import pytest

from oss_resumable_fs.engine.plan import Part, bytes_in, missing_parts, part_count, plan_parts


def test_exact_multiple() -> None:
    parts = plan_parts(300, 100)
    assert parts == [Part(0, 0, 100), Part(1, 100, 200), Part(2, 200, 300)]
    assert part_count(300, 100) == 3


def test_odd_tail() -> None:
    parts = plan_parts(250, 100)
    assert [p.size for p in parts] == [100, 100, 50]
    assert parts[-1] == Part(2, 200, 250)
    assert part_count(250, 100) == 3


def test_smaller_than_a_part_and_empty() -> None:
    assert plan_parts(7, 100) == [Part(0, 0, 7)]
    assert plan_parts(0, 100) == []
    assert part_count(0, 100) == 0


def test_parts_cover_the_object_without_gaps() -> None:
    size = 10_000_019
    parts = plan_parts(size, 8192)
    assert parts[0].start == 0 and parts[-1].end == size
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert sum(p.size for p in parts) == size


def test_replan_from_what_is_done() -> None:
    parts = plan_parts(1000, 100)
    done = {0, 3, 9}
    todo = missing_parts(parts, done)
    assert [p.index for p in todo] == [1, 2, 4, 5, 6, 7, 8]
    assert bytes_in(parts, done) == 300
    assert bytes_in(plan_parts(250, 100), {2}) == 50


@pytest.mark.parametrize(("size", "part_size"), [(-1, 10), (10, 0)])
def test_rejects_nonsense(size: int, part_size: int) -> None:
    with pytest.raises(ValueError):
        plan_parts(size, part_size)
