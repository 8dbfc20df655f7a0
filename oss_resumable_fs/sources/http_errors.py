"""What an HTTP(S) source may say about a URL, and the one place its failures are translated.

Signed URLs carry their credentials in the query string (``OSSAccessKeyId``,
``Signature``, ``x-oss-credential``, ``X-Amz-Signature``...). None of it may
reach a journal, a log line, an exception or a repr, so:

* :func:`public_name` is the URL without query, fragment and userinfo: the name
  of the download (and of its checkpoint, so a newly signed URL for the same
  object resumes it);
* :class:`HTTPErrors` turns every ``requests`` / transport failure and every
  refusing status into the library's exception tree, with that name only, and
  blanks the query out of the foreign exception it is raised from.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import requests
import urllib3.exceptions

from oss_resumable_fs.errors import (
    AccessDeniedError,
    InvalidArgumentError,
    ObjectChangedError,
    ObjectNotFoundError,
    OSSResumableError,
    TransientError,
    URLExpiredError,
)
from oss_resumable_fs.sources.redact import redact

__all__ = [
    "TRANSPORT_ERRORS",
    "HTTPErrors",
    "oss_object_of",
    "public_name",
    "signed_url_expiry",
]

#: Failures of the transport (not of the server's answer).
TRANSPORT_ERRORS = (
    OSError,  # socket errors: ConnectionResetError, TimeoutError, ...
    http.client.HTTPException,  # IncompleteRead on a short body
    urllib3.exceptions.HTTPError,
    requests.exceptions.RequestException,
)
#: The most of an error body read for its code and message.
ERROR_BODY_LIMIT = 16 * 1024
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,300})</\1>")
_QUERY = re.compile(r"\?[^\s'\"<>)]+")
_HINT = (
    "get a new signed URL for the same object{example} and run the download again with "
    "it: what was already downloaded is kept, as the checkpoint belongs to the object, "
    "not to the URL"
)
#: A virtual-hosted OSS URL's host: ``bucket.oss-cn-hangzhou[-internal].aliyuncs.com``.
_OSS_HOST = re.compile(r"([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.oss-[a-z0-9-]+\.aliyuncs\.com")
_OSS_SIGNATURE_PARAMS = {"ossaccesskeyid", "x-oss-credential"}


def public_name(url: str) -> str:
    """``url`` without its query string, fragment and userinfo: ``https://host/path``.

    Refuses what is no http(s) URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidArgumentError(f"{public_or_scheme(url)}: not an http:// or https:// URL")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", "", ""))


def public_or_scheme(url: str) -> str:
    """What of a URL that is not one may be shown: up to its query."""
    return url.split("?", 1)[0].rpartition("@")[2]


def oss_object_of(url: str) -> str | None:
    """``oss://bucket/key`` for a signed OSS URL (virtual-hosted, or path-style on an IP
    address or ``localhost``); ``None`` for any other URL."""
    parts = urlsplit(url)
    params = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if not params & _OSS_SIGNATURE_PARAMS:
        return None
    host, path = (parts.hostname or "").lower(), unquote(parts.path).lstrip("/")
    match = _OSS_HOST.fullmatch(host)
    if match and path:
        return f"oss://{match[1]}/{path}"
    if (host == "localhost" or host.replace(".", "").isdigit() or ":" in host) and "/" in path:
        return f"oss://{path}"
    return None


def signed_url_expiry(url: str) -> datetime | None:
    """When a signed URL expires, from its query: OSS V1 and V4, S3 (V2, V4), GCS V4."""
    params = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    with contextlib.suppress(ValueError, OverflowError, OSError):
        if "expires" in params and params["expires"].isdigit():  # OSS V1, S3 V2
            return datetime.fromtimestamp(int(params["expires"]), timezone.utc)
        for date, expires in (
            ("x-oss-date", "x-oss-expires"),
            ("x-amz-date", "x-amz-expires"),
            ("x-goog-date", "x-goog-expires"),
        ):
            if date in params and params.get(expires, "").isdigit():
                signed = datetime.strptime(params[date], "%Y%m%dT%H%M%SZ")
                stamp = signed.replace(tzinfo=timezone.utc).timestamp() + int(params[expires])
                return datetime.fromtimestamp(stamp, timezone.utc)
    return None


