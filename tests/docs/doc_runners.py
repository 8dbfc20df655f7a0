"""How the code samples of ``docs/`` are found and run (with Sybil).

Every fenced block of a page is a sample when its language is one of
:data:`RUN`; the page's samples run in order, in one namespace per page:

- ``python`` (and ``pycon``, ``>>>`` sessions): executed as written;
- ``bash``: the whole block, ``bash -e -o pipefail``; it must exit 0;
- ``console``: each ``$ command`` (lines ending in ``\\`` continue it) must exit 0
  and print what follows it (``...`` matches anything); a block whose expected
  output follows a failing command documents that failure: its stderr is
  compared too;
- ``ipython``: one IPython shell per page runs each block as a cell (magics
  included); the cell must succeed;
- ``python title="NAME"`` (shown with its file name): written to ``NAME`` in
  the page's working directory, for a later sample to run (``pytest NAME``).

A sample that cannot run here is preceded by ``<!-- skip: next "the reason" -->``
(Sybil's skip directive; the reason is shown in the test report). Blocks in
:data:`NOT_CODE` are output, layouts or data, not samples. Anything else fails
``test_every_fence_is_known``.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from sybil import Example, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.abstract import AbstractCodeBlockParser
from sybil.parsers.markdown import (
    ClearNamespaceParser,
    CodeBlockParser,
    PythonCodeBlockParser,
    SkipParser,
)
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Pages another generator owns (benchmarks): not parsed for samples.
NOT_OURS = ("benchmarks.md", "benchmarks/")
#: Fence languages that are run.
RUN = ("python", "pycon", "bash", "console", "ipython")
#: Info strings of runnable fences, beyond a bare language: a file to write.
RUN_WITH_TITLE = re.compile(r'^python title="[\w.-]+"$')
#: Fence languages that are not code samples: output, layouts, data formats.
NOT_CODE = ("text", "toml", "yaml", "json", "ini", "http", "csv")
#: Seconds one shell command may take.
SHELL_TIMEOUT = 300


def pages() -> list[Path]:
    """Every Markdown page of the site whose samples are ours to run."""
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        relative = path.relative_to(DOCS).as_posix()
        if relative.startswith("hooks/") or any(
            relative == p or relative.startswith(p) for p in NOT_OURS
        ):
            continue
        found.append(path)
    return found


def shell_environment() -> dict[str, str]:
    """The process environment (the fixture set the ``OSS_*`` variables), the venv first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["COLUMNS"] = "100"
    return env


def _run(command: str, example: Example) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", command],
        cwd=os.getcwd(),
        env=shell_environment(),
        capture_output=True,
        text=True,
        timeout=SHELL_TIMEOUT,
        check=False,
    )


def evaluate_bash(example: Example) -> None:
    done = _run(str(example.parsed), example)
    if done.returncode != 0:
        raise AssertionError(
            f"bash sample exited {done.returncode}\n--- stdout\n{done.stdout}"
            f"--- stderr\n{done.stderr}"
        )


def console_steps(source: str) -> list[tuple[str, str]]:
    """``$ command`` lines (with ``\\`` continuations) and the output each should print."""
    steps: list[tuple[str, list[str]]] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = [line[2:]]
            while command[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            steps.append(("\n".join(command), []))
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console sample: output before any $ command: {line!r}")
        i += 1
    return [(command, "\n".join(out).strip("\n")) for command, out in steps]


_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def evaluate_console(example: Example) -> None:
    for command, want in console_steps(str(example.parsed)):
        done = _run(command, example)
        got = done.stdout
        if done.returncode != 0:
            if not want:
                raise AssertionError(
                    f"$ {command}\nexited {done.returncode}\n--- stdout\n{done.stdout}"
                    f"--- stderr\n{done.stderr}"
                )
            got += done.stderr
        if want and not _CHECKER.check_output(want + "\n", got, _FLAGS):
            raise AssertionError(
                f"$ {command}\n--- expected\n{want}\n--- got (exit {done.returncode})\n{got}"
                f"--- stderr\n{done.stderr}"
            )


def _ipython_shell(namespace: dict[str, Any]) -> Any:
    shell = namespace.get("__ipython_shell__")
    if shell is None:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        InteractiveShell.clear_instance()
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        shell = InteractiveShell.instance(config=config)
        namespace["__ipython_shell__"] = shell
    return shell


def evaluate_ipython(example: Example) -> None:
    from IPython.utils.capture import capture_output

    shell = _ipython_shell(example.namespace)
    with capture_output() as captured:
        result = shell.run_cell(str(example.parsed), store_history=True)
    if not result.success:
        error = result.error_in_exec or result.error_before_exec
        raise AssertionError(
            f"IPython cell failed: {error!r}\n--- stdout\n{captured.stdout}"
            f"--- stderr\n{captured.stderr}"
        )


def close_ipython(namespace: dict[str, Any]) -> None:
    if namespace.pop("__ipython_shell__", None) is not None:
        from IPython.core.interactiveshell import InteractiveShell

        InteractiveShell.clear_instance()


_TITLE = re.compile(r'^python title="(?P<name>[\w.-]+)"$')


class PythonFileParser(AbstractCodeBlockParser):
    """``python title="NAME"`` fences: a file to write, not code to execute here."""

    language = "python title"

    def __init__(self) -> None:
        super().__init__(
            [
                FencedCodeBlockLexer(
                    language=r".+", mapping={"language": "arguments", "source": "source"}
                )
            ]
        )

    def __call__(self, document: Any) -> Any:
        for region in self.lexers(document):
            if _TITLE.match(region.lexemes["arguments"]):
                region.parsed = region.lexemes["source"]
                region.evaluator = self.evaluate
                yield region

    def evaluate(self, example: Example) -> None:
        name = _TITLE.match(example.region.lexemes["arguments"])["name"]  # type: ignore[index]
        Path(name).write_text(str(example.parsed), encoding="utf-8")


class PyconParser(PythonCodeBlockParser):
    """``pycon`` fences: interpreter sessions, checked as doctests."""

    def __init__(self) -> None:
        super().__init__(doctest_optionflags=_FLAGS)
        self.codeblock_parser = CodeBlockParser("pycon", PythonEvaluator())


def make_sybil(fixtures: tuple[str, ...], setup: Any = None, teardown: Any = None) -> Sybil:
    return Sybil(
        parsers=[
            PythonCodeBlockParser(doctest_optionflags=_FLAGS),
            PyconParser(),
            PythonFileParser(),
            CodeBlockParser("bash", evaluate_bash),
            CodeBlockParser("console", evaluate_console),
            CodeBlockParser("ipython", evaluate_ipython),
            SkipParser(),
            ClearNamespaceParser(),
        ],
        path=str(DOCS),
        fixtures=list(fixtures),
        setup=setup,
        teardown=teardown,
    )


# -- what the meta tests read ------------------------------------------------------------

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$", re.M)
SKIP = re.compile(r"<!--\s*skip:\s*(?P<action>\w+)(?P<reason>[^\n]*?)\s*-->")


def fences(text: str) -> list[tuple[int, str]]:
    """(line, info string) of every fenced block's opening line."""
    out = []
    open_fence: str | None = None
    for match in FENCE.finditer(text):
        if open_fence is None:
            line = text.count("\n", 0, match.start()) + 1
            out.append((line, match["info"].strip()))
            open_fence = match["fence"]
        elif match["fence"].startswith(open_fence) and not match["info"].strip():
            open_fence = None
    return out


def skips(text: str) -> list[tuple[str, str]]:
    """(action, reason) of every skip directive."""
    return [(m["action"], m["reason"].strip()) for m in SKIP.finditer(text)]
