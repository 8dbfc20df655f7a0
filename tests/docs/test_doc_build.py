"""The site builds with ``mkdocs build --strict`` (a broken link, an unknown reference, an
undocumented field or variable is a warning, and fails it), offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from doc_runners import ROOT

#: Seconds the build may take (about 10 s on 2 busy cores).
BUILD_TIMEOUT = 300


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    assert "WARNING" not in done.stderr, done.stderr[-5000:]

    config = (site / "reference" / "configuration.html").read_text(encoding="utf-8")
    for generated in ("max_buffer_memory", "OSS_ACCESS_KEY_SECRET", "bytes_reused", "OSSRJRNL"):
        assert generated in config, f"{generated} missing from the configuration reference"
    assert "<!-- generated:" not in config
    api = (site / "api" / "filesystem.html").read_text(encoding="utf-8")
    assert "get_file" in api and "transfer_options" in api

    # Nothing is fetched from elsewhere when the site is read offline: no web fonts, no CDN.
    external = set()
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        external |= set(re.findall(r'<(?:link|script)[^>]+(?:href|src)="(https?://[^"]+)"', text))
    assert not external, external
