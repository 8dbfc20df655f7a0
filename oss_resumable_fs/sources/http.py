"""Any object behind an HTTP(S) URL -- a signed OSS URL, a static file server -- for the engine.

A signed GET URL allows no HEAD, so there is none: :meth:`HTTPRangeSource.stat`
is a GET of the object's first bytes (``Range: bytes=0-N``). Its answer tells
the size (``Content-Range``, or ``Content-Length`` of a whole body), the ETag
and Last-Modified that pin every later request (``If-Match``, else
``If-Unmodified-Since``; each answer's ``Content-Range``, ETag and
Last-Modified are checked too), and the checksum the download is verified
with: OSS's CRC-64 (``x-oss-hash-crc64ecma``, the whole object's even in the
answer to a ranged GET, as OSS documents), else the MD5 that a plain
single-part ETag is, else none. Its body is not thrown away: it is the start of
the engine's first part (:class:`~.spliced.ChainedReader`).

A server that answers the ranged GET with the whole body (``200``) ignores
ranges: the object is then read in one stream, without a checkpoint, and the
engine says so (:meth:`single_stream_reason`). So is an object with neither
ETag nor Last-Modified: separate requests could not be pinned to one version.

The source's :attr:`name` is the URL without its query string: it names the
download in messages and in its checkpoint, so a newly signed URL for the same
object resumes a download begun with an expired one, and the signature never
reaches a journal, a log line or an exception (:mod:`.http_errors`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping

import requests
import requests.adapters

from oss_resumable_fs.config import MiB
from oss_resumable_fs.engine.source import ObjectIdentity, RangeReader
from oss_resumable_fs.errors import ObjectChangedError, OSSResumableError, TransientError
from oss_resumable_fs.sources.answers import CONTENT_RANGE, check_served
from oss_resumable_fs.sources.http_errors import TRANSPORT_ERRORS, HTTPErrors, public_name
from oss_resumable_fs.sources.reader import OSSRangeReader
from oss_resumable_fs.sources.spliced import LimitedReader, Prefetched

__all__ = ["DEFAULT_FIRST_REQUEST", "HTTPRangeSource"]

log = logging.getLogger(__name__)

#: Bytes asked for by the first GET: the engine's default journal part, so that
#: the first part starts with this answer's body and never throws bytes away.
DEFAULT_FIRST_REQUEST = 2 * MiB
#: Connections kept per host by a session the source makes itself.
POOL_SIZE = 64
_MD5 = re.compile(r'"([0-9a-fA-F]{32})"')


class HTTPRangeSource:
    """One object behind an ``http(s)://`` URL, read by ranged GETs pinned to one version.

    ``session`` (default: one of its own) sends the requests; ``headers`` are
    added to each (never logged). ``first_request`` is how many bytes the first
    GET asks for; ``md5_etag=False`` stops a 32-hex-digit ETag being taken for
    the content's MD5 (for a server whose ETags only look like one).
    ``timeout`` is requests' ``(connect, read)`` in seconds. Thread-safe.
    """

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        first_request: int = DEFAULT_FIRST_REQUEST,
        md5_etag: bool = True,
        timeout: tuple[float, float] = (10.0, 30.0),
    ) -> None:
        self.name = public_name(url)
        self._url = url
        self._errors = HTTPErrors(url, self.name)
        self._session = session or _own_session()
        # identity: raw bytes, as they are on the server (no gzip between us).
        self._headers = {"Accept-Encoding": "identity", **dict(headers or {})}
        self._first_request = max(1, int(first_request))
        self._md5_etag = md5_etag
        self._timeout = timeout
        self._lock = threading.Lock()
        self._prefetched: Prefetched | None = None
        #: Why the object must be read with one request (from the last stat).
        self._single_stream: str | None = None

    def __repr__(self) -> str:
        return f"HTTPRangeSource({self.name!r})"

    def __reduce__(self) -> object:
        raise TypeError("HTTPRangeSource holds live connections; make a new one from its URL")

    # -- the engine's interface -----------------------------------------------------------

    def stat(self) -> ObjectIdentity:
        """GET the first bytes: they tell size, ETag, Last-Modified and checksum."""
        self.close()
        response = self._get({"Range": f"bytes=0-{self._first_request - 1}"})
        try:
            if response.status_code == 416:
                return self._empty(response)
            if response.status_code not in (200, 206):
                raise self._refusal(response)
            identity, end = self._describe(response)
            if response.status_code == 200 and end > self._first_request:
                self._single_stream = "the server ignored the Range header"
            elif identity.etag is None and identity.last_modified is None:
                self._single_stream = (
                    "the server sent neither ETag nor Last-Modified, so separate requests "
                    "could not be pinned to one version of the object"
                )
            else:
                self._single_stream = None
            if self._single_stream:
                log.warning("%s: %s; downloading it in one stream", self.name, self._single_stream)
            reader = self._reader(response)
        except BaseException:
            response.close()
            raise
        if identity.size == 0 or (self._single_stream and end < identity.size):
            # Nothing to read; or a part of an unpinnable object, which nothing may be
            # spliced onto: one GET of the whole object will be made instead.
            reader.close()
        else:
            with self._lock:
                self._prefetched = Prefetched(identity, reader, end)
        return identity

    def single_stream_reason(self) -> str | None:
        """Why the object must be read with one request, after :meth:`stat`; else ``None``."""
        return self._single_stream

    def open_range(self, start: int, end: int, identity: ObjectIdentity) -> RangeReader:
        with self._lock:
            prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            if start == 0 and prefetched.identity == identity:
                return prefetched.serve(
                    end, lambda a, b: self.open_range(a, b, identity), self.name
                )
            prefetched.reader.close()
        if self._single_stream is not None:
            return self._open_whole(start, end, identity)
        response = self._get({"Range": f"bytes={start}-{end - 1}", **_pins(identity)})
        try:
            self._check(response, start, end, identity)
            return self._reader(response)
        except BaseException:
            response.close()
            raise

    def close(self) -> None:
        """Release the first GET's answer if no read took it (a skip, a resume, an error)."""
        with self._lock:
            prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            prefetched.reader.close()

    def translate(self, error: BaseException, name: str | None = None) -> OSSResumableError:
        """A transport failure in the library's terms (:class:`.http_errors.HTTPErrors`)."""
        return self._errors.translate(error, name)

    # -- requests -------------------------------------------------------------------------

    def _get(self, headers: Mapping[str, str]) -> requests.Response:
        try:
            return self._session.get(
                self._url,
                headers={**self._headers, **headers},
                stream=True,
                timeout=self._timeout,
            )
        except TRANSPORT_ERRORS as error:
            raise self.translate(error) from error

    def _reader(self, response: requests.Response) -> RangeReader:
        """The body, read straight from the socket into the engine's buffer."""
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        if encoding not in ("", "identity"):
            raise OSSResumableError(
                f"{self.name}: the server sent a {encoding}-encoded body although asked for "
                "the bytes as they are (Accept-Encoding: identity)",
                target=self.name,
            )
        # OSSRangeReader reads any urllib3 response; errors come back through translate().
        return OSSRangeReader(response.raw, self.name, self)

    def _refusal(self, response: requests.Response) -> OSSResumableError:
        if 300 <= response.status_code < 400 or response.status_code < 200:
            response.close()
            return OSSResumableError(
                f"{self.name}: unexpected HTTP status {response.status_code}", target=self.name
            )
        return self._errors.for_status(response)

    def _open_whole(self, start: int, end: int, identity: ObjectIdentity) -> RangeReader:
        """A server that ignores ranges: the whole body again, its first bytes skipped."""
        if identity.etag is None and identity.last_modified is None and start > 0:
            raise OSSResumableError(
                f"{self.name}: the connection failed at byte {start} and the server gives "
                "neither ETag nor Last-Modified, so the rest cannot be fetched safely; "
                "run the download again",
                target=self.name,
            )
        response = self._get(_pins(identity))
        try:
            if response.status_code not in (200, 206):
                raise self._refusal(response)
            got, served_end = self._describe(response)
            _check_same(got, identity, self.name)
            if response.status_code != 200 or served_end != identity.size:
                raise TransientError(f"{self.name}: expected the whole object", target=self.name)
            reader = self._reader(response)
        except BaseException:
            response.close()
            raise
        return LimitedReader(reader, skip=start, length=end - start, name=self.name)

    # -- answers --------------------------------------------------------------------------

    def _describe(self, response: requests.Response) -> tuple[ObjectIdentity, int]:
        """The identity an answer reveals, and where its body ends (it starts at 0)."""
        headers = response.headers
        length = _int(headers.get("Content-Length"))
        if response.status_code == 206:
            match = CONTENT_RANGE.fullmatch(headers.get("Content-Range", "").strip())
            if not match or int(match[1]) != 0:
                raise TransientError(
                    f"{self.name}: 206 without a usable Content-Range", target=self.name
                )
            if match[3] == "*":
                raise OSSResumableError(
                    f"{self.name}: the server does not say how big the object is "
                    "(Content-Range: .../*)",
                    target=self.name,
                )
            size, end = int(match[3]), int(match[2]) + 1
        else:
            if length is None:
                raise OSSResumableError(
                    f"{self.name}: the server did not say how big the object is "
                    "(no Content-Length, no Content-Range)",
                    target=self.name,
                )
            size = end = length
        if length is not None and length != end:
            raise TransientError(f"{self.name}: Content-Length {length} for bytes 0-{end - 1}")
        etag = _etag(headers.get("ETag"))
        crc = headers.get("x-oss-hash-crc64ecma", "")
        identity = ObjectIdentity(
            size=size,
            etag=etag,
            last_modified=headers.get("Last-Modified"),
            crc64=int(crc) if crc.isdigit() else None,
            version_id=headers.get("x-oss-version-id") or headers.get("x-amz-version-id"),
            md5=_md5_of(etag, headers) if self._md5_etag else None,
        )
        return identity, end

    def _empty(self, response: requests.Response) -> ObjectIdentity:
        """A 416 to ``bytes=0-N``: the object is empty (``Content-Range: bytes */0``)."""
        if response.headers.get("Content-Range", "").strip() != "bytes */0":
            raise self._refusal(response)
        response.close()
        self._single_stream = None
        headers = response.headers
        return ObjectIdentity(
            0, etag=_etag(headers.get("ETag")), last_modified=headers.get("Last-Modified")
        )

    def _check(
        self, response: requests.Response, start: int, end: int, identity: ObjectIdentity
    ) -> None:
        """Refuse any answer that is not exactly bytes ``[start, end)`` of ``identity``."""
        status, headers = response.status_code, response.headers
        if status not in (200, 206):
            raise self._refusal(response)
        got = ObjectIdentity(
            size=identity.size,
            etag=_etag(headers.get("ETag")),
            last_modified=headers.get("Last-Modified"),
        )
        _check_same(got, identity, self.name)
        check_served(
            status,
            headers.get("Content-Range"),
            _int(headers.get("Content-Length")),
            start,
            end,
            identity.size,
            self.name,
        )


