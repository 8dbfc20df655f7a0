"""The tally of a chaos run, and the Markdown table ``--chaos-report`` writes."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "<!-- chaos:begin -->"
END = "<!-- chaos:end -->"


@dataclass(frozen=True)
class CaseRecord:
    #: What was tried, e.g. ``matrix[resets-seed1]/get_file``.
    case: str
    #: ``"file"`` (landed byte-identical), or the type name of the typed error.
    kind: str
    #: Faults the server fired, by kind.
    faults: dict[str, int] = field(default_factory=dict)
    #: Processes killed (SIGKILL / SIGINT / SIGTERM) and resumed.
    kills: int = 0
    #: Body bytes the server sent for the case, and the least that could do.
    served: int = 0
    minimum: int = 0


class Collector:
    """Every case's outcome, from every test of the session (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cases: list[CaseRecord] = []
        #: (test id, "skipped" | "failed", reason)
        self.notes: list[tuple[str, str, str]] = []

    def record(self, record: CaseRecord) -> None:
        with self._lock:
            self.cases.append(record)

    def note_test(self, nodeid: str, what: str, reason: str) -> None:
        with self._lock:
            self.notes.append((nodeid, what, reason))


def _mib(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB"


def _faults(faults: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(faults.items())) or "-"


def render(collector: Collector) -> str:
    cases = collector.cases
    kinds = Counter(c.kind for c in cases)
    faults: Counter[str] = Counter()
    for c in cases:
        faults.update(c.faults)
    served = sum(c.served for c in cases)
    minimum = sum(c.minimum for c in cases)
    kills = sum(c.kills for c in cases)
    extra = f" (+{(served - minimum) / minimum:.1%})" if minimum else ""
    lines = [
        f"**{len(cases)} cases**: "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        + ".",
        "",
        "| total | |",
        "|---|---|",
        f"| kills survived (SIGKILL / SIGINT / SIGTERM, each resumed) | {kills} |",
        f"| faults injected | {sum(faults.values())}: {_faults(dict(faults))} |",
        f"| bytes served / least possible | {_mib(served)} / {_mib(minimum)}{extra} |",
    ]
    skipped = [n for n in collector.notes if n[1] == "skipped"]
    failed = [n for n in collector.notes if n[1] == "failed"]
    lines.append(f"| tests skipped (not counted as passed) | {len(skipped)} |")
    lines.append(f"| tests failed | {len(failed)} |")
    lines += [
        "",
        "| case | outcome | faults injected | kills | served | least |",
        "|---|---|---|---|---|---|",
    ]
    for c in sorted(cases, key=lambda c: c.case):
        lines.append(
            f"| `{c.case}` | {c.kind} | {_faults(c.faults)} | {c.kills or ''} "
            f"| {_mib(c.served) if c.served else ''} | {_mib(c.minimum) if c.minimum else ''} |"
        )
    if skipped or failed:
        lines += ["", "| test | | why |", "|---|---|---|"]
        for nodeid, what, reason in skipped + failed:
            lines.append(f"| `{nodeid}` | {what} | {reason.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def write_report(collector: Collector, path: str) -> None:
    """The table, between the markers of ``path`` if it has them, else as the whole file."""
    table = f"{BEGIN}\n{render(collector)}{END}"
    target = Path(path)
    text = target.read_text() if target.exists() else ""
    if BEGIN in text and END in text:
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        text = pattern.sub(lambda _m: table, text, count=1)
    else:
        text = table + "\n"
    target.write_text(text)
