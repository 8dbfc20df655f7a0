"""Cases 3 and 4: the network misbehaving at high rates, and the object replaced.

In-process ``fs.get_file`` of one object and ``fs.get`` of a prefix, with the
server's fault kinds at seeded rates, alone and combined. Each case lands
byte-identical files or raises a typed error with progress kept, and then
a run without faults completes from what was kept.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path

import oss2
import pytest

from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.errors import DownloadCancelledError
from oss_resumable_fs.testing import FaultRule, OSSServer

from .outcomes import make_data, make_fs, record, settle
from .report import Collector

KEYS = "*.bin"
Faults = Callable[[random.Random, OSSServer], None]


def _add(server: OSSServer, kind: str, p: float, **fields: object) -> None:
    server.add_fault(FaultRule(kind, key=KEYS, times=None, probability=p, **fields))  # type: ignore[arg-type]


def _resets(rng: random.Random, s: OSSServer) -> None:
    _add(s, "reset", rng.uniform(0.3, 0.5), after_bytes=rng.randrange(0, 200 * KiB))


def _storm(rng: random.Random, s: OSSServer) -> None:
    _add(s, "error", rng.uniform(0.4, 0.6), status=503, seconds=0.02)  # qos delay 20 ms
    _add(s, "error", rng.uniform(0.1, 0.2), status=500)


def _short(rng: random.Random, s: OSSServer) -> None:
    _add(s, "short_body", rng.uniform(0.3, 0.5), after_bytes=rng.randrange(1, 200 * KiB))


def _stalls(rng: random.Random, s: OSSServer) -> None:
    # Shorter than the read timeout (2 s): waited out, never a timeout.
    _add(s, "stall", rng.uniform(0.3, 0.5), seconds=rng.uniform(0.2, 0.6), after_bytes=1000)


def _corrupt(rng: random.Random, s: OSSServer) -> None:
    s.add_fault(
        FaultRule(
            "corrupt",
            key=KEYS,
            times=rng.randint(2, 4),
            probability=0.3,
            after_bytes=rng.randrange(0, 64 * KiB),
        )
    )


def _wrong_ranges(rng: random.Random, s: OSSServer) -> None:
    # A proxy answering other bytes than asked (a truthful Content-Range), or the
    # whole object: refused before a byte is written, and asked again.
    _add(s, "wrong_range", rng.uniform(0.2, 0.4), after_bytes=rng.choice([1, 4096, 300 * KiB]))
    _add(s, "wrong_range", rng.uniform(0.05, 0.1), after_bytes=0)


def _throttle(rng: random.Random, s: OSSServer) -> None:
    s.throttle_beyond(2, delay=0.02, key=KEYS)
    _add(s, "latency", 1.0, seconds=0.03)  # so that GETs overlap


def _slow_wan(rng: random.Random, s: OSSServer) -> None:
    _add(s, "latency", 1.0, seconds=rng.uniform(0.02, 0.06))
    _add(s, "bandwidth", 1.0, bytes_per_second=8 * MiB)


def _combined(rng: random.Random, s: OSSServer) -> None:
    _add(s, "reset", 0.12, after_bytes=rng.randrange(0, 100 * KiB))
    _add(s, "error", 0.12, status=503, seconds=0.02)
    _add(s, "short_body", 0.12, after_bytes=rng.randrange(1, 100 * KiB))
    _add(s, "stall", 0.12, seconds=0.3, after_bytes=500)
    s.add_fault(FaultRule("corrupt", key=KEYS, times=2, probability=0.2, after_bytes=777))
    _add(s, "wrong_range", 0.08, after_bytes=rng.choice([1, 4096]))
    s.throttle_beyond(3, delay=0.02, key=KEYS)


MATRIX: dict[str, Faults] = {
    "resets": _resets,
    "503-storm": _storm,
    "short-bodies": _short,
    "stalls": _stalls,
    "corrupt": _corrupt,
    "wrong-ranges": _wrong_ranges,
    "throttle": _throttle,
    "slow-wan": _slow_wan,
    "combined": _combined,
}


def _objects(server: OSSServer, bucket: str, seed: int) -> dict[str, bytes]:
    objects = {
        "big.bin": make_data(6 * MiB + 4321, seed),
        "tree/large.bin": make_data(3 * MiB + 17, seed + 1),
        "tree/small-a.bin": make_data(100 * KiB, seed + 2),
        "tree/sub/small-b.bin": make_data(3 * KiB, seed + 3),
    }
    for key, data in objects.items():
        server.put_object(bucket, key, data)
    return objects


@pytest.mark.parametrize("name", list(MATRIX))
def test_network_matrix(
    chaos_server: OSSServer,
    bucket: str,
    tmp_path: Path,
    collector: Collector,
    name: str,
    seed: int,
) -> None:
    objects = _objects(chaos_server, bucket, seed)
    MATRIX[name](random.Random(seed), chaos_server)
    fs = make_fs(chaos_server)

    # One object.
    dest = str(tmp_path / "one" / "big.bin")
    one = {dest: objects["big.bin"]}
    corrupted = name in ("corrupt", "combined")
    kind = settle(lambda: fs.get_file(f"{bucket}/big.bin", dest), one, corrupted=corrupted)
    record(
        collector, f"matrix[{name}-seed{seed}]/get_file", kind, chaos_server, minimum=len(one[dest])
    )

    # A prefix: one file in parts beside small ones.
    chaos_server.reset_stats()
    root = tmp_path / "tree"
    tree = {
        str(root / key.removeprefix("tree/")): data
        for key, data in objects.items()
        if key.startswith("tree/")
    }
    kind_get = settle(
        lambda: fs.get(f"{bucket}/tree/", str(root) + "/", recursive=True),
        tree,
        progress_required=False,
        corrupted=corrupted,
    )
    record(
        collector,
        f"matrix[{name}-seed{seed}]/get",
        kind_get,
        chaos_server,
        minimum=sum(map(len, tree.values())),
    )

    # Whatever happened, a run without faults completes from what was kept.
    chaos_server.clear_faults()
    assert settle(lambda: fs.get_file(f"{bucket}/big.bin", dest), one) == "file"
    assert settle(lambda: fs.get(f"{bucket}/tree/", str(root) + "/", recursive=True), tree) == (
        "file"
    )


def _current(server: OSSServer, bucket: str, key: str) -> bytes:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    return oss2.Bucket(auth, server.endpoint, bucket).get_object(key).read()


def test_object_replaced_between_runs(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector
) -> None:
    old, new = make_data(6 * MiB, 1), make_data(6 * MiB, 2)
    chaos_server.put_object(bucket, "obj.bin", old)
    chaos_server.add_fault(FaultRule("bandwidth", key=KEYS, times=None, bytes_per_second=4 * MiB))
    fs = make_fs(chaos_server)
    dest = str(tmp_path / "obj.bin")
    cancel = threading.Event()

    class StopHalfway:
        def set_size(self, size: int) -> None:
            self.size, self.done = size, 0

        def relative_update(self, inc: int = 1) -> None:
            self.done += inc
            if self.done > self.size // 2:
                cancel.set()

    kind = settle(
        lambda: fs.get_file(f"{bucket}/obj.bin", dest, callback=StopHalfway(), cancel=cancel),
        {dest: old},
    )
    assert kind == DownloadCancelledError.__name__
    chaos_server.clear_faults()
    chaos_server.put_object(bucket, "obj.bin", new)
    results = []
    kind = settle(lambda: results.append(fs.get_file(f"{bucket}/obj.bin", dest)), {dest: new})
    assert kind == "file" and results[0].bytes_reused == 0 and results[0].restarts == 1
    record(collector, "replaced-between-runs", kind, chaos_server, minimum=2 * len(new), kills=1)


@pytest.mark.parametrize("how", ["once", "storm"])
def test_object_replaced_mid_download(
    chaos_server: OSSServer,
    bucket: str,
    tmp_path: Path,
    collector: Collector,
    how: str,
    seed: int,
) -> None:
    size = 6 * MiB
    chaos_server.put_object(bucket, "obj.bin", make_data(size, seed))
    rng = random.Random(seed)
    if how == "once":
        at = rng.randrange(MiB, size - MiB)
        rule = FaultRule("replace", key=KEYS, byte_range=(at, at + 1), times=1)
    else:  # more often than the engine restarts: ObjectChangedError
        rule = FaultRule("replace", key=KEYS, times=None, probability=0.3)
    chaos_server.add_fault(rule)
    fs = make_fs(chaos_server)
    dest = str(tmp_path / "obj.bin")
    results: list = []

    def now() -> bytes:
        """The bytes the object holds after the run: a landed file must be exactly those."""
        chaos_server.clear_faults()
        return _current(chaos_server, bucket, "obj.bin")

    kind = settle(lambda: results.append(fs.get_file(f"{bucket}/obj.bin", dest)), {dest: now})
    assert chaos_server.stats().faults_by_kind().get("replace", 0) >= 1
    if kind == "file":
        assert results[0].restarts >= 1
    else:
        assert kind == "ObjectChangedError"
    record(collector, f"replaced-mid-download[{how}-seed{seed}]", kind, chaos_server, minimum=size)
