"""Credentials out of what oss2 echoes: error documents, log records, transport errors."""

from __future__ import annotations

import logging
import re

import oss2.exceptions

#: Fields of an OSS error document that echo what the client signed. The string
#: to sign (V1) and the canonical request (V4) contain ``x-oss-security-token``:
#: an STS token would reach every traceback that shows the oss2 error.
_SIGNING_FIELDS = (
    "StringToSign",
    "StringToSignBytes",
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "SignatureProvided",
)
_REDACTED = "<redacted>"
#: Credential-bearing values in free text (oss2's debug lines, error strings, URLs).
_SECRET_PATTERNS = (
    # A header, in a dict repr ('x-oss-security-token': 'v', botocore's b'v') or a
    # signed string (name:v). S3's names too, for an s3fs target's botocore logs.
    re.compile(r"""((?:x-oss|x-amz)-security-token['"]?\s*[:=]\s*b?['"]?)[^\s'"\\,;&}]+""", re.I),
    re.compile(r"""(['"]?authorization['"]?\s*[:=]\s*b?['"]?)[^'"\\\r\n]+""", re.I),
    # Presigned URLs: ?security-token=...&Signature=... (and S3's X-Amz-...).
    re.compile(
        r"""((?:security-token|signature|x-oss-signature|x-amz-signature|ossaccesskeyid"""
        r"""|x-oss-credential|x-amz-credential)=)[^&\s'"\\,]+""",
        re.I,
    ),
)
_SIGNING_ELEMENTS = re.compile(
    rb"<(" + b"|".join(f.encode() for f in _SIGNING_FIELDS) + rb")>.*?</\1>", re.S
)


def redact(text: str) -> str:
    """``text`` with security tokens, Authorization headers and signatures blanked out."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
    return text


def scrub_oss_error(error: BaseException) -> None:
    """Blank out, in place, what an oss2 error echoes of the signed request.

    The translated error is raised ``from`` the oss2 one, so tracebacks print
    both: the oss2 error must not carry the string to sign (with the STS token).
    """
    if not isinstance(error, oss2.exceptions.OssError):
        return
    details = getattr(error, "details", None)
    if isinstance(details, dict):
        for key, value in list(details.items()):
            if key in _SIGNING_FIELDS:
                details[key] = _REDACTED
            elif isinstance(value, str):
                details[key] = redact(value)
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = _SIGNING_ELEMENTS.sub(rb"<\1>" + _REDACTED.encode() + rb"</\1>", body)
        error.body = redact(body.decode("utf-8", "replace")).encode()
    elif isinstance(body, str):
        error.body = redact(body)


class RedactingFilter(logging.Filter):
    """A logging filter that blanks credentials out of records (see :func:`redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_LOG_FILTER = RedactingFilter()


def redact_library_logs(*more: str) -> None:
    """Make oss2's (and ossfs's, urllib3's) loggers blank credentials out of their records.

    At DEBUG oss2 logs every request's headers and the string it signs, which
    carry the STS token and the Authorization header. ossfs silences oss2 by
    setting its level to CRITICAL, but an application debugging its network
    turns that back on; the filter keeps the records safe whatever the level.
    Filters of a logger apply only to records logged on it, hence one per
    module logger. Idempotent. ``more`` names other libraries' loggers (and their
    modules' loggers made so far), e.g. ``"botocore"`` for an s3fs target.
    """
    roots = ("oss2", *more)
    names = {"oss2", "ossfs", "urllib3", "urllib3.connectionpool", *more}
    names |= {
        name
        for name in logging.root.manager.loggerDict
        if any(name.startswith(root + ".") for root in roots)
    }
    names |= {f"oss2.{module}" for module in ("api", "auth", "http", "models", "utils")}
    for name in sorted(names):
        target = logging.getLogger(name)
        if _LOG_FILTER not in target.filters:
            target.addFilter(_LOG_FILTER)
