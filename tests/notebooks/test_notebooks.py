"""The notebooks of ``notebooks/``, executed top to bottom in a real kernel, and as stored.

Each runs offline against the local OSS server its first code cell starts. A
test checks what a person would look at: no errors, the numbers each notebook
is about (a resume that reused bytes, a re-run that fetched none, a cache
read the server sent nothing for...), one plot, no secret in any output, and
nothing left running after the last cell.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from oss_resumable_fs.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
MiB = 1024 * 1024
TESTED = ("quickstart.ipynb", "pandas.ipynb", "dask.ipynb", "magics.ipynb")


def check_common(executed: Any) -> None:
    """What every notebook must show: no error, one plot, this interpreter, no secret,
    and nothing of the notebook's still running after its last cell."""
    assert executed.errors() == []
    assert "Traceback" not in executed.text()
    assert executed.images() == 1  # the throughput plot
    assert executed.values["executable"] == sys.executable
    assert DEFAULT_ACCESS_KEY_SECRET not in nbformat.writes(executed.notebook)
    assert executed.leftovers == []  # the last cell stopped the server (and the cluster)
    print(f"executed in {executed.seconds:.1f} s")  # shown by pytest -s


# -- as stored -----------------------------------------------------------------------------


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(TESTED)


@pytest.mark.parametrize("name", TESTED)
def test_notebook_is_stored_without_outputs_and_starts_and_stops_a_server(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert 'OSSServer(mode="process")' in code[0].source
    assert "server.stop()" in code[-1].source
    # Before the server cell: how to use real OSS instead.
    first_code = notebook.cells.index(code[0])
    preface = " ".join(cell.source for cell in notebook.cells[:first_code])
    for variable in ("OSS_ENDPOINT", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
        assert variable in preface


NAMED_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads). In a magic line, ``$name`` and ``{name}``
    are read and ``-o name`` is bound."""
    python, bound, read = [], set(), set()
    for line in source.splitlines():
        if line.lstrip().startswith("%"):
            read |= {a or b for a, b in re.findall(r"\$(\w+)|\{(\w+)", line)}
            bound |= set(re.findall(r"(?:-o|--output) (\w+)", line))
            line = ""
        python.append(line)
    for node in ast.walk(ast.parse("\n".join(python))):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, NAMED_NODES) and node.name:  # def f, class C, except E as e
            bound.add(node.name)
    return bound, read


@pytest.mark.parametrize("name", TESTED)
def test_skipping_the_server_cell_leaves_only_server_undefined(name: str) -> None:
    """With real OSS the first code cell is skipped: each later cell reads only what an
    earlier one (not the server cell) defined, except ``server`` itself (its few uses
    are marked as the local server's)."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    defined = set(dir(builtins)) | {"server", "get_ipython", "display"}
    for source in code[1:]:
        bound, read = _names(source)
        assert read - defined - bound == set(), source
        defined |= bound


# -- executed ------------------------------------------------------------------------------

QUICKSTART_PROBE = """\
import json, sys
print(json.dumps({
    "executable": sys.executable,
    "first_fetched": first_run["fetched"],
    "kept": unfinished.bytes_done,
    "size": resumed.identity.size,
    "resumed_status": resumed.status,
    "resumed_fetched": resumed.bytes_fetched,
    "resumed_reused": resumed.bytes_reused,
    "skipped": skipped.skipped,
    "skipped_fetched": skipped.bytes_fetched,
}))
"""


def test_quickstart(run_notebook) -> None:
    executed = run_notebook("quickstart.ipynb", QUICKSTART_PROBE)
    check_common(executed)
    values = executed.values
    # Stopped midway: DownloadCancelledError caught, the journal and partial file left.
    stopped = executed.text(executed.cell("cancel=cancel"))
    assert "Stopped: download of oss://notebook/data/big.bin" in stopped
    assert 0 < values["first_fetched"] < values["size"]
    left = executed.text(executed.cell("list_unfinished"))
    assert "big.bin.ossr-journal" in left and "big.bin.ossr-partial" in left
    assert re.search(r"\d+/128 parts", left)  # 2 MiB parts of 256 MiB
    # Resumed: what was kept is reused, only the rest is fetched; the file is verified.
    assert values["resumed_status"] == "resumed"
    assert values["resumed_reused"] == values["kept"] > 0
    assert values["resumed_fetched"] == values["size"] - values["kept"]
    assert "Same CRC-64 as the object: True" in executed.text()
    # Again: nothing fetched.
    assert values["skipped"] is True
    assert values["skipped_fetched"] == 0
    assert "already there (same size and CRC-64): skipped" in executed.text()


PANDAS_PROBE = """\
import json, sys
print(json.dumps({
    "executable": sys.executable,
    "trips": list(trips.shape),
    "fares": list(fares.shape),
    "same": bool(trips_again.equals(trips) and trips_cached.equals(trips)),
    "csv_size": csv_size,
    "parquet_size": parquet_size,
    "served": [direct_served, parquet_served, first_served, cached_served],
}))
"""


def test_pandas(run_notebook) -> None:
    executed = run_notebook("pandas.ipynb", PANDAS_PROBE)
    check_common(executed)
    values = executed.values
    assert values["trips"] == [500_000, 7]
    assert values["fares"] == [500_000, 2]
    assert values["same"] is True
    direct, parquet, first, cached = values["served"]
    assert direct == first == values["csv_size"]  # each byte of the CSV sent once
    assert 0 < parquet < values["parquet_size"] / 2  # the footer and two columns only
    assert cached == 0  # a new reader, the same cache_storage: nothing from the server
    assert "the server sent 0 bytes" in executed.text()


DASK_PROBE = """\
import json, sys
print(json.dumps({
    "executable": sys.executable,
    "partitions": trips.npartitions,
    "by_city": list(by_city.shape),
    "trips": int(by_city["trips"].sum()),
    "files": len(first.files),
    "downloaded": first.count("downloaded"),
    "workers": len({f.worker for f in first.files}),
    "fetched": first.bytes_fetched,
    "total": first.bytes_total,
    "skipped": again.count("skipped"),
    "again_fetched": again.bytes_fetched,
}))
"""


def test_dask(run_notebook) -> None:
    executed = run_notebook("dask.ipynb", DASK_PROBE)
    check_common(executed)
    values = executed.values
    assert values["partitions"] == 12
    assert values["by_city"] == [6, 3]
    assert values["trips"] == 12 * 100_000
    assert values["files"] == values["downloaded"] == 24
    assert values["workers"] == 2  # spread over the cluster
    assert values["fetched"] == values["total"] > 100 * MiB
    assert values["skipped"] == 24
    assert values["again_fetched"] == 0
    assert "24 files in" in executed.text()


MAGICS_PROBE = """\
import json, sys
print(json.dumps({
    "executable": sys.executable,
    "downloaded": result.count("downloaded"),
    "fetched": result.bytes_fetched,
}))
"""


def test_magics(run_notebook) -> None:
    executed = run_notebook("magics.ipynb", MAGICS_PROBE)
    check_common(executed)
    text = executed.text()
    # %oss_config: the endpoint shown, the keys masked.
    config = executed.text(executed.cell("%oss_config"))
    assert re.search(r"endpoint +http://127\.0\.0\.1:\d+\n", config)
    assert re.search(r"key_secret +\*{8}\n", config)
    assert DEFAULT_ACCESS_KEY_ID not in nbformat.writes(executed.notebook)
    # %oss_ls (a DataFrame) and %oss_info.
    assert "<table" in executed.text(executed.cell("%oss_ls"))
    assert "sales.csv" in executed.text(executed.cell("%oss_ls"))
    assert "'crc64':" in executed.text(executed.cell("%oss_info"))
    # Interrupted (on purpose, in the cell tagged raises-exception), listed, resumed, skipped.
    interrupted = executed.cell("signal.SIGINT")
    assert "raises-exception" in interrupted.metadata["tags"]
    assert re.match(
        r"Interrupted: \d+\.\d MiB of 160\.0 MiB kept \(\d+/80 parts complete\)",
        executed.text(interrupted, stream="stderr"),
    )
    assert "1 unfinished download(s) below" in text
    assert re.search(r"160\.0 MiB resumed in .* reused", text)
    assert "160.0 MiB, already there (same size and CRC-64): skipped" in text
    # -r with -o result; nothing unfinished afterwards.
    assert "5 files (5 downloaded), 53.0 MiB: 53.0 MiB fetched" in text
    assert executed.values["downloaded"] == 5
    assert executed.values["fetched"] == 53 * MiB
    assert "no unfinished downloads below" in text
    # Progress bars: widgets in a notebook.
    widgets = [
        output
        for cell in executed.code_cells
        for output in cell.outputs
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert len(widgets) >= 4
