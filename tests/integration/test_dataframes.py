"""pandas, pyarrow and dask reading plain ``ossr://`` URLs from the local server.

Every result is compared with the same library reading a local copy of the same
files. The dask tests run twice: on the threaded scheduler, and on a
``distributed.LocalCluster`` of two worker processes (which reach the server,
running in the pytest process, over loopback).
"""

from __future__ import annotations

import gzip
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import distributed
import fsspec
import numpy as np
import pandas as pd
import pyarrow.fs
import pyarrow.parquet as pq
import pytest

from oss_resumable_fs.testing import OSSServer

from .conftest import local_cluster

DATASET_PARTS = 4
CSV_PARTS = 3


def make_frame(rows: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + rows, dtype="int64"),
            "x": rng.normal(size=rows),
            "n": rng.integers(-1000, 1000, rows),
            "name": rng.choice(["alpha", "beta", "gamma", "δέλτα", "日本語"], rows),
            "flag": rng.random(rows) < 0.5,
            "when": pd.date_range("2024-01-01", periods=rows, freq="min"),
        }
    )


@dataclass(frozen=True)
class Store:
    """The same files in a local directory and under ``ossr://<bucket>/``."""

    bucket: str
    root: Path
    options: dict[str, str]

    def url(self, name: str) -> str:
        return f"ossr://{self.bucket}/{name}"

    def local(self, name: str) -> str:
        return str(self.root / name)


