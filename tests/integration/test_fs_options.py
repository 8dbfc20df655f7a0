"""Options that fail loudly: misspellings raise, sizes read as people write them, and
credentials go where they are told to (``anon=``, ``credentials_provider=``).

Options often arrive through ``storage_options`` (fsspec, pandas, dask): one
silently ignored there is a download with the wrong settings, or a test run
against the wrong account.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import pickle
import secrets
import threading
from pathlib import Path
from typing import Any

import fsspec
import oss2.credentials
import pandas as pd
import pytest
from fsspec.core import url_to_fs

from oss_resumable_fs import ResumableOSSFileSystem, TransferConfig
from oss_resumable_fs.config import KiB, MiB
from oss_resumable_fs.errors import InvalidArgumentError, UnknownOptionError
from oss_resumable_fs.testing import OSSServer

from .conftest import CONFIG, RecordingProxy, make_data, make_fs

SIZE = 1 * MiB + 17
#: (misspelled, what the message should suggest; ``None``: nothing misleading).
MISSPELLINGS = [
    pytest.param("partsize", "part_size", id="partsize"),
    pytest.param("concurency", "concurrency", id="concurency"),
    pytest.param("file_concurency", "file_concurrency", id="file_concurency"),
    pytest.param("max_concurrency", "concurrency", id="s3transfer-name"),
]
#: Option names a suggestion could wrongly point to.
_CONSTRUCTOR_NAMES = (
    *TransferConfig.field_names(),
    *inspect.signature(ResumableOSSFileSystem.__init__).parameters,
)


@pytest.fixture
def data(oss_server: OSSServer, oss_bucket: str) -> bytes:
    payload = make_data(SIZE, seed=41)
    oss_server.put_object(oss_bucket, "obj", payload)
    return payload


def _check_unknown_option(error: BaseException, bad: str, suggestion: str | None) -> None:
    """A TypeError naming ``bad``, suggesting ``suggestion`` (``None``: nothing misleading)."""
    assert isinstance(error, TypeError)
    assert isinstance(error, UnknownOptionError)
    message = str(error)
    assert repr(bad) in message, message
    if suggestion is not None:
        assert repr(suggestion) in message, message
        return
    wrong = [n for n in _CONSTRUCTOR_NAMES if repr(n) in message]
    assert not wrong, f"{message!r} points to an unrelated option"


# -- misspelled options -------------------------------------------------------------------


def test_fsspec_batch_size_on_the_constructor_is_file_concurrency(
    oss_storage_options: dict[str, str],
) -> None:
    """fsspec's async filesystems take ``batch_size``; ours calls it ``file_concurrency``."""
    fs = ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options, batch_size=3)
    assert fs.file_concurrency == 3


@pytest.mark.parametrize(("bad", "suggestion"), MISSPELLINGS)
def test_misspelled_constructor_option(
    oss_storage_options: dict[str, str], bad: str, suggestion: str | None
) -> None:
    with pytest.raises(TypeError) as error:
        ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options, **{bad: 4})
    _check_unknown_option(error.value, bad, suggestion)


@pytest.mark.parametrize(("bad", "suggestion"), MISSPELLINGS)
def test_misspelled_option_through_fsspec_filesystem(
    oss_storage_options: dict[str, str], bad: str, suggestion: str | None
) -> None:
    with pytest.raises(TypeError) as error:
        fsspec.filesystem("ossr", skip_instance_cache=True, **oss_storage_options, **{bad: 4})
    _check_unknown_option(error.value, bad, suggestion)


@pytest.mark.parametrize(("bad", "suggestion"), MISSPELLINGS)
def test_misspelled_option_through_fsspec_open_and_url_to_fs(
    oss_server: OSSServer,
    oss_bucket: str,
    data: bytes,
    oss_storage_options: dict[str, str],
    bad: str,
    suggestion: str | None,
) -> None:
    url = f"ossr://{oss_bucket}/obj"
    options: dict[str, Any] = {**oss_storage_options, bad: 4}
    with pytest.raises(TypeError) as error, fsspec.open(url, "rb", **options) as f:
        f.read()
    _check_unknown_option(error.value, bad, suggestion)
    with pytest.raises(TypeError) as error:
        url_to_fs(url, **options)
    _check_unknown_option(error.value, bad, suggestion)
    assert oss_server.stats().requests.get("GetObject", 0) == 0


