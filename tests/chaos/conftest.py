"""The chaos suite: real CLI processes and real sockets against the local OSS server, under faults.

Every case ends in exactly one of two ways, asserted by :func:`outcomes.settle`:
a byte-identical file at the destination, or a typed ``OSSResumableError``
with nothing at the destination and its progress kept (or, for
``ObjectChangedError`` / ``IntegrityError``, discarded).

``--chaos-long`` (or ``OSSR_CHAOS_LONG=1``) runs more seeds and kill points;
``--chaos-report PATH`` writes the tally of every case as a Markdown table,
in place between ``<!-- chaos:begin -->`` and ``<!-- chaos:end -->`` when PATH
already has those markers (``docs/reliability.md`` does).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from oss_resumable_fs.testing import OSSServer

from .report import Collector, write_report

#: An STS token the chaos server accepts, grepped for with the secrets (case 8).
STS_KEY_ID = "STS.chaos-key-id"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos")
    group.addoption(
        "--chaos-long",
        action="store_true",
        default=False,
        help="chaos suite: more seeds and kill points (also OSSR_CHAOS_LONG=1)",
    )
    group.addoption(
        "--chaos-report",
        metavar="PATH",
        default=None,
        help="chaos suite: write the tally of every case as a Markdown table to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: the chaos suite (tests/chaos); faults and kills")
    config.stash[COLLECTOR] = Collector()


COLLECTOR = pytest.StashKey[Collector]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Skips and failures are tallied too: a skip is never counted as a pass."""
    if "chaos/" not in report.nodeid:
        return
    collector = _COLLECTORS[-1] if _COLLECTORS else None
    if collector is None:
        return
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        collector.note_test(report.nodeid, "skipped", reason.removeprefix("Skipped: "))
    elif report.failed:
        collector.note_test(report.nodeid, "failed", report.when)


#: The session's collector, for the hooks that get no config (one session per process).
_COLLECTORS: list[Collector] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _COLLECTORS.append(session.config.stash[COLLECTOR])


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--chaos-report")
    collector = session.config.stash[COLLECTOR]
    if path and collector.cases:
        write_report(collector, path)


def is_long(config: pytest.Config) -> bool:
    return bool(config.getoption("--chaos-long")) or os.environ.get("OSSR_CHAOS_LONG", "") not in (
        "",
        "0",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``seed``: one seed in CI, three in the long mode."""
    if "seed" in metafunc.fixturenames:
        seeds = [1, 2, 3] if is_long(metafunc.config) else [1]
        metafunc.parametrize("seed", seeds, ids=[f"seed{s}" for s in seeds])


@pytest.fixture(scope="session")
def chaos_long(request: pytest.FixtureRequest) -> bool:
    return is_long(request.config)


@pytest.fixture(scope="session")
def collector(request: pytest.FixtureRequest) -> Collector:
    return request.config.stash[COLLECTOR]


@pytest.fixture(scope="session")
def chaos_server() -> Iterator[OSSServer]:
    """A server of our own, with a random secret and an STS credential to grep for."""
    server = OSSServer(
        access_key_id="chaos-key-id",
        access_key_secret="chaos-secret-" + secrets.token_hex(12),
        seed=20240610,
    )
    with server:
        server.sts_secret = "chaos-sts-secret-" + secrets.token_hex(12)  # type: ignore[attr-defined]
        server.sts_token = "chaos-sts-token-" + secrets.token_hex(24)  # type: ignore[attr-defined]
        server.add_sts_credential(STS_KEY_ID, server.sts_secret, server.sts_token)  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def bucket(chaos_server: OSSServer) -> Iterator[str]:
    name = f"chaos-{secrets.token_hex(5)}"
    chaos_server.create_bucket(name)
    chaos_server.clear_faults()
    chaos_server.reset_stats()
    yield name
    chaos_server.clear_faults()
