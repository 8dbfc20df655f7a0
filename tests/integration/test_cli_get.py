"""``oss-resumable get``: skipping what is there, ``-r`` summaries, filters, ``-v``, Ctrl-C.

Every test runs the real console script as a subprocess against the local OSS
server (see ``test_cli.py``); the server's statistics tell what went over the wire.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from oss_resumable_fs.config import MiB
from oss_resumable_fs.engine.journal import JournalCorrupt, read_journal
from oss_resumable_fs.testing import FaultRule, OSSServer

from .test_cli import LIMIT, SCRIPT, assert_one_line_failure, cli_env, make_data, run_cli

TREE = {
    "p/a.csv": 3000,
    "p/b.bin": 2000,
    "p/sub/c.csv": 1000,
    "p/sub/deep/d.csv": 500,
    "p/tmp/e.csv": 100,
    "p/logs/2024/f.log": 70,
}


def put_tree(oss_server: OSSServer, bucket: str) -> dict[str, bytes]:
    files = {key: make_data(size, seed=i) for i, (key, size) in enumerate(TREE.items())}
    for key, data in files.items():
        oss_server.put_object(bucket, key, data)
    oss_server.put_object(bucket, "outside.csv", b"not below the prefix")
    return files


def local_files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def local_dirs(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_dir())


def object_bytes_served(oss_server: OSSServer) -> int:
    return oss_server.stats().total_bytes_served


# -- skip what is already there ----------------------------------------------------------


def test_running_a_finished_get_again_fetches_nothing_and_says_skipped(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(9 * MiB + 3, seed=11)  # above 8 MiB: fetched in parts
    oss_server.put_object(oss_bucket, "big.bin", data)
    dest = tmp_path / "big.bin"
    url = f"oss://{oss_bucket}/big.bin"
    first = run_cli(oss_server, "get", url, str(dest))
    assert first.returncode == 0, first.stderr
    assert "downloaded" in first.stdout

    oss_server.reset_stats()
    started = time.monotonic()
    again = run_cli(oss_server, "get", url, str(dest))
    elapsed = time.monotonic() - started

    assert again.returncode == 0, again.stderr
    assert object_bytes_served(oss_server) == 0
    assert oss_server.stats().requests.get("GetObject", 0) == 0
    (line,) = again.stdout.splitlines()
    assert line == f"{dest}: 9.0 MiB, already there (same size and CRC-64): skipped"
    assert dest.read_bytes() == data
    assert elapsed < 30  # a HEAD or two and one local CRC-64, not a download


def test_force_downloads_an_identical_file_again(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(300_000, seed=12)
    oss_server.put_object(oss_bucket, "k.bin", data)
    dest = tmp_path / "k.bin"
    url = f"oss://{oss_bucket}/k.bin"
    assert run_cli(oss_server, "get", url, str(dest), "-q").returncode == 0
    for flag in ("--force", "-f"):
        oss_server.reset_stats()
        done = run_cli(oss_server, "get", url, str(dest), flag)
        assert done.returncode == 0, done.stderr
        assert oss_server.stats().bytes_served == {f"{oss_bucket}/k.bin": len(data)}
        assert "downloaded" in done.stdout and "skipped" not in done.stdout
    assert dest.read_bytes() == data


def test_a_different_local_file_is_replaced(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(100_000, seed=13)
    oss_server.put_object(oss_bucket, "k.bin", data)
    dest = tmp_path / "k.bin"
    dest.write_bytes(bytes(len(data)))  # same size, other bytes
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/k.bin", str(dest))
    assert done.returncode == 0, done.stderr
    assert "downloaded" in done.stdout
    assert dest.read_bytes() == data


# -- get -r: one bar, one summary ----------------------------------------------------------


def test_recursive_get_prints_one_summary_with_the_right_counts(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    files = put_tree(oss_server, oss_bucket)
    dest = tmp_path / "tree"
    url = f"oss://{oss_bucket}/p/"
    total = sum(TREE.values())

    first = run_cli(oss_server, "get", "-r", url, str(dest))

    assert first.returncode == 0, first.stderr
    assert local_files(dest) == {key[2:]: value for key, value in files.items()}
    (summary,) = first.stdout.splitlines()
    assert summary.startswith(f"6 files (6 downloaded), {total / 1024:.1f} KiB: ")
    # One bar for the whole call, bytes and files done, finished.
    bar_updates = first.stderr.replace("\r", "\n")
    assert "6/6 files" in bar_updates and "100%" in bar_updates
    assert "Traceback" not in first.stderr

    # One file changed locally, one deleted: only those two are fetched again.
    (dest / "a.csv").write_bytes(b"stale")
    (dest / "sub" / "c.csv").unlink()
    oss_server.reset_stats()
    again = run_cli(oss_server, "get", "-r", url, str(dest))
    assert again.returncode == 0, again.stderr
    assert object_bytes_served(oss_server) == TREE["p/a.csv"] + TREE["p/sub/c.csv"]
    (summary,) = again.stdout.splitlines()
    assert summary.startswith("6 files (2 downloaded, 4 skipped), ")
    assert f"{(3000 + 1000) / 1024:.1f} KiB fetched" in summary
    assert "already there" in summary

    oss_server.reset_stats()
    forced = run_cli(oss_server, "get", "-r", url, str(dest), "--force")
    assert forced.returncode == 0, forced.stderr
    assert object_bytes_served(oss_server) == total
    assert forced.stdout.startswith("6 files (6 downloaded), ")


@pytest.mark.parametrize("url_form", ["p", "p/"])
def test_recursive_get_is_the_same_whether_dest_exists_or_not(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, url_form: str
) -> None:
    """DEST receives what is under the prefix, as rclone copy does: a re-run skips it all.

    (fsspec's and cp -r's rule would put the second run into DEST/p/.)
    """
    files = put_tree(oss_server, oss_bucket)
    dest = tmp_path / "tree"
    url = f"oss://{oss_bucket}/{url_form}"
    assert run_cli(oss_server, "get", "-r", url, str(dest), "-q").returncode == 0
    oss_server.reset_stats()
    again = run_cli(oss_server, "get", "-r", url, str(dest))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("6 files (6 skipped), ")
    assert object_bytes_served(oss_server) == 0
    assert local_files(dest) == {key[2:]: value for key, value in files.items()}


def test_recursive_get_of_a_single_object_downloads_it(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "d/one.bin", b"12345")
    done = run_cli(oss_server, "get", "-r", f"oss://{oss_bucket}/d/one.bin", str(tmp_path / "x"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x").read_bytes() == b"12345"
    assert done.stdout.startswith(f"{tmp_path / 'x'}: 5 B downloaded in ")


def test_recursive_get_quiet_prints_nothing(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    put_tree(oss_server, oss_bucket)
    done = run_cli(oss_server, "get", "-rq", f"oss://{oss_bucket}/p", str(tmp_path / "t"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_glob_url_selects_keys(oss_server: OSSServer, oss_bucket: str, tmp_path: Path) -> None:
    files = put_tree(oss_server, oss_bucket)
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/p/*.csv", str(tmp_path / "t"))
    assert done.returncode == 0, done.stderr
    assert local_files(tmp_path / "t") == {"a.csv": files["p/a.csv"]}
    assert done.stdout.startswith("1 files (1 downloaded), ")


# -- --include / --exclude ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--include", "*.csv"], ["a.csv", "sub/c.csv", "sub/deep/d.csv", "tmp/e.csv"]),
        (["--include", "/*.csv"], ["a.csv"]),
        (["--include", "sub/**"], ["sub/c.csv", "sub/deep/d.csv"]),
        (["--include", "*.csv", "--exclude", "tmp/"], ["a.csv", "sub/c.csv", "sub/deep/d.csv"]),
        # Excludes are tried first, whatever the order on the command line.
        (["--exclude", "/sub/**", "--include", "*.csv"], ["a.csv", "tmp/e.csv"]),
        (["--exclude", "*.csv"], ["b.bin", "logs/2024/f.log"]),
        (["--exclude", "*.csv", "--exclude", "*.log"], ["b.bin"]),
        (["--include", "*.{bin,log}"], ["b.bin", "logs/2024/f.log"]),
        (["--include", "2024/*"], ["logs/2024/f.log"]),
        (["--include", "?.csv"], ["a.csv", "sub/c.csv", "sub/deep/d.csv", "tmp/e.csv"]),
        (["--include", "[ab].*"], ["a.csv", "b.bin"]),
    ],
)
def test_include_and_exclude(
    oss_server: OSSServer,
    oss_bucket: str,
    tmp_path: Path,
    filters: list[str],
    expected: list[str],
) -> None:
    files = put_tree(oss_server, oss_bucket)
    dest = tmp_path / "t"
    oss_server.reset_stats()

    done = run_cli(oss_server, "get", "-r", f"oss://{oss_bucket}/p", str(dest), *filters)

    assert done.returncode == 0, done.stderr
    got = local_files(dest) if dest.exists() else {}
    assert got == {name: files[f"p/{name}"] for name in expected}
    assert set(oss_server.stats().bytes_served) == {f"{oss_bucket}/p/{name}" for name in expected}
    assert done.stdout.startswith(f"{len(expected)} files (")
    # Only the directories that hold a downloaded file were made.
    wanted_dirs = {str(Path(name).parent) for name in expected} - {"."}
    wanted_dirs |= {str(parent) for d in wanted_dirs for parent in Path(d).parents} - {"."}
    assert (local_dirs(dest) if dest.exists() else []) == sorted(wanted_dirs)


def test_a_glob_that_matches_nothing_says_so(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    put_tree(oss_server, oss_bucket)
    for recursive in ([], ["-r"]):
        url = f"oss://{oss_bucket}/p/*.none"
        line = assert_one_line_failure(run_cli(oss_server, "get", *recursive, url, str(tmp_path)))
        assert line == f"oss-resumable: {url}: no key matches"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--include", "*.csv"], "add -r"),
        (["-r", "--include", "sub/"], "use --include 'sub/**'"),
        (["-r", "--exclude", "[abc"], "'[' is not closed"),
        (["-r", "--include", "{a,b"], "'{' is not closed"),
        (["-r", "--include", "{{.*}}"], "not supported"),
    ],
)
def test_bad_filters_are_usage_errors(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, args: list[str], message: str
) -> None:
    done = run_cli(oss_server, "get", f"oss://{oss_bucket}/p", str(tmp_path / "t"), *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("oss-resumable get: error: ")
    assert message in done.stderr
    assert list(tmp_path.iterdir()) == []


# -- -v: retries and timings, never a credential -----------------------------------------------


@pytest.mark.parametrize("verbosity", ["-v", "-vv", "-vvv"])
def test_verbose_shows_retries_and_never_a_secret(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path, verbosity: str
) -> None:
    data = make_data(9 * MiB, seed=14)
    oss_server.put_object(oss_bucket, "big.bin", data)
    oss_server.add_fault(FaultRule("error", key="big.bin", status=503, times=1))
    token = "sts-Token-3c9e1f7a2b"
    sts_id, sts_secret = "STS.cli-key-id", "sts-Secret-58d0e2c4b6"
    oss_server.add_sts_credential(sts_id, sts_secret, token)

    done = run_cli(
        oss_server,
        "get",
        verbosity,
        f"oss://{oss_bucket}/big.bin",
        str(tmp_path / "big.bin"),
        OSS_ACCESS_KEY_ID=sts_id,
        OSS_ACCESS_KEY_SECRET=sts_secret,
        OSS_SESSION_TOKEN=token,
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "big.bin").read_bytes() == data
    retries = [line for line in done.stderr.splitlines() if "retrying" in line]
    assert retries, done.stderr
    assert " INFO oss_resumable_fs.engine.fetch: " in retries[0]
    assert f"oss://{oss_bucket}/big.bin" in retries[0] and "ServiceUnavailable" in retries[0]
    assert "1 retry" in done.stdout
    everything = done.stdout + done.stderr
    for secret in (sts_secret, token):
        assert secret not in everything
    if verbosity != "-v":
        assert " DEBUG oss_resumable_fs.cli: endpoint " in done.stderr
    if verbosity == "-vvv":  # the requests themselves, their signatures blanked out
        assert " DEBUG oss2." in done.stderr or " DEBUG urllib3." in done.stderr


def test_verbose_recursive_logs_the_listing_and_each_file(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    put_tree(oss_server, oss_bucket)
    done = run_cli(oss_server, "get", "-r", "-v", f"oss://{oss_bucket}/p", str(tmp_path / "t"))
    assert done.returncode == 0, done.stderr
    infos = [line for line in done.stderr.splitlines() if " INFO oss_resumable_fs.cli: " in line]
    assert infos[0].endswith("6 files, 6.5 KiB")
    assert f"listed oss://{oss_bucket}/p/ in " in infos[0]
    assert sum(" downloaded in " in line for line in infos) == 6
    # -v before the command counts too.
    done = run_cli(oss_server, "-v", "get", "-r", f"oss://{oss_bucket}/p", str(tmp_path / "t"))
    assert done.returncode == 0, done.stderr
    assert sum(", already there " in line for line in done.stderr.splitlines()) == 6


def test_without_verbose_no_retry_is_logged(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    oss_server.put_object(oss_bucket, "big.bin", make_data(9 * MiB, seed=15))
    oss_server.add_fault(FaultRule("error", key="big.bin", status=503, times=1))
    done = run_cli(oss_server, "get", "-q", f"oss://{oss_bucket}/big.bin", str(tmp_path / "b"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


# -- Ctrl-C, then run again -------------------------------------------------------------------


def test_ctrl_c_exits_130_and_the_same_command_resumes(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    size = 24 * MiB
    data = make_data(size, seed=16)
    oss_server.put_object(oss_bucket, "big.bin", data)
    oss_server.add_fault(
        FaultRule("bandwidth", key="big.bin", times=None, bytes_per_second=1 * MiB)
    )
    dest = tmp_path / "out" / "big.bin"
    checkpoints = tmp_path / "checkpoints"
    args = [
        "get", f"oss://{oss_bucket}/big.bin", str(dest), "--part-size", "1MiB",
        "--concurrency", "4", "--checkpoint-dir", str(checkpoints),
    ]  # fmt: skip
    child = subprocess.Popen(
        [SCRIPT, *args],
        env=cli_env(oss_server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + LIMIT
        while _recorded_parts(checkpoints) < 3:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no parts recorded in time"
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=LIMIT)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 130, err
    assert out == ""
    assert "Traceback" not in err
    last = err.replace("\r", "\n").rstrip("\n").splitlines()[-1]
    assert last == "oss-resumable: interrupted; run the same command again to resume"
    assert not dest.exists()

    status = run_cli(oss_server, "status", str(dest.parent), "--checkpoint-dir", str(checkpoints))
    assert status.returncode == 0, status.stderr
    headline, progress = status.stdout.splitlines()
    assert headline == f"oss://{oss_bucket}/big.bin -> {dest}"
    assert progress.startswith("  ") and " of 24.0 MiB (" in progress

    oss_server.clear_faults()
    oss_server.reset_stats()
    again = run_cli(oss_server, *args)
    assert again.returncode == 0, again.stderr
    assert dest.read_bytes() == data
    assert " resumed in " in again.stdout and " reused" in again.stdout
    assert object_bytes_served(oss_server) < size
    assert list(checkpoints.iterdir()) == []
    assert sorted(p.name for p in dest.parent.iterdir()) == ["big.bin"]
    done = run_cli(oss_server, "status", str(dest.parent), "--checkpoint-dir", str(checkpoints))
    assert done.stdout == "no unfinished downloads\n"


def _recorded_parts(checkpoints: Path) -> int:
    journals = list(checkpoints.glob("*.ossr-journal")) if checkpoints.is_dir() else []
    try:
        return len(read_journal(str(journals[0])).parts) if journals else 0
    except (FileNotFoundError, JournalCorrupt):
        return 0


def test_an_error_during_a_recursive_get_is_one_line_after_the_others(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    put_tree(oss_server, oss_bucket)
    oss_server.add_fault(FaultRule("error", key="p/b.bin", status=403, times=None))
    done = run_cli(oss_server, "get", "-r", f"oss://{oss_bucket}/p", str(tmp_path / "t"))
    # Every file was tried; the bar was closed before the summary and the failure,
    # which is the last line, alone.
    assert done.returncode == 1
    assert "1 failed" in done.stdout
    last = done.stderr.replace("\r", "\n").rstrip("\n").splitlines()[-1]
    assert last.startswith("oss-resumable: failed: ") and f"oss://{oss_bucket}/p/b.bin" in last
    quiet = run_cli(oss_server, "get", "-rq", f"oss://{oss_bucket}/p", str(tmp_path / "t"))
    assert "access denied" in assert_one_line_failure(quiet)


def test_recursive_get_into_a_file_fails_before_any_transfer(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    put_tree(oss_server, oss_bucket)
    target = tmp_path / "a-file"
    target.write_bytes(b"mine")
    oss_server.reset_stats()
    done = run_cli(oss_server, "get", "-r", f"oss://{oss_bucket}/p", str(target))
    assert "is not a directory" in assert_one_line_failure(done)
    assert target.read_bytes() == b"mine"
    assert oss_server.stats().requests.get("GetObject", 0) == 0


def test_filters_that_match_nothing_draw_no_bar(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    put_tree(oss_server, oss_bucket)
    dest = tmp_path / "t"
    done = run_cli(oss_server, "get", "-r", f"oss://{oss_bucket}/p", str(dest), "--include", "x")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("0 files (nothing to do), 0 B: ")
    assert not dest.exists()


def test_get_r_tries_every_file_and_exits_1_listing_the_failures(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        oss_server.put_object(oss_bucket, f"t/{name}.bin", make_data(3000, ord(name)))
    # Any request: a small listed object is fetched by one GET, with no HEAD.
    oss_server.add_fault(FaultRule("error", method=None, key="t/b.bin", status=403, times=None))
    done = run_cli(oss_server, "get", "-r", f"oss://{oss_bucket}/t/", str(tmp_path / "t"))
    assert done.returncode == 1, (done.stdout, done.stderr)
    # The job's manifest stays, so a re-run retries b.bin alone (test_get_job.py).
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [".ossr-job", "a.bin", "c.bin"]
    assert "2 downloaded" in done.stdout and "1 failed" in done.stdout
    failures = [line for line in done.stderr.splitlines() if "failed:" in line]
    assert len(failures) == 1 and "t/b.bin" in failures[0] and "Traceback" not in done.stderr


def test_a_failure_of_get_r_is_printed_with_credentials_blanked(
    oss_server: OSSServer,
    oss_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As every other error the command prints: what an error echoes of a signed request
    (an STS token, a signature) is blanked."""
    from oss_resumable_fs import cli
    from oss_resumable_fs.fs import ResumableOSSFileSystem
    from oss_resumable_fs.results import FileOutcome, GetResult

    put_tree(oss_server, oss_bucket)
    for name, value in cli_env(oss_server).items():
        if name.startswith("OSS_"):
            monkeypatch.setenv(name, value)
    token = "STS-token-VERY-SECRET-abcdef0123"
    echoed = f"refused: GET /p/a.csv?security-token={token}&Signature=c2lnbmVk"

    def failing_get(self, rpaths, lpaths, **options):
        failed = FileOutcome(rpaths[0], lpaths[0], "failed", error=echoed)
        return GetResult(files=(failed,), elapsed=0.1)

    monkeypatch.setattr(ResumableOSSFileSystem, "get", failing_get)
    assert cli.main(["get", "-rq", f"oss://{oss_bucket}/p", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("oss-resumable: failed: refused: GET /p/a.csv?security-token=<redacted>")
    assert token not in err and "c2lnbmVk" not in err