@pytest.mark.parametrize(("bad", "suggestion"), MISSPELLINGS)
def test_misspelled_option_through_pandas_storage_options(
    oss_server: OSSServer,
    oss_bucket: str,
    oss_storage_options: dict[str, str],
    bad: str,
    suggestion: str | None,
) -> None:
    oss_server.put_object(oss_bucket, "table.csv", b"a,b\n1,2\n")
    with pytest.raises(TypeError) as error:
        pd.read_csv(
            f"ossr://{oss_bucket}/table.csv",
            storage_options={**oss_storage_options, bad: 4},
        )
    _check_unknown_option(error.value, bad, suggestion)


def test_misspelled_get_file_option_fails_before_any_request(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.reset_stats()
    with pytest.raises(TypeError) as error:
        fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), partsize=300 * KiB)
    _check_unknown_option(error.value, "partsize", "part_size")
    assert oss_server.stats().total_requests == 0
    assert os.listdir(out) == []


def test_misspelled_get_option_fails_before_any_request(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.reset_stats()
    with pytest.raises(TypeError) as error:
        fs.get(f"{oss_bucket}/", str(out / "tree"), recursive=True, batch_sizes=2)
    _check_unknown_option(error.value, "batch_sizes", "batch_size")
    assert oss_server.stats().total_requests == 0
    assert os.listdir(out) == []


def test_get_batch_size(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, out: Path
) -> None:
    files = {f"tree/f{i}.bin": make_data(20 * KiB + i, seed=i) for i in range(7)}
    for key, payload in files.items():
        oss_server.put_object(oss_bucket, key, payload)
    oss_server.reset_stats()
    fs.get(f"{oss_bucket}/tree/", str(out / "tree"), recursive=True, batch_size=2)
    assert sorted(os.listdir(out / "tree")) == sorted(k.split("/")[1] for k in files)
    for key, payload in files.items():
        assert (out / key).read_bytes() == payload
    # Small files, one GET each: batch_size bounds how many run at once.
    assert 1 <= oss_server.stats().max_concurrent_gets <= 2


# -- sizes as strings ---------------------------------------------------------------------


def test_constructor_sizes_accept_strings(oss_server: OSSServer) -> None:
    fs = ResumableOSSFileSystem(
        endpoint=oss_server.endpoint,
        key=oss_server.access_key_id,
        secret=oss_server.access_key_secret,
        part_size="256KiB",
        buffer_size="64KiB",
        single_request_threshold="1MiB",
        skip_instance_cache=True,
    )
    assert fs.transfer_config.part_size == 262144
    assert fs.transfer_config.buffer_size == 64 * KiB
    assert fs.transfer_config.single_request_threshold == MiB


def test_get_file_part_size_as_a_string(
    fs: ResumableOSSFileSystem, oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    oss_server.reset_stats()
    result = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), part_size="300KiB")
    assert (out / "obj").read_bytes() == data
    assert result is not None and result.parts_total == -(-SIZE // (300 * KiB))
    spans = sorted((g.start, g.end) for g in oss_server.stats().ranged_gets)
    assert spans[0] == (0, 300 * KiB)
    assert spans[-1][1] == SIZE


@pytest.mark.parametrize("bad", ["12 parsecs", "MiB", "-5MiB", "16XB"])
def test_a_bad_size_string_is_an_invalid_argument(
    fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    oss_bucket: str,
    data: bytes,
    out: Path,
    oss_storage_options: dict[str, str],
    bad: str,
) -> None:
    with pytest.raises(ValueError) as error:
        ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options, part_size=bad)
    assert isinstance(error.value, InvalidArgumentError)
    assert repr(bad) in str(error.value)
    oss_server.reset_stats()
    with pytest.raises(InvalidArgumentError):
        fs.get_file(f"{oss_bucket}/obj", str(out / "obj"), part_size=bad)
    assert oss_server.stats().total_requests == 0
    assert os.listdir(out) == []


# -- every TransferConfig field is a constructor option -----------------------------------

#: A valid value, other than the default, for every TransferConfig field.
FIELD_VALUES: dict[str, Any] = {
    "part_size": 512 * KiB,
    "concurrency": 3,
    "buffer_size": 128 * KiB,
    "single_request_threshold": 2 * MiB,
    "read_timeout": 7,
    "connect_timeout": 3,
    "max_attempts": 4,
    "backoff_base": 0.5,
    "backoff_max": 9.0,
    "max_restarts_on_change": 2,
    "verify_crc64": False,
    "checkpoint_dir": "/tmp/ossr-options-checkpoints",
    "skip_identical": True,
    "bandwidth_limit": 4 * MiB,
    "max_connections": 48,
    "max_buffer_memory": 64 * MiB,
}


