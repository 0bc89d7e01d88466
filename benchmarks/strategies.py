"""Strategies on NAS-Bench-201 (CIFAR-10): how good is the architecture each finds, and how fast.

Protocol (the benchmark's): search on the validation accuracy; report the test accuracy of the
architecture that is best on validation so far, after 50, 100, 200 and 500 trials; mean ± std
over seeds. Each run drives the strategy's ask/tell loop directly against the table, so strategy
cost (ask + tell per trial) is measured alone.

    .venv/bin/python benchmarks/strategies.py --table ../shared/benchmarks/nb201/nb201_cifar10.csv \
        [--seeds 50] [--trials 500] [--strategies random,grid,evolution,tpe,rl]

Writes benchmarks/results/strategies_nb201.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.benchmarks import NB201Table, load_table  # noqa: E402
from archspace.hub import NasBench201  # noqa: E402
from archspace.hub.nasbench201 import to_arch_str  # noqa: E402
from archspace.strategy import STRATEGIES, Strategy  # noqa: E402

CHECKPOINTS = (50, 100, 200, 500)
# The settings the benchmark uses (the classes' defaults stay the papers').
SETTINGS: dict[str, dict[str, Any]] = {
    "random": {},
    "grid": {"shuffle": True},
    "evolution": {"population_size": 20, "sample_size": 10, "mutation_prob": 0.05},
    "tpe": {"n_startup_trials": 20, "n_ei_candidates": 32},
    "rl": {"batch_size": 5, "learning_rate": 0.05, "reward_scale": 0.01 * 10, "entropy_weight": 1e-3},
}

_TABLE: NB201Table | None = None


def _table(path: str) -> NB201Table:
    global _TABLE
    if _TABLE is None:
        _TABLE = load_table(path)
    return _TABLE


def run_one(args: tuple[str, str, int, int, dict[str, Any]]) -> dict[str, Any]:
    """One strategy run: best-on-validation test accuracy at each checkpoint, and its cost."""
    name, table_path, seed, trials, settings = args
    import torch

    torch.set_num_threads(1)  # one run per core: no oversubscription
    table = _table(table_path)
    space = NasBench201(channels=4, num_cells=1).search_space()  # the decisions only
    strategy: Strategy = STRATEGIES[name](**settings)
    strategy.setup(space, seed, "maximize")
    best_valid = -math.inf
    best_test = 0.0
    curve: list[float] = []
    costs: list[float] = []
    for _ in range(trials):
        start = time.perf_counter()
        sample = strategy.ask()
        spent = time.perf_counter() - start
        if sample is None:
            break
        row = table[to_arch_str(sample)]
        if row["cifar10_valid"] > best_valid:
            best_valid, best_test = row["cifar10_valid"], row["cifar10_test"]
        start = time.perf_counter()
        strategy.tell(sample, row["cifar10_valid"])
        costs.append(spent + time.perf_counter() - start)
        curve.append(best_test)
    return {"strategy": name, "seed": seed, "curve": curve, "ms_per_trial": sum(costs) / max(len(costs), 1) * 1000,
            "ms_per_trial_last50": sum(costs[-50:]) / max(len(costs[-50:]), 1) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", default=str(ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"))
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--strategies", default="random,grid,evolution,tpe,rl")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "strategies_nb201"))
    parser.add_argument("--set", action="append", default=[], metavar="STRATEGY.KEY=JSON",
                        help="override a setting, e.g. --set rl.learning_rate=0.1")
    args = parser.parse_args()
    for item in args.set:
        key, _, value = item.partition("=")
        strategy_name, _, setting = key.partition(".")
        SETTINGS[strategy_name][setting] = json.loads(value)
    names = args.strategies.split(",")
    jobs = [(name, args.table, seed, args.trials, SETTINGS[name]) for name in names for seed in range(args.seeds)]
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(run_one, jobs, chunksize=2))
    optimum = load_table(args.table).best("cifar10_test")
    summary: dict[str, Any] = {}
    lines = ["| strategy | " + " | ".join(f"{c} trials" for c in CHECKPOINTS if c <= args.trials)
             + " | ask+tell per trial (mean; last 50) |", "|---" * (2 + sum(c <= args.trials for c in CHECKPOINTS)) + "|"]
    for name in names:
        mine = [r for r in runs if r["strategy"] == name]
        row: dict[str, Any] = {"settings": SETTINGS[name]}
        cells = []
        for c in CHECKPOINTS:
            if c > args.trials:
                continue
            values = [r["curve"][min(c, len(r["curve"])) - 1] for r in mine]
            mean, std = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
            row[str(c)] = {"mean": mean, "std": std, "sem": std / math.sqrt(len(values))}
            cells.append(f"{mean:.2f} ± {std:.2f}")
        cost = statistics.median(r["ms_per_trial"] for r in mine)
        last = statistics.median(r["ms_per_trial_last50"] for r in mine)
        row["ms_per_trial_median"] = cost
        row["ms_per_trial_last50_median"] = last
        summary[name] = row
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {cost:.2f} ms; {last:.2f} ms |")
    table_md = "\n".join(lines)
    print(table_md)
    print(f"optimum {optimum:.2f}; {args.seeds} seeds; {time.time() - start:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"seeds": args.seeds, "trials": args.trials, "optimum": optimum,
                                                    "summary": summary}, indent=2) + "\n")
    out.with_suffix(".md").write_text(table_md + f"\n\nMean ± std over {args.seeds} seeds of the CIFAR-10 test "
                                      f"accuracy of the architecture best on validation so far (optimum {optimum:.2f}).\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in names:
        mine = [r["curve"] for r in runs if r["strategy"] == name]
        length = min(len(c) for c in mine)
        means = [statistics.mean(c[i] for c in mine) for i in range(length)]
        ax.plot(range(1, length + 1), means, label=name)
    ax.axhline(optimum, color="grey", linestyle=":", label=f"optimum {optimum:.2f}")
    ax.set_xscale("log")
    ax.set_ylim(92.5, 94.5)
    ax.set_xlabel("trials")
    ax.set_ylabel("test accuracy of best-on-validation (%)")
    ax.set_title(f"NAS-Bench-201 CIFAR-10, mean of {args.seeds} seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(f"wrote {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
