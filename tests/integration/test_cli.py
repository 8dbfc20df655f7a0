"""The ``oss-resumable`` console script, run as a subprocess against the local OSS server.

Credentials and the endpoint reach it through the environment only
(``OSS_ENDPOINT`` / ``OSS_ACCESS_KEY_ID`` / ``OSS_ACCESS_KEY_SECRET``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import oss2
import pytest

from oss_resumable_fs import cli, trees
from oss_resumable_fs.config import MiB
from oss_resumable_fs.engine.integrity import crc64
from oss_resumable_fs.engine.journal import Journal, new_header
from oss_resumable_fs.engine.source import ObjectIdentity
from oss_resumable_fs.errors import ObjectNotFoundError
from oss_resumable_fs.fs import ResumableOSSFileSystem
from oss_resumable_fs.testing import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    FaultRule,
    OSSServer,
)

#: The console script installed beside this interpreter.
SCRIPT = str(Path(sys.executable).with_name("oss-resumable"))
#: Generous: only there so a hung child fails the test instead of hanging it.
LIMIT = 120.0
WRONG_SECRET = "wrong-Secret-9f2c41d7e8"


def make_data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def cli_env(oss_server: OSSServer, **changes: str) -> dict[str, str]:
    env = oss_server.environment()
    env.update(changes)
    return {k: v for k, v in env.items() if v}


def run_cli(
    oss_server: OSSServer, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        env=cli_env(oss_server, **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )


def ossr_files(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.rglob("*") if ".ossr-" in p.name)


def assert_one_line_failure(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """Exit ``code``, nothing on stdout, exactly one line on stderr, no traceback."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("oss-resumable: ")
    return lines[0]


def test_console_script_is_installed() -> None:
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not an executable"


# -- get ------------------------------------------------------------------------------


