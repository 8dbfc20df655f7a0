"""Cases 7, 8 and 9: what a download may write, where, with which mode, and what it may say.

7. Listed keys that climb out (``../``) or look absolute never write outside the target.
8. The secret and the STS token appear in no file the download leaves, no log line
   at DEBUG, no exception message or repr, and no CLI output.
9. The partial file, the journal, the lock and the job manifest are 0600; the
   landed file takes the mode a new file would have (``0o666 & ~umask``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.errors import OSSResumableError
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import STS_KEY_ID
from .outcomes import cli, finish, get_args, make_data, make_fs, record, settle
from .report import Collector


def _umask() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))


def _tree(path: Path) -> set[str]:
    return {str(p) for p in path.rglob("*")}


@pytest.mark.parametrize(
    "key",
    [
        "p/../escape.bin",
        "p/../../escape.bin",
        "p/a/../../../escape.bin",
        "p//abs.bin",
        "p/./dot.bin",
    ],
)
def test_listed_keys_never_write_outside(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector, key: str
) -> None:
    try:
        chaos_server.put_object(bucket, key, b"evil" * 100)
    except Exception as exc:
        pytest.skip(f"the server does not store the key {key!r}: {exc}")
    chaos_server.put_object(bucket, "p/ok.bin", b"fine" * 100)
    target = tmp_path / "deep" / "er" / "target"
    target.mkdir(parents=True)
    before = _tree(tmp_path)
    fs = make_fs(chaos_server)
    try:
        kind = settle(
            lambda: fs.get(f"{bucket}/p/", str(target) + "/", recursive=True),
            {},
            progress_required=False,
        )
    except ValueError as exc:  # refused by name before any download: fine, if typed
        kind = type(exc).__name__
        assert isinstance(exc, OSSResumableError), exc
    outside = {p for p in _tree(tmp_path) - before if not p.startswith(str(target) + os.sep)}
    assert outside == set(), outside
    for path in target.rglob("*"):
        assert path.resolve().is_relative_to(target.resolve())
    record(collector, f"traversal[{key}]", kind, chaos_server, minimum=0)


def _secrets(server: OSSServer) -> list[str]:
    return [server.access_key_secret, server.sts_secret, server.sts_token]  # type: ignore[attr-defined]


def _sts_fs(server: OSSServer) -> Any:
    return make_fs(server, key=STS_KEY_ID, secret=server.sts_secret, token=server.sts_token)  # type: ignore[attr-defined]


def test_no_credentials_anywhere(
    chaos_server: OSSServer,
    bucket: str,
    tmp_path: Path,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for key, size in (("d/big.bin", 6 * MiB), ("d/small.bin", 10 * KiB), ("d/denied.bin", 3 * MiB)):
        chaos_server.put_object(bucket, key, make_data(size, size))
    chaos_server.add_fault(FaultRule("error", key="*.bin", times=None, probability=0.2))
    chaos_server.add_fault(FaultRule("reset", key="*.bin", times=None, probability=0.2))
    chaos_server.add_fault(FaultRule("error", key="d/denied.bin", status=403, times=None))
    chaos_server.add_fault(
        FaultRule("bandwidth", key="d/big.bin", times=None, bytes_per_second=4 * MiB)
    )
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    texts: list[str] = []
    out = tmp_path / "out"
    fs = _sts_fs(chaos_server)
    cancel = threading.Event()
    threading.Timer(0.8, cancel.set).start()
    for run in range(2):  # stopped midway (files kept), then to its end (403 for one file)
        try:
            fs.get(
                f"{bucket}/d/", str(out) + "/", recursive=True, cancel=cancel if not run else None
            )
        except OSSResumableError as error:
            texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
            texts += [repr(vars(error))]
            if run == 0:  # the files a stopped get leaves: partial, journal, job manifest
                left = [p for p in out.rglob("*") if ".ossr-" in p.name and p.is_file()]
                assert any(p.name.endswith(".ossr-journal") for p in left), left
                assert any(p.name == ".ossr-job" for p in left), left
                texts += [p.read_bytes().decode("latin-1") for p in left]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    texts += [p.read_bytes().decode("latin-1") for p in out.rglob("*") if p.is_file()]
    # The CLI, with the STS credentials in its environment, at -vv.
    env = chaos_server.environment()
    env.update(
        OSS_ACCESS_KEY_ID=STS_KEY_ID,
        OSS_ACCESS_KEY_SECRET=chaos_server.sts_secret,  # type: ignore[attr-defined]
        OSS_SESSION_TOKEN=chaos_server.sts_token,  # type: ignore[attr-defined]
    )
    for args in (
        get_args(bucket, "d/denied.bin", tmp_path / "cli" / "denied.bin", ["-vv"]),
        ["get", "-r", f"oss://{bucket}/d/", str(tmp_path / "cli-tree"), "-vv"],
        ["ls", "-l", f"oss://{bucket}/d/", "-vv"],
    ):
        _code, stdout, stderr = finish(cli(chaos_server, *args, env=env))
        texts += [stdout, stderr]
        assert stderr, args  # -vv logs something to grep
    assert sum(len(t) for t in texts) > 10_000
    for text in texts:
        for secret in _secrets(chaos_server):
            assert secret not in text
    record(collector, "credentials-grep", "file", chaos_server, minimum=0)


def test_file_modes(
    chaos_server: OSSServer, bucket: str, tmp_path: Path, collector: Collector
) -> None:
    data = make_data(6 * MiB, 9)
    chaos_server.put_object(bucket, "m/obj.bin", data)
    chaos_server.put_object(bucket, "m/small.bin", b"s" * 1000)
    chaos_server.add_fault(
        FaultRule("bandwidth", key="*.bin", times=None, bytes_per_second=512 * 1024)
    )
    fs = make_fs(chaos_server)
    out = tmp_path / "out"
    cancel = threading.Event()
    modes: dict[str, int] = {}

    finished = threading.Event()

    def watch() -> None:
        while not cancel.is_set() and not finished.is_set():
            for path in out.rglob("*"):
                if ".ossr-" in path.name:
                    with contextlib.suppress(FileNotFoundError):  # it may land meanwhile
                        mode = stat.S_IMODE(path.stat().st_mode)
                        modes[path.name.split(".ossr-")[-1]] = mode
            if {"partial", "journal", "job"} <= set(modes):
                cancel.set()  # the manifest appears once the small file has landed

    watcher = threading.Thread(target=watch)
    watcher.start()
    with contextlib.suppress(OSSResumableError):
        fs.get(f"{bucket}/m/", str(out) + "/", recursive=True, cancel=cancel)
    finished.set()
    watcher.join()
    assert {"partial", "journal", "job"} <= set(modes), modes
    assert all(mode == 0o600 for mode in modes.values()), {k: oct(v) for k, v in modes.items()}
    chaos_server.clear_faults()
    fs.get(f"{bucket}/m/", str(out) + "/", recursive=True)
    expected = 0o666 & ~_umask()
    for name in ("obj.bin", "small.bin"):
        assert stat.S_IMODE((out / name).stat().st_mode) == expected, name
    # A CLI run under umask 027 lands a 0640 file.
    dest = tmp_path / "cli" / "obj.bin"
    child = subprocess.Popen(
        [sys.executable, "-m", "oss_resumable_fs.cli", *get_args(bucket, "m/obj.bin", dest)],
        env=chaos_server.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.umask(0o027),
    )
    code, _out, err = finish(child)
    assert code == 0, err
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert settle(lambda: None, {str(dest): data}) == "file"
    record(collector, "file-modes", "file", chaos_server, minimum=0)
