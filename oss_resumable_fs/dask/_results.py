"""What :func:`~oss_resumable_fs.dask.get_many` returns: one outcome per object, and the totals.

Small, frozen and picklable: an :class:`ObjectOutcome` is built on the worker
that fetched the object and travels back to the client as the task's result.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

from oss_resumable_fs.engine.result import html_table
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.errors import OSSResumableError
from oss_resumable_fs.results import FileOutcome, GetResult

__all__ = ["GetManyError", "GetManyResult", "ObjectOutcome"]


@dataclass(frozen=True, repr=False)
class ObjectOutcome(FileOutcome):
    """One object of a ``get_many``: what happened, and where it landed.

    ``remote`` is ``bucket/key``; ``local`` the path on the worker's disk;
    ``status`` ``downloaded``, ``resumed``, ``skipped``, ``directory`` or
    ``failed``; ``result`` the :class:`~oss_resumable_fs.engine.result.DownloadResult`
    (``None`` when failed); ``error`` ``"ErrorType: message"`` when failed.
    ``worker`` is the dask worker's address and ``host`` its host name (the
    last worker that tried, for a failure; ``None`` when the object never
    reached a worker, or the worker died).
    """

    worker: str | None = None
    host: str | None = None

    def __repr__(self) -> str:
        text = f"ObjectOutcome({self.status}, {self.remote!r} -> {self.local!r}"
        if self.host:
            text += f" on {self.host}"
        if self.result is not None and not self.result.skipped:
            text += f", {human_size(self.result.bytes_fetched)} fetched"
            if self.result.bytes_reused:
                text += f", {human_size(self.result.bytes_reused)} reused"
        if self.error:
            text += f", error={self.error!r}"
        return text + ")"


@dataclass(frozen=True, repr=False)
class GetManyResult(GetResult):
    """Every object of one ``get_many``, in the order they were given (or listed).

    ``files`` holds :class:`ObjectOutcome` items. Besides :class:`GetResult`'s
    totals and ``failed`` (``bytes_fetched``, ``count("failed")``, ``summary()``...):
    ``ok``, ``by_host()`` and ``raise_for_errors()``. In a notebook, its table
    shows the first :attr:`HTML_ROWS` objects and every failure (up to as many
    again), and says how many more there are.
    """

    #: Objects shown in the notebook table, before the failures not among them.
    HTML_ROWS = 50

    @property
    def ok(self) -> bool:
        """True when no object failed."""
        return not self.failed

    def by_host(self) -> dict[str, list[ObjectOutcome]]:
        """The outcomes grouped by the host that wrote them (``"?"``: no host known)."""
        grouped: dict[str, list[ObjectOutcome]] = defaultdict(list)
        for outcome in self.files:
            grouped[getattr(outcome, "host", None) or "?"].append(outcome)  # type: ignore[arg-type]
        return dict(grouped)

    def summary(self) -> str:
        hosts = {getattr(f, "host", None) for f in self.files} - {None}
        workers = {getattr(f, "worker", None) for f in self.files} - {None}
        text = super().summary()
        if workers:
            text += f"; {len(workers)} worker(s) on {len(hosts)} host(s)"
        return text

    def raise_for_errors(self) -> None:
        """Raise :class:`GetManyError` if any object failed."""
        if self.failed:
            raise GetManyError(self)

    def __repr__(self) -> str:
        return f"GetManyResult({self.summary()})"

    def _repr_html_(self) -> str:
        limit = self.HTML_ROWS
        shown = list(range(min(limit, len(self.files))))
        later_failures = [
            i for i in range(len(shown), len(self.files)) if self.files[i].status == "failed"
        ]
        shown += later_failures[:limit]
        rows = [_html_row(self.files[i]) for i in shown]
        table = html_table(self.summary(), rows)
        hidden = len(self.files) - len(shown)
        if hidden:
            failed = len(later_failures) - len(later_failures[:limit])
            more = f"… {hidden} more" + (f" ({failed} of them failed)" if failed else "")
            table += f"<p>{escape(more)}: see <code>.files</code> and <code>.failed</code></p>"
        return table


def _html_row(f: FileOutcome) -> dict[str, str]:
    result = f.result
    return {
        "status": f.status,
        "remote": f.remote,
        "local": f.local,
        "host": getattr(f, "host", None) or "",
        "worker": getattr(f, "worker", None) or "",
        "size": human_size(result.identity.size) if result is not None else "",
        "fetched": human_size(result.bytes_fetched) if result is not None else "",
        "error": f.error or "",
    }


class GetManyError(OSSResumableError):
    """Some objects of a ``get_many`` failed; the others landed.

    Raised only once every object is done. ``result`` is the whole
    :class:`GetManyResult` (``result.failed`` lists the failures); ``target`` is
    the first failed object.
    """

    def __init__(self, result: GetManyResult) -> None:
        failed = result.failed
        first = failed[0]
        message = (
            f"{len(failed)} of {len(result.files)} objects failed "
            f"(the others landed; see .result.failed); first: oss://{first.remote}: {first.error}"
        )
        super().__init__(message, target=f"oss://{first.remote}")
        self.result = result
