import argparse

import pytest

from oss_resumable_fs.cli import build_parser, parse_size


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
