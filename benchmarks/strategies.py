"""Strategies on NAS-Bench-201 (CIFAR-10): how good is the architecture each finds, and how fast.

Protocol (the benchmark's): search on the validation accuracy; report the test accuracy of the
architecture that is best on validation so far, after 50, 100, 200 and 500 trials; mean ± std
over seeds; and how many seeds have the optimum (the architecture best on validation, whose test
accuracy is the table's highest) by then. Each run drives the strategy's ask/tell loop directly
against the table, so strategy cost (ask + tell per trial) is measured alone: its mean over all
trials and over the last 50, and over the first 200 trials and trials 151-200.

    .venv/bin/python benchmarks/strategies.py --table ../shared/benchmarks/nb201/nb201_cifar10.csv \
        [--seeds 50] [--trials 500] [--strategies random,grid,evolution,tpe,rl,local_search,bananas,gp]
        [--merge]  # keep the other strategies' rows of the previous results

``optuna_gp`` (Optuna's ``GPSampler`` through the TPE strategy's ask/tell adapter) can be named
too; it is measured beside ``gp``, not shipped as a strategy.

Writes benchmarks/results/strategies_nb201.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# One BLAS thread per run (set before numpy loads): with one run per core, numpy's default thread
# pool oversubscribes the cores, and a GP's n x n algebra then measured 20x slower under load.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.benchmarks import NB201Table, load_table  # noqa: E402
from archspace.hub import NasBench201  # noqa: E402
from archspace.hub.nasbench201 import to_arch_str  # noqa: E402
from archspace.strategy import STRATEGIES, TPE, Strategy  # noqa: E402

CHECKPOINTS = (50, 100, 200, 500)
# The settings the benchmark uses (the classes' defaults stay the papers').
SETTINGS: dict[str, dict[str, Any]] = {
    "random": {},
    "grid": {"shuffle": True},
    "evolution": {"population_size": 20, "sample_size": 10, "mutation_prob": 0.05},
    "tpe": {"n_startup_trials": 20, "n_ei_candidates": 32},
    "rl": {"batch_size": 5, "learning_rate": 0.05, "reward_scale": 0.01 * 10, "entropy_weight": 1e-3},
    "local_search": {"n_initial": 10},
    "bananas": {},
    "gp": {},
    "optuna_gp": {"n_startup_trials": 10},
}


class OptunaGP(TPE):
    """Optuna's GPSampler in place of TPE's sampler (the same adapter: categorical suggestions by
    index, re-seeded per ask, constant liar n/a): measured beside GPBO, not registered."""

    def _sampler(self) -> Any:
        import optuna

        return optuna.samplers.GPSampler(seed=(self.seed or 0) * 1_000_003 + self._asks,
                                         n_startup_trials=self.n_startup_trials, deterministic_objective=True)


def make(name: str, settings: dict[str, Any]) -> Strategy:
    """A registered strategy, or the benchmark-only ``optuna_gp``."""
    return OptunaGP(**settings) if name == "optuna_gp" else STRATEGIES[name](**settings)

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
    strategy = make(name, settings)
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

    def ms(part: list[float]) -> float:
        return sum(part) / len(part) * 1000 if part else math.nan

    return {"strategy": name, "seed": seed, "curve": curve, "ms_per_trial": ms(costs), "ms_per_trial_last50": ms(costs[-50:]),
            "ms_per_trial_200": ms(costs[:200]), "ms_trials_151_200": ms(costs[150:200])}


def encodings(table_path: str, out: Path, repeats: int = 5) -> None:
    """How well BANANAS's ensemble ranks unseen cells from n random training cells, per encoding
    (Spearman correlation on 2,000 held-out cells, and on the held-out cells in the top 5%)."""
    import numpy as np

    from archspace.strategy._encoding import Encoder
    from archspace.strategy._mlp import MLPEnsemble

    table = _table(table_path)
    space = NasBench201(channels=4, num_cells=1).search_space()
    cells = list(space.enumerate())
    valid = np.array([table[to_arch_str(c)]["cifar10_valid"] for c in cells])

    def spearman(a: Any, b: Any) -> float:
        return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])

    results: dict[str, Any] = {}
    for kind in ("generic", "path", "generic+path"):
        x = Encoder(space, kind).encode(cells)
        for n in (25, 50, 100, 200):
            overall, top = [], []
            for repeat in range(repeats):
                order = np.random.default_rng(repeat).permutation(len(cells))
                train, test = order[:n], order[n:n + 2000]
                y = np.maximum(valid[train], np.quantile(valid[train], 0.1))
                net = MLPEnsemble(x.shape[1], seed=repeat)
                net.fit(x[train], (y - y.mean()) / y.std(), steps=300)
                pred = net.predict(x[test]).mean(axis=0)
                overall.append(spearman(pred, valid[test]))
                best = valid[test] >= np.quantile(valid, 0.95)
                top.append(spearman(pred[best], valid[test][best]))
            results[f"{kind} n={n}"] = {"spearman": statistics.mean(overall), "spearman_top5pct": statistics.mean(top)}
            print(f"{kind:13s} n={n:3d}  spearman {statistics.mean(overall):.3f}  top 5% {statistics.mean(top):.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", default=str(ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"))
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--strategies", default="random,grid,evolution,tpe,rl,local_search,bananas,gp")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "strategies_nb201"))
    parser.add_argument("--set", action="append", default=[], metavar="STRATEGY.KEY=JSON",
                        help="override a setting, e.g. --set rl.learning_rate=0.1")
    parser.add_argument("--suffix", default="", help="appended to the rows' names (e.g. ' (500 trials)')")
    parser.add_argument("--merge", action="store_true", help="keep the rows of strategies not run now from --out's json")
    parser.add_argument("--replot", action="store_true", help="only rewrite the table and draw the plot from --out's json")
    parser.add_argument("--encodings", action="store_true",
                        help="only measure the predictor's ranking per encoding (writes ..._encodings.json)")
    args = parser.parse_args()
    if args.encodings:
        encodings(args.table, Path(args.out + "_encodings.json"))
        return
    if args.replot:
        saved = json.loads(Path(args.out).with_suffix(".json").read_text())
        write_table(saved["summary"], saved["seeds"], saved["trials"], saved["optimum"], Path(args.out))
        plot(saved["summary"], saved["optimum"], Path(args.out))
        return
    for item in args.set:
        key, _, value = item.partition("=")
        strategy_name, _, setting = key.partition(".")
        SETTINGS[strategy_name][setting] = json.loads(value)
    names = args.strategies.split(",")
    jobs = [(name, args.table, seed, args.trials, SETTINGS[name]) for name in names for seed in range(args.seeds)]
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(run_one, jobs, chunksize=1))
    optimum = load_table(args.table).best("cifar10_test")
    out = Path(args.out)
    summary: dict[str, Any] = {}
    if args.merge and out.with_suffix(".json").exists():
        summary = json.loads(out.with_suffix(".json").read_text())["summary"]
    for name in names:
        mine = [r for r in runs if r["strategy"] == name]
        row: dict[str, Any] = {"settings": SETTINGS[name], "seeds": len(mine), "trials": args.trials}
        for c in CHECKPOINTS:
            if c > args.trials:
                continue
            values = [r["curve"][min(c, len(r["curve"])) - 1] for r in mine]
            mean, std = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
            row[str(c)] = {"mean": mean, "std": std, "sem": std / math.sqrt(len(values)),
                           "at_optimum": sum(v >= optimum - 1e-9 for v in values)}
        for key in ("ms_per_trial", "ms_per_trial_last50", "ms_per_trial_200", "ms_trials_151_200"):
            row[f"{key}_median"] = statistics.median(r[key] for r in mine)
        length = min(len(r["curve"]) for r in mine)
        row["mean_curve"] = [round(statistics.mean(r["curve"][i] for r in mine), 4) for i in range(length)]
        summary[name + args.suffix] = row
    write_table(summary, args.seeds, args.trials, optimum, out)
    print(f"{args.seeds} seeds; {time.time() - start:.0f} s")
    plot(summary, optimum, out)


def write_table(summary: dict[str, Any], seeds_now: int, trials_now: int, optimum: float, out: Path) -> None:
    """The markdown table and the json of ``summary``; a row run with other seeds than ``seeds_now`` says so."""
    checkpoints = [c for c in CHECKPOINTS if any(str(c) in row for row in summary.values())]
    lines = ["| strategy | " + " | ".join(f"{c} trials" for c in checkpoints)
             + " | seeds at the optimum (100 / 200 / 500) | ask+tell per trial (mean; last 50) "
             "| ask+tell, first 200 trials (mean; trials 151-200) |", "|---" * (4 + len(checkpoints)) + "|"]
    for name, row in summary.items():
        cells = [f"{row[str(c)]['mean']:.2f} ± {row[str(c)]['std']:.2f}" if str(c) in row else "—" for c in checkpoints]
        hits = " / ".join(str(row[str(c)].get("at_optimum", "—")) if str(c) in row else "—" for c in (100, 200, 500))
        seeds = row.get("seeds", seeds_now)
        first200 = (f"{row['ms_per_trial_200_median']:.2f} ms; " + (f"{row['ms_trials_151_200_median']:.2f} ms"
                    if math.isfinite(row["ms_trials_151_200_median"]) else "—") if "ms_per_trial_200_median" in row else "—")
        label = name if seeds == seeds_now else f"{name} ({seeds} seeds)"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {hits} of {seeds} | {row['ms_per_trial_median']:.2f} ms; "
                     f"{row['ms_per_trial_last50_median']:.2f} ms | {first200} |")
    table_md = "\n".join(lines)
    print(table_md)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"seeds": seeds_now, "trials": trials_now, "optimum": optimum,
                                                    "summary": summary}, indent=2) + "\n")
    out.with_suffix(".md").write_text(table_md + f"\n\nMean ± std over {seeds_now} seeds of the CIFAR-10 test "
                                      f"accuracy of the architecture best on validation so far (optimum {optimum:.2f}); "
                                      "seeds at the optimum: those whose best-on-validation architecture is the "
                                      "table's best.\n")


def plot(summary: dict[str, Any], optimum: float, out: Path) -> None:
    """The best-so-far curves (mean over seeds) of the rows that carry one."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, row in summary.items():
        if "mean_curve" in row:
            ax.plot(range(1, len(row["mean_curve"]) + 1), row["mean_curve"], label=f"{name} ({row['seeds']} seeds)")
    ax.axhline(optimum, color="grey", linestyle=":", label=f"optimum {optimum:.2f}")
    ax.set_xscale("log")
    ax.set_ylim(92.5, 94.5)
    ax.set_xlabel("trials")
    ax.set_ylabel("test accuracy of best-on-validation (%)")
    ax.set_title("NAS-Bench-201 CIFAR-10, mean over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(f"wrote {out.with_suffix('.png')}")

if __name__ == "__main__":
    main()
