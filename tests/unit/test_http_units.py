"""Pure parts of the HTTP source and of ``sign``: names, expiry, ETags, errors, readers."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
import requests

from oss_resumable_fs.cli import main
from oss_resumable_fs.cli.sign import parse_duration
from oss_resumable_fs.errors import (
    AccessDeniedError,
    InvalidArgumentError,
    ObjectChangedError,
    ObjectNotFoundError,
    OSSResumableError,
    TransientError,
    URLExpiredError,
)
from oss_resumable_fs.sources.http import HTTPRangeSource, _etag, _md5_of, _pins
from oss_resumable_fs.sources.http_errors import (
    HTTPErrors,
    oss_object_of,
    public_name,
    signed_url_expiry,
)
from oss_resumable_fs.sources.spliced import ChainedReader, LimitedReader
from oss_resumable_fs.url_downloads import url_destination

V1 = "http://127.0.0.1:9000/bkt/dir/a%20b.bin?OSSAccessKeyId=AKID123&Expires=1700000000&Signature=SIG%2Bxyz"
V4 = (
    "https://bkt.oss-cn-hangzhou.aliyuncs.com/k.bin?x-oss-date=20240102T030405Z&x-oss-expires=60"
    "&x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=AKID123%2F20240102%2Fcn-hangzhou"
    "%2Foss%2Faliyun_v4_request&x-oss-signature=deadbeef"
)


# -- names and expiry -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (V1, "http://127.0.0.1:9000/bkt/dir/a%20b.bin"),
        (V4, "https://bkt.oss-cn-hangzhou.aliyuncs.com/k.bin"),
        ("HTTPS://user:pw@Example.com:8443/x?y=1#frag", "https://Example.com:8443/x"),
        ("http://example.com", "http://example.com/"),
    ],
)
def test_public_name_drops_query_fragment_and_userinfo(url, name):
    assert public_name(url) == name
    assert HTTPRangeSource(url).name == name
    assert repr(HTTPRangeSource(url)) == f"HTTPRangeSource({name!r})"


@pytest.mark.parametrize("url", ["ftp://host/x", "oss://bkt/key", "http:///nohost", "x"])
def test_public_name_refuses_what_is_no_http_url(url):
    with pytest.raises(InvalidArgumentError):
        public_name(url)


def test_signed_url_expiry_of_each_scheme():
    assert signed_url_expiry(V1) == datetime.fromtimestamp(1700000000, timezone.utc)
    assert signed_url_expiry(V4) == datetime(2024, 1, 2, 3, 5, 5, tzinfo=timezone.utc)
    s3 = "https://b.s3.amazonaws.com/k?X-Amz-Date=20240102T030405Z&X-Amz-Expires=3600&X-Amz-Signature=x"
    assert signed_url_expiry(s3) == datetime(2024, 1, 2, 4, 4, 5, tzinfo=timezone.utc)
    assert signed_url_expiry("https://example.com/file.bin") is None
    assert signed_url_expiry("https://example.com/f?Expires=soon") is None


def test_oss_object_of_signed_urls_only():
    assert oss_object_of(V1) == "oss://bkt/dir/a b.bin"
    assert oss_object_of(V4) == "oss://bkt/k.bin"
    assert oss_object_of("https://example.com/a/b?x-oss-credential=x") is None
    assert oss_object_of("https://bkt.oss-cn-hangzhou.aliyuncs.com/k.bin") is None


def test_pickling_a_source_is_refused():
    import pickle

    with pytest.raises(TypeError, match="live connections"):
        pickle.dumps(HTTPRangeSource(V1))


def test_url_destination(tmp_path):
    assert url_destination(V1, str(tmp_path)) == str(tmp_path / "a b.bin")
    assert url_destination(V1, str(tmp_path / "x.bin")) == str(tmp_path / "x.bin")
    with pytest.raises(InvalidArgumentError, match="names no file"):
        url_destination("http://example.com/?Signature=SECRET", str(tmp_path))


# -- ETags, MD5s, pins -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "etag"),
    [
        ('"ABC"', '"ABC"'),
        ("abc", '"abc"'),
        ('W/"abc"', 'W/"abc"'),
        ('w/"abc"', 'W/"abc"'),
        ("", None),
        (None, None),
    ],
)
def test_etag_normalised(raw, etag):
    assert _etag(raw) == etag


def test_md5_taken_only_from_a_plain_etag():
    digest = "9E107D9D372BB6826BD81D3542A419D6"
    assert _md5_of(f'"{digest}"', {}) == digest.lower()
    assert _md5_of(f'W/"{digest}"', {}) is None
    assert _md5_of('"9e107d9d372bb6826bd81d3542a419d6-3"', {}) is None  # multipart
    assert _md5_of('"5e8c1a2b-1f4"', {}) is None  # nginx: mtime-size
    assert _md5_of(f'"{digest}"', {"x-oss-object-type": "Appendable"}) is None
    assert _md5_of(f'"{digest}"', {"x-amz-server-side-encryption": "aws:kms"}) is None
    assert _md5_of(f'"{digest}"', {"x-goog-component-count": "2"}) is None


def test_pins_prefer_a_strong_etag_then_last_modified():
    from oss_resumable_fs.engine.source import ObjectIdentity

    date = "Wed, 01 Jan 2025 00:00:00 GMT"
    assert _pins(ObjectIdentity(1, etag='"a"', last_modified=date)) == {"If-Match": '"a"'}
    assert _pins(ObjectIdentity(1, etag='W/"a"', last_modified=date)) == {
        "If-Unmodified-Since": date
    }
    assert _pins(ObjectIdentity(1)) == {}


# -- error translation -----------------------------------------------------------------


def _response(status: int, body: bytes = b"", headers: dict[str, str] | None = None):
    import io

    import urllib3

    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), preload_content=False)
    return response


def _oss_error(code: str, message: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


def test_a_403_that_says_expired_is_url_expired_with_a_resign_hint():
    error = HTTPErrors(V1, public_name(V1)).for_status(
        _response(403, _oss_error("AccessDenied", "Request has expired."))
    )
    assert isinstance(error, URLExpiredError) and isinstance(error, PermissionError)
    text = str(error)
    assert "the signed URL expired at 2023-11-14 22:13:20 UTC" in text
    assert "oss-resumable sign oss://bkt/dir/a b.bin" in text
    assert "what was already downloaded is kept" in text
    assert "AKID123" not in text and "SIG" not in text


def test_a_403_past_the_urls_expiry_is_url_expired_even_without_a_message():
    error = HTTPErrors(V4, public_name(V4)).for_status(_response(403))
    assert isinstance(error, URLExpiredError)


def test_other_403s_are_access_denied_without_the_query():
    future = V1.replace("Expires=1700000000", "Expires=99999999999")
    error = HTTPErrors(future, public_name(future)).for_status(
        _response(403, _oss_error("SignatureDoesNotMatch", f"bad {future}"))
    )
    assert type(error) is AccessDeniedError
    assert "access denied (HTTP 403 SignatureDoesNotMatch" in str(error)
    assert "AKID123" not in str(error) and "SIG%2Bxyz" not in str(error)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, ObjectNotFoundError),
        (410, ObjectNotFoundError),
        (412, ObjectChangedError),
        (416, ObjectChangedError),
        (500, TransientError),
        (503, TransientError),
        (429, TransientError),
    ],
)
def test_statuses(status, kind):
    error = HTTPErrors(V4, public_name(V4)).for_status(_response(status))
    assert isinstance(error, kind)


def test_retry_after_and_throttling():
    errors = HTTPErrors(V4, public_name(V4))
    slow = errors.for_status(_response(503, headers={"Retry-After": "3"}))
    assert isinstance(slow, TransientError) and slow.retry_after == 3.0 and slow.throttled
    oss = errors.for_status(_response(503, headers={"x-oss-qos-delay-time": "250"}))
    assert oss.retry_after == 0.25


def test_transport_errors_are_transient_and_scrubbed_with_their_causes():
    url = V1
    errors = HTTPErrors(url, public_name(url))
    try:
        requests.get(url.replace(":9000", ":1"), timeout=2)
    except requests.RequestException as caught:
        original = caught
    translated = errors.translate(original)
    assert isinstance(translated, TransientError)
    chain, item = [], original
    seen = set()
    pending = [item]
    while pending:  # everything a traceback of ``raise translated from original`` shows
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(str(item))
        pending += [item.__cause__, item.__context__, getattr(item, "reason", None)]
        pending += [a for a in item.args if isinstance(a, BaseException)]
    for text in [str(translated), *chain]:
        assert "AKID123" not in text and "SIG%2Bxyz" not in text and "Signature" not in text


def test_requests_url_errors_are_invalid_arguments():
    errors = HTTPErrors(V1, public_name(V1))
    assert isinstance(errors.translate(requests.exceptions.InvalidURL("x")), InvalidArgumentError)


# -- readers ---------------------------------------------------------------------------


class BytesReader:
    def __init__(self, data: bytes, step: int = 3) -> None:
        self.data, self.pos, self.step, self.closed = data, 0, step, False

    def readinto(self, buffer: memoryview) -> int:
        if self.closed:
            raise ConnectionError("closed")
        count = min(len(buffer), self.step, len(self.data) - self.pos)
        buffer[:count] = self.data[self.pos : self.pos + count]
        self.pos += count
        return count

    def close(self) -> None:
        self.closed = True


def _read_all(reader) -> bytes:
    out, buffer = bytearray(), memoryview(bytearray(5))
    while count := reader.readinto(buffer):
        out += buffer[:count]
    return bytes(out)


def test_limited_reader_skips_then_stops():
    reader = LimitedReader(BytesReader(b"0123456789"), skip=4, length=3, name="n")
    assert _read_all(reader) == b"456"


def test_limited_reader_short_while_skipping_is_transient():
    with pytest.raises(TransientError, match="short body"):
        _read_all(LimitedReader(BytesReader(b"01"), skip=4, length=3, name="n"))


def test_chained_reader_reads_the_first_body_then_opens_the_rest_once():
    opened = []

    def rest():
        opened.append(1)
        return BytesReader(b"fghij")

    first = BytesReader(b"abcde")
    assert _read_all(ChainedReader(first, rest)) == b"abcdefghij"
    assert opened == [1] and first.closed


def test_chained_reader_closed_while_opening_closes_what_it_opened():
    chained: ChainedReader
    later = BytesReader(b"xyz")

    def rest():
        threading.Thread(target=chained.close).start()
        threading.Event().wait(0.05)
        return later

    chained = ChainedReader(BytesReader(b""), rest)
    assert chained.readinto(memoryview(bytearray(4))) == 0
    assert later.closed


# -- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("1h30m", 5400), ("90", 90)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "-5m", "1.5h", "0", "0s", "1 h 2"])
def test_bad_durations_are_typed_errors(text):
    with pytest.raises(InvalidArgumentError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "soon"], "not a duration: 'soon'"),
        (["--expires", "0s"], "must last longer than 0 s"),
        (["--v4"], "--v4 needs a region"),
        (["--region", "cn-hangzhou", "--expires", "8d"], "at most 7 days"),
    ],
)
def test_sign_usage_errors_exit_2(args, message, capsys, monkeypatch):
    monkeypatch.delenv("OSS_REGION", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["sign", "oss://bkt/key", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_get_of_an_http_url_refuses_tree_options(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["get", "-r", "https://example.com/a?Signature=SECRET", "dest"])
    assert exited.value.code == 2
    assert "take an oss:// URL" in capsys.readouterr().err


def test_an_answer_without_the_object_size_is_refused_for_good():
    source = HTTPRangeSource(V4)
    unknown = _response(206, headers={"Content-Range": "bytes 0-9/*", "Content-Length": "10"})
    with pytest.raises(OSSResumableError, match="does not say how big") as caught:
        source._describe(unknown)
    assert not isinstance(caught.value, TransientError)
    chunked = _response(200)  # no Content-Length, no Content-Range
    with pytest.raises(OSSResumableError, match="did not say how big"):
        source._describe(chunked)


def test_the_first_answer_describes_the_object():
    headers = {
        "Content-Range": "bytes 0-9/1000",
        "Content-Length": "10",
        "ETag": '"9E107D9D372BB6826BD81D3542A419D6"',
        "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT",
        "x-oss-hash-crc64ecma": "12345",
    }
    identity, end = HTTPRangeSource(V4)._describe(_response(206, headers=headers))
    assert end == 10 and identity.size == 1000 and identity.crc64 == 12345
    assert identity.md5 == "9e107d9d372bb6826bd81d3542a419d6"
    assert identity.etag == '"9E107D9D372BB6826BD81D3542A419D6"'
    no_md5 = HTTPRangeSource(V4, md5_etag=False)._describe(_response(206, headers=headers))[0]
    assert no_md5.md5 is None
