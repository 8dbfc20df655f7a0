"""The docs' code samples, run as tests against a local OSS server.

Collecting ``test_doc_samples.py`` also collects every page of ``docs/`` (see
:mod:`doc_runners`): one test per sample, named by page and line. The samples
run as a user's code would: endpoint and keys come from the ``OSS_*`` variables
(set here to a local server's), the buckets are those the pages name (seeded
here), the working directory is a fresh one per page.

One page's samples: ``pytest tests/docs -k cli.md``; the site's strict build:
``pytest tests/docs/test_doc_build.py`` (or ``make docs``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doc_runners import DOCS, close_ipython, make_sybil, pages
from sybil.integration.pytest import SybilFile

from oss_resumable_fs.testing import OSSServer, StaticHTTPServer

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
#: The bucket the pages read from, and a public one for anonymous reads.
BUCKET = "my-bucket"
PUBLIC_BUCKET = "public-data"


def _tables() -> tuple[bytes, bytes, list[bytes]]:
    """A small trips table as CSV and parquet, and four parquet parts of a dataset."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed=11)
    rows = 20_000
    cities = np.array(["Hangzhou", "Shanghai", "Beijing", "Shenzhen"])
    table = pd.DataFrame(
        {
            "trip_id": np.arange(rows),
            "city": cities[rng.integers(0, len(cities), rows)],
            "distance_km": rng.gamma(2.0, 3.0, rows).round(2),
            "fare_cny": rng.gamma(2.5, 12.0, rows).round(2),
        }
    )
    parquet = io.BytesIO()
    table.to_parquet(parquet, index=False)
    parts = []
    for number in range(4):
        part = io.BytesIO()
        table.iloc[number * 5000 : (number + 1) * 5000].to_parquet(part, index=False)
        parts.append(part.getvalue())
    return table.to_csv(index=False).encode(), parquet.getvalue(), parts


def seed(server: OSSServer, scratch: Path) -> None:
    """The objects the pages name."""
    from oss_resumable_fs.testing.data import write_pattern_file

    server.create_bucket(BUCKET)
    big = scratch / "big.bin"
    write_pattern_file(big, 24 * MiB)
    server.put_object(BUCKET, "data/big.bin", big)
    big.unlink()
    csv, parquet, parts = _tables()
    server.put_object(BUCKET, "data/trips.csv", csv)
    server.put_object(BUCKET, "data/trips.parquet", parquet)
    for number, part in enumerate(parts):
        server.put_object(BUCKET, f"dataset/part-{number}.parquet", part)
    for name, size in [("sales", 3 * MiB), ("users", 300_000), ("summary", 2_000)]:
        server.put_object(BUCKET, f"reports/2025/{name}.csv", os.urandom(size))
    server.put_object(BUCKET, "reports/tmp/scratch.csv", b"a,b\n1,2\n")
    server.put_object(BUCKET, "archive/2019.bin", os.urandom(MiB), storage_class="Archive")
    server.create_bucket(PUBLIC_BUCKET, acl="public-read")
    server.put_object(PUBLIC_BUCKET, "hello.txt", b"hello, world\n")


@pytest.fixture(scope="session")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OSSServer]:
    """The local OSS server the samples talk to, seeded with the pages' objects."""
    with OSSServer() as server:
        seed(server, tmp_path_factory.mktemp("docs-seed"))
        yield server


@pytest.fixture
def docs_env(
    request: pytest.FixtureRequest,
    docs_server: OSSServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """For one sample: the server's ``OSS_*`` variables, the page's working directory."""
    namespace = request.node.example.namespace
    if "__workdir__" not in namespace:
        namespace["__workdir__"] = tmp_path_factory.mktemp(Path(request.node.path).stem)
    monkeypatch.chdir(namespace["__workdir__"])
    for name in ("OSS_REGION", "OSS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in docs_server.environment({}).items():
        monkeypatch.setenv(name, value)
    for name in ("NO_PROXY", "no_proxy"):  # a proxy, if any, must not see the local server
        monkeypatch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1"])))
    environment = dict(os.environ)
    yield
    os.environ.clear()  # what the sample itself set (os.environ["HTTP_PROXY"] = ...) goes
    os.environ.update(environment)
    docs_server.clear_faults()


_LOGGERS = ("", "oss_resumable_fs")


def _setup(namespace: dict[str, Any]) -> None:
    """Note the process-wide state a page's samples may change, as users' code does."""
    from fsspec.registry import _registry

    namespace["__saved__"] = (
        dict(_registry),
        {
            name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers))
            for name in _LOGGERS
        },
    )


def _teardown(namespace: dict[str, Any]) -> None:
    """Put back what a page changed (``use_for_oss_urls()``, logging levels) and stop
    what it left running, should one of its samples have failed before its cleanup."""
    from fsspec.registry import _registry

    registry, loggers = namespace.pop("__saved__")
    _registry.clear()
    _registry.update(registry)
    for name, (level, handlers) in loggers.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers[:] = handlers
    close_ipython(namespace)
    _forget_filesystems()
    for name, value in list(namespace.items()):
        if name == "docs_server":  # a fixture (Sybil puts them in the namespace): shared
            continue
        if isinstance(value, (OSSServer, StaticHTTPServer)):
            value.stop()
        elif type(value).__name__ in ("Client", "LocalCluster"):
            with contextlib.suppress(Exception):
                value.close()


def _forget_filesystems() -> None:
    """Drop fsspec's cached filesystem instances: one a page built from the docs
    server's environment (``ResumableOSSFileSystem()``) would otherwise be handed to
    a later test that builds one with the same (no) arguments for its own server."""
    from fsspec.spec import AbstractFileSystem

    pending = [AbstractFileSystem]
    while pending:
        cls = pending.pop()
        cls.clear_instance_cache()
        pending.extend(cls.__subclasses__())


SYBIL = make_sybil(("docs_env",), setup=_setup, teardown=_teardown)


class DocsPages(pytest.File):
    """The pages of ``docs/``, each a file of samples (Sybil's)."""

    def collect(self) -> Iterator[SybilFile]:
        for page in pages():
            yield SybilFile.from_parent(self, path=page, sybils=[SYBIL])


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DocsPages | None:
    """``test_doc_samples.py`` brings every page of ``docs/`` with it."""
    if file_path != HERE / "test_doc_samples.py":
        return None
    return DocsPages.from_parent(parent, path=DOCS)