def test_get_shows_progress_on_stderr_and_a_summary_on_stdout(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(3 * MiB + 5)
    oss_server.put_object(oss_bucket, "dir/big.bin", data)
    dest = tmp_path / "big-copy.bin"

    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/dir/big.bin", str(dest))

    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == data
    # One summary line (DownloadResult.summary()): the file, what happened, what was fetched.
    (summary,) = done.stdout.splitlines()
    assert summary.startswith(f"{dest}: 3.0 MiB downloaded in ")
    assert "3.0 MiB fetched at " in summary
    assert "reused" not in summary and "retries" not in summary
    # The tqdm bar, labelled with the object's name, finished at 100%.
    assert "big.bin" in done.stderr
    assert "100%" in done.stderr
    assert "Traceback" not in done.stderr
    assert ossr_files(tmp_path) == []


def test_get_quiet_prints_nothing(oss_server: OSSServer, oss_bucket: str, tmp_path: Path) -> None:
    data = make_data(100_000, seed=1)
    oss_server.put_object(oss_bucket, "k.bin", data)
    dest = tmp_path / "k.bin"

    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/k.bin", str(dest), "--quiet")

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert dest.read_bytes() == data


def test_get_honours_part_size_concurrency_and_checkpoint_dir(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    # Above the single-request threshold (8 MiB), so the object is fetched in parts.
    data = make_data(9 * MiB + 7, seed=2)
    oss_server.put_object(oss_bucket, "parts.bin", data)
    dest = tmp_path / "out" / "parts.bin"
    checkpoints = tmp_path / "checkpoints"
    oss_server.reset_stats()

    done = run_cli(
        oss_server,
        "get",
        f"oss://{oss_bucket}/parts.bin",
        str(dest),
        "--part-size",
        "1MiB",
        "--concurrency",
        "3",
        "--checkpoint-dir",
        str(checkpoints),
        "-q",
    )

    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == data
    stats = oss_server.stats()
    ranges = sorted((g.start, g.end) for g in stats.ranged_gets)
    # Ten 1 MiB parts, one request each; idle connections may have taken the rest of
    # a last part (its first request then stopped short), never across two parts.
    assert {start for start, _ in ranges if start % MiB == 0} == {i * MiB for i in range(10)}
    assert all(start // MiB == (end - 1) // MiB for start, end in ranges)
    assert sum(stats.bytes_served.values()) <= len(data) + 3 * MiB
    assert 1 <= stats.max_concurrent_gets <= 3
    # The journal lived in the checkpoint directory (created for it), and is gone.
    assert checkpoints.is_dir()
    assert list(checkpoints.iterdir()) == []
    assert ossr_files(tmp_path) == []


@pytest.mark.parametrize("form", ["existing", "trailing-slash"])
def test_get_into_a_directory_keeps_the_object_name(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, form: str
) -> None:
    data = make_data(1000, seed=3)
    oss_server.put_object(oss_bucket, "a/b/name.txt", data)
    if form == "existing":
        target = tmp_path / "existing"
        target.mkdir()
        argument = str(target)
    else:
        target = tmp_path / "new"
        argument = str(target) + os.sep

    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/a/b/name.txt", argument, "-q")

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.iterdir()) == ["name.txt"]
    assert (target / "name.txt").read_bytes() == data


def test_get_recursive_downloads_a_prefix(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    files = {"p/one.bin": make_data(2000, 4), "p/sub/two.bin": make_data(3000, 5)}
    for key, value in files.items():
        oss_server.put_object(oss_bucket, key, value)
    oss_server.put_object(oss_bucket, "other.bin", b"not below the prefix")
    dest = tmp_path / "tree"

    done = run_cli(oss_server, "get", "-r", f"oss://{oss_bucket}/p/", str(dest), "-q")

    assert done.returncode == 0, done.stderr
    found = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert found == {"one.bin": files["p/one.bin"], "sub/two.bin": files["p/sub/two.bin"]}


def test_ossr_urls_work_like_oss_urls(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "k", b"data")
    done = run_cli(oss_server, "get", f"ossr://{oss_bucket}/k", str(tmp_path / "k"), "-q")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "k").read_bytes() == b"data"


# -- ls -------------------------------------------------------------------------------


def test_ls_lists_files_with_sizes_and_prefixes_as_dirs(
    oss_server: OSSServer, oss_bucket: str
) -> None:
    oss_server.put_object(oss_bucket, "top.bin", make_data(2048))
    oss_server.put_object(oss_bucket, "dir/inner.bin", make_data(10))

    done = run_cli(oss_server, "ls", f"oss://{oss_bucket}")

    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    # (ossfs names a prefix with its trailing "/"; either spelling will do.)
    rows = [[*row[:-1], row[-1].rstrip("/")] for row in rows]
    assert rows == [["DIR", f"{oss_bucket}/dir"], ["2.0", "KiB", f"{oss_bucket}/top.bin"]]

    inner = run_cli(oss_server, "ls", f"oss://{oss_bucket}/dir")
    assert inner.returncode == 0, inner.stderr
    assert [line.split() for line in inner.stdout.splitlines()] == [
        ["10", "B", f"{oss_bucket}/dir/inner.bin"]
    ]


# -- status ---------------------------------------------------------------------------


def test_status_with_nothing_unfinished(oss_server: OSSServer, tmp_path: Path) -> None:
    (tmp_path / "finished.bin").write_bytes(b"x")
    for args in (["status", str(tmp_path)], ["status"]):  # the second looks in the cwd
        done = run_cli(oss_server, *args, cwd=tmp_path)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == "no unfinished downloads\n"


def test_status_lists_each_unfinished_download(oss_server: OSSServer, tmp_path: Path) -> None:
    # Two checkpoints as the engine leaves them after an interruption: a journal
    # recording some parts beside each destination (the parts' bytes do not matter here).
    part = MiB
    for name, size, done_parts in (("a.bin", 4 * MiB, 2), ("b.bin", 3 * MiB, 0)):
        dest = tmp_path / name
        identity = ObjectIdentity(size=size, etag='"E"', last_modified=None, crc64=None)
        journal = Journal.create(
            f"{dest}.ossr-journal", new_header(f"oss://bkt/{name}", str(dest), identity, part)
        )
        for index in range(done_parts):
            journal.append(index, crc64(b"\0" * part))
        journal.close()
    (tmp_path / "junk.ossr-journal").write_bytes(b"not a journal")  # skipped, not fatal

    done = run_cli(oss_server, "status", str(tmp_path))

    # Two lines each: what goes where, then how far it got.
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0] == f"oss://bkt/a.bin -> {tmp_path / 'a.bin'}"
    assert lines[1].startswith("  2.0 MiB of 4.0 MiB (50%), 2/4 parts, last progress ")
    assert lines[2] == f"oss://bkt/b.bin -> {tmp_path / 'b.bin'}"
    assert lines[3].startswith("  0 B of 3.0 MiB (0%), 0/3 parts, last progress ")


def test_status_of_a_missing_directory_fails_in_one_line(
    oss_server: OSSServer, tmp_path: Path
) -> None:
    line = assert_one_line_failure(run_cli(oss_server, "status", str(tmp_path / "nope")))
    assert str(tmp_path / "nope") in line


# -- failures: non-zero exit, one line on stderr, no traceback ----------------------------


def test_get_of_a_prefix_without_r_says_to_use_it(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "p/one.bin", make_data(2000, 4))
    dest = tmp_path / "new" / "tree"
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/p", str(dest), "-q")
    line = assert_one_line_failure(done)
    assert f"oss://{oss_bucket}/p is a directory" in line
    assert "-r" in line
    assert list(tmp_path.iterdir()) == []  # not even an empty directory, or its parent


def test_a_throttled_first_head_does_not_fail_the_get(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "one.bin", make_data(3000, 1))
    oss_server.add_fault(FaultRule("error", method="HEAD", key="one.bin", status=500))
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/one.bin", str(tmp_path / "one"), "-q")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "one").read_bytes() == make_data(3000, 1)


def test_get_of_a_bucket_without_r(oss_server: OSSServer, oss_bucket: str, tmp_path: Path) -> None:
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}", str(tmp_path / "b"), "-q")
    assert "use -r" in assert_one_line_failure(done)
    done = run_cli(oss_server, "get", "oss://ossr-no-such-bucket-here", str(tmp_path / "b"), "-q")
    assert "NoSuchBucket" in assert_one_line_failure(done)
    assert list(tmp_path.iterdir()) == []