@pytest.fixture(scope="module")
def store(
    oss_server: OSSServer,
    oss_storage_options: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Store:
    root = tmp_path_factory.mktemp("frames")
    bucket = f"ossr-frames-{secrets.token_hex(6)}"
    oss_server.create_bucket(bucket)

    big = make_frame(60_000, seed=1)  # about 4 MiB of CSV
    big.to_csv(root / "data.csv", index=False)
    with open(root / "data.csv", "rb") as src, gzip.open(root / "data.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    # Several row groups: column and row-group reads are ranged reads.
    big.to_parquet(root / "data.parquet", index=False, row_group_size=10_000)

    (root / "dataset").mkdir()
    (root / "csvs").mkdir()
    for i in range(DATASET_PARTS):
        part = make_frame(5_000, seed=10 + i, first_id=i * 5_000)
        part.to_parquet(root / "dataset" / f"part.{i}.parquet", index=False)
    for i in range(CSV_PARTS):
        part = make_frame(5_000, seed=20 + i, first_id=100_000 + i * 5_000)
        part.to_csv(root / "csvs" / f"part-{i}.csv", index=False)
    (root / "csvs" / "README.txt").write_text("not a CSV: the glob must leave it out\n")

    for path in sorted(root.rglob("*")):
        if path.is_file():
            oss_server.put_object(bucket, path.relative_to(root).as_posix(), path.read_bytes())
    return Store(bucket, root, dict(oss_storage_options))


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in ``id`` order, text columns in one string dtype.

    dask reads text as ``string[pyarrow]`` (missing values ``NA``), pandas as
    ``str`` (missing values ``NaN``); there are no missing values here.
    """
    text = [
        name
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype)
    ]
    return frame.astype(dict.fromkeys(text, "str")).sort_values("id").reset_index(drop=True)


def local_dataset(store: Store, columns: list[str] | None = None) -> pd.DataFrame:
    parts = sorted((store.root / "dataset").glob("*.parquet"))
    return normalised(pd.concat([pd.read_parquet(p, columns=columns) for p in parts]))


def local_csvs(store: Store) -> pd.DataFrame:
    parts = sorted((store.root / "csvs").glob("*.csv"))
    return normalised(pd.concat([pd.read_csv(p) for p in parts]))


# -- pandas ---------------------------------------------------------------------------


def test_pandas_read_csv(store: Store) -> None:
    frame = pd.read_csv(store.url("data.csv"), storage_options=store.options)
    expected = pd.read_csv(store.local("data.csv"))
    assert len(frame) == 60_000
    pd.testing.assert_frame_equal(frame, expected)


def test_pandas_read_csv_in_chunks(store: Store) -> None:
    with pd.read_csv(
        store.url("data.csv"), storage_options=store.options, chunksize=7_000
    ) as reader:
        frame = pd.concat(list(reader), ignore_index=True)
    pd.testing.assert_frame_equal(frame, pd.read_csv(store.local("data.csv")))


@pytest.mark.parametrize("compression", ["gzip", "infer"])
def test_pandas_read_gzipped_csv(store: Store, compression: str) -> None:
    frame = pd.read_csv(
        store.url("data.csv.gz"), storage_options=store.options, compression=compression
    )
    pd.testing.assert_frame_equal(frame, pd.read_csv(store.local("data.csv")))


def test_pandas_read_parquet(store: Store) -> None:
    frame = pd.read_parquet(store.url("data.parquet"), storage_options=store.options)
    pd.testing.assert_frame_equal(frame, pd.read_parquet(store.local("data.parquet")))


def test_pandas_read_parquet_columns(store: Store) -> None:
    columns = ["id", "name", "when"]
    frame = pd.read_parquet(
        store.url("data.parquet"), storage_options=store.options, columns=columns
    )
    expected = pd.read_parquet(store.local("data.parquet"), columns=columns)
    assert list(frame.columns) == columns
    pd.testing.assert_frame_equal(frame, expected)


# -- pyarrow --------------------------------------------------------------------------


@pytest.fixture
def ossr(store: Store) -> fsspec.AbstractFileSystem:
    return fsspec.filesystem("ossr", skip_instance_cache=True, **store.options)


def test_pyarrow_through_fsspec_handler(store: Store, ossr: fsspec.AbstractFileSystem) -> None:
    arrow_fs = pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(ossr))
    path = f"{store.bucket}/data.parquet"
    expected = pq.read_table(store.local("data.parquet"))
    assert pq.read_table(path, filesystem=arrow_fs).equals(expected)
    subset = pq.read_table(path, filesystem=arrow_fs, columns=["x", "flag"])
    assert subset.equals(expected.select(["x", "flag"]))
    info = arrow_fs.get_file_info(path)
    assert info.size == (store.root / "data.parquet").stat().st_size


def test_pyarrow_with_an_fsspec_filesystem(store: Store, ossr: fsspec.AbstractFileSystem) -> None:
    path = f"{store.bucket}/data.parquet"
    expected = pq.read_table(store.local("data.parquet"))
    assert pq.read_table(path, filesystem=ossr).equals(expected)
    assert pq.read_table(path, filesystem=ossr, columns=["n"]).equals(expected.select(["n"]))


def test_pyarrow_row_groups_from_an_open_file(
    store: Store, ossr: fsspec.AbstractFileSystem
) -> None:
    local = pq.ParquetFile(store.local("data.parquet"))
    with ossr.open(f"{store.bucket}/data.parquet", "rb") as f:
        remote = pq.ParquetFile(f)
        assert remote.metadata.num_row_groups == local.metadata.num_row_groups == 6
        for group in (5, 0, 3):  # out of order: seeks back and forth
            assert remote.read_row_group(group).equals(local.read_row_group(group))


# -- dask -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client() -> Iterator[distributed.Client]:
    """Two worker processes, one thread each; closed with bounded waits."""
    with local_cluster(threads_per_worker=1) as client:
        yield client


Compute = Callable[[dd.DataFrame], pd.DataFrame]


@pytest.fixture(params=["threads", "distributed"])
def compute(request: pytest.FixtureRequest) -> Compute:
    if request.param == "threads":
        return lambda frame: frame.compute(scheduler="threads")
    client: distributed.Client = request.getfixturevalue("dask_client")

    def on_cluster(frame: dd.DataFrame) -> Any:
        result = client.compute(frame).result(timeout=120)
        # The work ran in the worker processes, not here.
        assert len(client.scheduler_info()["workers"]) == 2
        return result

    return on_cluster


def test_dask_read_parquet_dataset(store: Store, compute: Compute) -> None:
    frame = dd.read_parquet(store.url("dataset/"), storage_options=store.options)
    assert frame.npartitions == DATASET_PARTS
    pd.testing.assert_frame_equal(normalised(compute(frame)), local_dataset(store))


def test_dask_read_parquet_columns(store: Store, compute: Compute) -> None:
    columns = ["id", "x", "name"]
    frame = dd.read_parquet(store.url("dataset/"), storage_options=store.options, columns=columns)
    assert list(frame.columns) == columns
    pd.testing.assert_frame_equal(normalised(compute(frame)), local_dataset(store, columns))


@pytest.mark.parametrize("blocksize", [None, 100_000], ids=["file-per-partition", "byte-ranges"])
def test_dask_read_csv_glob(store: Store, compute: Compute, blocksize: int | None) -> None:
    # With a small blocksize every file is cut into byte ranges, each ending at a newline
    # found by a ranged read (read_block with a delimiter).
    frame = dd.read_csv(store.url("csvs/*.csv"), storage_options=store.options, blocksize=blocksize)
    if blocksize is None:
        assert frame.npartitions == CSV_PARTS
    else:
        assert frame.npartitions > CSV_PARTS
    pd.testing.assert_frame_equal(normalised(compute(frame)), local_csvs(store))
