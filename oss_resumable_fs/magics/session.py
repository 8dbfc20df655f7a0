"""What ``%oss_config`` sets for the session, and the one filesystem built from it.

Secrets live only here, in memory: never in the user's namespace, a repr, a
message or the settings table (which masks them).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oss_resumable_fs.config import TransferConfig
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.urls import check_endpoint, require_endpoint

if TYPE_CHECKING:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

__all__ = ["ENVIRONMENT", "MagicSession", "Settings"]

#: The variables the filesystem falls back to, by setting.
ENVIRONMENT = {
    "endpoint": "OSS_ENDPOINT",
    "region": "OSS_REGION",
    "key_id": "OSS_ACCESS_KEY_ID",
    "key_secret": "OSS_ACCESS_KEY_SECRET",
    "token": "OSS_SESSION_TOKEN",
}
SECRETS = ("key_secret", "token")
PROGRESS = ("auto", "widget", "text", "none")


@dataclass(frozen=True, repr=False)
class Settings:
    """The session's settings; ``None`` falls back to the environment or the library default."""

    endpoint: str | None = None
    region: str | None = None
    key_id: str | None = None
    key_secret: str | None = None
    token: str | None = None
    anon: bool = False
    part_size: int | None = None
    concurrency: int | None = None
    checkpoint_dir: str | None = None
    #: How ``%oss_get`` shows progress: a widget in a notebook, text in a terminal.
    progress: str = "auto"

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value}" for name, value in self.rows())
        return f"Settings({shown})"

    def connection(self) -> dict[str, Any]:
        """Where requests go and who signs them, as the filesystem's arguments."""
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "key": self.key_id,
            "secret": self.key_secret,
            "token": self.token,
            "anon": self.anon,
        }

    def transfer_options(self) -> dict[str, Any]:
        """The transfer defaults that were set, as ``TransferConfig`` fields."""
        options = {
            "part_size": self.part_size,
            "concurrency": self.concurrency,
            "checkpoint_dir": self.checkpoint_dir,
        }
        return {name: value for name, value in options.items() if value is not None}

    def rows(self) -> list[tuple[str, str]]:
        """(setting, shown value) for each setting, secrets masked."""
        rows = []
        for name in ("endpoint", "region", "key_id", "key_secret", "token"):
            value, origin = getattr(self, name), ""
            if value is None and os.environ.get(ENVIRONMENT[name]):
                value, origin = os.environ[ENVIRONMENT[name]], f"  (from ${ENVIRONMENT[name]})"
            rows.append((name, "not set" if value is None else _mask(name, value) + origin))
        if self.anon:
            rows.append(("anon", "unsigned requests"))
        rows += [
            ("part_size", human_size(self.part_size) if self.part_size else _DEFAULT_PART_SIZE),
            ("concurrency", str(self.concurrency) if self.concurrency else _DEFAULT_CONCURRENCY),
            ("checkpoint_dir", self.checkpoint_dir or "default (beside each download)"),
            ("progress", self.progress),
        ]
        return rows

    def table(self) -> str:
        lines = ["OSS settings for this session (secrets masked):"]
        lines += [f"  {name:<15} {value}" for name, value in self.rows()]
        return "\n".join(lines)


_DEFAULT_PART_SIZE = "default (8 MiB, more for objects over 78 GiB)"
_DEFAULT_CONCURRENCY = "default (16 connections per object)"


def _mask(name: str, value: str) -> str:
    if name in SECRETS:
        return "********"
    if name == "key_id":
        return value[:4] + "****" if len(value) > 8 else "****"
    return value


class MagicSession:
    """The settings of one IPython session, and the filesystem they describe.

    The filesystem is built on first use and rebuilt whenever the settings, or
    the ``OSS_*`` variables it falls back to, change.
    """

    def __init__(self) -> None:
        self.settings = Settings()
        self._fs: ResumableOSSFileSystem | None = None
        self._built_from: tuple[Settings, tuple[str | None, ...]] | None = None

    def __repr__(self) -> str:
        return f"MagicSession({self.settings!r})"

    def configure(self, *, reset: bool = False, **changes: Any) -> None:
        """Apply ``changes`` (``None`` values ignored; after forgetting everything with
        ``reset``), only once the result is known to be usable."""
        settings = dataclasses.replace(
            Settings() if reset else self.settings,
            **{k: v for k, v in changes.items() if v is not None},
        )
        validate(settings)
        self.settings = settings

    def filesystem(self) -> ResumableOSSFileSystem:
        """The session's filesystem, its listings cache emptied (other writers may have been)."""
        key = (self.settings, tuple(os.environ.get(v) for v in ENVIRONMENT.values()))
        if self._fs is None or self._built_from != key:
            self._fs = build_filesystem(self.settings)
            self._built_from = key
        self._fs.invalidate_cache()
        return self._fs


def validate(settings: Settings) -> None:
    """Raise ``InvalidArgumentError`` for a region, endpoint, credentials or transfer option
    the filesystem would refuse; no request is made."""
    from oss_resumable_fs.sources.auth import resolve_identity

    if settings.endpoint is not None:
        check_endpoint(settings.endpoint)
    resolve_identity(**settings.connection())
    TransferConfig(**settings.transfer_options())


def build_filesystem(settings: Settings) -> ResumableOSSFileSystem:
    from oss_resumable_fs.fs import ResumableOSSFileSystem

    require_endpoint(settings.endpoint, "run %oss_config --endpoint URL")
    return ResumableOSSFileSystem(
        skip_instance_cache=True, **settings.connection(), **settings.transfer_options()
    )
