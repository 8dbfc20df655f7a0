"""``make bench``: every contender on the same local server; writes ``docs/benchmarks.md``.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_peers.py                     # everything, full sizes
    .venv/bin/python benchmarks/bench_peers.py --quick             # small sizes, 1 round
    .venv/bin/python benchmarks/bench_peers.py --only wan16,resume # these; the rest from JSON
    .venv/bin/python benchmarks/bench_peers.py --from-json         # re-render, run nothing

Scenarios (``--only``, comma-separated): ``loopback`` (1 GiB), ``wan16`` (256 MiB,
16 MiB/s + 30 ms per connection), ``wan4`` (128 MiB, 4 MiB/s + 150 ms), ``prefix``
(1,000 x 64 KiB, recursive ``get``), ``tiny`` (1 KiB: time and requests), ``resume``
(SIGKILL at 50%, then finish), and ``scaling`` (``bench_scaling.py``, when present).

Each scenario's data goes to ``docs/benchmarks/data/SCENARIO.json`` as soon as it
is measured; then the page is rendered from every JSON file there (so ``--only``
refreshes some sections and keeps the others), with the figures in
``docs/benchmarks/figures/``. A peer beating ours with no explanation in
``explanations.py`` is flagged in the page and listed at the end (``--strict``:
exit 1 then).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import isolate_from_real_clouds
from report import DOCS, load_data, render_page, scenarios


def parse_args(argv: list[str] | None, known: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(known)}")
    parser.add_argument(
        "--from-json", action="store_true", help="run nothing: re-render from the saved JSON"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    parser.add_argument("--dir", default=None, help="parent of the scratch directory")
    parser.add_argument("--docs", default=str(DOCS), help="where benchmarks.md goes (docs/)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a WHY is missing")
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()] or list(known)
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(known)}")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    isolate_from_real_clouds()
    known = scenarios()
    args = parse_args(argv, list(known))
    docs = Path(args.docs)
    data_dir, figures_dir = docs / "benchmarks" / "data", docs / "benchmarks" / "figures"
    data_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
    failed: list[str] = []
    if not args.from_json:
        for name in args.names:
            began = time.monotonic()
            options = {"rounds": args.rounds, "scratch_parent": args.dir}
            if name == "scaling":
                options = {}
            try:
                data = known[name].run(args.quick, **options)
            except Exception:  # one scenario failing must not lose the others
                traceback.print_exc()
                print(f"-- {name}: FAILED; its JSON (if any) is the previous one", flush=True)
                failed.append(name)
                continue
            data.setdefault("quick", args.quick)
            data["wall_s"] = time.monotonic() - began
            (data_dir / f"{name}.json").write_text(json.dumps(data, indent=1, default=str))
            print(f"-- {name}: {data['wall_s']:.0f} s, wrote {data_dir / (name + '.json')}")
    data = load_data(data_dir, list(known))
    if not data:
        print("no data to render", file=sys.stderr)
        return 1
    page = docs / "benchmarks.md"
    missing = render_page(data, page, figures_dir, data_dir)
    print(f"wrote {page} ({len(data)} sections) and {figures_dir}/")
    if missing:
        print("\n" + "!" * 72, file=sys.stderr)
        print("A contender beats ours with no explanation (WHY: in the page):", file=sys.stderr)
        for scenario, contender in missing:
            print(f"  ({scenario!r}, {contender!r}) -> benchmarks/explanations.py", file=sys.stderr)
        print("!" * 72, file=sys.stderr)
    print(f"load average at the end {os.getloadavg()}")
    if failed:
        print(f"scenarios that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 1 if missing and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
