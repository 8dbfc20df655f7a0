"""Progress people expect: bytes, rate and ETA, for one object or a whole ``get``.

:class:`TransferProgress` is an fsspec ``Callback``: pass it as ``callback=`` to
``get_file`` (bytes of the object) or ``get`` (bytes of every file, and files
done out of the total). In a notebook with ipywidgets it draws a widget bar;
without ipywidgets, and in a terminal, a text bar. The bar stays steady
through retries and resumes: bytes reused from an earlier run count at once,
and a download that starts over takes its bytes back.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any, Literal

from fsspec.callbacks import Callback

__all__ = ["TransferProgress", "in_notebook"]

Display = Literal["auto", "widget", "text", "none"]

#: Seconds between redraws of the files count: a get of 10,000 small files
#: must not draw (or send a notebook widget) 10,000 updates. The last is drawn.
FILES_REDRAW = 0.1


def in_notebook() -> bool:
    """Whether we run in a Jupyter kernel (where a widget can be drawn)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ipython = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def _bar_class(display: Display) -> Any:
    """tqdm's widget bar in a notebook with ipywidgets; its text bar otherwise."""
    from tqdm import tqdm as text_bar

    if display == "text" or (display == "auto" and not in_notebook()):
        return text_bar
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import tqdm as widget_bar
    except ImportError:
        # tqdm.auto would fail with "IProgress not found": text works everywhere.
        return text_bar
    return widget_bar


class TransferProgress(Callback):
    """A byte-level progress bar with rate and ETA; files done / total for a ``get``."""

    def __init__(
        self,
        desc: str = "",
        *,
        display: Display = "auto",
        file: IO[str] | None = None,
        **tqdm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.desc = desc
        self.display = display
        self._file = file
        self._tqdm_kwargs = tqdm_kwargs
        self._bar: Any = None
        self._lock = threading.Lock()
        self.files_total: int | None = None
        self.files_done = 0
        self._files_drawn = float("-inf")

    # -- fsspec's Callback ----------------------------------------------------------------

    def set_size(self, size: int) -> None:
        with self._lock:
            self.size = size
            bar = self._ensure_bar()
            if bar is not None:
                bar.total = size
                bar.refresh()

    def relative_update(self, inc: int = 1) -> None:
        with self._lock:
            self.value += inc
            bar = self._ensure_bar()
            if bar is not None:
                bar.update(inc)

    def reuse(self, count: int) -> None:
        """Bytes already there (reused from disk, or skipped): counted, but not as speed.

        Fed to tqdm as if at its start, so the rate and ETA stay those of the
        bytes actually crossing the network.
        """
        with self._lock:
            self.value += count
            bar = self._ensure_bar()
            if bar is not None:
                bar.n += count
                bar.last_print_n += count
                if hasattr(bar, "initial"):
                    bar.initial += count
                bar.refresh()

    def absolute_update(self, value: int) -> None:
        self.relative_update(value - self.value)

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> Callback:
        """Each file of a ``get`` adds its bytes to this bar."""
        return _FileBranch(self) if self.files_total is not None else Callback()

    def close(self) -> None:
        with self._lock:
            # Updates that arrive late (workers outliving a Ctrl-C) must not draw a
            # new bar below whatever is printed next.
            self.display = "none"
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    # -- a whole get ----------------------------------------------------------------------

    def start_files(self, count: int, total_bytes: int) -> None:
        """A ``get`` of ``count`` files, ``total_bytes`` in all, begins."""
        self.files_total = count
        self.set_size(total_bytes)
        self._show_files()

    def file_done(self, outcome: Any = None) -> None:
        with self._lock:
            self.files_done += 1
        self._show_files()

    def _show_files(self) -> None:
        with self._lock:
            bar = self._ensure_bar()
            if bar is None or self.files_total is None:
                return
            now = time.monotonic()
            redraw = self.files_done >= self.files_total or now - self._files_drawn >= FILES_REDRAW
            if redraw:
                self._files_drawn = now
            # Without a redraw the text still changes: the next one shows it.
            bar.set_postfix_str(f"{self.files_done}/{self.files_total} files", refresh=redraw)

    def _ensure_bar(self) -> Any:
        if self._bar is None and self.display != "none":
            options = {
                "desc": self.desc,
                "total": self.size,
                "unit": "B",
                "unit_scale": True,
                "unit_divisor": 1024,
                "dynamic_ncols": True,
                **self._tqdm_kwargs,
            }
            if self._file is not None:
                options["file"] = self._file
            self._bar = _bar_class(self.display)(**options)
        return self._bar

    def __repr__(self) -> str:
        return f"TransferProgress({self.desc!r}, {self.value}/{self.size} bytes)"


class _FileBranch(Callback):
    """One file of a ``get``: its bytes go to the whole call's bar; its size is known."""

    def __init__(self, parent: TransferProgress) -> None:
        super().__init__()
        self._parent = parent

    def set_size(self, size: int) -> None:
        self.size = size

    def relative_update(self, inc: int = 1) -> None:
        self.value += inc
        self._parent.relative_update(inc)

    def reuse(self, count: int) -> None:
        self.value += count
        self._parent.reuse(count)
