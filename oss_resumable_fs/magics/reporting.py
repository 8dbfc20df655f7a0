"""How the magics parse their arguments and report failures: one line, no traceback.

A failure the user can act on (a missing object, a refused request, a bad
option) raises :class:`MagicError`, and Ctrl-C during a download
:class:`Interrupted`. Either way the cell fails, as it should (a notebook run
top to bottom stops there; ``ipython -c`` exits 1), and all IPython shows is
one line on stderr: ``ERROR: <message>``, or how to resume. Anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import re
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from oss_resumable_fs.config import parse_size
from oss_resumable_fs.errors import InvalidArgumentError

__all__ = ["Interrupted", "MagicError", "command", "install_reporting", "size_argument"]

#: What a magic reports in one line instead of a traceback.
REPORTED = (UsageError, OSError, ValueError)

Command = Callable[[Any, argparse.Namespace], Any]


class MagicError(Exception):
    """A magic failed for a reason its message gives; shown as ``ERROR: <message>``."""

    def _render_traceback_(self) -> list[str]:
        # What IPython shows instead of a traceback, should our handler not be
        # installed (another extension's handler was there first).
        return [f"ERROR: {self}"]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (a kernel interrupt) during a magic: still a KeyboardInterrupt, shown in one line."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def install_reporting(shell: Any) -> None:
    """Make IPython show :class:`MagicError` and :class:`Interrupted` as one line on stderr.

    IPython's custom-exception hook marks the cell as failed and shows only what
    the handler prints. A handler installed before ours keeps its exceptions.
    """
    ours = (MagicError, Interrupted)
    previous, previous_handler = tuple(shell.custom_exceptions), shell.CustomTB
    if set(ours) <= set(previous):
        return  # loaded again

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
        if issubclass(etype, ours):
            print("\n".join(value._render_traceback_()), file=sys.stderr)  # type: ignore[attr-defined]
            return None
        return previous_handler(etype, value, tb, tb_offset=tb_offset)

    shell.set_custom_exc((*previous, *ours), handler)


def size_argument(text: str) -> int:
    """argparse type for ``--part-size 16MiB``."""
    try:
        return parse_size(text)
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def one_line(error: BaseException, redact: tuple[str, ...] = ()) -> str:
    """``error``'s message on one line, each of ``redact`` replaced with ``***``."""
    message = str(error)
    for value in sorted(redact, key=len, reverse=True):
        if len(value) >= 4:  # shorter ones would mangle ordinary words (and are no secret)
            message = message.replace(value, "***")
    return " ".join(message.split()) or type(error).__name__


def command(*, secret_values: bool = False) -> Callable[[Command], Callable[..., Any]]:
    """Turn ``func(self, args)`` (decorated with ``magic_arguments``) into a line magic body.

    The returned function parses the line, answers ``-h`` / ``--help`` with the
    generated help, and turns :data:`REPORTED` errors into :class:`MagicError`,
    the session's secrets (``self.secrets()``) masked. With ``secret_values``,
    a parse error never quotes a value from the line (a misspelled
    ``--key-secret`` would otherwise echo the secret after it), and the
    original error is not chained.
    """

    def decorate(func: Command) -> Callable[..., Any]:
        parser = func.parser  # type: ignore[attr-defined]

        @functools.wraps(func)
        def magic(self: Any, line: str = "") -> Any:
            args = None
            try:
                if _asks_for_help(line):
                    print(func.__doc__)
                    return None
                try:
                    args = parser.parse_argstring(line)
                except UsageError as error:
                    message = _with_suggestion(str(error), parser, quote_values=not secret_values)
                    raise UsageError(message) from None
                return func(self, args)
            except REPORTED as error:
                failure = error
            secrets = [*self.secrets(), *(_secret_fields(args) if secret_values else ())]
            message = one_line(failure, tuple(secrets))
            # Raised outside the except block: nothing of the original is kept.
            raise MagicError(message) from (None if secret_values else failure)

        return magic

    return decorate


def _asks_for_help(line: str) -> bool:
    return bool(set(line.split()) & {"-h", "--help"})


def _secret_fields(args: argparse.Namespace | None) -> list[str]:
    """The secret values given: not a ``$name`` IPython left unexpanded, which is only a
    name, and is refused by saying it."""
    names = ("key_id", "key_secret", "token")
    values = (getattr(args, n, None) for n in names)
    return [v for v in values if isinstance(v, str) and not v.startswith("$")]


_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*)")


def _with_suggestion(
    message: str, parser: argparse.ArgumentParser, *, quote_values: bool = True
) -> str:
    """argparse's message, with the closest option named for a misspelled one.

    Without ``quote_values``, words that are not options are never repeated.
    """
    match = _UNRECOGNIZED.match(message)
    if not match:
        return message
    known = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    for word in match[1].split():
        name = word.split("=", 1)[0]
        if not name.startswith("-"):
            continue
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            return f"unknown option {name}; did you mean {close[0]}?"
        return f"unknown option {name}; options: {', '.join(known)}"
    return message if quote_values else "unexpected arguments (not shown): only options are taken"