def test_a_prefix_found_only_by_the_download_is_refused_too(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The object can vanish between the check and the download, leaving its prefix."""
    oss_server.put_object(oss_bucket, "p/one.bin", make_data(2000, 4))
    for name, value in cli_env(oss_server).items():
        if name.startswith("OSS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(trees, "is_a_directory", lambda fs, remote: False)  # "an object"
    dest = tmp_path / "p"
    assert cli.main(["get", "-q", f"oss://{oss_bucket}/p", str(dest)]) == 1
    assert not dest.exists()


def test_get_of_a_missing_key(oss_server: OSSServer, oss_bucket: str, tmp_path: Path) -> None:
    dest = tmp_path / "x"
    for quiet in ([], ["-q"]):
        done = run_cli(oss_server, "get", f"oss://{oss_bucket}/missing.bin", str(dest), *quiet)
        line = assert_one_line_failure(done)
        assert f"oss://{oss_bucket}/missing.bin" in line
        assert "not found" in line
    assert list(tmp_path.iterdir()) == []


def test_get_from_a_missing_bucket(oss_server: OSSServer, tmp_path: Path) -> None:
    done = run_cli(oss_server, "get", "oss://no-such-bucket-ossr/k", str(tmp_path / "k"))
    line = assert_one_line_failure(done)
    assert "oss://no-such-bucket-ossr/k" in line
    assert "NoSuchBucket" in line
    assert list(tmp_path.iterdir()) == []


def test_ls_of_a_missing_bucket(oss_server: OSSServer) -> None:
    line = assert_one_line_failure(run_cli(oss_server, "ls", "oss://no-such-bucket-ossr"))
    assert "NoSuchBucket" in line


@pytest.mark.parametrize("command", ["get", "ls"])
def test_a_wrong_secret_is_refused_and_never_printed(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, command: str
) -> None:
    oss_server.put_object(oss_bucket, "k", b"data")
    args = [command, f"oss://{oss_bucket}/k"] + ([str(tmp_path / "k")] if command == "get" else [])

    done = run_cli(oss_server, *args, OSS_ACCESS_KEY_SECRET=WRONG_SECRET)

    line = assert_one_line_failure(done)
    assert "access denied" in line
    assert WRONG_SECRET not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_endpoint(oss_server: OSSServer, oss_bucket: str, tmp_path: Path) -> None:
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/k", str(tmp_path / "k"), OSS_ENDPOINT="")
    assert "OSS_ENDPOINT" in assert_one_line_failure(done)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:port", "oss$cn-hangzhou", "https://u@h"])
def test_an_endpoint_that_is_no_url_or_host(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, endpoint: str
) -> None:
    for where in (["--endpoint", endpoint], []):
        done = run_cli(oss_server, "ls", f"oss://{oss_bucket}", *where, OSS_ENDPOINT=endpoint)
        line = assert_one_line_failure(done)
        assert f"endpoint {endpoint!r} is not a URL or host name" in line


def test_a_url_of_another_scheme_is_refused(oss_server: OSSServer, tmp_path: Path) -> None:
    for args in (["get", "s3://bkt/k", str(tmp_path / "k")], ["ls", "s3://bkt/"]):
        line = assert_one_line_failure(run_cli(oss_server, *args))
        assert line == f"oss-resumable: {args[1]}: not an oss:// URL"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"), [("--part-size", "12 parsecs"), ("--concurrency", "many")]
)
def test_a_bad_argument_is_a_usage_error(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, option: str, value: str
) -> None:
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/k", str(tmp_path / "k"), option, value)
    # argparse: exit 2, the usage, then one "error:" line; never a traceback.
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("usage: oss-resumable get")
    assert done.stderr.splitlines()[-1].startswith(f"oss-resumable get: error: argument {option}")


def test_a_part_size_below_the_oss_minimum(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "k", b"data")
    args = ["get", f"oss://{oss_bucket}/k", str(tmp_path / "k"), "--part-size", "1KiB"]
    assert "part_size" in assert_one_line_failure(run_cli(oss_server, *args))


# -- the server, standalone -------------------------------------------------------------


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=LIMIT) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(
    "command",
    [[SCRIPT, "serve", "--port", "0"], [sys.executable, "-m", "oss_resumable_fs.testing"]],
    ids=["oss-resumable serve", "python -m oss_resumable_fs.testing"],
)
def test_serve_prints_its_endpoint_first_and_stops_on_sigterm(
    command: list[str], tmp_path: Path
) -> None:
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        assert int(endpoint.rsplit(":", 1)[1]) > 0
        # It is a working OSS server, with the default test credentials.
        auth = oss2.Auth(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
        bucket = oss2.Bucket(auth, endpoint, "served")
        bucket.create_bucket()
        bucket.put_object("k", b"hello")
        assert bucket.get_object("k").read() == b"hello"
        assert http_status(endpoint + "/served/k") == 403  # a private bucket: no anonymous reads
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            out, err = server.communicate(timeout=LIMIT)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert server.returncode == 0, err
    assert out == ""
    assert "Traceback" not in err


# -- library behaviour the CLI relies on -----------------------------------------------


def test_get_file_from_a_missing_bucket_raises_object_not_found(
    oss_server: OSSServer, oss_storage_options: dict[str, str], tmp_path: Path
) -> None:
    """Every error is an OSSResumableError (an OSError): a missing bucket is 'not found'."""
    fs = ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options)
    with pytest.raises(ObjectNotFoundError):
        fs.get_file("no-such-bucket-ossr/k", str(tmp_path / "k"))
