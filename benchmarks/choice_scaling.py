"""How decisions scale with their number of candidates: building, validating, sampling, a trial.

For a choice of 1k, 5k and 20k integer values: the time to build it (``asp.choice``), to
validate a sample of a space holding it, to draw ``random_sample`` from that space, and the
bookkeeping of one trial on a tiny ModelSpace that uses it (``search_space()`` + ``freeze``).
Each figure is the median of REPEATS runs. Linear scaling shows as a 20k/1k ratio near 20
(the duplicate check of the candidates used to be quadratic: a ratio near 400).

    .venv/bin/python benchmarks/choice_scaling.py [--repeats 7]

Writes benchmarks/results/choice_scaling.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archspace as asp  # noqa: E402

SIZES = (1_000, 5_000, 20_000)


class WideSpace(asp.ModelSpace):
    """One choice with ``n`` candidates, stored as an attribute (a decision of the model)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.k = asp.choice("k", list(range(n)))
        self.fc = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def trial(space: WideSpace, sample: dict[str, Any]) -> None:
    """The per-trial bookkeeping: list the space's decisions, build the sample's model."""
    space.search_space()
    space.freeze(sample)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, dict[str, float]] = {}
    for n in SIZES:
        values = list(range(n))
        space = asp.SearchSpace({"k": asp.Categorical(values, "k")})
        model_space = WideSpace(n)
        sample = {"k": n - 1}
        results[str(n)] = {
            "build_ms": median_ms(partial(asp.choice, "k", values), args.repeats),
            "validate_ms": median_ms(partial(space.validate, sample), args.repeats),
            "random_sample_ms": median_ms(partial(space.random_sample, 0), args.repeats),
            "trial_bookkeeping_ms": median_ms(partial(trial, model_space, sample), args.repeats),
        }
    first, last = results[str(SIZES[0])], results[str(SIZES[-1])]
    ratios = {k: last[k] / first[k] for k in first}
    out = {
        "sizes": list(SIZES),
        "repeats": args.repeats,
        "results": results,
        f"ratio_{SIZES[-1]}_over_{SIZES[0]}": ratios,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    print(f"{'values':>8} {'build':>10} {'validate':>10} {'random_sample':>14} {'trial bookkeeping':>18}  (ms, median)")
    for n in SIZES:
        r = results[str(n)]
        print(f"{n:>8} {r['build_ms']:>10.3f} {r['validate_ms']:>10.4f} {r['random_sample_ms']:>14.4f} "
              f"{r['trial_bookkeeping_ms']:>18.3f}")
    print("ratio 20k/1k: " + ", ".join(f"{k} {v:.1f}" for k, v in ratios.items()) + "  (linear: ~20, quadratic: ~400)")
    path = ROOT / "benchmarks" / "results" / "choice_scaling.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
