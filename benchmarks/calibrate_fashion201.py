"""Calibrate the Fashion-201 protocol: time per architecture on one core, spread and seed-to-seed tau.

Trains ``--archs`` unique NB201 architectures (drawn uniformly, seeded) with seeds 0 and 1 under each
candidate protocol, ``--workers`` processes at a time (each with one torch thread), and reports per
protocol: seconds per architecture (mean, median, max), the test-accuracy distribution, the
top-vs-median spread (max minus median of the per-architecture mean test accuracy, in points) and
Kendall's tau / Spearman's rho between the two seeds' test (and valid) accuracies.

    python benchmarks/calibrate_fashion201.py --archs 16 --candidates c4 c8
Writes benchmarks/results/fashion201_calibration.json (needs Fashion-MNIST:
``apt install dataset-fashion-mnist``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from scipy import stats  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archspace.benchmarks.fashion201 import PROTOCOL, Protocol, train_one, unique_archs, versions  # noqa: E402
from archspace.benchmarks.fashion201_table import load_fashion201  # noqa: E402

#: What the candidates change (the first default protocol, stated in full so the candidates stay what they were).
BASE = Protocol(name="calibration", channels=8, num_cells=1, stem_stride=1, pad=0, train_size=10_000,
                valid_size=10_000, split_seed=0, epochs=4, batch_size=128, eval_batch_size=1000,
                optimizer="sgd-nesterov", momentum=0.9, learning_rate=0.1, weight_decay=5e-4,
                schedule="cosine-per-batch", augmentation="none", threads=1)
#: Candidate protocols (differences from :data:`BASE`); the chosen one is :data:`PROTOCOL`.
CANDIDATES: dict[str, dict[str, Any]] = {
    "c4": {"channels": 4, "train_size": 8000, "valid_size": 5000, "epochs": 3},
    "c8": {"channels": 8, "train_size": 5000, "valid_size": 5000, "epochs": 3},
    "c4e5": {"channels": 4, "train_size": 8000, "valid_size": 5000, "epochs": 5},
    "c8e5": {"channels": 8, "train_size": 6000, "valid_size": 5000, "epochs": 5},
    # stride-2 stem on images padded to 32x32 (stages at 16, 8, 4: NB201's ImageNet-16 scale)
    "c8s2e3": {"channels": 8, "stem_stride": 2, "pad": 2, "train_size": 12000, "valid_size": 5000, "epochs": 3},
    "c8s2e4": {"channels": 8, "stem_stride": 2, "pad": 2, "train_size": 12000, "valid_size": 5000, "epochs": 4},
    # three cells per stage: the cell is more of the network, so it should matter more
    "c8s2n3e3": {"channels": 8, "num_cells": 3, "stem_stride": 2, "pad": 2, "train_size": 8000,
                 "valid_size": 5000, "epochs": 3},
    # round 4 (the table's first 60 cells under c8s2n3e3 = fashion201-v1 spread only 3.6 points):
    # shorter (the spread shrinks as the cosine schedule converges) or deeper (NB201's 5 cells)
    "c8s2n3e2": {"channels": 8, "num_cells": 3, "stem_stride": 2, "pad": 2, "train_size": 8000,
                 "valid_size": 5000, "epochs": 2},
    "c8s2n5e3": {"channels": 8, "num_cells": 5, "stem_stride": 2, "pad": 2, "train_size": 8000,
                 "valid_size": 5000, "epochs": 3},
}


def _job(args: tuple[str, dict[str, Any], str, int]) -> dict[str, Any]:
    name, changes, arch, seed = args
    protocol = dataclasses.replace(BASE, name=f"calibration-{name}", **changes)
    return {"candidate": name, **train_one(arch, seed, protocol=protocol).to_dict()}


def _summary(rows: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any]:
    by_arch: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        by_arch.setdefault(r["arch"], {})[r["seed"]] = r
    archs = [a for a, s in by_arch.items() if 0 in s and 1 in s]
    mean_test = sorted(statistics.mean(s["test_acc"] for s in by_arch[a].values()) for a in by_arch)
    seconds = [r["train_seconds"] for r in rows]
    cpu = [r["cpu_seconds"] for r in rows]
    t0 = [by_arch[a][0]["test_acc"] for a in archs]
    t1 = [by_arch[a][1]["test_acc"] for a in archs]
    v0 = [by_arch[a][0]["valid_acc"] for a in archs]
    v1 = [by_arch[a][1]["valid_acc"] for a in archs]
    return {
        "protocol": dataclasses.asdict(protocol),
        "runs": len(rows), "archs": len(by_arch), "archs_with_two_seeds": len(archs),
        "seconds_per_arch": {"mean": round(statistics.mean(seconds), 2), "median": round(statistics.median(seconds), 2),
                             "min": round(min(seconds), 2), "max": round(max(seconds), 2)},
        "cpu_seconds_per_arch": {"mean": round(statistics.mean(cpu), 2), "median": round(statistics.median(cpu), 2),
                                 "min": round(min(cpu), 2), "max": round(max(cpu), 2)},
        "test_acc_mean_over_seeds": {"min": mean_test[0], "median": statistics.median(mean_test),
                                     "max": mean_test[-1]},
        "top_vs_median_points": round(100 * (mean_test[-1] - statistics.median(mean_test)), 2),
        "seed_kendall_tau_test": round(float(stats.kendalltau(t0, t1).statistic), 3),
        "seed_spearman_rho_test": round(float(stats.spearmanr(t0, t1).statistic), 3),
        "seed_kendall_tau_valid": round(float(stats.kendalltau(v0, v1).statistic), 3),
        "mean_abs_seed_diff_points": round(100 * statistics.mean(abs(a - b) for a, b in zip(t0, t1)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="seeds the draw of architectures")
    parser.add_argument("--from-table", action="store_true",
                        help="take the first --archs cells of the Fashion-201 build's draw, and report the shipped "
                             "table's protocol on the same cells beside the candidates")
    parser.add_argument("--candidates", nargs="+", default=["c4", "c8"], choices=sorted(CANDIDATES))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "fashion201_calibration.json"))
    args = parser.parse_args()
    if args.from_table:
        order = list(unique_archs())
        random.Random(0).shuffle(order)  # the draw of benchmarks/build_fashion201.py
        archs = order[:args.archs]
    else:
        archs = random.Random(args.seed).sample(unique_archs(), args.archs)
    jobs = [(name, CANDIDATES[name], arch, seed) for name in args.candidates for arch in archs for seed in (0, 1)]
    start = time.time()
    rows: list[dict[str, Any]] = []
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for i, row in enumerate(pool.imap_unordered(_job, jobs), start=1):
            rows.append(row)
            print(f"[{i}/{len(jobs)}] {row['candidate']} seed {row['seed']} test {row['test_acc']:.4f} "
                  f"{row['train_seconds']:.1f}s wall {row['cpu_seconds']:.1f}s cpu {row['arch']}", flush=True)
    round_: dict[str, Any] = {
        "command": "python benchmarks/calibrate_fashion201.py " + " ".join(sys.argv[1:]),
        "machine": f"{mp.cpu_count()} CPUs (shared), {args.workers} worker processes with 1 torch thread each",
        "wall_seconds": round(time.time() - start, 1), "versions": versions(),
        "candidates": {name: _summary([r for r in rows if r["candidate"] == name],
                                      dataclasses.replace(BASE, name=f"calibration-{name}", **CANDIDATES[name]))
                       for name in args.candidates},
        "runs": rows,
    }
    if args.from_table:
        table = load_fashion201()
        shipped = [{"candidate": table.protocol["name"], "arch": a, "seed": seed, **table[a][seed]}
                   for a in archs if a in table for seed in (0, 1) if seed in table[a]]
        if shipped:
            round_["candidates"][table.protocol["name"]] = _summary(shipped, PROTOCOL)
    append_round(Path(args.out), round_)
    print(json.dumps({k: v for k, v in round_.items() if k != "runs"}, indent=1))


def append_round(path: Path, round_: dict[str, Any]) -> None:
    """Add one calibration round to the results file (created with the targets if missing)."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {
        "targets": {"cpu_seconds_per_arch": 20, "top_vs_median_points": ">= 5", "seed_kendall_tau_test": ">= 0.6"},
        "rounds": []}
    data["rounds"].append(round_)
    path.write_text(json.dumps(data, indent=1) + "\n")

if __name__ == "__main__":
    main()
