"""The ``%oss_*`` IPython magics, in a real IPython shell against the local OSS server.

Each test gets a fresh ``InteractiveShell`` (history in memory, its own
IPYTHONDIR, the working directory a temporary one) with the extension loaded,
and runs magics as a user does: ``shell.run_cell("%oss_get ...")``.
"""

from __future__ import annotations

import _thread
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output
from traitlets.config import Config

from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.engine.status import list_unfinished
from oss_resumable_fs.magics import Interrupted, MagicError, OSSMagics
from oss_resumable_fs.results import GetResult
from oss_resumable_fs.testing import FaultRule, OSSServer

from .conftest import engine_files, make_data

IPYTHON = str(Path(sys.executable).with_name("ipython"))
SMALL = 2 * MiB + 5
#: Above the 8 MiB single-request threshold, so it has a journal and can resume.
BIG = 9 * MiB
#: Small parts on few connections: many parts, quickly.
PARTS = "--part-size 256KiB --concurrency 4"
#: Per connection: four connections take over two seconds for BIG.
THROTTLE = 1 * MiB
SECRET = "s3cr3t-Value-7f1e9a"


# -- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def bare_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A fresh IPython shell working in ``tmp_path/work``; gone after the test."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    try:
        yield InteractiveShell.instance(config=config)
    finally:
        InteractiveShell.clear_instance()


@pytest.fixture
def shell(bare_shell: InteractiveShell) -> InteractiveShell:
    """``bare_shell`` with the extension loaded."""
    bare_shell.run_line_magic("load_ext", "oss_resumable_fs")
    return bare_shell


@pytest.fixture
def ip(shell: InteractiveShell, oss_server: OSSServer) -> InteractiveShell:
    """``shell`` configured for the local server (credentials through ``$`` variables)."""
    shell.user_ns.update(
        endpoint=oss_server.endpoint,
        key_id=oss_server.access_key_id,
        key_secret=oss_server.access_key_secret,
    )
    result, _ = run(
        shell,
        "%oss_config --endpoint $endpoint --key-id $key_id --key-secret $key_secret "
        "--progress none",
    )
    assert result.success
    return shell


def run(shell: InteractiveShell, cell: str) -> tuple[ExecutionResult, CapturedIO]:
    with capture_output() as io:
        result = shell.run_cell(cell, store_history=False)
    return result, io


def assert_one_error_line(result: ExecutionResult, io: CapturedIO) -> str:
    """The cell failed, showing exactly one ``ERROR:`` line on stderr and nothing else."""
    assert not result.success
    assert isinstance(result.error_in_exec, MagicError)
    assert io.stdout == ""
    assert "Traceback" not in io.stderr
    lines = io.stderr.splitlines()
    assert len(lines) == 1, io.stderr
    assert lines[0].startswith("ERROR: ")
    return lines[0]


@pytest.fixture
def small(oss_server: OSSServer, oss_bucket: str) -> bytes:
    data = make_data(SMALL, seed=81)
    oss_server.put_object(oss_bucket, "data/small.bin", data)
    return data


def served(oss_server: OSSServer) -> int:
    return oss_server.stats().total_bytes_served


def interrupt_when(condition: Callable[[], bool], timeout: float = 20.0) -> threading.Event:
    """Ctrl-C the main thread (as a kernel interrupt does) once ``condition()`` holds."""
    fired = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                fired.set()
                _thread.interrupt_main()
                return
            time.sleep(0.02)

    threading.Thread(target=watch, name="interrupter", daemon=True).start()
    return fired


def bytes_recorded(directory: Path) -> int:
    """Bytes the journals in ``directory`` record as done (0 before there is one)."""
    try:
        return sum(item.bytes_done for item in list_unfinished(directory))
    except FileNotFoundError:
        return 0


