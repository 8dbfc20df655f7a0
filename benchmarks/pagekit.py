"""Markdown pieces the scenario renderers share: cells, tables, and "who beats ours".

Whenever a contender's median beats ours, the page must say so and why. The why
comes from :data:`explanations.WHY`; a missing one is written into the page as a
loud ``WHY:`` placeholder and remembered in :data:`MISSING`, which the report
prints at the end (and which makes ``--strict`` fail).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import explanations

#: A win by less than this share is reported as a tie (no explanation needed).
TIE = 0.05
#: (scenario, contender) pairs that beat ours with no explanation, in this rendering.
MISSING: list[tuple[str, str]] = []


def size_text(size: int) -> str:
    """``1 GiB``, ``256 MiB``, ``64 KiB``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


def num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}f}" if digits else f"{value:.1f}"
    return f"{int(value):,}"


def ratio(ours: float | None, other: float | None, *, lower_is_better: bool = False) -> str:
    """ours/X as a speed ratio (>1: ours is faster); for times, X/ours."""
    if not ours or not other:
        return "-"
    value = other / ours if lower_is_better else ours / other
    return f"{value:.2f}"


def speed_cell(median: float | None, summary: Mapping[str, Any], mib: float) -> str:
    if median is None:
        return "**FAILED**"
    return f"{median:.1f} ({mib / summary['max_s']:.1f}-{mib / summary['min_s']:.1f})"


def contender_label(name: str) -> str:
    return f"**{name}**" if name == "ours" else name


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    align = align.ljust(len(headers), "l")
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_line(data: Mapping[str, Any]) -> str:
    meta = data.get("machine", {})
    start = meta.get("load_average", [None])[0]
    end = meta.get("load_average_end", [None])[0]
    text = (
        f"Rounds: {data['rounds']} (contenders alternate, the order rotated each round); "
        f"run {meta.get('started', '?')}; load average (1 min) {num(start, 2)} at the start, "
        f"{num(end, 2)} at the end."
    )
    if data.get("quick"):
        text = "**Quick mode (small sizes, 1 round): for development, not for citing.** " + text
    return text


def who_beats_ours(
    scenario: str,
    values: Mapping[str, float | None],
    *,
    lower_is_better: bool = False,
    what: str = "median speed",
    unit: str = "MiB/s",
    facts: Callable[[str], str] | None = None,
) -> list[str]:
    """A sentence for every contender whose value beats ours, with the why.

    ``facts(name)`` describes what this run measured for a contender against ours;
    it is written beside a missing explanation, to help whoever writes it.
    """
    ours = values.get("ours")
    if ours is None:
        return ["**Ours has no correct run in this scenario.**", ""]
    lines = []
    for name, value in values.items():
        if name == "ours" or value is None:
            continue
        wins = value < ours if lower_is_better else value > ours
        if not wins:
            continue
        margin = abs(value - ours) / min(value, ours)
        because = explanations.why(scenario, name)
        if because is None and margin < TIE:
            because = (
                f"The difference ({margin:.0%}) is within the {TIE:.0%} by which runs of one "
                "contender vary on this machine: a tie."
            )
        elif because is None:
            MISSING.append((scenario, name))
            because = (
                f"**WHY: missing. Add an explanation for ({scenario!r}, {name!r}) "
                "to `benchmarks/explanations.py`.**"
            )
            if facts is not None:
                because += f" Measured: {facts(name)}."
        lines.append(
            f"- **{name} beats ours** here ({what} {value:.2f} {unit} against ours' "
            f"{ours:.2f} {unit}). {because}"
        )
    if lines:
        lines.append("")
    return lines


def failures(summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = []
    for name, s in summary.items():
        for error in s.get("errors", []):
            lines.append(f"- `{name}`: {s['runs'] - s['ok']} of {s['runs']} runs failed: {error}")
        if s.get("leftovers"):
            lines.append(f"- `{name}` left files beside the output: {', '.join(s['leftovers'])}")
    if lines:
        return ["Failed runs (a run with a wrong or missing file gets no speed):", "", *lines, ""]
    return []