class HTTPErrors:
    """Translates what happens to one URL's requests into the library's errors.

    The one place where ``requests`` and transport exceptions, and refusing
    statuses, are interpreted for :class:`~oss_resumable_fs.sources.http.HTTPRangeSource`.
    """

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self._expiry = signed_url_expiry(url)
        oss_object = oss_object_of(url)
        self._example = f" (oss-resumable sign {oss_object})" if oss_object else ""
        query = urlsplit(url).query
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
        self._secrets = [s for s in (query, userinfo) if s]

    def scrub(self, text: str) -> str:
        """``text`` without this URL's query or userinfo, nor any query-like string."""
        for secret in self._secrets:
            text = text.replace(secret, "…")
        return redact(_QUERY.sub("?…", text))

    def translate(self, error: BaseException, name: str | None = None) -> OSSResumableError:
        """A transport failure (connect, reset, timeout, short body) in the library's terms."""
        name = name or self.name
        if isinstance(error, OSSResumableError):
            return error
        self.scrub_exception(error)
        detail = f"{type(error).__name__}: {self.scrub(str(error))}"
        if isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)):
            return InvalidArgumentError(f"{name}: {detail}", target=name)
        if isinstance(error, requests.exceptions.MissingSchema):
            return InvalidArgumentError(f"{name}: {detail}", target=name)
        if isinstance(error, requests.exceptions.TooManyRedirects):
            return OSSResumableError(f"{name}: too many redirects", target=name)
        if isinstance(error, requests.exceptions.SSLError) and "CERTIFICATE" in str(error):
            return OSSResumableError(f"{name}: TLS certificate refused: {detail}", target=name)
        if isinstance(error, TRANSPORT_ERRORS):
            return TransientError(f"{name}: connection failed: {detail}", target=name)
        return OSSResumableError(f"{name}: unexpected error: {type(error).__name__}", target=name)

    def scrub_exception(self, error: BaseException) -> None:
        """Blank the URL's query out of ``error`` in place (it is chained as the cause).

        requests and urllib3 quote the request's path and query in their messages
        (``Max retries exceeded with url: /key?Signature=...``) and keep it in
        ``.url`` / ``.request`` attributes.
        """
        seen: set[int] = set()
        pending: list[Any] = [error]
        while pending:
            item = pending.pop()
            if not isinstance(item, BaseException) or id(item) in seen:
                continue
            seen.add(id(item))
            item.args = tuple(self.scrub(a) if isinstance(a, str) else a for a in item.args)
            pending += [a for a in item.args if isinstance(a, BaseException)]
            for attribute in ("url", "request", "response"):
                if getattr(item, attribute, None) is not None:
                    with contextlib.suppress(AttributeError, TypeError):
                        setattr(item, attribute, None)
            pending += [getattr(item, "reason", None), item.__cause__, item.__context__]

    def for_status(self, response: requests.Response) -> OSSResumableError:
        """The error for a refusing answer (4xx, 5xx); reads at most a small body."""
        status = response.status_code
        code, message = _error_fields(response)
        detail = (
            f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        )
        detail = self.scrub(detail)
        request_id = response.headers.get("x-oss-request-id") or response.headers.get(
            "x-amz-request-id"
        )
        fields: dict[str, Any] = {"code": code, "request_id": request_id, "target": self.name}
        if status == 403 and self._expired(message):
            when = self._expiry.strftime("%Y-%m-%d %H:%M:%S UTC") if self._expiry else None
            at = f" at {when}" if when else ""
            return URLExpiredError(
                f"{self.name}: the signed URL expired{at} ({detail}); "
                + _HINT.format(example=self._example),
                **fields,
            )
        if status in (401, 403):
            return AccessDeniedError(f"{self.name}: access denied ({detail})", **fields)
        if status in (404, 410):
            return ObjectNotFoundError(f"{self.name}: not found ({detail})", **fields)
        if status in (412, 416):
            return ObjectChangedError(
                f"{self.name}: the object changed during the download ({detail})", **fields
            )
        if status in (408, 429) or status >= 500:
            return TransientError(
                f"{self.name}: {detail}",
                retry_after=_retry_after(response.headers),
                throttled=status in (429, 503),
                **fields,
            )
        return OSSResumableError(
            f"{self.name}: the server refused the request ({detail})", **fields
        )

    def _expired(self, message: str | None) -> bool:
        if message and "expired" in message.lower():
            return True
        return self._expiry is not None and self._expiry.timestamp() <= time.time()


def _error_fields(response: requests.Response) -> tuple[str | None, str | None]:
    """OSS's / S3's ``<Code>`` and ``<Message>`` from a small XML error body."""
    try:
        body = response.raw.read(ERROR_BODY_LIMIT, decode_content=True) or b""
    except Exception:  # the body of a refusal is a courtesy: its failure changes nothing
        return None, None
    finally:
        response.close()
    fields = dict(_XML_FIELD.findall(body.decode("utf-8", "replace")))
    return fields.get("Code") or None, (fields.get("Message") or "").strip() or None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` (seconds or a date), else OSS's ``x-oss-qos-delay-time`` (ms)."""
    value = headers.get("Retry-After")
    if value:
        if value.strip().isdigit():
            return float(value)
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    delay = headers.get("x-oss-qos-delay-time")
    with contextlib.suppress(TypeError, ValueError):
        return float(delay) / 1000.0 if delay is not None else None
    return None
