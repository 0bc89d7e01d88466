"""Trial overhead of the Ray executor beside the process pool: no-op trials, the engine's own cost.

The same measurement as ``benchmarks/trial_overhead.py`` (its ``NoModel`` evaluator: returns 0.0 and
skips building the model, so what remains per trial is the engine's work), on the tiny space with
concurrency 2, both executors in this one run, interleaved over ``--repeats`` rounds; medians reported.
Per executor and round:

- ``total``: wall time of ``Experiment.run()`` divided by the trials, start-up included;
- ``steady``: from the first trial's start to the last one's end, divided by the trials (the
  cost per trial once workers are up: what a long search pays);
- ``startup``: from ``run()`` to the first trial's start (the process pool spawns its workers;
  the Ray executor starts a local Ray and its first worker processes).

On a Ray already running (``ray.init()`` before the experiment, or a joined cluster: every
experiment after the first), ``warm``: start-up to the first trial with the executor's inbox actor
pickled by value (the library: its process starts without importing archspace and torch) beside
by reference (before: the actor's process imported them), interleaved, on one local Ray.

And Ray's own floor on this machine: a no-op Ray task, two in flight at a time, as a round trip
(submit, run, ``ray.wait``, ``ray.get``) on an already running local Ray.

    .venv/bin/python benchmarks/ray_overhead.py [--trials 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from trial_overhead import NoModel  # noqa: E402  (module level: workers import it)

from archspace.experiment import Experiment  # noqa: E402
from archspace.strategy import Random  # noqa: E402
from archspace.testing import TinySpace  # noqa: E402
from tests.experiment.helpers import noop  # noqa: E402


def measure(executor: str, trials: int) -> dict[str, float]:
    """One run of ``trials`` no-op trials, two at a time: ms per trial (total, steady) and start-up s."""
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Experiment(TinySpace(), NoModel(noop), Random(dedup=False), max_trials=trials, concurrency=2,
                                executor=executor, directory=tmp, progress=False)
        began = time.time()
        start = time.perf_counter()
        records = experiment.run()
        wall = time.perf_counter() - start
    assert len(records) == trials and all(r.status == "succeeded" for r in records)
    first = min(r.started_at or 0.0 for r in records)
    last = max(r.ended_at or 0.0 for r in records)
    return {"total_ms": wall / trials * 1000, "steady_ms": (last - first) / trials * 1000, "startup_s": first - began}


def _noop_task() -> int:
    return 0


def ray_floor(tasks: int) -> float:
    """ms per no-op Ray task, two in flight, on a local Ray started beforehand (not timed)."""
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, logging_level=logging.WARNING)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_noop_task)
        ray.get([task.remote() for _ in range(4)])  # workers up
        start = time.perf_counter()
        running = [task.remote() for _ in range(2)]
        done = 0
        while done < tasks:
            ready, running = ray.wait(running, num_returns=1)
            ray.get(ready)
            done += 1
            if done + len(running) < tasks:
                running.append(task.remote())
        return (time.perf_counter() - start) / tasks * 1000
    finally:
        ray.shutdown()


def warm_startup(trials: int, repeats: int) -> dict[str, list[float]]:
    """Start-up to the first trial (s) of experiments on one running local Ray, the inbox actor
    pickled by value (as the executor does) and by reference (its earlier form), interleaved."""
    from ray import cloudpickle

    from archspace.experiment.executors import _ray_inbox

    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, logging_level=logging.WARNING)
    register = cloudpickle.register_pickle_by_value
    figures: dict[str, list[float]] = {"by_value": [], "by_reference": []}
    try:
        measure("ray", trials)  # the trial workers up (they import archspace either way)
        for _ in range(repeats):
            for form in figures:
                if form == "by_reference":
                    cloudpickle.unregister_pickle_by_value(_ray_inbox)
                    cloudpickle.register_pickle_by_value = lambda module: None  # the executor's call, undone
                try:
                    figures[form].append(measure("ray", trials)["startup_s"])
                finally:
                    cloudpickle.register_pickle_by_value = register
    finally:
        ray.shutdown()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warm-repeats", type=int, default=7, help="experiments per form on a running Ray")
    args = parser.parse_args()
    runs: dict[str, dict[str, list[float]]] = {"process_c2": {}, "ray_c2": {}}
    floor: list[float] = []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name, executor in (("process_c2", "process"), ("ray_c2", "ray")):
            for key, value in measure(executor, args.trials).items():
                runs[name].setdefault(key, []).append(value)
        floor.append(ray_floor(args.trials))
    results: dict[str, Any] = {}
    for name, figures in runs.items():
        results[name] = {f"median_{key}": statistics.median(values) for key, values in figures.items()}
        results[name]["runs"] = figures
        print(f"{name:10s} per no-op trial: total {results[name]['median_total_ms']:7.2f} ms, steady "
              f"{results[name]['median_steady_ms']:6.2f} ms; start-up {results[name]['median_startup_s']:5.2f} s  "
              f"(steady runs: {', '.join(f'{v:.2f}' for v in figures['steady_ms'])})")
    results["ray_task_floor"] = {"median_ms_per_task": statistics.median(floor), "runs_ms_per_task": floor}
    print(f"bare Ray no-op task, 2 in flight: median {statistics.median(floor):.2f} ms "
          f"(runs: {', '.join(f'{v:.2f}' for v in floor)})")
    warm = warm_startup(20, args.warm_repeats)
    results["ray_warm_startup_s"] = {**{f"median_{form}": statistics.median(v) for form, v in warm.items()},
                                     "runs": warm}
    print(f"on a running Ray, start-up to the first trial: inbox by value median "
          f"{statistics.median(warm['by_value']):.2f} s, by reference {statistics.median(warm['by_reference']):.2f} s "
          f"(by value: {', '.join(f'{v:.2f}' for v in warm['by_value'])}; "
          f"by reference: {', '.join(f'{v:.2f}' for v in warm['by_reference'])})")
    out = ROOT / "benchmarks" / "results" / "ray_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "trials": args.trials, "repeats": args.repeats, "concurrency": 2,
        "evaluator": "no-op (returns 0.0, needs_model=False), tiny space",
        "note": "total: Experiment.run() wall time per trial, start-up included (process: spawning 2 workers; "
                "ray: ray.init of a local Ray plus its worker processes); steady: first trial start to last "
                "trial end per trial; startup: run() to the first trial's start. ray_task_floor: a bare no-op "
                "Ray task round trip, 2 in flight, on a running Ray. ray_warm_startup_s: run() to the first "
                "trial's start of 20-trial experiments on one running local Ray (its trial workers warm), the "
                "inbox actor pickled by value (the executor) or by reference (its earlier form), interleaved",
        "command": "python benchmarks/ray_overhead.py " + " ".join(sys.argv[1:]),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "ray": ray.__version__,
                    "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "results": results,
    }, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
