"""One benchmark script, run on two trees of archspace side by side: before and after a change.

A refactor that must not change behaviour must not cost time either. This runs the same
benchmark script from two checkouts (the previous main, as a git worktree, and this one),
alternating ``--rounds`` times so both see the same machine load, reads the JSON each run writes,
and reports for every figure the median over rounds and the ratio after / before.

    git worktree add /tmp/prev <rev>
    .venv/bin/python benchmarks/side_by_side.py --before /tmp/prev --rounds 3 \\
        trial_overhead.py --trials 300 --repeats 1 --long 0
    .venv/bin/python benchmarks/side_by_side.py --before /tmp/prev --rounds 3 \\
        oneshot_step.py --steps 2 --repeats 1 --only darts/default nb201/default

Each script runs with its own tree's ``benchmarks/`` and package (it puts its tree first on
``sys.path``). Writes ``benchmarks/results/side_by_side_<script>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def figures(data: Any, prefix: str = "") -> dict[str, float]:
    """Every number under a ``median...`` key of a results file, flattened to ``path -> value``."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and "median" in str(key):
                out[name] = float(value)
            else:
                out.update(figures(value, name))
    return out


def run_once(tree: Path, script: str, args: list[str]) -> dict[str, float]:
    """Run ``script`` of ``tree`` once and read the figures of the results file it wrote."""
    before = {p: p.stat().st_mtime for p in (tree / "benchmarks" / "results").glob("*.json")}
    subprocess.run([sys.executable, str(tree / "benchmarks" / script), *args], check=True, cwd=tree,
                   stdout=subprocess.DEVNULL)
    written = [p for p in (tree / "benchmarks" / "results").glob("*.json")
               if before.get(p) is None or p.stat().st_mtime > before[p]]
    if not written:
        raise SystemExit(f"{script} in {tree} wrote no results file")
    return figures(json.loads(max(written, key=lambda p: p.stat().st_mtime).read_text()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the earlier tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    trees = {"before": ns.before.resolve(), "after": ROOT}
    runs: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    started = time.time()
    for round_ in range(ns.rounds):
        for label in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
            for name, value in run_once(trees[label], ns.script, ns.args).items():
                runs[label].setdefault(name, []).append(value)
    rows = {}
    for name in sorted(set(runs["before"]) & set(runs["after"])):
        b, a = statistics.median(runs["before"][name]), statistics.median(runs["after"][name])
        rows[name] = {"before": b, "after": a, "ratio_after_over_before": a / b if b else None,
                      "before_runs": runs["before"][name], "after_runs": runs["after"][name]}
        print(f"{name:60s} before {b:9.3f}  after {a:9.3f}  ratio {a / b if b else float('nan'):5.2f}")
    commit = subprocess.run(["git", "-C", str(ns.before), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = ROOT / "benchmarks" / "results" / f"side_by_side_{Path(ns.script).stem}.json"
    out.write_text(json.dumps({"script": ns.script, "args": ns.args, "rounds": ns.rounds, "before": commit,
                               "seconds": round(time.time() - started), "figures": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
