from __future__ import annotations

import random

import pytest

from oss_resumable_fs.config import KiB, TransferConfig
from oss_resumable_fs.engine.transfer import Downloader

#: The smallest part size OSS allows; tests use it to get many parts from little data.
PART = 100 * KiB
BUFFER = 16 * KiB


def make_data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def make_config(**changes: object) -> TransferConfig:
    settings: dict[str, object] = {
        "part_size": PART,
        "buffer_size": BUFFER,
        "single_request_threshold": 0,
        "concurrency": 4,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
    }
    settings.update(changes)
    return TransferConfig(**settings)  # type: ignore[arg-type]


class Sleeps(list):
    """Records requested sleeps instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_downloader(sleeps: Sleeps):
    def build(config: TransferConfig | None = None, **kwargs: object) -> Downloader:
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("jitter", lambda: 0.5)
        kwargs.setdefault("poll_interval", 0.02)
        return Downloader(config or make_config(), **kwargs)  # type: ignore[arg-type]

    return build


@pytest.fixture
def dest(tmp_path) -> str:
    return str(tmp_path / "out" / "object.bin")
