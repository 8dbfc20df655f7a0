"""How an idle connection takes work from a busy one (``engine/batches.py``)."""

from __future__ import annotations

from oss_resumable_fs.engine.batches import STEAL_RECHECK, Batch
from oss_resumable_fs.engine.meters import Meter
from oss_resumable_fs.engine.plan import plan_parts
from oss_resumable_fs.engine.pool import Coordinator
from oss_resumable_fs.engine.runs import Run


def test_a_look_for_work_to_take_that_finds_none_stands_a_moment(monkeypatch) -> None:
    # Parts not started yet, but at the measured rate each takes far less than a new
    # request would save: nothing is worth taking. The first idle connection looks at
    # every part; those falling idle in the next STEAL_RECHECK seconds take its answer.
    now = [100.0]
    looks: list[float] = []
    real_steal = Batch._steal

    def counted(self: Batch, meter: Meter, at: float) -> Run | None:
        looks.append(at)
        return real_steal(self, meter, at)

    monkeypatch.setattr(Batch, "_steal", counted)
    batch = Batch(
        Coordinator(None, "x"),
        plan_parts(8, 1),
        lambda *_: None,
        2,
        (0, 0),
        clock=lambda: now[0],
    )
    assert batch.take(level=4) is not None  # a run of two parts, neither started
    meter = Meter()
    meter.add_rate(1e9, 1 << 20)
    assert all(batch.steal(meter) is None for _ in range(50))
    assert looks == [100.0]
    now[0] += STEAL_RECHECK / 2
    assert batch.steal(meter) is None and len(looks) == 1
    now[0] += STEAL_RECHECK
    assert batch.steal(meter) is None and len(looks) == 2


def test_work_worth_taking_is_taken_at_every_look() -> None:
    # A slow rate: the unstarted half of a run is worth a request, look after look.
    batch = Batch(Coordinator(None, "x"), plan_parts(8, 1), lambda *_: None, 8, (0, 0))
    run = batch.take(level=1)
    assert run is not None
    meter = Meter()
    meter.add_rate(1.0, 1 << 20)
    first, second = batch.steal(meter), batch.steal(meter)
    assert first is not None and second is not None
    assert run.unclaimed() + first.unclaimed() + second.unclaimed() == 8
