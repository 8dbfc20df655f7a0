"""The scenarios of ``make bench`` and the page they make, ``docs/benchmarks.md``.

Every scenario is a module with ``run(quick, ...) -> dict`` (JSON-able) and
``render(data, figures_dir) -> str`` (writes its PNGs, returns a markdown section
whose images are linked as ``benchmarks/figures/NAME.png``). ``bench_scaling.py``
(the scaling curves) has the same pair and is imported by path when it exists.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import contenders
import pagekit
import scenario_large
import scenario_prefix
import scenario_resume
import scenario_tiny
from _common import REPO
from harness import machine

DOCS = REPO / "docs"
SCALING = Path(__file__).resolve().parent / "bench_scaling.py"
#: The done-criterion of issue 10: ours ahead of every peer at defaults on these, and
#: within this share of the best peer at matched settings.
WAN_SCENARIOS = ("wan16", "wan4")
MATCHED_WITHIN = 0.9


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[..., dict[str, Any]]
    render: Callable[[dict[str, Any], Path], str]


def _large(profile: str) -> Scenario:
    def run(quick: bool, **options: Any) -> dict[str, Any]:
        return scenario_large.run(quick, profile=profile, **options)

    return Scenario(profile, run, scenario_large.render)


def load_scaling() -> ModuleType | None:
    """``bench_scaling.py``, imported by path, or None when it is not there."""
    if not SCALING.exists():
        return None
    spec = importlib.util.spec_from_file_location("bench_scaling", SCALING)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_scaling", module)
    spec.loader.exec_module(module)
    return module


def scenarios() -> dict[str, Scenario]:
    found = {
        "loopback": _large("loopback"),
        "wan16": _large("wan16"),
        "wan4": _large("wan4"),
        "prefix": Scenario("prefix", scenario_prefix.run, scenario_prefix.render),
        "tiny": Scenario("tiny", scenario_tiny.run, scenario_tiny.render),
        "resume": Scenario("resume", scenario_resume.run, scenario_resume.render),
    }
    scaling = load_scaling()
    if scaling is not None:
        found["scaling"] = Scenario(
            "scaling", lambda quick, **_: scaling.run(quick), scaling.render
        )
    return found


def verdict(data: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 10's done-criterion, checked on the data."""
    lines = ["## Verdict: issue 10's done-criterion", ""]
    rows = []
    for name in WAN_SCENARIOS:
        if name not in data:
            rows.append([name, "not run", "-", "not run", "-", "-"])
            continue
        speed = scenario_large.speeds(data[name])
        ours = speed.get("ours")
        defaults = {p: speed.get(p) for p in contenders.PEERS if p in speed}
        matched = {
            p: v
            for p, v in speed.items()
            if contenders.is_matched(p) and contenders.is_peer(p) and v
        }
        ours_fixed = speed.get("ours" + contenders.MATCHED_SUFFIX)
        best_default = max((v or 0, p) for p, v in defaults.items()) if defaults else (0, "-")
        failed = sorted(p for p, v in defaults.items() if v is None)
        ahead = bool(ours) and all(ours > v for v in defaults.values() if v)
        note = f" ({', '.join(failed)} failed)" if failed else ""
        first = (
            f"{'**met**' if ahead else '**NOT met**'}: ours {pagekit.num(ours, 1)} MiB/s, "
            f"best peer {best_default[1]} {best_default[0]:.1f}{note}"
        )
        if matched:
            best_name = max(matched, key=lambda p: matched[p] or 0)
            share = (ours or 0) / matched[best_name]
            second = (
                f"{'**met**' if share >= MATCHED_WITHIN else '**NOT met**'}: "
                f"{best_name} {matched[best_name]:.1f} MiB/s"
            )
            fixed = f"{(ours_fixed or 0) / matched[best_name]:.2f}" if ours_fixed else "-"
            rows.append([name, first, pagekit.num(ours, 1), second, f"{share:.2f}", fixed])
        else:
            rows.append([name, first, pagekit.num(ours, 1), "no matched run", "-", "-"])
    lines.append(
        pagekit.table(
            [
                "scenario",
                "ours ahead of every peer at defaults",
                "ours MiB/s",
                f"ours within {1 - MATCHED_WITHIN:.0%} of the best matched peer",
                "ours / best matched",
                "ours matched / best matched",
            ],
            rows,
            align="llrlrr",
        )
    )
    lines += [
        "",
        "`ours / best matched` compares ours at its defaults (adaptive: it finds its "
        "connection count while it downloads) with the best peer given, from the first "
        "request on, the connection count and part size ours ended up using. `ours matched "
        "/ best matched` compares the engines at those same fixed settings.",
    ]
    return [*lines, ""]


