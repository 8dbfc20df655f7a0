"""PNG figures for the benchmark page (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

#: Bar colours by contender kind (see :func:`contenders.kind`).
COLOURS = {"ours": "#1f4e9c", "default": "#9a9a9a", "matched": "#e08a2c", "bound": "#8cc08c"}
LEGEND = {
    "ours": "ours (defaults)",
    "default": "peer at its defaults",
    "matched": "peer at ours' settings",
    "bound": "bound (curl, copy)",
}


def speed_bars(
    path: Path,
    title: str,
    items: Sequence[tuple[str, float | None, str]],
    *,
    unit: str,
    notes: Sequence[str] | None = None,
) -> Path:
    """Horizontal bars, one per ``(name, value, kind)``; a missing value is marked FAILED."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = 1.2 + 0.32 * len(items)
    fig, ax = plt.subplots(figsize=(8, height))
    names = [name for name, _, _ in items]
    values = [value or 0.0 for _, value, _ in items]
    colours = [COLOURS.get(kind, "#555555") for _, _, kind in items]
    positions = range(len(items))
    ax.barh(positions, values, color=colours)
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title, fontsize=10)
    top = scale_top(items)
    for index, (_, value, _) in enumerate(items):
        label = "FAILED" if value is None else f"{value:,.1f}"
        if value is not None and value > top * 1.25:
            label = f"{value:,.1f} (off the scale)"
        if notes and notes[index]:
            label += f"  {notes[index]}"
        at = min(value or 0.0, top * 1.25) + top * 0.01
        ax.text(at, index, label, va="center", fontsize=7)
    ax.set_xlim(0, top * 1.6)
    kinds = dict.fromkeys(kind for _, _, kind in items)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[k]) for k in kinds if k in COLOURS]
    ax.legend(
        handles,
        [LEGEND[k] for k in kinds if k in COLOURS],
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.5 / height - 0.04),
        ncol=len(handles),
        frameon=False,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scale_top(items: Sequence[tuple[str, float | None, str]]) -> float:
    """The value the axis is scaled to: the largest, unless only a no-network ``copy``
    bound is far above every download (then the largest download)."""
    values = [v for _, v, _ in items if v]
    downloads = [v for name, v, _ in items if v and not name.startswith("copy")]
    if not values:
        return 1.0
    if downloads and max(values) > 2 * max(downloads):
        return max(downloads)
    return max(values)


def resume_chart(
    path: Path,
    title: str,
    names: Sequence[str],
    fetched_mib: Sequence[float | None],
    size_mib: float,
    finish_s: Sequence[float | None],
    fresh_s: Sequence[float | None],
) -> Path:
    """Two panels: MiB fetched after the kill (against the object), and time to finish
    (against a fresh download)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 1.6 + 0.5 * len(names)))
    positions = list(range(len(names)))
    colours = [COLOURS["ours"] if n == "ours" else COLOURS["default"] for n in names]
    left.barh(positions, [v or 0 for v in fetched_mib], color=colours)
    left.axvline(size_mib, color="black", linestyle="--", linewidth=1)
    left.axvline(size_mib / 2, color="grey", linestyle=":", linewidth=1)
    left.set_yticks(positions, names)
    left.invert_yaxis()
    left.set_xlabel("MiB fetched after the kill (dashed: object, dotted: half)")
    height = 0.38
    right.barh(
        [p - height / 2 for p in positions], [v or 0 for v in finish_s], height, color=colours
    )
    right.barh(
        [p + height / 2 for p in positions], [v or 0 for v in fresh_s], height, color="#d0d0d0"
    )
    right.set_yticks(positions, names)
    right.invert_yaxis()
    right.set_xlabel("seconds: to finish after the kill (colour), fresh download (light)")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
