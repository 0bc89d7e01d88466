"""Multi-objective search on NAS-Bench-201: accuracy against parameters, FLOPs and latency.

For each cost (the table's parameters and FLOPs; the latency predicted by a
:class:`~archspace.hardware.LatencyTable` measured on this CPU for the default NB201 network; and
the table's own latency column, measured by NATS-Bench on a GPU), each strategy searches for
the front of (validation accuracy ↑, cost ↓) through its ask/tell loop against the table. We
report the hypervolume of the trials found after 100 and 200 trials, as a fraction of the
hypervolume of the true front (all 15,625 architectures), mean ± std over seeds, and each
strategy's ratio to Random.

    .venv/bin/python benchmarks/pareto_nb201.py [--seeds 10] [--strategies random,evolution,tpe]

Reference point: accuracy 0 and the largest cost in the table (so every architecture counts).
Writes benchmarks/results/pareto_nb201.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.benchmarks import load_table  # noqa: E402
from archspace.hub import NasBench201  # noqa: E402
from archspace.hub.nasbench201 import from_arch_str, to_arch_str  # noqa: E402
from archspace.objectives import hypervolume, pareto_indices, parse_objectives  # noqa: E402
from archspace.strategy import STRATEGIES, Strategy  # noqa: E402

CHECKPOINTS = (100, 200)
SETTINGS: dict[str, dict[str, Any]] = {
    "random": {},
    "evolution": {"population_size": 20, "sample_size": 10, "mutation_prob": 0.05},
    "tpe": {"n_startup_trials": 20, "n_ei_candidates": 32},
}
COSTS = ("params_m", "flops_m", "cpu_latency_ms", "table_latency_ms")

_ROWS: dict[str, dict[str, float]] | None = None


def rows(table_path: str, latency_path: str) -> dict[str, dict[str, float]]:
    """arch string -> accuracy and every cost (CPU latency predicted from the measured table)."""
    global _ROWS
    if _ROWS is None:
        from archspace.hardware import LatencyTable

        table = load_table(table_path)
        latency = LatencyTable.load(latency_path)
        _ROWS = {}
        for arch in table:
            row = table[arch]
            _ROWS[arch] = {"acc": row["cifar10_valid"], "params_m": row["params_m"], "flops_m": row["flops_m"],
                           "table_latency_ms": row["latency_ms"],
                           "cpu_latency_ms": latency.predict(from_arch_str(arch), calibrated=False)}
    return _ROWS


def run_one(job: tuple[str, str, str, str, int, int]) -> dict[str, Any]:
    name, cost, table_path, latency_path, seed, trials = job
    import torch

    torch.set_num_threads(1)
    data = rows(table_path, latency_path)
    objectives = parse_objectives({"accuracy": "maximize", cost: "minimize"})
    strategy: Strategy = STRATEGIES[name](**SETTINGS[name])
    strategy.setup(NasBench201(channels=4, num_cells=1).search_space(), seed, objectives)
    reference = (0.0, max(r[cost] for r in data.values()))
    points: list[tuple[float, float]] = []
    hv: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(trials):
        sample = strategy.ask()
        if sample is None:
            break
        row = data[to_arch_str(sample)]
        point = (row["acc"], row[cost])
        points.append(point)
        strategy.tell(sample, point)
        if i + 1 in CHECKPOINTS:
            hv[str(i + 1)] = hypervolume(points, objectives, reference)
    return {"strategy": name, "cost": cost, "seed": seed, "hv": hv,
            "ms_per_trial": (time.perf_counter() - start) / max(len(points), 1) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", default=str(ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"))
    parser.add_argument("--latency-table", default=str(ROOT / "benchmarks" / "results" / "nb201_latency_table.json"),
                        help="measured for NasBench201() (16 channels, 5 cells) at 1x3x32x32, 1 thread; "
                             "measured now when the file is missing")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--strategies", default="random,evolution,tpe")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pareto_nb201"))
    args = parser.parse_args()
    if not Path(args.latency_table).exists():
        from archspace.hardware import LatencyTable

        started = time.time()
        table = LatencyTable.measure(NasBench201(), threads=1, repeats=15, warmup=3)
        table.save(args.latency_table)
        print(f"measured the NB201 latency table in {time.time() - started:.0f} s -> {args.latency_table}")
    data = rows(args.table, args.latency_table)
    names = args.strategies.split(",")
    jobs = [(n, c, args.table, args.latency_table, s, max(CHECKPOINTS)) for c in COSTS for n in names
            for s in range(args.seeds)]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(run_one, jobs, chunksize=4))
    summary: dict[str, Any] = {"seeds": args.seeds, "settings": {n: SETTINGS[n] for n in names}, "costs": {}}
    lines = ["| cost | strategy | " + " | ".join(f"HV/true front, {c} trials" for c in CHECKPOINTS)
             + " | ratio to Random (" + ", ".join(map(str, CHECKPOINTS)) + ") |", "|---|---|---|---|---|"]
    for cost in COSTS:
        objectives = parse_objectives({"accuracy": "maximize", cost: "minimize"})
        reference = (0.0, max(r[cost] for r in data.values()))
        all_points = [(r["acc"], r[cost]) for r in data.values()]
        front = [all_points[i] for i in pareto_indices(all_points, objectives)]
        true_hv = hypervolume(front, objectives, reference)
        per: dict[str, Any] = {"true_front_size": len(front), "true_hv": true_hv}
        means: dict[str, dict[str, float]] = {}
        for name in names:
            mine = [r for r in runs if r["strategy"] == name and r["cost"] == cost]
            entry: dict[str, Any] = {}
            for c in CHECKPOINTS:
                values = [r["hv"][str(c)] / true_hv for r in mine]
                entry[str(c)] = {"mean": statistics.mean(values), "std": statistics.stdev(values)}
            entry["ms_per_trial"] = statistics.median(r["ms_per_trial"] for r in mine)
            per[name] = entry
            means[name] = {str(c): entry[str(c)]["mean"] for c in CHECKPOINTS}
        for name in names:
            cells = [f"{per[name][str(c)]['mean']:.4f} ± {per[name][str(c)]['std']:.4f}" for c in CHECKPOINTS]
            ratios = [f"{means[name][str(c)] / means['random'][str(c)]:.4f}" for c in CHECKPOINTS] \
                if "random" in means else ["-"] * len(CHECKPOINTS)
            lines.append(f"| {cost} | {name} | " + " | ".join(cells) + " | " + ", ".join(ratios) + " |")
        summary["costs"][cost] = per
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