def test_every_transfer_config_field_has_a_value_here() -> None:
    assert set(FIELD_VALUES) == set(TransferConfig.field_names())
    defaults = TransferConfig()
    for name, value in FIELD_VALUES.items():
        assert getattr(defaults, name) != value, name


@pytest.mark.parametrize(("name", "value"), sorted(FIELD_VALUES.items()))
def test_any_transfer_config_field_is_a_constructor_option(
    oss_storage_options: dict[str, str], name: str, value: Any
) -> None:
    fs = ResumableOSSFileSystem(skip_instance_cache=True, **oss_storage_options, **{name: value})
    assert getattr(fs.transfer_config, name) == value
    by_protocol = fsspec.filesystem(
        "ossr", skip_instance_cache=True, **oss_storage_options, **{name: value}
    )
    assert getattr(by_protocol.transfer_config, name) == value
    # Given beside a transfer_config, the option wins; the config's other fields stay.
    base = (
        TransferConfig(concurrency=5) if name != "concurrency" else TransferConfig(max_attempts=5)
    )
    both = ResumableOSSFileSystem(
        skip_instance_cache=True, **oss_storage_options, transfer_config=base, **{name: value}
    )
    assert both.transfer_config == dataclasses.replace(base, **{name: value})


def test_read_timeout_option_is_used(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    fs = make_fs(
        oss_server,
        config=TransferConfig(),
        read_timeout=7,
        part_size="256KiB",
        single_request_threshold="512KiB",
    )
    assert fs.transfer_config.read_timeout == 7
    assert fs.client.config.read_timeout == 7  # the client's sockets wait that long
    result = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    assert result is not None and result.parts_total == 5


# -- anon=True ----------------------------------------------------------------------------


@pytest.fixture(params=["arguments", "environment"])
def anonymous_fs(
    request: pytest.FixtureRequest,
    oss_server: OSSServer,
    proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> ResumableOSSFileSystem:
    """``anon=True`` beside valid credentials, given as arguments or in the environment."""
    if request.param == "environment":
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", oss_server.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", oss_server.access_key_secret)
        return ResumableOSSFileSystem(
            endpoint=proxy.endpoint, anon=True, transfer_config=CONFIG, skip_instance_cache=True
        )
    return make_fs(oss_server, endpoint=proxy.endpoint, anon=True)


def test_anon_sends_unsigned_requests_to_a_private_bucket(
    anonymous_fs: ResumableOSSFileSystem,
    oss_bucket: str,
    data: bytes,
    out: Path,
    proxy: RecordingProxy,
) -> None:
    with pytest.raises(PermissionError):
        anonymous_fs.cat_file(f"{oss_bucket}/obj")
    with pytest.raises(PermissionError):
        anonymous_fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert not (out / "obj").exists()
    sent = proxy.requests()
    assert sent
    assert all("authorization" not in headers for _line, headers in sent), sent


def test_anon_reads_a_public_bucket(
    anonymous_fs: ResumableOSSFileSystem,
    oss_server: OSSServer,
    out: Path,
    proxy: RecordingProxy,
) -> None:
    name = f"ossr-public-{secrets.token_hex(6)}"
    oss_server.create_bucket(name, acl="public-read")
    payload = make_data(SIZE, seed=42)
    oss_server.put_object(name, "obj", payload)
    assert anonymous_fs.cat_file(f"{name}/obj") == payload
    anonymous_fs.get_file(f"{name}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == payload
    assert all("authorization" not in headers for _line, headers in proxy.requests())


def test_anon_ignores_even_wrong_credentials(oss_server: OSSServer, out: Path) -> None:
    """Signed with an unknown key the server would refuse: success proves nothing was signed."""
    name = f"ossr-public-{secrets.token_hex(6)}"
    oss_server.create_bucket(name, acl="public-read")
    oss_server.put_object(name, "obj", b"public bytes")
    fs = make_fs(oss_server, key="no-such-key-id", secret="no-such-secret", anon=True)
    assert fs.cat_file(f"{name}/obj") == b"public bytes"


# -- credentials_provider= ----------------------------------------------------------------


class CountingProvider(oss2.credentials.CredentialsProvider):
    """An oss2 provider whose credentials the test switches; counts its calls."""

    def __init__(self, credentials: oss2.credentials.Credentials) -> None:
        self.credentials = credentials
        self.calls = 0
        self._lock = threading.Lock()

    def get_credentials(self) -> oss2.credentials.Credentials:
        with self._lock:
            self.calls += 1
            return self.credentials


def _server_credentials(oss_server: OSSServer) -> oss2.credentials.Credentials:
    return oss2.credentials.Credentials(oss_server.access_key_id, oss_server.access_key_secret)


def test_credentials_provider_reads_and_downloads(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    provider = CountingProvider(_server_credentials(oss_server))
    fs = make_fs(oss_server, key=None, secret=None, credentials_provider=provider)
    result = fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    assert result is not None and result.parts_total == 5
    assert fs.cat_file(f"{oss_bucket}/obj", 100, 200) == data[100:200]
    with fs.open(f"{oss_bucket}/obj", "rb") as f:
        assert f.read() == data
    assert fs.ls(oss_bucket, detail=False) == [f"{oss_bucket}/obj"]
    assert provider.calls >= oss_server.stats().total_requests > 0


def test_credentials_provider_is_preferred_to_key_and_secret(
    oss_server: OSSServer, oss_bucket: str, data: bytes
) -> None:
    provider = CountingProvider(_server_credentials(oss_server))
    fs = make_fs(oss_server, key="ignored-key", secret="ignored", credentials_provider=provider)
    assert fs.cat_file(f"{oss_bucket}/obj") == data
    assert provider.calls > 0


def test_credentials_provider_rotation_without_a_new_filesystem(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path, proxy: RecordingProxy
) -> None:
    """A provider that rotates to other valid (STS) credentials: the next request uses them."""
    sts = ("STS.rotated-key", "rotated-secret", "rotated-token")
    oss_server.add_sts_credential(*sts)
    provider = CountingProvider(_server_credentials(oss_server))
    fs = make_fs(oss_server, endpoint=proxy.endpoint, key=None, credentials_provider=provider)
    assert fs.cat_file(f"{oss_bucket}/obj") == data

    def signed_by() -> list[tuple[str, str | None]]:
        # (access key id, security token) of every request; per connection, not in time order.
        return [
            (
                headers["authorization"].split(" ")[1].split(":")[0],
                headers.get("x-oss-security-token"),
            )
            for _line, headers in proxy.requests()
        ]

    before = signed_by()
    assert before and set(before) == {(oss_server.access_key_id, None)}

    provider.credentials = oss2.credentials.Credentials(*sts)
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    after = signed_by()
    assert after.count((oss_server.access_key_id, None)) == len(before)  # none since the switch
    assert after.count(("STS.rotated-key", "rotated-token")) == len(after) - len(before) > 0


def test_credentials_provider_that_turns_invalid_then_valid_again(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    good = _server_credentials(oss_server)
    provider = CountingProvider(good)
    fs = make_fs(oss_server, key=None, secret=None, credentials_provider=provider)
    assert fs.cat_file(f"{oss_bucket}/obj") == data

    provider.credentials = oss2.credentials.Credentials(oss_server.access_key_id, "expired")
    with pytest.raises(PermissionError):
        fs.cat_file(f"{oss_bucket}/obj")
    with pytest.raises(PermissionError):
        fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert not (out / "obj").exists()

    provider.credentials = good
    fs.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data


# -- pickling -----------------------------------------------------------------------------


def test_pickle_carries_options_not_a_client(
    oss_server: OSSServer, oss_bucket: str, data: bytes, out: Path
) -> None:
    fs = make_fs(oss_server, part_size="512KiB", file_concurrency=2)
    fs.cat_file(f"{oss_bucket}/obj", 0, 10)  # a client with live connections
    payload = pickle.dumps(fs)
    assert b"OSSClient" not in payload
    assert b"oss_resumable_fs.sources" not in payload
    assert b"oss2" not in payload

    clone = pickle.loads(payload)
    assert isinstance(clone, ResumableOSSFileSystem) and clone is not fs
    assert clone.client is not fs.client
    assert clone.transfer_config == fs.transfer_config
    assert clone.transfer_config.part_size == 512 * KiB
    assert clone.file_concurrency == 2
    assert clone.cat_file(f"{oss_bucket}/obj") == data
    result = clone.get_file(f"{oss_bucket}/obj", str(out / "obj"))
    assert (out / "obj").read_bytes() == data
    assert result is not None and result.parts_total == 3