def header(data: dict[str, dict[str, Any]]) -> list[str]:
    first = next(iter(data.values()), {}).get("machine") or machine()
    versions = ", ".join(f"{k} {v}" for k, v in first.get("versions", {}).items() if v)
    rows = []
    for name, item in data.items():
        meta = item.get("machine", {})
        load = meta.get("load_average") or meta.get("load_average_start") or [None]
        end = meta.get("load_average_end") or [None]
        rows.append(
            [
                name,
                meta.get("started") or meta.get("date") or "?",
                f"{meta.get('commit', '?')}{' (dirty tree)' if meta.get('dirty') else ''}",
                "quick" if item.get("quick") else "full",
                str(item.get("rounds", "-")),
                pagekit.num(load[0], 2),
                pagekit.num(end[0], 2),
                (meta.get("free_page_reporting") or {}).get("min_free_ms", "-"),
            ]
        )
    quick = any(item.get("quick") for item in data.values())
    return [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`benchmarks/bench_peers.py`); do not edit by hand. "
        "Explanations of any peer's win live in `benchmarks/explanations.py`.",
        "",
        *(
            [
                "> **Some sections come from a `--quick` pass (small sizes, 1 round): "
                "development numbers, not for citing.**",
                "",
            ]
            if quick
            else []
        ),
        "## Machine",
        "",
        f"{first.get('cpus')} CPUs, Python {first.get('python')}, Linux {first.get('kernel')}; "
        f"{versions}; {first.get('curl') or 'curl: not found'}. The local OSS server runs in "
        "its own process on 127.0.0.1 (OSS and S3-compatible API on one port), on the same "
        "machine and cores as the clients.",
        "",
        *reporting_lines(data),
        pagekit.table(
            [
                "scenario",
                "run",
                "commit",
                "mode",
                "rounds",
                "load avg at start",
                "at end",
                "`min_free_ms`",
            ],
            rows,
            align="lllllrrr",
        ),
        "",
        *METHOD,
    ]


def reporting_lines(data: dict[str, dict[str, Any]]) -> list[str]:
    """What the guest's free page reporting does to these numbers, if it has any."""
    recorded = [
        item["machine"]["free_page_reporting"]
        for item in data.values()
        if "free_page_reporting" in item.get("machine", {})
    ]
    if not recorded:
        return []
    if all(settings is None for settings in recorded):
        return ["No free page reporting (`/sys/module/page_reporting`) on this machine.", ""]
    held = {settings.get("min_free_ms") for settings in recorded if settings}
    by_hand = (
        "For the runs with a `min_free_ms` above 0 in the table below it was set by hand "
        "(as root: `echo 10000 > /sys/module/page_reporting/parameters/min_free_ms`), so "
        "that memory freed during a run stays the guest's."
        if held - {"0", None}
        else "It was 0 for every run below: compare min-max ranges with that in mind."
    )
    return [
        "This machine is a VM with free page reporting (`/sys/module/page_reporting`): "
        "freed memory goes back to the host after `min_free_ms`, and page cache written "
        "into memory the host took back can cost 5-10 times the CPU "
        "(`benchmarks/free_page_cost.py`: 0.29-0.81 s against 0.05-0.07 s for 256 MiB, "
        "though in some hours it shows no difference at all). "
        "At 0, the default, whether a run's memory had been handed back decided a good "
        "part of its speed, for any contender. The harness writes and deletes as much "
        "page cache as a run will write just before it (`_common.recycle_page_cache`), "
        "which helps only in part. " + by_hand,
        "",
    ]


