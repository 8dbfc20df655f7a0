"""What a ``get`` of many objects did, file by file, and in sum."""

from __future__ import annotations

from dataclasses import dataclass, field

from oss_resumable_fs.engine.result import DownloadResult, html_table
from oss_resumable_fs.engine.status import human_size

__all__ = ["FileOutcome", "GetResult"]


@dataclass(frozen=True)
class FileOutcome:
    """One (remote, local) pair of a ``get``."""

    remote: str
    local: str
    #: ``downloaded``, ``resumed``, ``skipped``, ``directory`` or ``failed``.
    status: str
    result: DownloadResult | None = None
    error: str | None = None
    #: The typed error of a failed file (``on_error="return"``).
    exception: BaseException | None = field(default=None, compare=False)

    @property
    def size(self) -> int:
        return self.result.identity.size if self.result is not None else 0


@dataclass(frozen=True, repr=False)
class GetResult:
    """Every file of one ``get``, in the order they were listed, and the totals."""

    files: tuple[FileOutcome, ...]
    elapsed: float

    def _results(self) -> list[DownloadResult]:
        return [f.result for f in self.files if f.result is not None]

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def bytes_total(self) -> int:
        return sum(r.identity.size for r in self._results())

    @property
    def bytes_fetched(self) -> int:
        return sum(r.bytes_fetched for r in self._results())

    @property
    def bytes_reused(self) -> int:
        return sum(r.bytes_reused for r in self._results())

    @property
    def bytes_skipped(self) -> int:
        return sum(r.identity.size for r in self._results() if r.skipped)

    @property
    def retries(self) -> int:
        return sum(r.retries for r in self._results())

    @property
    def throughput(self) -> float:
        return self.bytes_fetched / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def failed(self) -> tuple[FileOutcome, ...]:
        return tuple(f for f in self.files if f.status == "failed")

    def summary(self) -> str:
        """One line: files by outcome, bytes by origin, retries, time and throughput."""
        counts = [
            f"{self.count(status)} {status}"
            for status in ("downloaded", "resumed", "skipped", "failed")
            if self.count(status)
        ]
        files = len(self.files) - self.count("directory")
        text = f"{files} files ({', '.join(counts) or 'nothing to do'}), "
        text += f"{human_size(self.bytes_total)}: {human_size(self.bytes_fetched)} fetched"
        if self.bytes_reused:
            text += f", {human_size(self.bytes_reused)} reused"
        if self.bytes_skipped:
            text += f", {human_size(self.bytes_skipped)} already there"
        if self.retries:
            text += f", {self.retries} {'retry' if self.retries == 1 else 'retries'}"
        text += f", in {self.elapsed:.1f} s"
        return text + (f" ({human_size(self.throughput)}/s)" if self.bytes_fetched else "")

    def __repr__(self) -> str:
        return f"GetResult({self.summary()})"

    def _repr_html_(self) -> str:
        rows = [
            {
                "status": f.status,
                "remote": f.remote,
                "local": f.local,
                "size": human_size(f.size) if f.result is not None else "",
                "fetched": human_size(f.result.bytes_fetched) if f.result is not None else "",
                "error": f.error or "",
            }
            for f in self.files
        ]
        return html_table(self.summary(), rows)
