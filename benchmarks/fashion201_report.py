"""What the Fashion-201 table says about itself: its test-accuracy distribution, its noise
ceiling (seed-to-seed rank agreement), its rank correlation with NAS-Bench-201 CIFAR-10 on the
same architectures, and Random / RegularizedEvolution / TPE curves on it.

    python benchmarks/fashion201_report.py [--table PATH] [--seeds 50]

The strategies search on the table's mean valid accuracy and report the mean test accuracy of
the best-on-valid architecture after 50/100/200 trials (mean ± std over seeds), as
benchmarks/strategies.py does on NB201. While the table holds only part of the 6,466 classes the
strategies search that part: a filter rejects samples whose class is not in the table (RE's
mutations and TPE's proposals are drawn again), so the curves describe the tabulated subset.
Writes benchmarks/results/fashion201_report.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.benchmarks import load_table  # noqa: E402
from archspace.benchmarks.fashion201 import PROTOCOL, representative  # noqa: E402
from archspace.benchmarks.fashion201_table import DEFAULT_PATH, load_fashion201  # noqa: E402
from archspace.hub.nasbench201 import NasBench201, from_arch_str, to_arch_str  # noqa: E402
from archspace.strategy import STRATEGIES  # noqa: E402

NB201_CSV = ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"
SETTINGS: dict[str, dict[str, Any]] = {
    "random": {},
    "evolution": {"population_size": 20, "sample_size": 10, "mutation_prob": 0.05},
    "tpe": {"n_startup_trials": 20, "n_ei_candidates": 32},
    "local_search": {"n_initial": 10},
    "bananas": {},
    "gp": {},
}
CHECKPOINTS = (50, 100, 200)


def distribution(values: list[float]) -> dict[str, float]:
    """min / median / 90th / 99th percentile / max, in percent."""
    a = np.asarray(values) * 100
    return {"min": round(float(a.min()), 2), "median": round(float(np.median(a)), 2),
            "p90": round(float(np.percentile(a, 90)), 2), "p99": round(float(np.percentile(a, 99)), 2),
            "max": round(float(a.max()), 2), "mean": round(float(a.mean()), 2), "std": round(float(a.std()), 2)}


def noise_ceiling(table: Any) -> dict[str, Any]:
    """Kendall tau and Spearman rho between seed 0 and seed 1 over the architectures with both."""
    both = [a for a in table if 0 in table[a] and 1 in table[a]]
    out: dict[str, Any] = {"archs": len(both)}
    for field in ("test_acc", "valid_acc"):
        x = [table[a][0][field] for a in both]
        y = [table[a][1][field] for a in both]
        if len(both) >= 3:
            out[field] = {"kendall_tau": round(float(stats.kendalltau(x, y).statistic), 3),
                          "spearman_rho": round(float(stats.spearmanr(x, y).statistic), 3),
                          "mean_abs_diff_points": round(float(np.mean(np.abs(np.subtract(x, y)))) * 100, 2)}
    return out


def run_strategy(name: str, seed: int, rows: dict[str, dict[str, float]], trials: int,
                 warm: list[str] | None = None) -> list[float]:
    """Best-on-valid test accuracy after each trial, on the tabulated classes; the ``warm`` archs
    (a proxy's picks) are the first trials, told to the strategy like any other result."""
    strategy = STRATEGIES[name](**SETTINGS[name])
    strategy.max_rejections = 100_000
    strategy.setup(NasBench201(channels=4, num_cells=1).search_space(), seed, "maximize",
                   constraint=lambda s: representative(to_arch_str(s)) in rows)
    best_valid, best_test, curve = -math.inf, 0.0, list[float]()
    classes_seen: set[str] = set()
    queue = [from_arch_str(a) for a in warm or []]
    while len(curve) < trials and len(classes_seen) < len(rows):
        sample = queue.pop(0) if queue else strategy.ask()
        if sample is None:
            break
        arch = representative(to_arch_str(sample))
        row = rows[arch]
        classes_seen.add(arch)
        if row["valid"] > best_valid:
            best_valid, best_test = row["valid"], row["test"]
        strategy.tell(sample, row["valid"])
        curve.append(best_test)
    return curve


def _runs(jobs: int, tasks: list[tuple[Any, ...]]) -> list[list[float]]:
    """``run_strategy(*task)`` for each task, in order; over ``jobs`` processes if more than one
    (every run is seeded on its own, so the results do not depend on ``jobs``)."""
    if jobs <= 1:
        return [run_strategy(*task) for task in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run_strategy, *zip(*tasks)))