def interrupted_get(ip: InteractiveShell, oss_server: OSSServer, bucket: str) -> bytes:
    """Start ``%oss_get`` of a throttled BIG object and interrupt it once 1 MiB is recorded."""
    data = make_data(BIG, seed=82)
    oss_server.put_object(bucket, "big.bin", data)
    rule = oss_server.add_fault(
        FaultRule("bandwidth", key="big.bin", bytes_per_second=THROTTLE, times=None)
    )
    work = Path.cwd()
    fired = interrupt_when(lambda: bytes_recorded(work) >= MiB)
    started = time.monotonic()
    result, io = run(ip, f"%oss_get {PARTS} oss://{bucket}/big.bin big.bin")
    assert fired.is_set()
    assert time.monotonic() - started < 10  # stopped within seconds
    assert isinstance(result.error_in_exec, Interrupted)
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert io.stdout == ""
    (line,) = io.stderr.splitlines()
    assert line.startswith("Interrupted: ") and "of 9.0 MiB kept (" in line
    assert "/36 parts complete); " in line
    assert "run the cell again to resume" in line
    assert sorted(p.name for p in work.iterdir()) == [
        "big.bin.ossr-journal",
        "big.bin.ossr-partial",
    ]
    oss_server.remove_fault(rule)
    return data


# -- loading and help -------------------------------------------------------------------


def test_load_ext_registers_the_magics(shell: InteractiveShell) -> None:
    line_magics = shell.magics_manager.magics["line"]
    for name in ("oss_get", "oss_ls", "oss_info", "oss_status", "oss_clean", "oss_config"):
        assert name in line_magics
    # Loading again is harmless.
    result, io = run(shell, "%load_ext oss_resumable_fs")
    assert result.success, io.stderr


def test_an_earlier_custom_exception_handler_keeps_working(bare_shell: InteractiveShell) -> None:
    seen = []

    def earlier(shell: object, etype: type, value: BaseException, tb: object, tb_offset=None):
        seen.append(etype)

    bare_shell.set_custom_exc((ZeroDivisionError,), earlier)
    bare_shell.run_line_magic("load_ext", "oss_resumable_fs")

    result, io = run(bare_shell, "1 / 0")
    assert seen == [ZeroDivisionError] and not result.success
    result, io = run(bare_shell, "%oss_get --bogus a b")
    assert_one_error_line(result, io)
    assert seen == [ZeroDivisionError]


def test_help_lists_the_options(shell: InteractiveShell) -> None:
    with capture_output() as io:
        shell.run_line_magic("pinfo", "%oss_get")
    for option in ("-r, --recursive", "--force", "--part-size SIZE", "--concurrency N"):
        assert option in io.stdout
    for option in ("--checkpoint-dir DIR", "-o VAR, --output VAR", "-q, --quiet", "URL", "DEST"):
        assert option in io.stdout
    assert "%oss_get [-r] [--include GLOB] [--exclude GLOB] [--force]" in io.stdout  # usage
    # `%oss_get --help` prints the same help instead of failing.
    result, io = run(shell, "%oss_get --help")
    assert result.success and "--part-size SIZE" in io.stdout
    for name in ("oss_ls", "oss_info", "oss_status", "oss_clean", "oss_config"):
        assert f"%{name}" in getattr(OSSMagics, name).__doc__


# -- %oss_get ---------------------------------------------------------------------------


