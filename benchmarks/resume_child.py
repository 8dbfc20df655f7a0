"""Child process of ``scenario_resume``: one download by one contender, maybe killed.

``python resume_child.py SPEC_JSON`` builds the contender's client (untimed),
prints ``READY``, downloads the object and prints one JSON line: the call's
``elapsed`` seconds and what the contender reports. The parent SIGKILLs it
half way, then runs it again on the same destination and checkpoint stores.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers_oss
import peers_s3
from harness import Target, isolate_from_real_clouds


def runner_for(spec: dict[str, Any]) -> Any:
    server = SimpleNamespace(**spec["server"])
    scratch = Path(spec["scratch"])
    target = Target(server, spec["key"], spec["size"], 0, scratch, scratch)  # type: ignore[arg-type]
    name = spec["contender"]
    if name == "v2":
        return peers_oss.v2_runner(target, None, checkpoint_dir=scratch / "v2-checkpoints")
    if name in peers_s3.PEERS:
        return peers_s3.build(name, target)
    return peers_oss.build(name, target, scratch)


def main() -> int:
    isolate_from_real_clouds()
    spec = json.loads(sys.argv[1])
    runner = runner_for(spec)
    print("READY", flush=True)
    began = time.perf_counter()
    facts = runner(spec["dest"]) or {}
    elapsed = time.perf_counter() - began
    print(json.dumps({"elapsed": elapsed, **facts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
