"""A griffe extension: the library's docstrings, written for reading in the source, as Markdown.

The API reference renders docstrings with mkdocstrings. The library writes them
for people reading the code, in a light reStructuredText; this turns that into
what Markdown renders well, without touching the code:

- ``#:`` comments above a dataclass field (the Sphinx convention the library uses)
  become that attribute's docstring;
- interpreter sessions (``>>>`` lines) become ``pycon`` code blocks;
- a paragraph ending in ``::`` (a literal block follows) ends in ``:``;
- roles (``:class:`~pkg.Name```) become code spans (``Name``).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:class|meth|func|attr|mod|exc|data|obj|py:\w+):`(~?)([^`<]+?)(?: <[^`]+>)?`"
)
_DOCTEST = re.compile(r"^(?P<indent>[ \t]*)>>> ")


def field_comment(lines: list[str], lineno: int) -> str | None:
    """The ``#:`` comment block right above line ``lineno`` (1-based), or ``None``."""
    comment: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        comment.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    return " ".join(comment) or None


@cache
def _source_lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def _shorten(match: re.Match[str]) -> str:
    """A role as a code span: ``Name`` for ``~pkg.Name``, the title of ``title <target>``."""
    target = match[2].strip()
    return f"``{target.rsplit('.', 1)[-1] if match[1] else target}``"


def markdown_docstring(text: str) -> str:
    """``text`` with doctest sessions fenced, ``::`` literal intros and roles made Markdown."""
    text = _ROLE.sub(_shorten, text)
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _DOCTEST.match(lines[i])
        if match is None:
            line = lines[i]
            if line.endswith("::") and line.strip() != "::":
                line = line[:-1]
            out.append(line)
            i += 1
            continue
        indent = match["indent"]
        block: list[str] = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            block.append(lines[i][len(indent) :])
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [f"{indent}```pycon", *(f"{indent}{b}" for b in block), f"{indent}```"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return "\n".join(out)


class MarkdownDocstrings(griffe.Extension):
    """Docstrings of the library's objects, as Markdown (see the module docstring)."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if not obj.path.startswith("oss_resumable_fs"):
            return
        if obj.docstring is None and obj.is_attribute and obj.lineno and obj.filepath:
            comment = field_comment(_source_lines(str(obj.filepath)), obj.lineno)
            if comment:
                obj.docstring = griffe.Docstring(comment, parent=obj, lineno=obj.lineno)
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
