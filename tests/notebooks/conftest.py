"""Run a notebook of ``notebooks/`` top to bottom in a real Jupyter kernel (nbclient).

The kernel is this interpreter (the venv's ``python``), from a kernel spec made
for the session, whatever other ``python3`` kernels are installed. After the
notebook's own cells, a probe cell prints the values a test checks (as JSON),
and a cleanup cell stops whatever the notebook left running (its server, a
dask cluster) if a cell failed before its last one. Processes the kernel
started that outlive it are killed by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
KERNEL_NAME = "ossr-notebook-tests"
#: Per cell; the slowest cell of any notebook takes a few seconds.
CELL_TIMEOUT = 120
#: What a notebook may have left running when one of its cells failed.
CLEANUP = """\
import contextlib as _contextlib

with _contextlib.suppress(Exception):
    client.close()
with _contextlib.suppress(Exception):
    cluster.close()
with _contextlib.suppress(Exception):
    server.stop()
"""
#: Kernel children that may outlive a notebook's last cell (started once per process).
BACKGROUND = ("multiprocessing.resource_tracker",)


@dataclass
class Executed:
    """A notebook after it ran: its cells with their outputs, and the probe's values."""

    notebook: nbformat.NotebookNode
    values: dict[str, Any]
    seconds: float
    #: Processes the kernel had started that were still running after the last cell.
    leftovers: list[str]

    @property
    def code_cells(self) -> list[nbformat.NotebookNode]:
        return [cell for cell in self.notebook.cells if cell.cell_type == "code"]

    def cell(self, contains: str) -> nbformat.NotebookNode:
        """The one code cell whose source contains ``contains``."""
        found = [cell for cell in self.code_cells if contains in cell.source]
        assert len(found) == 1, f"{len(found)} code cells contain {contains!r}"
        return found[0]

    def text(self, cell: nbformat.NotebookNode | None = None, *, stream: str | None = None) -> str:
        """Every text a person sees in the outputs (of one cell, or all): streams, plain
        text, HTML, error messages; only the ``stream`` named if given."""
        cells = self.code_cells if cell is None else [cell]
        parts = []
        for output in (output for c in cells for output in c.outputs):
            if output.output_type == "stream":
                if stream is None or output.name == stream:
                    parts.append(output.text)
            elif stream is not None:
                continue
            elif output.output_type == "error":
                parts += [output.ename, output.evalue, *output.traceback]
            else:
                data = output.get("data", {})
                parts += [v for k, v in data.items() if k.startswith("text/")]
        return "\n".join(parts)

    def errors(self) -> list[str]:
        return [
            f"{output.ename}: {output.evalue}"
            for cell in self.code_cells
            for output in cell.outputs
            if output.output_type == "error"
        ]

    def images(self) -> int:
        return sum(
            "image/png" in output.get("data", {})
            for cell in self.code_cells
            for output in cell.outputs
        )


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """Kernel specs holding one: ``python -m ipykernel_launcher`` with this interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    (root / KERNEL_NAME).mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "oss-resumable-fs notebook tests",
        "language": "python",
    }
    (root / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(root)])


@pytest.fixture
def run_notebook(
    kernel_specs: KernelSpecManager, tmp_path: Path
) -> Iterator[Callable[[str, str], Executed]]:
    """``run_notebook(name, probe)``: execute ``notebooks/<name>``, then ``probe``, a cell
    that prints one JSON object; returns the :class:`Executed` notebook."""
    survivors: list[psutil.Process] = []

    def run(name: str, probe: str) -> Executed:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        cells = len(notebook.cells)
        notebook.cells.append(nbformat.v4.new_code_cell(probe))
        manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=CELL_TIMEOUT,
            resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
        )
        client.reset_execution_trackers()
        started = time.monotonic()
        with client.setup_kernel(cleanup_kc=True, env=_kernel_environment()):
            kernel = psutil.Process(manager.provisioner.pid)  # type: ignore[union-attr]
            try:
                for index, cell in enumerate(notebook.cells[:cells]):
                    client.execute_cell(cell, index)
                seconds = time.monotonic() - started
                leftovers = _describe(_running(kernel))
                client.execute_cell(notebook.cells[cells], cells)
            finally:
                survivors.extend(_running(kernel))  # to be gone once the kernel is
                client.timeout = 30
                with contextlib.suppress(Exception):
                    client.execute_cell(nbformat.v4.new_code_cell(CLEANUP), cells + 1)
        probe_cell = notebook.cells.pop()
        printed = "".join(o.text for o in probe_cell.outputs if o.output_type == "stream")
        return Executed(notebook, json.loads(printed), seconds, leftovers)

    try:
        yield run
    finally:
        _, alive = psutil.wait_procs(survivors, timeout=20)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def _kernel_environment() -> dict[str, str]:
    """This environment, without real OSS settings, with matplotlib's inline backend."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OSS_") and name != "MPLBACKEND"
    }
    environment["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # no debugger warning at start-up
    return environment


def _running(kernel: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [p for p in kernel.children(recursive=True) if p.is_running()]
    return []


def _describe(processes: list[psutil.Process]) -> list[str]:
    described = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            command = " ".join(process.cmdline())
            if process.status() != psutil.STATUS_ZOMBIE and not any(
                name in command for name in BACKGROUND
            ):
                described.append(f"{process.pid}: {command}")
    return described
