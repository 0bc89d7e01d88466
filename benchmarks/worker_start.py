"""What a process-executor worker costs to start: ``forkserver`` (torch imported once) against ``spawn``.

Three situations, each measured for both start methods interleaved in one run (medians):

- **cold**: a fresh driver process (``python -c`` running one experiment of 2 trials, 2 workers):
  the whole process's wall time. The fork server is not running yet, so it is started and imports
  torch once; spawned workers import it each.
- **warm**: a second experiment in the same driver (a notebook, a test session, a script that runs
  several searches): 2 workers on the NAS-Bench-201 hub space, 2 trials, wall time of ``run()``.
- **recycled**: one experiment of 12 trials with ``max_trials_per_worker=1`` (a fresh worker per
  trial, as after every crash, timeout or ``MemoryError``): wall time per trial.

The evaluator skips building the model (as a tabular benchmark's does) and returns at once, so
what is measured is starting workers and the engine, on the hub space the workers rebuild.

    .venv/bin/python benchmarks/worker_start.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.experiment import Experiment, ProcessExecutor  # noqa: E402
from archspace.hub import NasBench201  # noqa: E402
from archspace.strategy import Random  # noqa: E402
from benchmarks.trial_overhead import NoModel  # noqa: E402  (the no-op evaluator that builds no model)
from tests.experiment.helpers import noop  # noqa: E402  (module level: workers import it)

METHODS = ("spawn", "forkserver")
COLD = """
import sys, tempfile
sys.path.insert(0, {root!r})
from benchmarks.worker_start import run
run({method!r}, trials=2, per_worker=None)
"""


def run(method: str, trials: int, per_worker: int | None) -> float:
    """Wall seconds of one experiment on the NB201 hub space with 2 workers started by ``method``."""
    with tempfile.TemporaryDirectory() as tmp:
        executor = ProcessExecutor(2, start_method=method, max_trials_per_worker=per_worker)
        experiment = Experiment(NasBench201(), NoModel(noop), Random(dedup=False), max_trials=trials,
                                executor=executor, directory=tmp, progress=False)
        start = time.perf_counter()
        records = experiment.run()
        wall = time.perf_counter() - start
    assert len(records) == trials and all(r.status == "succeeded" for r in records), records
    return wall


def cold(method: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", COLD.format(root=str(ROOT), method=method)], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {}
    for method in METHODS:  # start each method's machinery once before timing the warm cases
        run(method, trials=2, per_worker=None)
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for method in METHODS:
            runs.setdefault(f"cold_{method}_s", []).append(cold(method))
            runs.setdefault(f"warm_{method}_s", []).append(run(method, trials=2, per_worker=None))
            runs.setdefault(f"recycled_{method}_s_per_trial", []).append(run(method, trials=12, per_worker=1) / 12)
    results: dict[str, Any] = {}
    for name, values in runs.items():
        results[name] = {"median": statistics.median(values), "runs": values}
    for case in ("cold", "warm", "recycled"):
        unit = "_s_per_trial" if case == "recycled" else "_s"
        spawn, fork = (results[f"{case}_{m}{unit}"]["median"] for m in METHODS)
        results[f"{case}_ratio"] = spawn / fork
        print(f"{case:9s} spawn {spawn:6.2f} s   forkserver {fork:6.2f} s   ({spawn / fork:.1f}x)"
              + ("  per trial" if case == "recycled" else ""))
    out = ROOT / "benchmarks" / "results" / "worker_start.json"
    out.write_text(json.dumps({
        "repeats": args.repeats, "space": "NasBench201 hub space", "workers": 2,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpus": __import__("os").cpu_count()},
        "results": results,
    }, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
