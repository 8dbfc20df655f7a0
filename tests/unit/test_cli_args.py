import argparse
import os
import re
import subprocess
import sys

import pytest

from oss_resumable_fs.cli import build_parser, common, parse_size
from oss_resumable_fs.cli.get import label
from oss_resumable_fs.cli.ls import long_rows
from oss_resumable_fs.filters import GlobError, KeyFilter, glob_to_regex
from oss_resumable_fs.trees import filter_root, key_filter, looks_like_a_tree, relative_key
from oss_resumable_fs.urls import check_endpoint, remote_path, require_endpoint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16MiB", 16 << 20),
        ("16M", 16 << 20),
        ("1GiB", 1 << 30),
        ("512k", 512 << 10),
        ("1048576", 1 << 20),
        ("1.5MiB", 3 << 19),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MiB", "12 parsecs", "-5"])
def test_parse_size_rejects_garbage(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_get_parses_its_options():
    args = build_parser().parse_args(
        ["get", "oss://b/k", "out", "--part-size", "32MiB", "--concurrency", "4", "-q"]
    )
    assert (args.part_size, args.concurrency, args.quiet) == (32 << 20, 4, True)


def test_get_parses_filters_force_and_verbosity():
    args = build_parser().parse_args(
        [
            *["-v", "get", "-r", "oss://b/p/", "out", "--include", "*.csv"],
            *["--include", "*.tsv", "--exclude", "tmp/", "-vv", "--force"],
        ]
    )
    assert args.include == ["*.csv", "*.tsv"] and args.exclude == ["tmp/"]
    assert (args.recursive, args.force, args.verbose_top, args.verbose) == (True, True, 1, 2)


def test_ls_and_status_options():
    args = build_parser().parse_args(["ls", "-lr", "oss://b/p"])
    assert (args.long, args.recursive) == (True, True)
    args = build_parser().parse_args(["status", "a", "b/c.bin", "--checkpoint-dir", "ck"])
    assert (args.paths, args.checkpoint_dir) == (["a", "b/c.bin"], "ck")


# -- --include / --exclude: rclone's rules ----------------------------------------------------

MATCHES = [
    # (glob, path relative to the prefix, matches?)
    ("*.jpg", "file.jpg", True),
    ("*.jpg", "dir/file.jpg", True),
    ("*.jpg", "file.png", False),
    ("file.jpg", "directory/file.jpg", True),
    ("file.jpg", "afile.jpg", False),
    ("file.jpg", "directory/afile.jpg", False),
    ("/file.jpg", "file.jpg", True),
    ("/file.jpg", "directory/file.jpg", False),
    ("/*.jpg", "dir/file.jpg", False),
    ("*.{jpg,png}", "dir/file.png", True),
    ("*.{jpg,png}", "file.gif", False),
    ("{a,b{c,d}}.x", "bd.x", True),
    ("{a,b{c,d}}.x", "b.x", False),
    ("dir/**", "dir/anyfile", True),
    ("dir/**", "subdir/dir/subsubdir/anyfile", True),
    ("dir/**", "subdir/file.png", False),
    ("dir/*", "dir/sub/file", False),
    ("*.t?t", "dir/file.tzt", True),
    ("*.t?t", "file.t/t", False),
    ("*.[a-z]", "file.b", True),
    ("*.[a-z]", "file.0", False),
    ("*.[!a-z]", "file.0", True),
    ("*.[!a-z]", "file.b", False),
    ("a[!x]b", "a/b", False),  # a negated set never matches "/"
    ("*.\\?\\?\\?", "file.???", True),
    ("*.\\?\\?\\?", "file.abc", False),
    ("a.b", "axb", False),  # "." is a literal
    ("tmp/", "tmp/x.csv", True),  # a directory: everything below it
    ("tmp/", "a/tmp/b/x.csv", True),
    ("tmp/", "tmp", False),
    ("tmp/", "atmp/x.csv", False),
    ("/tmp/", "a/tmp/x.csv", False),
    ("[]]x", "]x", True),
    ("*", "a/b", True),  # unanchored: the last element
    ("/*", "a/b", False),
]


@pytest.mark.parametrize(("glob", "path", "expected"), MATCHES)
def test_glob_matching(glob, path, expected):
    assert bool(re.fullmatch(glob_to_regex(glob), path, re.DOTALL)) is expected


def test_excludes_come_first_then_includes_then_the_implied_exclude():
    rules = KeyFilter(include=["*.csv"], exclude=["tmp/", "/old.csv"])
    assert rules.wants("a.csv") and rules.wants("x/y/b.csv")
    assert not rules.wants("tmp/a.csv")
    assert not rules.wants("old.csv") and rules.wants("sub/old.csv")
    assert not rules.wants("a.bin")  # an --include implies "everything else out"
    only_excludes = KeyFilter(exclude=["*.bin"])
    assert only_excludes.wants("a.csv") and not only_excludes.wants("d/a.bin")
    assert not KeyFilter() and KeyFilter().wants("anything")
    assert "+ *.csv" in repr(rules) and "- tmp/" in repr(rules)


@pytest.mark.parametrize(
    ("include", "exclude", "message"),
    [
        (["dir/"], [], "'dir/**'"),
        ([""], [], "empty"),
        ([], ["[ab"], "'[' is not closed"),
        ([], ["{a,b"], "'{' is not closed"),
        (["a\\"], [], "backslash"),
        (["{{x}}"], [], "not supported"),
        (["/"], [], "more than '/'"),
    ],
)
def test_bad_globs(include, exclude, message):
    with pytest.raises(GlobError, match=re.escape(message)):
        KeyFilter(include=include, exclude=exclude)


@pytest.mark.parametrize(
    ("remote", "root"),
    [
        ("b/data", "b/data/"),
        ("b/data/", "b/data/"),
        ("b", "b/"),
        ("b/data/*.csv", "b/data/"),
        ("b/data/2024-*/x.csv", "b/data/"),
        ("b/da?a/x", "b/"),
    ],
)
def test_filter_root(remote, root):
    assert filter_root(remote) == root


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("oss://b/k", "b/k"),
        ("ossr://b/k/", "b/k/"),
        ("b/k", "b/k"),
        ("oss://b", "b"),
    ],
)
def test_remote_path(url, path):
    assert remote_path(url) == path


