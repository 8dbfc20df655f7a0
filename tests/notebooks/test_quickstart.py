"""The quick-start notebook runs, cell by cell, in a real IPython shell."""

import json
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs_top_to_bottom():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    shell = InteractiveShell.instance()
    try:
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            result = shell.run_cell("".join(cell["source"]), store_history=False)
            result.raise_error()
        namespace = shell.user_ns
        assert namespace["result"].bytes_fetched == 64 << 20
        assert Path(namespace["target"]).read_bytes() == Path(namespace["source"]).read_bytes()
        assert namespace["df"]["city"].tolist() == ["Hangzhou", "Shanghai"]
    finally:
        server = shell.user_ns.get("server")
        if server is not None:
            server.stop()
        InteractiveShell.clear_instance()
