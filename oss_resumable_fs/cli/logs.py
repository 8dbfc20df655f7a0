"""``-v``: the library's log records on stderr, above the progress bar, credentials blanked.

=========  =====================================================================
(none)     warnings only (an object that changed mid-download, ...)
``-v``     INFO: retries (what failed, where it resumes, the wait), timings
``-vv``    DEBUG: the above, and settings
``-vvv``   also oss2's and urllib3's DEBUG records (the requests on the wire)
=========  =====================================================================

Records go through :func:`tqdm.tqdm.write`, which lifts the bar, prints the line
and draws the bar again below it. A filter on the handler blanks security
tokens, signatures and ``Authorization`` headers out of every record that
reaches it, whichever logger it came from (the library filters its own and
oss2's loggers too).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import IO

from oss_resumable_fs.cli.common import PROG

__all__ = ["BarSafeHandler", "cli_logging"]

_DETAILED = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"


class BarSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record as one line through ``tqdm.write``, so a bar is never torn."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream or sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(verbosity: int, stream: IO[str] | None = None) -> Iterator[BarSafeHandler]:
    """Send log records to stderr while the command runs: warnings, more with each ``-v``.

    Levels and handlers are put back afterwards (``main`` may run inside a
    test process, or be called by another program).
    """
    from oss_resumable_fs.sources.redact import RedactingFilter

    handler = BarSafeHandler(stream)
    if verbosity:
        handler.setFormatter(logging.Formatter(_DETAILED, "%H:%M:%S"))
    else:
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    levels = {"": logging.WARNING}
    levels["oss_resumable_fs"] = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    if verbosity >= 3:
        import oss_resumable_fs.fs  # noqa: F401  (ossfs quiets oss2 when imported: first)

        levels.update({"oss2": logging.DEBUG, "urllib3": logging.DEBUG})
    loggers = {name: logging.getLogger(name or None) for name in levels}
    saved = {name: logger.level for name, logger in loggers.items()}
    root = logging.getLogger()
    root.addHandler(handler)
    for name, level in levels.items():
        loggers[name].setLevel(level)
    try:
        yield handler
    finally:
        handler.flush()
        root.removeHandler(handler)
        for name, level in saved.items():
            loggers[name].setLevel(level)
