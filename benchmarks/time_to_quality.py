"""Time to quality: ASHA against full training, for Random and RegularizedEvolution.

NAS-Bench-201's shared table (../shared/benchmarks/nb201) holds only the 200-epoch results, no
per-epoch validation curves, so this benchmark trains for real: a small CNN space on sklearn's
digits (8x8 images, 1,347 train / 450 validation), ``--epochs`` epochs of Adam per full training
(the evaluator reports validation accuracy after every epoch). Each (strategy, seed) pair runs
the same number of trials twice: with full training, and with ASHA (min 1 epoch, max
``--epochs``, reduction factor 3). Trials run inline, one at a time, one torch thread, so epochs
and wall time add up in order.

Reported per strategy and mode, mean ± sd over seeds: the best validation accuracy found (of a
fully trained trial), the epochs and seconds spent, and the epochs and seconds until a fully
trained trial first reached each of ``--targets`` (mean over the seeds that did; how many did is
recorded); and ASHA's fraction of the full-training epochs and seconds.

    .venv/bin/python benchmarks/time_to_quality.py [--seeds 3] [--trials 20] [--epochs 9] [--targets 0.9,0.93,0.95]

Writes benchmarks/results/time_to_quality.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import archspace as asp  # noqa: E402
from archspace.data import create_dataset  # noqa: E402
from archspace.evaluate import Classification  # noqa: E402
from archspace.experiment import Experiment  # noqa: E402
from archspace.schedule import ASHA  # noqa: E402
from archspace.storage import TrialRecord, TrialStatus  # noqa: E402
from archspace.strategy import Random, RegularizedEvolution, Strategy  # noqa: E402


class DigitsNet(asp.ModelSpace):
    """4 widths x 3 kernels x 3 depths x 3 activations = 108 CNNs, from poor (width 4, 1x1 kernels,
    no nonlinearity) to good; every model is small enough for an epoch in a fraction of a second."""

    def __init__(self) -> None:
        super().__init__()
        width = asp.choice("width", [4, 8, 16, 32])
        kernel = asp.choice("kernel", [1, 3, 5])
        self.stem = asp.nn.Conv2d(1, width, kernel, padding=kernel // 2)
        self.act = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh(), "identity": nn.Identity()}, label="act")
        self.blocks = asp.Repeat(
            lambda i: nn.Sequential(asp.nn.Conv2d(width, width, 3, padding=1), nn.ReLU()),
            depth=asp.choice("depth", [0, 1, 2]),
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = asp.nn.Linear(width * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.act(self.stem(x)))
        return self.head(self.pool(x).flatten(1))


def _strategy(name: str) -> Strategy:
    return Random() if name == "random" else RegularizedEvolution(population_size=8, sample_size=3)


def _summary(trials: list[TrialRecord], targets: list[float], start: float) -> dict[str, Any]:
    """Epochs and seconds spent in order of completion, and until a full trial first reached each target.

    Trials run inline one after the other, so the wall time spent by the end of a trial is its
    end time less the run's start (the inline executor records a trial's start only at its end).
    """
    epochs = seconds = 0.0
    reached: dict[str, dict[str, float] | None] = {str(target): None for target in targets}
    best = None
    for t in sorted(trials, key=lambda t: (t.ended_at or 0.0, t.id)):
        epochs += len(t.intermediates)
        seconds = (t.ended_at or start) - start
        if t.status is TrialStatus.SUCCEEDED and t.metric is not None:
            best = t.metric if best is None else max(best, t.metric)
            for target in targets:
                if reached[str(target)] is None and t.metric >= target:
                    reached[str(target)] = {"epochs": epochs, "seconds": seconds}
    return {"best": best, "epochs": epochs, "seconds": seconds, "reached": reached,
            "pruned": sum(t.status is TrialStatus.PRUNED for t in trials)}


def _mean_sd(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--targets", default="0.9,0.93,0.95", help="validation accuracies, comma-separated")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "time_to_quality.json"))
    args = parser.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    torch.set_num_threads(1)
    train, val = create_dataset("digits")
    space = DigitsNet()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    started = time.perf_counter()
    for name in ("random", "evolution"):
        for mode in ("full", "asha"):
            for seed in range(args.seeds):
                evaluator = Classification(train, val, epochs=args.epochs, batch_size=64, learning_rate=3e-3, seed=seed)
                scheduler = ASHA(min_resource=1, max_resource=args.epochs, reduction_factor=3) if mode == "asha" else None
                experiment = Experiment(space, evaluator, _strategy(name), max_trials=args.trials, executor="inline",
                                        seed=seed, progress=False, scheduler=scheduler)
                start = time.time()
                result = _summary(experiment.run(), targets, start)
                runs.setdefault(name, {}).setdefault(mode, []).append(result)
                print(f"{name:9s} {mode:4s} seed {seed}: best {result['best']:.4f}, {result['epochs']:.0f} epochs, "
                      f"{result['seconds']:.1f} s, pruned {result['pruned']}", flush=True)
    summary: dict[str, Any] = {}
    for name, modes in runs.items():
        summary[name] = {}
        for mode, results in modes.items():
            to_target = {}
            for target in targets:
                reached = [r["reached"][str(target)] for r in results if r["reached"][str(target)] is not None]
                to_target[str(target)] = {"epochs": _mean_sd([r["epochs"] for r in reached]),
                                          "seconds": _mean_sd([r["seconds"] for r in reached]),
                                          "seeds_reaching": len(reached)}
            summary[name][mode] = {
                "best_val_accuracy": _mean_sd([r["best"] for r in results]),
                "epochs": _mean_sd([r["epochs"] for r in results]),
                "seconds": _mean_sd([r["seconds"] for r in results]),
                "to_target": to_target,
            }
        full, asha = summary[name]["full"], summary[name]["asha"]
        summary[name]["asha_fraction_of_epochs"] = asha["epochs"]["mean"] / full["epochs"]["mean"]
        summary[name]["asha_fraction_of_seconds"] = asha["seconds"]["mean"] / full["seconds"]["mean"]
        print(f"{name}: best full {full['best_val_accuracy']['mean']:.4f}±{full['best_val_accuracy']['sd']:.4f}, "
              f"asha {asha['best_val_accuracy']['mean']:.4f}±{asha['best_val_accuracy']['sd']:.4f}; "
              f"ASHA epochs {summary[name]['asha_fraction_of_epochs']:.2f}x, "
              f"seconds {summary[name]['asha_fraction_of_seconds']:.2f}x of full training")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "time_to_quality", "data": "sklearn digits (1347 train / 450 val)", "space": "DigitsNet (108 CNNs)",
        "settings": vars(args) | {"asha": {"min_resource": 1, "max_resource": args.epochs, "reduction_factor": 3}},
        "why_not_nb201": "the shared NB201 table has only 200-epoch results, no per-epoch validation curves",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                    "cpus": platform.processor() or platform.machine()},
        "total_seconds": time.perf_counter() - started,
        "summary": summary, "runs": runs,
    }, indent=2) + "\n")
    print(f"wrote {out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
