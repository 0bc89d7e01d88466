"""Trial overhead of the experiment engine: wall time minus evaluator time, per trial.

A no-op evaluator, 500 trials, inline and with the process pool (concurrency 2), on a tiny space
and on the NAS-Bench-201 and DARTS hub spaces (there with an evaluator that, like a tabular
benchmark, skips building the model: the engine's own cost is what is measured), each measured
REPEATS times side by side in this one run; prints and writes the medians, and each space's size. The
engine as it runs for users: the driver lock, SQLite with a checkpoint after every finished trial,
worker recycling armed (MemoryError), strategy checkpoints after every ask and tell.

Then one long run (``--long 2500`` trials, inline, a deduplicating Random strategy on a space of
32,768 samples, so the strategy's state grows with every trial): the cost per trial over the first
and the last 250 trials, from the trials' recorded end times, shows whether late trials get slower.

    .venv/bin/python benchmarks/trial_overhead.py [--trials 500] [--repeats 3] [--long 2500]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archspace as asp  # noqa: E402
from archspace.evaluate import FunctionalEvaluator  # noqa: E402
from archspace.experiment import Experiment  # noqa: E402
from archspace.strategy import Random  # noqa: E402
from archspace.testing import TinySpace  # noqa: E402
from tests.experiment.helpers import noop  # noqa: E402  (module level: workers import it)


class FiveByEight(asp.ModelSpace):
    """Five 8-way choices (32,768 samples) in front of a linear layer: cheap to freeze, big enough for
    thousands of distinct samples."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c, self.d = (asp.choice(k, list(range(8))) for k in "abcd")
        self.fc = asp.nn.Linear(4, asp.choice("hidden", [1, 2, 3, 4, 5, 6, 7, 8]))


def size(name: str) -> dict[str, Any]:
    """How big each space is (modules, parameters, decisions), and what freezing one sample costs
    (the worker's share of a trial, outside the engine's overhead)."""
    space = _space(name)
    sample = space.random_sample(seed=0)
    start = time.perf_counter()
    for _ in range(3):
        model = space.freeze(sample)
    return {"modules": sum(1 for _ in space.modules()), "decisions": len(space.search_space()),
            "params_of_a_sample": asp.count_params(model), "freeze_ms": (time.perf_counter() - start) / 3 * 1000}


def long_run(trials: int, window: int = 250) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Experiment(FiveByEight(), FunctionalEvaluator(noop), Random(dedup=True), max_trials=trials,
                                executor="inline", directory=tmp, progress=False)
        start = time.perf_counter()
        records = experiment.run()
        wall = time.perf_counter() - start
    assert len(records) == trials and all(r.status == "succeeded" for r in records)
    ends = [r.ended_at or 0.0 for r in records]
    return {"trials": trials, "mean_ms_per_trial": wall / trials * 1000,
            f"first_{window}_ms_per_trial": (ends[window] - ends[0]) / window * 1000,
            f"last_{window}_ms_per_trial": (ends[-1] - ends[-window - 1]) / window * 1000}


class NoModel(FunctionalEvaluator):
    """The no-op evaluator, told not to build the model (as a tabular benchmark evaluator is):
    what remains per trial is the engine's own work on the driver side."""

    needs_model = False


def _space(name: str) -> asp.ModelSpace:
    from archspace.hub import DartsSpace, NasBench201

    return {"tiny": TinySpace, "nb201": NasBench201, "darts": DartsSpace}[name]()


def measure(executor: str, trials: int, concurrency: int, space: str = "tiny") -> tuple[float, float]:
    evaluator = FunctionalEvaluator(noop) if space == "tiny" else NoModel(noop)
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Experiment(_space(space), evaluator, Random(dedup=False), max_trials=trials,
                                concurrency=concurrency, executor=executor, directory=tmp, progress=False)
        start = time.perf_counter()
        records = experiment.run()
        wall = time.perf_counter() - start
    assert len(records) == trials and all(r.status == "succeeded" for r in records)
    # steady state: from the first trial's start to the last one's end, so the one-time start-up
    # (spawning workers, sending them the space) is left out
    first = min(r.started_at or 0.0 for r in records)
    last = max(r.ended_at or 0.0 for r in records)
    return wall / trials * 1000, (last - first) / trials * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long", type=int, default=2500, help="trials in the long run (0: skip it)")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # interleaved, so all see the same machine load
        for space in ("tiny", "nb201", "darts"):
            suffix = "" if space == "tiny" else f"_{space}"
            runs.setdefault(f"inline{suffix}", []).append(measure("inline", args.trials, 1, space)[0])
            total, steady = measure("process", args.trials, 2, space)
            runs.setdefault(f"process_c2{suffix}", []).append(total)
            runs.setdefault(f"process_c2{suffix}_steady", []).append(steady)
    for name, values in runs.items():
        results[name] = {"median_ms_per_trial": statistics.median(values), "runs_ms_per_trial": values}
        print(f"{name:17s} overhead per trial: median {statistics.median(values):6.2f} ms  "
              f"(runs: {', '.join(f'{v:.2f}' for v in values)})")
    results["model_size"] = {name: size(name) for name in ("tiny", "nb201", "darts")}
    if args.long:
        results["long_inline"] = long_run(args.long)
        print("long inline run: " + ", ".join(f"{k} {v:.2f}" for k, v in results["long_inline"].items()))
    out = ROOT / "benchmarks" / "results" / "trial_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "trials": args.trials, "repeats": args.repeats, "evaluator": "no-op (returns 0.0)",
        "note": "wall time of Experiment.run() per trial; the no-op evaluator spends ~0 s, so this is all overhead "
                "(process includes starting 2 spawn workers once)",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": __import__("os").cpu_count()},
        "results": results,
    }, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
