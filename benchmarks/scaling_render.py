"""Figures (matplotlib, Agg) and markdown for ``bench_scaling.py``'s three curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

MiB = 1024 * 1024
GiB = 1024 * MiB
#: The multiplication sign, for prose and labels.
X = "\u00d7"
FIGURE_LINK = "benchmarks/figures/{name}"
_DPI = 100
_SIZE = (7.2, 4.2)


def _save(fig: Any, figures_dir: Path, name: str) -> str:
    figures_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(figures_dir / name, dpi=_DPI)
    plt.close(fig)
    return FIGURE_LINK.format(name=name)


def _count(value: int) -> str:
    for unit, factor in (("M", 1_000_000), ("k", 1_000)):
        if value >= factor and value % factor == 0:
            return f"{value // factor}{unit}"
    return f"{value:,}"


def _size(value: int) -> str:
    return f"{value // GiB} GiB" if value >= GiB and value % GiB == 0 else f"{value / MiB:g} MiB"


def _us(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _machine_line(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    load = m.get("load_average_start") or ("?",)
    return (
        f"*Measured {m.get('date', '?')} on {m.get('cpus', '?')} CPUs ({m.get('cpu', '?')}), "
        f"Python {m.get('python', '?')}, oss2 {m.get('oss2', '?')}, commit "
        f"{m.get('commit') or '?'}, load average {load[0]:.2f} at the start"
        f"{'; quick mode (small sizes, one round)' if data.get('quick') else ''}.*"
    )


# -- checkpoint ---------------------------------------------------------------------


def _checkpoint_rows(cp: dict[str, Any]) -> tuple[list[int], dict[str, dict[int, Any]]]:
    series: dict[str, dict[int, Any]] = {
        "record": {p["parts"]: p["record_us_per_part"] for p in cp.get("journal", [])},
        "resume": {p["parts"]: p["resume_us_per_part"] for p in cp.get("journal", [])},
        "engine": {p["parts"]: p["download_us_per_part"] for p in cp.get("engine", [])},
        "append": {p["parts"]: p["append_us_per_part"] for p in cp.get("engine", [])},
        "oss2_full": {p["parts"]: p for p in cp.get("oss2", {}).get("full", [])},
        "oss2_nth": {p["parts"]: p["finish_us"] for p in cp.get("oss2", {}).get("marginal", [])},
        "oss2_resume": {
            p["parts"]: p["resume_us_per_part"] for p in cp.get("oss2", {}).get("marginal", [])
        },
    }
    counts = sorted({n for values in series.values() for n in values})
    return counts, series


def _plot_checkpoint(cp: dict[str, Any], figures_dir: Path) -> str:
    _, s = _checkpoint_rows(cp)
    fig, ax = plt.subplots(figsize=(7.2, 5.4))

    def line(key: str, label: str, style: str, color: str) -> None:
        points = sorted(s[key].items())
        if points:
            ax.plot(*zip(*points, strict=True), style, color=color, label=label, ms=5)

    line("record", "ours: record a part (journal append)", "o-", "tab:blue")
    line("resume", "ours: resume (read + check journal, re-plan)", "s-", "tab:cyan")
    line("append", "ours: journal append inside a whole download", "^:", "tab:blue")
    line("engine", "ours: whole download, 100 KiB parts (all work)", "D--", "tab:gray")
    full = sorted(s["oss2_full"].items())
    run = [(n, p["record_us_per_part"]) for n, p in full if not p.get("not_run")]
    guess = [(n, p["record_us_per_part"]) for n, p in full if p.get("not_run")]
    if run:
        ax.plot(*zip(*run, strict=True), "o-", color="tab:red", ms=5)
    if run and guess:
        ax.plot(*zip(*(run[-1:] + guess), strict=True), "o--", color="tab:red", mfc="none", ms=5)
    if run or guess:
        ax.plot(
            [],
            [],
            "o-",
            color="tab:red",
            label="oss2: record, mean over a download (hollow: extrapolated)",
        )
    line("oss2_nth", "oss2: record the n-th part", "v-", "tab:orange")
    line("oss2_resume", "oss2: resume (load record, re-plan)", "s-", "tab:pink")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parts in the download")
    ax.set_ylabel("µs per part")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(int(v)) if v >= 1 else ""))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.set_title("Checkpoint cost per part", fontsize=11)
    return _save(fig, figures_dir, "scaling_checkpoint.png")


def _section_checkpoint(data: dict[str, Any], figures_dir: Path) -> str:
    cp = data["checkpoint"]
    counts, s = _checkpoint_rows(cp)
    oss2 = cp.get("oss2", {})
    cap = oss2.get("max_parts", 100_000)
    rows = [
        "| parts | ours: record | ours: resume | ours engine: whole download | "
        "engine: journal append | oss2: record (mean) | oss2: n-th part | oss2: resume |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in counts:
        full = s["oss2_full"].get(n)
        if full is None:
            mean = "n/a (over oss2's cap)" if n > cap else "—"
        elif full.get("not_run"):
            mean = f"~{_us(full['record_us_per_part'])} (not run: ~{full['extrapolated_s']:,.0f} s)"
        else:
            mean = _us(full["record_us_per_part"])
        nth = s["oss2_nth"].get(n)
        nth_text = _us(nth) if nth is not None else ("n/a" if n > cap else "—")
        resume = s["oss2_resume"].get(n)
        rows.append(
            f"| {_count(n)} | {_us(s['record'].get(n))} | {_us(s['resume'].get(n))} | "
            f"{_us(s['engine'].get(n))} | {_us(s['append'].get(n))} | {mean} | {nth_text} | "
            f"{_us(resume) if resume is not None else ('n/a' if n > cap else '—')} |"
        )
    link = _plot_checkpoint(cp, figures_dir)
    journal = cp.get("journal", [])
    flat = ""
    if len(journal) >= 2:
        lo, hi = journal[0], journal[-1]
        flat = (
            f" From {_count(lo['parts'])} to {_count(hi['parts'])} parts our cost per "
            f"recorded part goes from {_us(lo['record_us_per_part'])} to "
            f"{_us(hi['record_us_per_part'])} µs; reading the journal back from "
            f"{_us(lo['read_us_per_part'])} to {_us(hi['read_us_per_part'])} µs, a whole resume "
            f"(read, re-plan, reopen) from {_us(lo['resume_us_per_part'])} to "
            f"{_us(hi['resume_us_per_part'])} µs per part."
        )
    return "\n".join(
        [
            "## Scaling: checkpoint cost per part",
            "",
            "What this shows: recording a finished part in our journal is one 16-byte "
            "append, so its cost per part stays flat from a thousand to a million parts; "
            "oss2 rewrites its whole JSON record after every part, so its cost per part "
            f"grows with the number of parts (and a whole download's with their square).{flat}",
            "",
            f"![checkpoint cost per part]({link})",
            "",
            *rows,
            "",
            "All times are µs per part (medians of 3 runs for ours), no network. *ours: "
            "record* = `Journal.append` for every part of a new journal; *ours: resume* = "
            "`read_journal` (parse and check every record) + re-planning the missing parts + "
            "reopening. The engine refuses parts under 100 KiB and plans at most 10,000, so "
            f"*ours engine* = a whole `engine.download` of a synthetic object in 100 KiB parts "
            f"with 4 connections, writing to {cp.get('engine_filesystem', '?')} (copying, CRC "
            "and writing 100 KiB dominate it), and *engine: journal append* = the time inside "
            "`Journal.append` during those downloads (threads contend for the GIL). *oss2* = "
            "`oss2.resumable._ResumableDownloader`'s own record-keeping driven without a "
            "network: *record (mean)* = every part's `__finish_part` "
            "(`ResumableDownloadStore.put` of the whole record) over a download, divided by "
            f"the parts, not run where predicted over {oss2.get('budget_s', 20):.0f} s "
            "(extrapolated as parts²); *n-th part* = one part finished when n are recorded; "
            "*resume* = `__load_record` + `__get_parts_to_download`. oss2 never plans more "
            f"than {cap:,} parts.",
            "",
            _machine_line(data),
        ]
    )


# -- peak RSS -----------------------------------------------------------------------


def _section_rss(data: dict[str, Any], figures_dir: Path) -> str:
    reports = sorted(data["rss"]["reports"], key=lambda r: r["size"])
    sizes = [r["size"] for r in reports]
    fig, ax = plt.subplots(figsize=_SIZE)
    ax.plot(sizes, [r["peak"] / MiB for r in reports], "o-", label="peak RSS (VmHWM)")
    ax.plot(sizes, [r["rss_before"] / MiB for r in reports], "s--", label="RSS before get_file")
    ax.plot(
        sizes,
        [r["psutil_peak_rss"] / MiB for r in reports],
        "x:",
        label="peak RSS, polled every 20 ms",
    )
    if all(r.get("connections") for r in reports):
        ax.plot(
            sizes,
            [
                (r["rss_before"] + r["connections"] * r["config"]["buffer_size"]) / MiB
                for r in reports
            ],
            "^-.",
            color="gray",
            label=f"before + connections {X} buffer_size",
        )
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _size(int(v))))
    ax.set_xlim(min(sizes) / 1.5, max(sizes) * 1.5)
    top = max(max(r["peak"], r["rss_before"] + r.get("connections", 0) * MiB) for r in reports)
    ax.set_ylim(0, top / MiB * 1.3)
    ax.set_xlabel("object size")
    ax.set_ylabel("MiB")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Peak memory of get_file (defaults) against object size", fontsize=11)
    link = _save(fig, figures_dir, "scaling_rss.png")
    rows = [
        "| object | peak RSS | RSS before | growth during get_file | connections "
        "| buffers in flight at most | time | MiB/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in reports:
        conns = r.get("connections")
        bound = conns * r["config"]["buffer_size"] / MiB if conns else None
        rows.append(
            f"| {_size(r['size'])} | {r['peak'] / MiB:.1f} MiB | {r['rss_before'] / MiB:.1f} MiB "
            f"| {(r['peak_during'] - r['rss_before']) / MiB:.1f} MiB | {conns or '?'} | "
            f"{f'{bound:g} MiB' if bound else '?'} | {r['elapsed']:.1f} s | "
            f"{r['size'] / MiB / r['elapsed']:.0f} |"
        )
    cap = reports[0]["config"].get("max_buffer_memory")
    ratio = ""
    if len(reports) >= 2:
        ratio = (
            f" The largest object is {sizes[-1] / sizes[0]:.0f}{X} the smallest; its peak RSS "
            f"is {reports[-1]['peak'] / reports[0]['peak']:.2f}{X} the smallest's."
        )
    return "\n".join(
        [
            "## Scaling: peak memory against object size",
            "",
            "What this shows: the memory `get_file` holds at its defaults is bounded by "
            f"connections {X} `buffer_size` (at most `max_buffer_memory`"
            f"{f', {cap / MiB:g} MiB' if cap else ''}), never by the object's size; it "
            "grows only while the adaptive tuner adds connections, which larger objects "
            f"give it time to do.{ratio}",
            "",
            f"![peak RSS against object size]({link})",
            "",
            *rows,
            "",
            "Method (`bench_memory.py`): one local server process over loopback; a fresh "
            "child Python process per size downloads with `get_file` at defaults and reports "
            "its `VmHWM` (reset through `/proc/self/clear_refs` just before the call, so "
            "*growth* is what the download itself added); the parent also polls the child's "
            "RSS. Page cache is not RSS and is not counted. Every output is CRC-64 checked, "
            "then deleted, as is the server's copy.",
            "",
            _machine_line(data),
        ]
    )


# -- concurrency ----------------------------------------------------------------------


def _plot_concurrency(cc: dict[str, Any], figures_dir: Path) -> str:
    profiles = cc["profiles"]
    fig, axes = plt.subplots(1, len(profiles), figsize=(9.6, 4.0), squeeze=False)
    for ax, profile in zip(axes[0], profiles, strict=True):
        points = [(p["concurrency"], p["median_mib_s"]) for p in profile["points"]]
        points = [(c, v) for c, v in points if v]
        if points:
            ax.plot(*zip(*points, strict=True), "o-", color="tab:blue", label="fixed concurrency")
        top = max([v for _, v in points] or [1])
        xs = cc["concurrency"]
        ideal = [c * profile["rate"] / MiB for c in xs]
        ax.plot(xs, ideal, ":", color="gray", label=f"connections {X} per-connection cap")
        adaptive = profile["adaptive"]
        if adaptive["median_mib_s"]:
            ax.plot(
                [adaptive["median_connections"]],
                [adaptive["median_mib_s"]],
                "*",
                color="tab:red",
                ms=15,
                label=f"ours adaptive ({adaptive['median_connections']:g} connections)",
            )
            top = max(top, adaptive["median_mib_s"])
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(0, top * 1.25)
        ax.set_xlabel("connections")
        ax.set_ylabel("MiB/s")
        ax.grid(True, alpha=0.3)
        ax.set_title(profile["label"], fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, figures_dir, "scaling_concurrency.png")


def _section_concurrency(data: dict[str, Any], figures_dir: Path) -> str:
    cc = data["concurrency"]
    link = _plot_concurrency(cc, figures_dir)
    headers = " | ".join(p["profile"] + " MiB/s" for p in cc["profiles"])
    rows = [f"| connections | {headers} |", "| ---: |" + " ---: |" * len(cc["profiles"])]
    for index, concurrency in enumerate(cc["concurrency"]):
        cells = []
        for profile in cc["profiles"]:
            point = profile["points"][index]
            speed = point["median_mib_s"]
            runs = len(point["seconds"])
            cells.append(f"{speed:.1f} ({runs} run{'s' * (runs != 1)})" if speed else "failed")
        rows.append(f"| {concurrency} | " + " | ".join(cells) + " |")
    cells = []
    summary = []
    ratios = []
    for profile in cc["profiles"]:
        adaptive = profile["adaptive"]
        best = max(profile["points"], key=lambda p: p["median_mib_s"] or 0)
        if adaptive["median_mib_s"]:
            conns = ", ".join(str(c) for c in adaptive["connections"])
            gets = max(adaptive["max_concurrent_gets"] or [0])
            cells.append(
                f"**{adaptive['median_mib_s']:.1f}** ({conns} connections; "
                f"server saw {gets} GETs at once at most)"
            )
            if best["median_mib_s"]:
                ratios.append(adaptive["median_mib_s"] / best["median_mib_s"])
                summary.append(
                    f"{profile['profile']}: ours {adaptive['median_mib_s']:.1f} MiB/s at "
                    f"{adaptive['median_connections']:g} connections, "
                    f"{adaptive['median_mib_s'] / best['median_mib_s']:.2f}{X} the best fixed "
                    f"setting ({best['concurrency']} connections, "
                    f"{best['median_mib_s']:.1f} MiB/s)"
                )
        else:
            cells.append("failed")
    rows.append("| ours adaptive | " + " | ".join(cells) + " |")
    shortfall = any(ratio < 0.9 for ratio in ratios)
    return "\n".join(
        [
            "## Scaling: throughput against concurrency (simulated WAN)",
            "",
            "What this shows: on a path that caps each connection, throughput grows with "
            "connections until the client or server saturates; our default (adaptive) "
            "concurrency is marked ★ at the connection count it used, against the "
            "fixed-concurrency curve it was not told."
            + (f" ({'; '.join(summary)}.)" if summary else "")
            + (
                " Where the ratio is well below 1, the tuner settled above the best fixed "
                "count, where the curve is flat (the 2 cores, shared with the server, are "
                "the limit there, not the link), and the download lasts under a second: "
                "most of it passes while the tuner probes."
                if shortfall
                else ""
            ),
            "",
            f"![throughput against concurrency]({link})",
            "",
            *rows,
            "",
            f"Method: one {_size(cc['size'])} object on one local server process "
            "(`simulate_wan`: each connection capped, each answer delayed); `get_file` with "
            "`concurrency=N` (other settings at defaults) for each N, and at defaults "
            "(adaptive, whose *connections* is `DownloadResult.connections`, the most it used "
            f"at once); {cc['rounds']} round(s) in an order rotated each round, medians; a "
            f"setting whose first run took over {cc['repeat_under_s']:.0f} s (link-bound, "
            "little variance) ran once. Every output is CRC-64 checked. Loopback only.",
            "",
            _machine_line(data),
        ]
    )


def render_all(data: dict[str, Any], figures_dir: Path) -> str:
    sections = []
    if data.get("checkpoint"):
        sections.append(_section_checkpoint(data, figures_dir))
    if data.get("rss"):
        sections.append(_section_rss(data, figures_dir))
    if data.get("concurrency"):
        sections.append(_section_concurrency(data, figures_dir))
    return "\n\n".join(sections) + "\n"
