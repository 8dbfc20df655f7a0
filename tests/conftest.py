"""Fixtures for every test: no OSS credentials leak in from the environment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The filesystem falls back to these variables; tests set them only on purpose."""
    for name in (
        "OSS_ACCESS_KEY_ID",
        "OSS_ACCESS_KEY_SECRET",
        "OSS_SESSION_TOKEN",
        "OSS_ENDPOINT",
        "OSS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
