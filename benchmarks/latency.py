"""Predicted vs measured end-to-end latency: the lookup table on this CPU, both backends.

For two hub spaces (NAS-Bench-201 with 8 channels and 3 cells per stage; DARTS, multi-trial form,
width 8, 3 cells) at batch 1, 3x32x32, one thread: measure the table (every unit timed alone),
calibrate it on CAL random networks that are not among the evaluation set (a plain line, and
the default per-kind correction: each candidate kind's slope shrunk towards the common one), then time N random
networks end to end (interleaved rounds, the process pinned to one CPU, each module cycling
through 8 inputs; each figure the first quartile of REPEATS calls by default, robust on a 2-core
machine shared with other jobs, whose preemptions only add time; --quantile 0.5 gives medians)
and compare with the table's predictions,
uncalibrated, line-calibrated and calibrated: Spearman's rank correlation and the fraction within ±10 %.
Targets (issue 11): rho >= 0.95 and >= 90 % within ±10 %.

    .venv/bin/python benchmarks/latency.py [--samples 50] [--calibration 24] [--repeats 30] [--size reduced|default]

Writes benchmarks/results/latency.json (and the tables as latency_<space>_<backend>.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.hardware import LatencyTable, measure_networks  # noqa: E402
from archspace.hardware.latency import device_name  # noqa: E402
from archspace.hub import DartsSpace, NasBench201  # noqa: E402
from archspace.nn.space import ModelSpace  # noqa: E402

SHAPE = (1, 3, 32, 32)
RESULTS = ROOT / "benchmarks" / "results"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def figures(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    rel = (predicted - measured) / measured
    return {"spearman_rho": round(spearman(predicted, measured), 4),
            "within_10pct": round(float(np.mean(np.abs(rel) <= 0.10)), 3),
            "median_abs_rel_error": round(float(np.median(np.abs(rel))), 4),
            "max_abs_rel_error": round(float(np.max(np.abs(rel))), 4)}


def run(name: str, space: ModelSpace, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    table = LatencyTable.measure(space, SHAPE, backend=backend, threads=1, repeats=args.repeats, warmup=5,
                                 quantile=args.quantile)
    measure_s = time.perf_counter() - t0
    rng = np.random.default_rng(123)
    evaluation = [space.random_sample(int(s)) for s in rng.integers(2**31, size=args.samples)]
    calib = [space.random_sample(10**6 + i) for i in range(args.calibration)]
    t1 = time.perf_counter()
    # Calibration and evaluation networks timed in the same interleaved rounds: both see the same load.
    timed = measure_networks(space, calib + evaluation, input_shape=SHAPE, backend=backend, threads=1,
                             repeats=args.repeats, warmup=5, quantile=args.quantile)
    measured = np.array(timed[len(calib):])
    eval_s = time.perf_counter() - t1
    raw = np.array([table.predict(s, calibrated=False) for s in evaluation])
    table.fit(calib, timed[: len(calib)], per_kind=False)
    line = np.array([table.predict(s) for s in evaluation])
    fit = table.fit(calib, timed[: len(calib)])  # per kind when there are enough networks (the default)
    cal = np.array([table.predict(s) for s in evaluation])
    suffix = ("" if args.size == "reduced" else "_default_size") + (f"_{args.tag}" if args.tag else "")
    table.save(RESULTS / f"latency_{name}_{backend}{suffix}.json")
    row = {"space": name, "backend": backend, "units": table.meta["units"],
           "timed_modules": table.meta["timed_modules"], "fixed_ms": round(table.fixed_ms, 4),
           "measured_ms_range": [round(float(measured.min()), 3), round(float(measured.max()), 3)],
           "uncalibrated": figures(raw, measured), "calibrated_line": figures(line, measured),
           "calibrated": figures(cal, measured),
           "calibration": {k: (round(v, 4) if isinstance(v, float) else
                               {a: round(b, 4) for a, b in v.items()} if isinstance(v, dict) else v)
                           for k, v in fit.items() if k != "relative_residuals"},
           "calibration_residuals": [round(r, 4) for r in fit["relative_residuals"]],
           "measure_table_s": round(measure_s, 1), "calibrate_and_evaluate_s": round(eval_s, 1)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--calibration", type=int, default=24,
                        help="networks timed to calibrate (not among the evaluated ones)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quantile", type=float, default=0.25,
                        help="figure kept per timed thing: 0.25 the first quartile (default: robust on a shared machine), 0 the fastest call, 0.5 the median")
    parser.add_argument("--size", choices=("reduced", "default"), default="reduced",
                        help="reduced: NB201 8 channels x 3 cells, DARTS width 8 x 3 cells; default: the hub "
                             "spaces' default sizes (NB201 16 x 5, DARTS width 16 x 8 cells)")
    parser.add_argument("--spaces", default="nasbench201,darts", help="comma-separated: nasbench201, darts")
    parser.add_argument("--backends", default="torch,onnxruntime", help="comma-separated: torch, onnxruntime")
    parser.add_argument("--tag", default="", help="appended to the result files' names (e.g. median)")
    args = parser.parse_args()
    if args.size == "default":
        spaces = {"nasbench201": NasBench201(), "darts": DartsSpace(search=False)}
        described = {"nasbench201": "NasBench201() (16 channels, 5 cells)",
                     "darts": "DartsSpace(search=False) (width 16, 8 cells)"}
    else:
        spaces = {"nasbench201": NasBench201(channels=8, num_cells=3),
                  "darts": DartsSpace(width=8, num_cells=3, search=False)}
        described = {"nasbench201": "NasBench201(channels=8, num_cells=3)",
                     "darts": "DartsSpace(width=8, num_cells=3, search=False)"}
    chosen, backends = args.spaces.split(","), args.backends.split(",")
    rows = [run(name, space, backend, args) for name, space in spaces.items() if name in chosen for backend in backends]
    suffix = ("" if args.size == "reduced" else "_default_size") + (f"_{args.tag}" if args.tag else "")
    out = RESULTS / f"latency{suffix}.json"
    out.write_text(json.dumps({
        "device": device_name(torch.device("cpu")), "torch": torch.__version__, "threads": 1,
        "input_shape": list(SHAPE), "quantile": args.quantile, "spaces": described,
        "targets": {"spearman_rho": 0.95, "within_10pct": 0.9}, "rows": rows,
        "command": "benchmarks/latency.py " + " ".join(sys.argv[1:])}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
