"""Who we are to OSS: credentials, region and endpoint, checked before any request.

Credentials come from, in order: an explicit ``credentials_provider`` (an oss2
provider, e.g. one that refreshes STS or ECS RAM-role credentials, so a
download of many hours survives a token rotation); ``key`` / ``secret`` /
``token``; the ``OSS_ACCESS_KEY_ID`` / ``OSS_ACCESS_KEY_SECRET`` /
``OSS_SESSION_TOKEN`` variables. ``anon=True`` sends unsigned requests
whatever else is set. A region (``cn-hangzhou``) selects V4 signatures.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import oss2
import oss2.credentials

from oss_resumable_fs.errors import InvalidArgumentError

#: Where credentials are looked for, for messages that must say so.
CREDENTIAL_SOURCES = (
    "key=/secret= (and token=) or credentials_provider= arguments, "
    "or the OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET (/ OSS_SESSION_TOKEN) variables"
)

_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")


@dataclass(frozen=True)
class Identity:
    """Resolved connection settings. ``repr`` never shows a secret."""

    endpoint: str | None
    region: str | None
    auth: Any  # an oss2 auth object
    anonymous: bool

    def __repr__(self) -> str:
        who = "anonymous" if self.anonymous else "signed"
        return f"Identity(endpoint={self.endpoint!r}, region={self.region!r}, {who})"


def resolve_identity(
    *,
    endpoint: str | None,
    key: str | None,
    secret: str | None,
    token: str | None,
    region: str | None,
    credentials_provider: Any = None,
    anon: bool = False,
) -> Identity:
    """The endpoint, region and oss2 auth these arguments (and the environment) describe."""
    endpoint = endpoint or os.environ.get("OSS_ENDPOINT") or None
    region = check_region(region or os.environ.get("OSS_REGION") or None)
    if endpoint is not None:
        endpoint = check_endpoint(endpoint)
    if anon:
        return Identity(endpoint, region, oss2.AnonymousAuth(), anonymous=True)
    if credentials_provider is None:
        key = key or os.environ.get("OSS_ACCESS_KEY_ID") or None
        secret = secret or os.environ.get("OSS_ACCESS_KEY_SECRET") or None
        token = token or os.environ.get("OSS_SESSION_TOKEN") or None
        if not key:
            return Identity(endpoint, region, oss2.AnonymousAuth(), anonymous=True)
        if not secret:
            raise InvalidArgumentError(
                "an access key id was given without its secret: pass secret= or set "
                "OSS_ACCESS_KEY_SECRET"
            )
        credentials_provider = oss2.credentials.StaticCredentialsProvider(key, secret, token or "")
    elif not callable(getattr(credentials_provider, "get_credentials", None)):
        raise InvalidArgumentError(
            "credentials_provider must be an oss2 credentials provider "
            "(an object with get_credentials())"
        )
    auth_class = oss2.ProviderAuthV4 if region else oss2.ProviderAuth
    return Identity(endpoint, region, auth_class(credentials_provider), anonymous=False)


def check_region(region: str | None) -> str | None:
    """``cn-hangzhou`` is a region; ``oss-cn-hangzhou`` (the endpoint's prefix) is not."""
    if region is None:
        return None
    region = region.strip()
    if region.startswith("oss-"):
        raise InvalidArgumentError(
            f"region {region!r} looks like an endpoint prefix; "
            f"write the region as {region[4:]!r} (without 'oss-')"
        )
    if not _REGION.fullmatch(region):
        raise InvalidArgumentError(
            f"region {region!r} is not a region name; expected the form 'cn-hangzhou'"
        )
    return region


def check_endpoint(endpoint: str) -> str:
    endpoint = endpoint.strip()
    if not endpoint or any(c.isspace() for c in endpoint):
        raise InvalidArgumentError(
            f"endpoint {endpoint!r} is not a URL (e.g. https://oss-cn-hangzhou.aliyuncs.com)"
        )
    if "://" in endpoint and not endpoint.startswith(("http://", "https://")):
        raise InvalidArgumentError(f"endpoint {endpoint!r} must be an http:// or https:// URL")
    return endpoint
