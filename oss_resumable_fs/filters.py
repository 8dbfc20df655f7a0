"""``--include`` / ``--exclude`` for ``get -r``: rclone's glob rules, on keys below the prefix.

Each key is matched by its path relative to the prefix given: under
``oss://b/data/``, the key ``data/2024/x.csv`` is ``2024/x.csv``.

* ``*`` any run of characters except ``/``; ``**`` any run, ``/`` included;
  ``?`` one character except ``/``; ``[abc]`` ``[a-z]`` one of a set, ``[!abc]``
  one not in it (never ``/``); ``{a,b}`` either alternative (nestable);
  ``\\c`` the character ``c`` itself.
* A glob starting with ``/`` is anchored at the prefix and must match the whole
  relative path. Otherwise it must match the end of the path, starting right
  after a ``/`` (or at the start): ``*.csv`` matches every ``.csv`` at any depth,
  ``2024/*.csv`` the files directly inside any directory named ``2024``.
* A glob ending in ``/`` names a directory: ``--exclude tmp/`` leaves out every
  key below any directory ``tmp``. (As in rclone it would match no file at all
  as an ``--include``, so that is refused: write ``tmp/**``.)
* Every ``--exclude`` is tried first, in the order given, then every
  ``--include``; the first glob that matches decides. A key no glob matches is
  downloaded, unless an ``--include`` was given (rclone's implied ``- **``).

Matching is case-sensitive. rclone's ``{{regexp}}`` is not supported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["GlobError", "KeyFilter", "glob_to_regex"]


class GlobError(ValueError):
    """A glob that cannot be used as a filter."""


@dataclass(frozen=True)
class _Rule:
    glob: str
    include: bool
    regex: re.Pattern[str]


class KeyFilter:
    """Which keys (relative to the prefix) a ``get -r`` downloads."""

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self._rules = [_rule(glob, include=False) for glob in exclude]
        self._rules += [_rule(glob, include=True) for glob in include]
        self._has_include = bool(include)

    def __bool__(self) -> bool:
        """Whether there is any rule at all (without one, every key is wanted)."""
        return bool(self._rules)

    def wants(self, relative_key: str) -> bool:
        for rule in self._rules:
            if rule.regex.fullmatch(relative_key):
                return rule.include
        return not self._has_include

    def __repr__(self) -> str:
        rules = ", ".join(("+ " if r.include else "- ") + r.glob for r in self._rules)
        return f"KeyFilter({rules})"


def _rule(glob: str, *, include: bool) -> _Rule:
    option = "--include" if include else "--exclude"
    try:
        regex = glob_to_regex(glob)
    except GlobError as error:
        raise GlobError(f"{option} {glob!r}: {error}") from None
    if include and glob.endswith("/") and not glob.endswith("\\/"):
        stem = glob.rstrip("/")
        raise GlobError(
            f"{option} {glob!r} names a directory and would match no file; "
            f"use {option} '{stem}/**' for the files below it"
        )
    return _Rule(glob, include, re.compile(regex, re.DOTALL))


def glob_to_regex(glob: str) -> str:
    """The regular expression (for ``fullmatch``) of a filter glob; see the module's rules."""
    if not glob:
        raise GlobError("an empty pattern matches nothing")
    if "{{" in glob:
        raise GlobError("regular expressions ({{...}}) are not supported")
    anchored = glob.startswith("/")
    body = glob[1:] if anchored else glob
    directory = body.endswith("/") and not body.endswith("\\/")
    body = body.rstrip("/") if directory else body
    if not body:
        raise GlobError("a pattern needs more than '/'")
    start = "" if anchored else "(?:.*/)?"
    end = "/.*" if directory else ""
    return start + _translate(body) + end


def _translate(glob: str) -> str:
    out: list[str] = []
    depth = 0  # open {alternatives}
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "\\":
            if i + 1 == len(glob):
                raise GlobError("it ends with a lone backslash")
            out.append(re.escape(glob[i + 1]))
            i += 2
        elif char == "*":
            double = glob.startswith("**", i)
            out.append(".*" if double else "[^/]*")
            i += 2 if double else 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            text, i = _character_class(glob, i)
            out.append(text)
        elif char == "{":
            depth += 1
            out.append("(?:")
            i += 1
        elif char == "," and depth:
            out.append("|")
            i += 1
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
            i += 1
        else:
            out.append(re.escape(char))
            i += 1
    if depth:
        raise GlobError("a '{' is not closed")
    return "".join(out)


def _character_class(glob: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``glob[start]``: its regex, and the index after its ``]``."""
    i = start + 1
    negate = i < len(glob) and glob[i] in "!^"
    i += negate
    members: list[str] = []
    first = True
    while True:
        if i >= len(glob):
            raise GlobError("a '[' is not closed")
        char = glob[i]
        if char == "]" and not first:
            break
        if char == "\\" and i + 1 < len(glob):
            members.append(re.escape(glob[i + 1]))
            i += 2
        elif char == "-" and members and i + 1 < len(glob) and glob[i + 1] != "]":
            members.append("-")
            i += 1
        else:
            members.append(re.escape(char))
            i += 1
        first = False
    # A negated set never matches "/": like "*" and "?", it stays within one path element.
    return "[" + ("^/" if negate else "") + "".join(members) + "]", i + 1