def _own_session() -> requests.Session:
    from oss_resumable_fs.sources.client import read_environment_once

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    read_environment_once(session)
    return session


def _pins(identity: ObjectIdentity) -> dict[str, str]:
    """Conditions that make the server refuse (412) any other version of the object."""
    if identity.etag and not identity.etag.startswith("W/"):
        return {"If-Match": identity.etag}  # strong comparison: a weak ETag never matches
    if identity.last_modified:
        return {"If-Unmodified-Since": identity.last_modified}
    return {}


def _check_same(got: ObjectIdentity, identity: ObjectIdentity, name: str) -> None:
    """Also checked by hand: a server may ignore ``If-Match`` / ``If-Unmodified-Since``."""
    if identity.etag and got.etag and got.etag != identity.etag:
        raise ObjectChangedError(
            f"{name}: ETag changed from {identity.etag} to {got.etag}", target=name
        )
    if identity.last_modified and got.last_modified and got.last_modified != identity.last_modified:
        raise ObjectChangedError(
            f"{name}: Last-Modified changed from {identity.last_modified} to {got.last_modified}",
            target=name,
        )
    if got.size != identity.size:
        raise ObjectChangedError(
            f"{name}: size changed from {identity.size} to {got.size}", target=name
        )


def _etag(value: str | None) -> str | None:
    """An ETag as sent, quoted (``"abc"``, ``W/"abc"``); an unquoted one gets quotes."""
    if not value or not value.strip():
        return None
    value = value.strip()
    weak = value[:2].upper() == "W/"
    tag = '"' + value[2:].strip().strip('"') + '"' if weak else '"' + value.strip('"') + '"'
    return "W/" + tag if weak else tag


def _md5_of(etag: str | None, headers: Mapping[str, str]) -> str | None:
    """The MD5 an ETag is, when it is one: a strong ETag of 32 hex digits (no ``-N`` of a
    multipart upload), from an object no header says is composed or encrypted with KMS."""
    match = _MD5.fullmatch(etag or "")
    if match is None:
        return None
    if headers.get("x-oss-object-type", "Normal") != "Normal":  # Appendable: not an MD5
        return None
    if "kms" in headers.get("x-amz-server-side-encryption", "").lower():
        return None
    if headers.get("x-amz-server-side-encryption-customer-algorithm"):
        return None
    if headers.get("x-goog-component-count"):
        return None
    return match[1].lower()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