def _summary(runs: list[list[float]], trials: int, optimum: float) -> dict[str, Any]:
    """Mean / std / sem of the best-on-valid test accuracy at each checkpoint, and the seeds at the
    table's optimum (the class best on valid, as the searches judge)."""
    out: dict[str, Any] = {}
    for c in CHECKPOINTS:
        if c > trials:
            continue
        values = [r[min(c, len(r)) - 1] * 100 for r in runs]
        sd = statistics.stdev(values)
        out[str(c)] = {"mean": round(statistics.mean(values), 2), "std": round(sd, 2),
                       "sem": round(sd / math.sqrt(len(values)), 2),
                       "at_optimum": sum(v >= optimum * 100 - 1e-9 for v in values)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=None)
    parser.add_argument("--nb201", default=str(NB201_CSV))
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=1, help="processes for the strategy runs (results do not depend on it)")
    parser.add_argument("--strategies", default="random,evolution,tpe,local_search,bananas,gp")
    parser.add_argument("--warm", default="synflow,jacob_cov",
                        help="also run --warm-strategies with each of these proxies' warm start ('' for none): the best --warm-top "
                             "of --warm-pool tabulated classes drawn per seed, scored by proxies.py fashion")
    parser.add_argument("--warm-strategies", default="random,evolution")
    parser.add_argument("--warm-pool", type=int, default=100)
    parser.add_argument("--warm-top", type=int, default=10)
    args = parser.parse_args()
    start = time.time()
    table = load_fashion201(args.table, protocol=PROTOCOL)
    mean_test = {a: statistics.mean(e["test_acc"] for e in s.values()) for a, s in table.items()}
    mean_valid = {a: statistics.mean(e["valid_acc"] for e in s.values()) for a, s in table.items()}
    seconds = [e["cpu_seconds"] or e["train_seconds"] for s in table.values() for e in s.values()]
    report: dict[str, Any] = {
        "protocol": PROTOCOL.name, "archs": len(table), "entries": sum(len(s) for s in table.values()),
        "of_unique_classes": 6466, "test_accuracy": distribution(list(mean_test.values())),
        "top_vs_median_points": round((max(mean_test.values()) - statistics.median(mean_test.values())) * 100, 2),
        "noise_ceiling": noise_ceiling(table),
        "cpu_seconds_per_entry": {"median": round(statistics.median(seconds), 1), "total_hours": round(sum(seconds) / 3600, 2)},
        "file_bytes": Path(args.table or DEFAULT_PATH).stat().st_size,
        "archs_with_seeds": {str(k): sum(len(s) == k for s in table.values())
                             for k in sorted({len(s) for s in table.values()})},
    }
    if Path(args.nb201).exists():
        nb = load_table(args.nb201)
        common = [a for a in table if a in nb]
        report["vs_nb201_cifar10_test"] = {
            "archs": len(common),
            "kendall_tau": round(float(stats.kendalltau([mean_test[a] for a in common], [nb[a]["cifar10_test"] for a in common]).statistic), 3),
            "spearman_rho": round(float(stats.spearmanr([mean_test[a] for a in common], [nb[a]["cifar10_test"] for a in common]).statistic), 3)}
    rows = {a: {"valid": mean_valid[a], "test": mean_test[a]} for a in table}
    trials = min(max(CHECKPOINTS), len(rows))
    optimum = rows[max(rows, key=lambda a: rows[a]["valid"])]["test"]  # what a search on valid can find
    curves: dict[str, Any] = {}
    for name in filter(None, args.strategies.split(",")):
        curves[name] = _summary(_runs(args.jobs, [(name, seed, rows, trials, None) for seed in range(args.seeds)]),
                                trials, optimum)
    warm_proxies = [p for p in args.warm.split(",") if p]
    if warm_proxies:
        scores = json.loads((ROOT / "benchmarks" / "results" / "proxies_fashion201_scores.json").read_text())
    for proxy in warm_proxies:
        scored = sorted(a for a in rows if math.isfinite(scores.get(a, {}).get(proxy, math.nan)))
        if len(scored) < args.warm_pool:
            raise SystemExit(f"{len(scored)} table classes have a {proxy} score; run `proxies.py fashion` first")
        for name in filter(None, args.warm_strategies.split(",")):
            tasks = []
            for seed in range(args.seeds):
                pool = random.Random(1000 + seed).sample(scored, args.warm_pool)
                top = sorted(pool, key=lambda a: -scores[a][proxy])[:args.warm_top]
                tasks.append((name, seed, rows, trials, top))
            curves[f"{name}+{proxy}"] = _summary(_runs(args.jobs, tasks), trials, optimum)
    if warm_proxies:
        curves["warm_start"] = {"proxies": warm_proxies, "pool": args.warm_pool, "top": args.warm_top}
    report["strategies"] = {"seeds": args.seeds, "searched": f"the {len(rows)} tabulated classes", "curves": curves}
    report["optimum_test"] = round(max(mean_test.values()) * 100, 2)
    report["seconds"] = round(time.time() - start, 1)
    out = ROOT / "benchmarks" / "results" / "fashion201_report.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
