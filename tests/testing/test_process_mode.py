"""``python -m oss_resumable_fs.testing`` and the process-mode handle (control endpoint)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import oss2
import pytest

from oss_resumable_fs.testing import ControlError, FaultRule, OSSServer
from oss_resumable_fs.testing.control import SECRET_HEADER


def test_cli_prints_endpoint_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "oss_resumable_fs.testing", "--root", str(tmp_path), "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{endpoint}/_ossr/health", timeout=10) as response:
            assert json.load(response) == {"ok": True}
        auth = oss2.Auth("ossr-test-key-id", "ossr-test-key-secret")
        bucket = oss2.Bucket(auth, endpoint, "cli-bucket")
        bucket.create_bucket()
        bucket.put_object("k", b"persisted")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()  # type: ignore[union-attr]
    assert (tmp_path / "cli-bucket" / "bucket.json").is_file()  # --root keeps the data


def test_process_mode_offers_the_same_handle(tmp_path: Path) -> None:
    source = tmp_path / "seed.bin"
    source.write_bytes(b"0123456789" * 1000)
    with OSSServer(mode="process", root=tmp_path / "root") as server:
        server.create_bucket("proc")
        server.put_object("proc", "from-path", source)
        server.put_object("proc", "from-bytes", b"bytes!", storage_class="Archive")
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        bucket = oss2.Bucket(auth, server.endpoint, "proc")
        assert bucket.get_object("from-path").read() == source.read_bytes()
        assert bucket.head_object("from-bytes").headers["x-oss-storage-class"] == "Archive"

        rule_id = server.add_fault(FaultRule("error", key="from-path", status=503, times=None))
        assert list(server.active_faults()) == [rule_id]
        with pytest.raises(oss2.exceptions.ServerError):
            bucket.get_object("from-path")
        server.remove_fault(rule_id)
        bucket.get_object("from-path", byte_range=(0, 9)).read()
        stats = server.stats()
        assert stats.requests["GetObject"] == 3
        assert stats.ranged_gets[-1].start == 0 and stats.ranged_gets[-1].end == 10
        assert stats.faults_by_kind() == {"error": 1}
        server.reset_stats()
        assert server.stats().total_requests == 0

        server.add_sts_credential("STS.p", "p-secret", "p-token")
        sts = oss2.Bucket(oss2.StsAuth("STS.p", "p-secret", "p-token"), server.endpoint, "proc")
        assert sts.get_object("from-path").read(5) == b"01234"
        with pytest.raises(ControlError):
            server.create_bucket("proc")  # already exists

        request = urllib.request.Request(f"{server.endpoint}/_ossr/stats")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 403  # the control endpoint needs the secret
        request.add_header(SECRET_HEADER, server.access_key_secret)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert "requests" in json.load(response)


def test_thread_mode_reports_refusals_like_process_mode(oss_server: OSSServer) -> None:
    oss_server.create_bucket("ossr-refusals")
    with pytest.raises(ControlError, match="BucketAlreadyExists"):
        oss_server.create_bucket("ossr-refusals")
    with pytest.raises(ControlError, match="NoSuchBucket"):
        oss_server.put_object("ossr-missing", "k", b"x")
    with pytest.raises(ControlError, match="InvalidArgument"):
        oss_server.put_object("ossr-refusals", "k", b"x", storage_class="Glacier")


def test_a_ctrl_c_to_the_parent_spares_the_server_which_ends_with_its_parent() -> None:
    """A notebook's Interrupt signals the kernel's whole process group: the server must
    keep serving the code being interrupted, and still stop when the kernel goes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    parent_code = (
        "import time\n"
        "from oss_resumable_fs.testing import OSSServer\n"
        "server = OSSServer(mode='process').start()\n"
        "print(server._backend._process.pid, flush=True)\n"
        "for _ in range(120):\n"
        "    try:\n"
        "        time.sleep(0.25)\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', flush=True)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split()[2] != "Z"
        except FileNotFoundError:
            return False

    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        os.killpg(parent.pid, signal.SIGINT)
        assert parent.stdout.readline().strip() == "interrupted"
        time.sleep(0.5)
        assert running(server_pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while running(server_pid):
        assert time.monotonic() < deadline, "the server outlived its parent"
        time.sleep(0.1)
