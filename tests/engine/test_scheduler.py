"""One scheduler for every part: runs of parts per request, stealing, sharing, tuning."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from oss_resumable_fs.config import MiB, TransferConfig
from oss_resumable_fs.engine.plan import Part, plan_parts
from oss_resumable_fs.engine.pool import Coordinator
from oss_resumable_fs.engine.runs import Run
from oss_resumable_fs.engine.scheduler import Scheduler
from oss_resumable_fs.engine.transfer import Downloader
from oss_resumable_fs.errors import AccessDeniedError

from .conftest import make_data
from .fakes import FakeSource

#: The default journal part (2 MiB) and request (up to 8 MiB) sizes are in play.
SIZE = 24 * MiB


def defaults(**changes: object) -> TransferConfig:
    settings: dict[str, object] = {"single_request_threshold": 0, "backoff_base": 0.01}
    settings.update(changes)
    return TransferConfig(**settings)  # type: ignore[arg-type]


def test_few_connections_read_several_parts_per_request(tmp_path: Path) -> None:
    source = FakeSource(make_data(SIZE))
    result = Downloader(defaults(concurrency=2)).download(source, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == source.data
    assert result.parts_total == SIZE // (2 * MiB)
    # Two connections over twelve 2 MiB parts: the first requests read four parts each.
    assert sorted(end - start for start, end in source.requests[:2]) == [8 * MiB, 8 * MiB]
    assert source.bytes_served == SIZE  # every byte once
    assert len(source.requests) < result.parts_total


def test_an_explicit_part_size_is_the_request_size(tmp_path: Path) -> None:
    source = FakeSource(make_data(SIZE))
    Downloader(defaults(concurrency=2, part_size=2 * MiB)).download(source, tmp_path / "out")
    sizes = [end - start for start, end in source.requests]
    # Whole parts, but for the last ones, which idle connections may have cut in two.
    assert max(sizes) == 2 * MiB and sizes[:6] == [2 * MiB] * 6


def test_an_idle_connection_steals_the_tail_of_a_slow_run(tmp_path: Path) -> None:
    source = FakeSource(make_data(SIZE), chunk=256 * 1024)
    # The request that starts at 0 crawls: its run would hold 8 MiB on one slow connection.
    source.add_fault(covering=0, delay=0.05)
    result = Downloader(defaults(concurrency=2)).download(source, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == source.data
    slow_start, slow_end = source.requests[0]
    assert (slow_start, slow_end) == (0, 8 * MiB)
    # Other connections took the parts the slow one had not started.
    stolen = [start for start, _ in source.requests[1:] if 0 < start < 8 * MiB]
    assert stolen, source.requests
    # Every byte came once from some connection, plus at most what the slow one had
    # buffered of a part it no longer owned (none: it stops at part ends).
    assert source.bytes_served == SIZE
    assert result.bytes_fetched == SIZE


def test_a_failed_run_resumes_from_its_last_byte_and_keeps_finished_parts(
    tmp_path: Path,
) -> None:
    data = make_data(SIZE)
    source = FakeSource(data)
    # A refusal (not retryable) in the third part of the second run ([8, 16) MiB),
    # at 13 MiB, stops the download.
    source.add_fault(covering=13 * MiB, error=AccessDeniedError("denied"), after=5 * MiB)
    with pytest.raises(AccessDeniedError):
        Downloader(defaults(concurrency=1)).download(source, tmp_path / "out")
    result = Downloader(defaults(concurrency=1)).download(FakeSource(data), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    # Parts finished before the failure, within the failed run too, were kept.
    assert result.bytes_reused >= 12 * MiB
    assert result.bytes_fetched + result.bytes_reused == SIZE


def test_two_downloads_share_one_scheduler_and_its_budget(tmp_path: Path) -> None:
    first, second = FakeSource(make_data(SIZE, 1)), FakeSource(make_data(SIZE, 2))
    open_now, most = [0], [0]
    lock = threading.Lock()

    class Counting:
        def __init__(self, source: FakeSource) -> None:
            self.source, self.name = source, source.name + str(id(source))

        def stat(self):
            return self.source.stat()

        def open_range(self, start, end, identity):
            reader = self.source.open_range(start, end, identity)
            with lock:
                open_now[0] += 1
                most[0] = max(most[0], open_now[0])
            close = reader.close

            def closing() -> None:
                if not reader.closed.is_set():
                    with lock:
                        open_now[0] -= 1
                close()

            reader.close = closing  # type: ignore[method-assign]
            return reader

    downloader = Downloader(defaults(concurrency=3, part_size=MiB))
    with downloader.scheduler() as shared:
        threads = [
            threading.Thread(
                target=downloader.download,
                args=(Counting(source), tmp_path / name),
                kwargs={"scheduler": shared},
            )
            for source, name in ((first, "a"), (second, "b"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert (tmp_path / "a").read_bytes() == first.data
    assert (tmp_path / "b").read_bytes() == second.data
    assert most[0] <= 3  # one budget for both, not three each


def test_a_one_request_batch_goes_before_queued_parts() -> None:
    scheduler = Scheduler(ceiling=1, buffer_size=1024, fixed=1)
    order: list[str] = []
    started = threading.Event()
    release = threading.Event()

    def slow(item: Part, buffer: memoryview) -> None:
        started.set()
        release.wait(5)
        order.append(f"part {item.index}")

    def note(run: Run, buffer: memoryview) -> None:
        while (progress := run.claim()) is not None:
            slow(progress.part, buffer)

    big = threading.Thread(
        target=scheduler.run,
        args=(Coordinator(None, "x"), plan_parts(3, 1), note),
        kwargs={"max_run": 1},
    )
    big.start()
    assert started.wait(5)
    small = threading.Thread(
        target=scheduler.run,
        args=(Coordinator(None, "x"), ["small file"], lambda item, _: order.append(item)),
        kwargs={"first": True},
    )
    small.start()
    release.set()
    big.join(5)
    small.join(5)
    scheduler.close()
    assert order == ["part 0", "small file", "part 1", "part 2"]


def test_adaptive_concurrency_grows_on_a_slow_per_connection_link(tmp_path: Path) -> None:
    # Each connection gets 8 MiB/s after 50 ms: sixteen are far from enough.
    source = FakeSource(make_data(48 * MiB), rate=8 * MiB, latency=0.05, chunk=256 * 1024)
    downloader = Downloader(defaults(max_connections=64))
    # As if the machine had cores to spare (this test's own may be busy elsewhere).
    scheduler = Scheduler(ceiling=64, buffer_size=MiB, cpu_busy=lambda: 0.2)
    with scheduler:
        result = downloader.download(source, tmp_path / "out", scheduler=scheduler)
    assert (tmp_path / "out").read_bytes() == source.data
    assert result.connections > 16, result.tuning
    assert result.tuning and "round trip" in result.tuning[0].reason, result.tuning
    assert "connections" in result.summary()


def test_a_fixed_concurrency_is_never_tuned(tmp_path: Path) -> None:
    source = FakeSource(make_data(48 * MiB), rate=64 * MiB, latency=0.02, chunk=256 * 1024)
    result = Downloader(defaults(concurrency=4)).download(source, tmp_path / "out")
    assert result.tuning == () and result.connections == 4


def test_connections_counts_those_that_worked_not_the_setting(tmp_path: Path) -> None:
    # Three parts: a fixed 64 cannot use more than three connections.
    source = FakeSource(make_data(3 * MiB), chunk=256 * 1024)
    config = defaults(concurrency=64, part_size=MiB, single_request_threshold=MiB)
    result = Downloader(config).download(source, tmp_path / "out")
    assert result.parts_total == 3 and result.connections == 3


def test_memory_budget_bounds_connections() -> None:
    config = TransferConfig(buffer_size=4 * MiB, max_buffer_memory=64 * MiB)
    assert config.connection_ceiling() == 16
    assert TransferConfig(max_connections=8).connection_ceiling() == 8
    assert TransferConfig(concurrency=200).connection_ceiling() == 200


def test_idle_connections_cut_the_last_parts_and_every_half_counts_once(
    tmp_path: Path,
) -> None:
    # Four 4 MiB parts on four connections; the one at 0 is slow, so the others, idle,
    # cut it (and cut the cut pieces again) until too little is left to share.
    data = make_data(16 * MiB)
    source = FakeSource(data, chunk=64 * 1024)
    source.add_fault(covering=0, delay=0.01)
    config = defaults(concurrency=4, part_size=4 * MiB, buffer_size=64 * 1024)
    result = Downloader(config).download(source, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    pieces = [
        (s, e)
        for s, e in source.requests
        if (s, e) not in {(i * 4 * MiB, (i + 1) * 4 * MiB) for i in range(4)}
    ]
    assert len(pieces) >= 2, source.requests  # cut, and a piece cut again
    assert all(s // (4 * MiB) == (e - 1) // (4 * MiB) for s, e in pieces)  # within a part
    # Each byte written once, and the CRC of every cut part combined right the first
    # time (a wrong one would have cost a second fetch of every part).
    assert result.bytes_fetched == len(data)


def test_a_straggler_is_cut_where_it_stands(tmp_path: Path, caplog) -> None:
    data = make_data(16 * MiB)
    source = FakeSource(data, chunk=64 * 1024, rate=16 * MiB)
    # The first part's connection gets 64 KiB every 0.5 s (128 KiB/s); the others 16 MiB/s.
    source.add_fault(covering=0, delay=0.5)
    config = defaults(concurrency=4, part_size=4 * MiB, buffer_size=64 * 1024)
    with caplog.at_level("INFO", logger="oss_resumable_fs.engine.batches"):
        result = Downloader(config).download(source, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    # At 128 KiB/s the part alone would take 32 s.
    assert result.elapsed < 8, result
    assert any("continues elsewhere" in r.message for r in caplog.records)
    straggler = source.requests[0]
    assert straggler == (0, 4 * MiB)


def test_new_connections_start_together_once_all_their_threads_run(monkeypatch) -> None:
    # Thread starts made slow, as on busy cores: a thread that took work at once would
    # open its connection while the next ones were still starting.
    real_start = threading.Thread.start
    started: list[threading.Thread] = []

    def slow_start(thread: threading.Thread) -> None:
        real_start(thread)
        if thread.name.startswith("ossr-worker-"):
            started.append(thread)
            time.sleep(0.02)

    monkeypatch.setattr(threading.Thread, "start", slow_start)
    scheduler = Scheduler(ceiling=8, buffer_size=1024, fixed=8)
    started_at_each_request: list[int] = []
    lock = threading.Lock()

    def work(run: Run, buffer: memoryview) -> None:
        with lock:
            started_at_each_request.append(len(started))
        while run.claim() is not None:
            pass

    scheduler.run(Coordinator(None, "x"), plan_parts(8, 1), work, max_run=1)
    scheduler.close()
    assert started_at_each_request == [8] * 8