def test_get_one_object_lands_byte_identical(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    run(ip, "%oss_config --progress text")
    result, io = run(ip, f"%oss_get oss://{oss_bucket}/data/small.bin copy.bin")

    assert result.success and result.result is None  # nothing echoed twice
    assert Path("copy.bin").read_bytes() == small
    (summary,) = io.stdout.splitlines()
    assert summary.startswith(f"{Path.cwd() / 'copy.bin'}: 2.0 MiB downloaded in ")
    assert "small.bin" in io.stderr and "100%" in io.stderr  # the text progress bar
    assert engine_files(Path.cwd()) == []


def test_get_again_skips_the_identical_file(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    url = f"oss://{oss_bucket}/data/small.bin"
    assert run(ip, f"%oss_get {url} copy.bin")[0].success
    oss_server.reset_stats()

    result, io = run(ip, f"%oss_get {url} copy.bin")

    assert result.success
    assert oss_server.stats().bytes_served == {}
    assert io.stdout.strip().endswith("already there (same size and CRC-64): skipped")
    assert Path("copy.bin").read_bytes() == small


def test_get_force_fetches_again(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    url = f"ossr://{oss_bucket}/data/small.bin"  # ossr:// URLs too
    assert run(ip, f"%oss_get {url} copy.bin")[0].success
    oss_server.reset_stats()

    result, io = run(ip, f"%oss_get --force {url} copy.bin")

    assert result.success
    assert served(oss_server) == SMALL
    assert " downloaded in " in io.stdout
    assert Path("copy.bin").read_bytes() == small


def test_get_into_a_directory_keeps_the_object_name(
    ip: InteractiveShell, oss_bucket: str, small: bytes
) -> None:
    Path("into").mkdir()
    result, _ = run(ip, f"%oss_get -q oss://{oss_bucket}/data/small.bin into")
    assert result.success
    assert Path("into/small.bin").read_bytes() == small


def test_get_recursive_downloads_a_prefix(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str
) -> None:
    files = {"tree/a.bin": make_data(1000, 1), "tree/sub/b.bin": make_data(3 * MiB, 2)}
    for key, data in files.items():
        oss_server.put_object(oss_bucket, key, data)
    oss_server.put_object(oss_bucket, "other/c.bin", b"not this")

    result, io = run(ip, f"%oss_get -r {PARTS} oss://{oss_bucket}/tree/ local/")

    assert result.success, io.stderr
    assert Path("local/a.bin").read_bytes() == files["tree/a.bin"]
    assert Path("local/sub/b.bin").read_bytes() == files["tree/sub/b.bin"]
    assert not Path("local/c.bin").exists()
    assert io.stdout.startswith("2 files (2 downloaded)")

    # Again: both skipped, no object bytes. A prefix without -r is refused.
    oss_server.reset_stats()
    result, io = run(ip, f"%oss_get -r oss://{oss_bucket}/tree/ local/")
    assert result.success and io.stdout.startswith("2 files (2 skipped)")
    assert oss_server.stats().bytes_served == {}
    line = assert_one_error_line(*run(ip, f"%oss_get oss://{oss_bucket}/tree local2"))
    assert "is a directory" in line and "use -r" in line
    assert not Path("local2").exists()


def test_get_recursive_run_again_without_a_slash_skips_everything(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str
) -> None:
    """As oss-resumable get (rclone copy): DEST receives what is under the prefix, whether
    or not DEST exists yet, so the same cell run again finds every file and skips it."""
    files = {"data/x.bin": make_data(2000, 3), "data/sub/y.bin": make_data(3000, 4)}
    for key, data in files.items():
        oss_server.put_object(oss_bucket, key, data)
    cell = f"%oss_get -r oss://{oss_bucket}/data out"

    result, io = run(ip, cell)
    assert result.success and io.stdout.startswith("2 files (2 downloaded)"), io.stderr
    oss_server.reset_stats()
    result, io = run(ip, cell)  # now "out" exists: fsspec's cp -r would nest into out/data/

    assert result.success and io.stdout.startswith("2 files (2 skipped)"), io.stderr
    assert oss_server.stats().bytes_served == {}
    assert sorted(str(p.relative_to("out")) for p in Path("out").rglob("*") if p.is_file()) == [
        "sub/y.bin",
        "x.bin",
    ]
    assert Path("out/sub/y.bin").read_bytes() == files["data/sub/y.bin"]


def test_get_recursive_include_exclude_and_globs(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str
) -> None:
    for key in ("d/a.csv", "d/b.bin", "d/tmp/c.csv", "d/2024/e.csv"):
        oss_server.put_object(oss_bucket, key, key.encode())

    result, io = run(ip, f"%oss_get -r oss://{oss_bucket}/d f --include '*.csv' --exclude tmp/")
    assert result.success, io.stderr
    assert sorted(str(p.relative_to("f")) for p in Path("f").rglob("*") if p.is_file()) == [
        "2024/e.csv",
        "a.csv",
    ]
    # A wildcard implies a tree, as in oss-resumable get: only the keys it matches.
    result, io = run(ip, f"%oss_get oss://{oss_bucket}/d/*.csv g")
    assert result.success, io.stderr
    assert [p.name for p in Path("g").iterdir()] == ["a.csv"]
    # Filters select keys below a prefix; a bad glob fails before any request.
    line = assert_one_error_line(*run(ip, f"%oss_get oss://{oss_bucket}/d/a.csv h --include x"))
    assert "add -r" in line
    line = assert_one_error_line(*run(ip, f"%oss_get -r oss://{oss_bucket}/d h --include 'a/'"))
    assert "names a directory" in line
    assert not Path("h").exists()


def test_get_output_stores_the_result(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    result, io = run(ip, f"%oss_get -o res --quiet oss://{oss_bucket}/data/small.bin copy.bin")

    assert result.success and result.result is None
    assert (io.stdout, io.stderr) == ("", "")  # --quiet: no bar, no summary
    stored = ip.user_ns["res"]
    assert stored.status == "downloaded" and stored.bytes_fetched == SMALL
    assert stored.path == str(Path.cwd() / "copy.bin")

    oss_server.put_object(oss_bucket, "data/more.bin", b"more")
    run(ip, f"%oss_get -r -o many -q oss://{oss_bucket}/data/ tree/")
    assert isinstance(ip.user_ns["many"], GetResult)
    assert ip.user_ns["many"].count("downloaded") == 2


def test_dollar_and_brace_expansion(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    ip.user_ns.update(url=f"oss://{oss_bucket}/data/small.bin", name="expanded")
    result, io = run(ip, "%oss_get $url {name + '.bin'} -o res")
    assert result.success, io.stderr
    assert Path("expanded.bin").read_bytes() == small

    # Inside a function, a line magic sees the function's variables too.
    cell = "def fetch(target):\n    %oss_get -q $url $target\nfetch('from-function.bin')\n"
    result, io = run(ip, cell)
    assert result.success, io.stderr
    assert Path("from-function.bin").read_bytes() == small


def test_config_transfer_defaults_apply_and_rebuild_the_filesystem(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    magics = ip.magics_manager.registry["OSSMagics"]
    first = magics.session.filesystem()
    run(ip, "%oss_config --part-size 256KiB --concurrency 2")
    assert magics.session.filesystem() is not first
    assert magics.session.filesystem() is magics.session.filesystem()

    oss_server.put_object(oss_bucket, "nine.bin", make_data(BIG, 5))
    result, io = run(ip, f"%oss_get -o res oss://{oss_bucket}/nine.bin nine.bin")
    assert result.success, io.stderr
    assert ip.user_ns["res"].parts_total == BIG // (256 * KiB)

    # Per call, an option wins over the session's default.
    result, _ = run(ip, f"%oss_get --force -o res --part-size 1MiB oss://{oss_bucket}/nine.bin n2")
    assert result.success and ip.user_ns["res"].parts_total == 9


# -- %oss_ls and %oss_info --------------------------------------------------------------


def test_ls_returns_a_dataframe(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str
) -> None:
    import pandas as pd

    oss_server.put_object(oss_bucket, "ls/a.bin", b"x" * 10)
    oss_server.put_object(oss_bucket, "ls/b.txt", b"abc", storage_class="IA")
    oss_server.put_object(oss_bucket, "ls/sub/c.bin", b"c")

    result, io = run(ip, f"%oss_ls oss://{oss_bucket}/ls/")

    assert result.success, io.stderr
    frame = result.result
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["name", "type", "size", "last_modified", "storage_class", "etag"]
    assert frame["name"].tolist() == [f"{oss_bucket}/ls/{n}" for n in ("a.bin", "b.txt", "sub")]
    assert frame["type"].tolist() == ["file", "file", "directory"]
    assert frame["size"].tolist()[:2] == [10, 3] and pd.isna(frame["size"][2])
    assert (
        str(frame["last_modified"].dtype).startswith("datetime64") and frame["last_modified"].dt.tz
    )
    assert frame["storage_class"].tolist()[:2] == ["Standard", "IA"]
    assert frame["etag"][0].startswith('"')
    # Buckets, for oss://
    buckets = run(ip, "%oss_ls oss://")[0].result
    assert oss_bucket in buckets["name"].tolist()


def test_ls_without_pandas_prints_a_table(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    oss_server.put_object(oss_bucket, "ls/a.bin", b"x" * 2048)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails

    result, io = run(ip, f"%oss_ls oss://{oss_bucket}/ls/")

    assert result.success and result.result is None
    (line,) = io.stdout.splitlines()
    assert "2.0 KiB" in line and "Standard" in line and line.endswith(f"{oss_bucket}/ls/a.bin")


def test_info_describes_an_object(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    from oss_resumable_fs.engine.integrity import crc64

    result, io = run(ip, f"%oss_info oss://{oss_bucket}/data/small.bin")

    assert result.success, io.stderr
    info = result.result
    assert info["name"] == f"{oss_bucket}/data/small.bin" and info["type"] == "file"
    assert info["size"] == SMALL
    assert info["crc64"] == crc64(small)
    assert info["etag"].startswith('"') and info["storage_class"] == "Standard"
    assert info["last_modified"].tzinfo is not None
    prefix = run(ip, f"%oss_info oss://{oss_bucket}/data")[0].result
    assert prefix == {"name": f"{oss_bucket}/data", "type": "directory"}


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%oss_get oss://{bucket}/missing.bin x", "oss://{bucket}/missing.bin: not found"),
        ("%oss_get oss://no-such-bucket-ossr/k x", "not found"),
        ("%oss_info oss://{bucket}/missing.bin", "not found"),
        ("%oss_ls oss://{bucket}/missing/", "not found"),
        ("%oss_get --forse oss://{bucket}/k x", "unknown option --forse; did you mean --force?"),
        ("%oss_get oss://{bucket}/k", "the following arguments are required: DEST"),
        ("%oss_get --part-size 16Q oss://{bucket}/k x", "not a size: '16Q'"),
        ("%oss_get --part-size 1KiB oss://{bucket}/data/small.bin x", "part_size must be"),
        ("%oss_get s3://{bucket}/k x", "s3://{bucket}/k: not an oss:// URL"),
        ("%oss_get -o 1x oss://{bucket}/k x", "-o needs a variable name"),
        ("%oss_config --region oss-cn-hangzhou", "looks like an endpoint prefix"),
        ("%oss_status no-such-dir", "no-such-dir: no such directory"),
    ],
)
def test_errors_are_one_line(
    ip: InteractiveShell, oss_bucket: str, small: bytes, line: str, expected: str
) -> None:
    result, io = run(ip, line.format(bucket=oss_bucket))
    message = assert_one_error_line(result, io)
    assert expected.format(bucket=oss_bucket) in message
    assert not Path("x").exists()


def test_no_endpoint_says_how_to_set_one(shell: InteractiveShell) -> None:
    message = assert_one_error_line(*run(shell, "%oss_ls oss://bucket/"))
    assert "no OSS endpoint" in message and "%oss_config --endpoint" in message


def test_a_failure_stops_the_rest_of_the_cell(ip: InteractiveShell, oss_bucket: str) -> None:
    """A cell (and a notebook run top to bottom) stops at a failed magic."""
    result, io = run(ip, f"%oss_get oss://{oss_bucket}/missing x\nafter = 1")
    assert_one_error_line(result, io)
    assert "after" not in ip.user_ns


# -- %oss_config ------------------------------------------------------------------------


def test_config_never_shows_the_secret(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, small: bytes
) -> None:
    outputs = []
    ip.user_ns["secret"] = SECRET
    for line in (
        "%oss_config --key-secret $secret",
        "%oss_config",
        f"%oss_config --key-secert {SECRET}",  # misspelled: must not echo the value
        f"%oss_config --key-secret {SECRET} --bogus",
        f"%oss_config --key-secret {SECRET} --concurrency many",
        f"%oss_config {SECRET}",
        f"%oss_get oss://{oss_bucket}/data/small.bin x",  # fails: wrong secret
        "%oss_ls oss://",
    ):
        result, io = run(ip, line)
        outputs += [io.stdout, io.stderr, repr(result.result), str(result.error_in_exec)]
    magics = ip.magics_manager.registry["OSSMagics"]
    outputs += [repr(magics), repr(magics.session), repr(magics.session.settings)]
    outputs.append(repr(magics.session.filesystem()))
    assert not [text for text in outputs if SECRET in text]
    shown = run(ip, "%oss_config")[1].stdout
    assert "key_secret      ********" in shown and "ossr****" in shown
    assert oss_server.access_key_id not in shown


def test_config_refuses_a_variable_that_was_not_expanded(
    ip: InteractiveShell, oss_server: OSSServer
) -> None:
    # One undefined $name: IPython passes the whole line on as typed.
    line = assert_one_error_line(
        *run(ip, "%oss_config --endpoint $endpoint --key-secret $undefined_secret")
    )
    assert line == (
        "ERROR: $undefined_secret was not expanded: is the variable defined? (IPython "
        "passes a line on as typed when a $name in it is not defined)"
    )
    magics = ip.magics_manager.registry["OSSMagics"]
    assert magics.session.settings.endpoint == oss_server.endpoint  # nothing was changed
    assert magics.session.settings.key_secret == oss_server.access_key_secret
    line = assert_one_error_line(*run(ip, "%oss_config --checkpoint-dir $nowhere"))
    assert "$nowhere was not expanded" in line


@pytest.mark.parametrize(
    "endpoint", ["oss$host.example.com", "http://127.0.0.1:port", "oss-cn-hangzhou!", "https://u@h"]
)
def test_config_refuses_an_endpoint_that_is_no_url(ip: InteractiveShell, endpoint: str) -> None:
    ip.user_ns["bad"] = endpoint
    line = assert_one_error_line(*run(ip, "%oss_config --endpoint $bad"))
    assert f"endpoint {endpoint!r} is not a URL or host name" in line


def test_config_warns_of_a_secret_typed_in_the_cell(
    ip: InteractiveShell, oss_server: OSSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = oss_server.access_key_secret
    result, io = run(ip, f"%oss_config --key-secret {secret}")

    assert result.success
    (warning,) = io.stderr.splitlines()
    assert warning.startswith("WARNING: the --key-secret value typed in this cell is now in ")
    assert "the notebook and in IPython's history" in warning
    assert "without a value" in warning and "OSS_ACCESS_KEY_SECRET" in warning
    assert secret not in io.stdout + io.stderr
    # Through a variable, or asked for: no warning.
    assert run(ip, "%oss_config --key-secret $key_secret")[1].stderr == ""
    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    assert run(ip, "%oss_config --key-secret")[1].stderr == ""
    result, io = run(ip, "%oss_config --token STS-token-typed-here")
    assert result.success and "the --token value typed in this cell" in io.stderr


def test_config_asks_for_a_secret_given_without_a_value(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch, oss_server: OSSServer
) -> None:
    prompts = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return oss_server.access_key_secret

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    result, io = run(ip, "%oss_config --key-secret --region cn-hangzhou")
    assert result.success, io.stderr
    assert prompts == ["OSS access key secret: "]
    magics = ip.magics_manager.registry["OSSMagics"]
    assert magics.session.settings.key_secret == oss_server.access_key_secret
    assert oss_server.access_key_secret not in io.stdout


def test_credentials_fall_back_to_the_environment(
    shell: InteractiveShell,
    oss_server: OSSServer,
    oss_bucket: str,
    small: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSS_ENDPOINT", oss_server.endpoint)
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", oss_server.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", oss_server.access_key_secret)

    result, io = run(shell, f"%oss_get -q oss://{oss_bucket}/data/small.bin copy.bin")
    assert result.success, io.stderr
    assert Path("copy.bin").read_bytes() == small
    shown = run(shell, "%oss_config")[1].stdout
    assert f"{oss_server.endpoint}  (from $OSS_ENDPOINT)" in shown
    assert "********  (from $OSS_ACCESS_KEY_SECRET)" in shown
    assert oss_server.access_key_secret not in shown

    # A wrong secret set in the session wins over the environment; --reset forgets it.
    run(shell, "%oss_config --key-secret wrong-secret-value")
    assert_one_error_line(*run(shell, f"%oss_info oss://{oss_bucket}/data/small.bin"))
    run(shell, "%oss_config --reset")
    assert run(shell, f"%oss_info oss://{oss_bucket}/data/small.bin")[0].success


# -- interrupted downloads: resume, status, clean ----------------------------------------


def test_interrupted_get_resumes_when_run_again(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str
) -> None:
    data = interrupted_get(ip, oss_server, oss_bucket)
    kept = bytes_recorded(Path.cwd())

    result, io = run(ip, "%oss_status")
    assert result.success
    lines = io.stdout.splitlines()
    assert lines[0] == f"1 unfinished download(s) below {Path.cwd()}:"
    assert f"oss://{oss_bucket}/big.bin -> {Path.cwd() / 'big.bin'}: " in lines[1]
    assert "of 9.0 MiB" in lines[1] and "/36 parts" in lines[1]

    result, io = run(ip, f"%oss_get {PARTS} -o res oss://{oss_bucket}/big.bin big.bin")

    assert result.success, io.stderr
    res = ip.user_ns["res"]
    assert res.status == "resumed" and res.bytes_reused >= kept > 0
    assert res.bytes_fetched == BIG - res.bytes_reused
    assert " resumed in " in io.stdout
    assert Path("big.bin").read_bytes() == data
    assert engine_files(Path.cwd()) == []
    assert run(ip, "%oss_status")[1].stdout.startswith("no unfinished downloads below ")


def test_clean_removes_what_an_interrupted_download_left(
    ip: InteractiveShell, oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "checkpoints"
    run(ip, f"%oss_config --checkpoint-dir {checkpoints}")
    data = make_data(BIG, seed=83)
    oss_server.put_object(oss_bucket, "big.bin", data)
    oss_server.add_fault(
        FaultRule("bandwidth", key="big.bin", bytes_per_second=THROTTLE, times=None)
    )
    fired = interrupt_when(lambda: bytes_recorded(checkpoints) >= MiB)
    result, io = run(ip, f"%oss_get {PARTS} oss://{oss_bucket}/big.bin big.bin")
    assert fired.is_set() and isinstance(result.error_in_exec, KeyboardInterrupt), io.stderr
    (journal,) = checkpoints.iterdir()
    partial = Path.cwd() / "big.bin.ossr-partial"
    assert partial.exists()

    # Status finds the journal in the session's checkpoint directory.
    assert f"oss://{oss_bucket}/big.bin -> " in run(ip, "%oss_status")[1].stdout

    # Without --yes: only a list.
    result, io = run(ip, "%oss_clean")
    assert result.success
    assert io.stdout.startswith("Would remove (run %oss_clean again with --yes")
    assert str(journal) in io.stdout and str(partial) in io.stdout
    assert journal.exists() and partial.exists()

    result, io = run(ip, "%oss_clean --yes")
    assert result.success
    assert io.stdout.startswith("Removed the files of 1 unfinished download(s)")
    assert f"removed {partial}" in io.stdout
    assert not journal.exists() and engine_files(Path.cwd()) == []
    assert run(ip, "%oss_status")[1].stdout.startswith("no unfinished downloads")

    # The next get starts afresh, and lands the right bytes.
    oss_server.clear_faults()
    result, _ = run(ip, f"%oss_get -q -o res oss://{oss_bucket}/big.bin big.bin")
    assert ip.user_ns["res"].bytes_reused == 0
    assert Path("big.bin").read_bytes() == data


def test_clean_leaves_a_running_download_alone(ip: InteractiveShell) -> None:
    from oss_resumable_fs.engine.lock import TargetLock

    Path("busy.bin.ossr-partial").write_bytes(b"x" * 100)
    Path("stale.bin.ossr-partial").write_bytes(b"y" * 100)
    Path("stale.bin.ossr-lock").write_bytes(b"")
    lock = TargetLock(str(Path.cwd() / "busy.bin")).acquire()
    try:
        status = run(ip, "%oss_status")[1].stdout
        assert (
            "busy.bin.ossr-partial, " in status and "busy.bin.ossr-lock: no journal found" in status
        )
        assert "[in progress now]" in status
        result, io = run(ip, "%oss_clean --yes --orphans")
        assert result.success
        assert "left alone (in progress now)" in io.stdout
        assert Path("busy.bin.ossr-partial").exists()
        assert not Path("stale.bin.ossr-partial").exists()
        assert not Path("stale.bin.ossr-lock").exists()
    finally:
        lock.release()


def test_clean_removes_only_what_a_journal_describes_unless_orphans(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    """A partial whose journal is in a checkpoint directory not given is progress, and
    notes.ossr-partial someone's file: both stay unless --orphans."""
    from .test_cli_ls_status import interrupted_download

    checkpoints = tmp_path / "checkpoints"
    journal = interrupted_download(Path.cwd() / "big.bin", 4 * MiB, 2, checkpoints)
    described = interrupted_download(Path.cwd() / "beside.bin", 2 * MiB, 1)
    Path("notes.ossr-partial").write_text("my notes")
    Path("proj").mkdir()
    Path("proj/model.ossr-lock").write_text("mine")
    Path("link.ossr-partial").symlink_to(tmp_path / "elsewhere")  # never a download's
    orphans = [Path.cwd() / p for p in ("big.bin.ossr-partial", "notes.ossr-partial")]
    orphans.append(Path.cwd() / "proj/model.ossr-lock")

    lines = run(ip, "%oss_status")[1].stdout.splitlines()
    assert lines[0] == (
        f"1 unfinished download(s), and 3 leftover(s) no journal describes, below {Path.cwd()}:"
    )
    assert lines[1].startswith(f"  oss://bkt/beside.bin -> {Path.cwd() / 'beside.bin'}: ")
    for line, orphan in zip(lines[2:5], orphans, strict=True):
        assert line == (
            f"  {orphan}: no journal found here; it may be in a checkpoint directory "
            "(look there with --checkpoint-dir DIR), or the file is no download's"
        )
    assert "--orphans removes them too" in lines[-1]

    result, io = run(ip, "%oss_clean --yes")
    assert result.success
    assert io.stdout.startswith("Removed the files of 1 unfinished download(s)")
    assert not described.exists() and not Path("beside.bin.ossr-partial").exists()
    assert "Left alone, as no journal found describes them" in io.stdout
    assert all(p.exists() for p in orphans) and journal.exists()

    # With its checkpoint directory, big.bin is a download again: its partial goes with it.
    result, io = run(ip, f"%oss_clean --yes --checkpoint-dir {checkpoints}")
    assert f"removed {journal}" in io.stdout and not journal.exists()
    assert not orphans[0].exists() and orphans[1].exists()

    result, io = run(ip, "%oss_clean --yes --orphans")
    assert result.success and f"removed {orphans[1]}" in io.stdout
    assert not orphans[1].exists() and not orphans[2].exists()
    assert Path("link.ossr-partial").is_symlink()


# -- in a real IPython process, as a user tries it --------------------------------------


def ipython(
    oss_server: OSSServer, tmp_path: Path, code: str, **popen: object
) -> subprocess.Popen[str]:
    env = {**oss_server.environment(), "IPYTHONDIR": str(tmp_path / "ipython")}
    return subprocess.Popen(
        [IPYTHON, "--quick", "--HistoryManager.hist_file=:memory:", "--colors=nocolor", "-c", code],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def test_in_a_real_ipython_process(
    oss_server: OSSServer, oss_bucket: str, small: bytes, tmp_path: Path
) -> None:
    code = (
        "%load_ext oss_resumable_fs\n"
        f"%oss_get oss://{oss_bucket}/data/small.bin small.bin\n"
        f"%oss_get oss://{oss_bucket}/data/small.bin small.bin\n"
    )
    stdout, stderr = ipython(oss_server, tmp_path, code).communicate(timeout=60)
    assert (tmp_path / "small.bin").read_bytes() == small
    downloaded, skipped = stdout.splitlines()
    assert " downloaded in " in downloaded and skipped.endswith("skipped")
    assert "100%" in stderr and "Traceback" not in stderr  # a text bar in a terminal

    # A failure: one line, and the process fails, as a script should.
    failing = ipython(
        oss_server, tmp_path, f"%load_ext oss_resumable_fs\n%oss_info oss://{oss_bucket}/nope\n"
    )
    stdout, stderr = failing.communicate(timeout=60)
    assert failing.returncode == 1
    assert stdout == ""
    assert stderr.startswith("ERROR: ") and len(stderr.splitlines()) == 1


def test_ctrl_c_in_a_real_ipython_process_then_resume(
    oss_server: OSSServer, oss_bucket: str, tmp_path: Path
) -> None:
    data = make_data(BIG, seed=84)
    oss_server.put_object(oss_bucket, "big.bin", data)
    oss_server.add_fault(
        FaultRule("bandwidth", key="big.bin", bytes_per_second=THROTTLE, times=None)
    )
    code = f"%load_ext oss_resumable_fs\n%oss_get {PARTS} oss://{oss_bucket}/big.bin big.bin\n"
    child = ipython(oss_server, tmp_path, code)
    deadline = time.monotonic() + 30
    while bytes_recorded(tmp_path) < MiB and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=30)

    assert child.returncode == 1
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1].startswith("Interrupted: ")
    assert "run the cell again to resume" in stderr
    assert (tmp_path / "big.bin.ossr-journal").exists()

    oss_server.clear_faults()
    stdout, stderr = ipython(oss_server, tmp_path, code).communicate(timeout=60)
    assert " resumed in " in stdout, stderr
    assert (tmp_path / "big.bin").read_bytes() == data