METHOD = [
    "## Method",
    "",
    "- **Same server, same object.** Each scenario starts one local server process, seeds "
    "its object(s), and shapes the link with `server.simulate_wan(rate per connection, "
    "latency per answer)` where it says WAN. OSS clients use the OSS API, S3 clients "
    "(s3fs, obstore, boto3, the CRT) the server's S3-compatible API on the same endpoint "
    "and objects (path-style, SigV4, region `oss-cn-hangzhou`); nothing leaves 127.0.0.1.",
    "- **Alternation.** All contenders run in one process, once per round, the order "
    "rotated by one place each round; the tables give medians over the rounds (min-max "
    "in brackets). Before each timed run the previous output is deleted, `sync(2)` "
    "called, and as much page cache as the run will write is written and deleted "
    "(see Machine). Time = wall clock around the call; building clients is excluded, the HEADs "
    "and listings the call makes are included.",
    "- **Verification.** Every output file is checked against the object's size and "
    "CRC-64: a wrong, short or missing file is reported and gets no speed.",
    "- **Durability differs.** Ours fsyncs before its atomic rename; no peer does (strace "
    "of each peer's download, the CRT's native code included, shows no `fsync`, "
    "`fdatasync` or `sync_file_range`); `curl+fsync` and `copy+fsync` show what fsync "
    "costs on this disk.",
    "- **Defaults and matched.** Each peer runs at its library defaults, and as "
    "`PEER matched` with ours' settings in the same scenario: the connection count "
    "ours reported (`DownloadResult.connections`) and the median length of its ranged "
    "GETs, from an untimed calibration run of ours just before the rounds.",
    "- **Columns.** MiB/s = object size / wall time; ours/X = ours' median speed / X's "
    "(> 1: ours is faster); requests = all requests the server answered per run (GETs in "
    "brackets); most in flight = most GETs being answered at once; served/size = body "
    "bytes sent / object size (> 1: bytes fetched twice); client CPU s = CPU seconds the "
    "benchmark process (all threads, native ones too) and its children (curl) used during "
    "the call, median; the server's own process is not counted; context switches = "
    "those of the same threads and children during the call (a thread that blocks on "
    "a socket or a lock and wakes again counts one), median.",
    "",
]


def render_page(
    data: dict[str, dict[str, Any]], page: Path, figures_dir: Path, data_dir: Path
) -> list[tuple[str, str]]:
    """Write the page; returns the (scenario, contender) wins with no explanation."""
    pagekit.MISSING.clear()
    known = scenarios()
    sections = []
    for name, item in data.items():
        scenario = known.get(name)
        if scenario is None:
            sections.append(f"## {name}\n\n(no renderer for this data)\n")
            continue
        sections.append(scenario.render(item, figures_dir))
    links = ", ".join(
        f"[{p.name}](benchmarks/data/{p.name})" for p in sorted(data_dir.glob("*.json"))
    )
    text = "\n".join(
        [
            *header(data),
            *(verdict(data) if any(n in data for n in WAN_SCENARIOS) else []),
            *(section.rstrip() + "\n" for section in sections),
            "## Raw data",
            "",
            f"Every run of every contender, with the server's counters: {links}.",
            "",
        ]
    )
    page.write_text(text)
    return list(pagekit.MISSING)


def load_data(data_dir: Path, order: list[str]) -> dict[str, dict[str, Any]]:
    found = {p.stem: json.loads(p.read_text()) for p in data_dir.glob("*.json")}
    ordered = {name: found.pop(name) for name in order if name in found}
    return {**ordered, **found}