def test_remote_path_refuses_other_schemes_and_no_bucket():
    with pytest.raises(ValueError, match="not an oss:// URL"):
        remote_path("s3://b/k")
    for url in ("oss://", "ossr:///"):
        with pytest.raises(ValueError, match="name a bucket"):
            remote_path(url)
        assert remote_path(url, buckets=True) == ""


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://oss-cn-hangzhou.aliyuncs.com",
        "oss-cn-hangzhou.aliyuncs.com",
        "http://127.0.0.1:9000",
        "http://[::1]:9000/",
        "my_minio:9000",
    ],
)
def test_check_endpoint_takes_urls_and_hosts(endpoint):
    assert check_endpoint(f" {endpoint} ") == endpoint


@pytest.mark.parametrize(
    "endpoint",
    ["$endpoint", "http://h:port", "h!", "https://user@h", "https://h?x=1", "http://", "-h.com"],
)
def test_check_endpoint_refuses_what_is_no_url_or_host(endpoint):
    with pytest.raises(ValueError, match="is not a URL or host name"):
        check_endpoint(endpoint)


def test_require_endpoint_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("OSS_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="no OSS endpoint: pass --endpoint, or set OSS_ENDPOINT"):
        require_endpoint(None, "pass --endpoint")
    monkeypatch.setenv("OSS_ENDPOINT", "$OSS_HOST")
    with pytest.raises(ValueError, match="is not a URL or host name"):
        require_endpoint(None, "pass --endpoint")


def test_key_filter_needs_a_tree():
    assert key_filter([], [], tree=False).wants("x")
    assert not key_filter(["*.csv"], [], tree=True).wants("x.bin")
    with pytest.raises(ValueError, match="add -r"):
        key_filter(["*.csv"], [], tree=False)
    assert looks_like_a_tree("oss://b/p/", False) and looks_like_a_tree("oss://b/*.csv", False)
    assert not looks_like_a_tree("oss://b/p", False) and looks_like_a_tree("oss://b/p", True)


def test_relative_key():
    assert relative_key("b/data/x/y.csv", "b/data/") == "x/y.csv"
    assert relative_key("b/other/y.csv", "b/data/") == "y.csv"


def test_label_fits_the_bar():
    assert label("short.bin") == "short.bin"
    long = "a-very-long-object-name-indeed.parquet"
    assert label(long) == "…" + long[-23:] and len(label(long)) == 24


def test_long_rows_are_aligned():
    rows = long_rows(
        [
            {
                "name": "b/k",
                "type": "file",
                "size": 5,
                "ETag": '"AB"',
                "LastModified": 0,
                "StorageClass": "IA",
            },
            {"name": "b/dir", "type": "directory", "size": 0},
            {
                "name": "b/big",
                "type": "file",
                "size": 123456789,
                "ETag": '"ABCDEF-3"',
                "LastModified": None,
                "StorageClass": "Standard",
            },
        ]
    )
    assert [row.split()[0] for row in rows] == ["5", "DIR", "123456789"]
    assert len({row.index("b/") for row in rows}) == 1
    assert "ABCDEF-3" in rows[2] and '"' not in "".join(rows)
    assert rows[1].split()[1:] == ["-", "-", "-", "b/dir"]
    assert long_rows([]) == []


def test_echo_wraps_between_words_only_in_a_narrow_terminal(monkeypatch, capsys):
    text = "./m/model.bin: 300.0 MiB downloaded in 12.1 s, 300.0 MiB fetched at 24.8 MiB/s"
    monkeypatch.setattr(common.sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(common.shutil, "get_terminal_size", lambda: os.terminal_size((60, 20)))
    common.echo(text)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "./m/model.bin: 300.0 MiB downloaded in 12.1 s, 300.0 MiB",
        "  fetched at 24.8 MiB/s",
    ]
    monkeypatch.setattr(common.sys.stdout, "isatty", lambda: False, raising=False)
    common.echo(text)
    assert capsys.readouterr().out == text + "\n"  # piped: one line, whatever its length


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "oss_resumable_fs.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("oss-resumable ")
