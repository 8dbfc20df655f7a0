"""Shared by the signed-URL and plain-HTTP tests: the CLI in a subprocess, a kill at
half way, and a search for secrets in everything a download wrote or printed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

from oss_resumable_fs.config import KiB, MiB, TransferConfig
from oss_resumable_fs.engine.journal import read_journal
from oss_resumable_fs.engine.plan import bytes_in, plan_parts

from .killing import kill_when_recorded

#: The console script installed beside this interpreter.
SCRIPT = str(Path(sys.executable).with_name("oss-resumable"))
#: Generous: only there so a hung child fails the test instead of hanging it.
LIMIT = 120.0
#: At or above the CLI's single-request threshold (8 MiB), so the download is checkpointed.
SIZE = 8 * MiB + 300 * KiB
PART = 256 * KiB
PARTS = len(plan_parts(SIZE, PART))
CONCURRENCY = 2
#: What the CLI is told: small parts, few connections.
GET_OPTIONS = ("--part-size", "256KiB", "--concurrency", str(CONCURRENCY))
#: The same for in-process downloads; short waits between retries.
CONFIG = TransferConfig(
    part_size=PART,
    concurrency=CONCURRENCY,
    single_request_threshold=512 * KiB,
    read_timeout=5.0,
    connect_timeout=5.0,
    backoff_base=0.01,
    backoff_max=0.05,
)


def no_credentials_env() -> dict[str, str]:
    """This process's environment without any ``OSS_*`` variable (no credentials at all)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OSS_")}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        env=no_credentials_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )


def start_get(url: str, dest: Path, *options: str) -> subprocess.Popen[str]:
    """``oss-resumable get URL DEST`` in a child with no credentials in its environment."""
    return subprocess.Popen(
        [SCRIPT, "get", url, str(dest), *GET_OPTIONS, *options],
        env=no_credentials_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_at_half(child: subprocess.Popen[str], journal: Path) -> tuple[str, str]:
    """SIGKILL ``child`` once its journal records half the parts; its (stdout, stderr)."""
    return kill_when_recorded(child, journal, PARTS // 2)


def recorded_bytes(journal: Path) -> int:
    """Bytes of the parts the journal records (what a resume keeps)."""
    return bytes_in(plan_parts(SIZE, PART), read_journal(str(journal)).parts)


def query_secrets(*urls: str) -> list[str]:
    """What of signed URLs must never be seen: their queries, signatures, key ids."""
    found: set[str] = set()
    for url in urls:
        query = urlsplit(url).query
        found.add(query)
        for name, value in parse_qsl(query):
            lowered = name.lower()
            secret = "signature" in lowered and lowered != "x-oss-signature-version"
            if secret or lowered in ("ossaccesskeyid", "security-token"):
                found |= {value, quote(value, safe="")}
            if lowered == "x-oss-credential":
                key_id = value.split("/")[0]
                found |= {key_id, value, quote(value, safe="")}
    return sorted(s for s in found if len(s) >= 6)


def assert_no_secrets(
    secrets: Iterable[str], texts: Iterable[str], directories: Iterable[Path] = ()
) -> None:
    """None of ``secrets`` in any of ``texts`` nor in any file below ``directories``."""
    secrets = list(secrets)
    assert secrets, "nothing to look for"
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"{secret!r} printed: {text[:500]}"
    for directory in directories:
        for path in Path(directory).rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in content, f"{secret!r} written to {path}"
