"""Stores written directly through SQLiteStorage (what a driver writes), for cases a short real run
cannot reach quickly: hostile texts, objectives, one-shot epochs, thousands of trials."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archspace.hub.darts import DARTS_V2
from archspace.storage import SQLiteStorage

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def write_store(directory: Path, config: Mapping[str, Any], trials: list[dict[str, Any]],
                epochs: list[dict[str, Any]] | None = None) -> Path:
    """An experiment directory whose store holds ``trials`` (sample, status, metric, metrics, error, curve)."""
    storage = SQLiteStorage(directory / "experiment.db")
    storage.set_config(dict(config))
    for t in trials:
        trial_id = storage.create_trial(t["sample"], None)
        storage.start_trial(trial_id, "w0")
        for step, value in t.get("curve", []):
            storage.add_intermediate(trial_id, step, value)
        if t.get("status", "succeeded") != "running":
            storage.finish_trial(trial_id, t.get("status", "succeeded"), t.get("metric"), t.get("metrics"),
                                 t.get("error"))
    for i, record in enumerate(epochs or []):
        storage.add_epoch(i, record)
    storage.flush()
    storage.close()
    return directory


def hostile(directory: Path) -> Path:
    """Labels, values, config and error texts that carry markup."""
    sample = {HOSTILE: HOSTILE, "x": 1}
    return write_store(directory, {"strategy": HOSTILE, "direction": "maximize"}, [
        {"sample": sample, "metric": 1.0, "metrics": {HOSTILE: HOSTILE}, "curve": [(1, 0.5)]},
        {"sample": {**sample, "x": 2}, "status": "failed", "error": "Traceback\n" + HOSTILE},
    ])


def multi_objective(directory: Path) -> Path:
    """Six trials on an accuracy / latency trade-off: four on the front, two beaten."""
    points = [(0.9, 5.0), (0.8, 2.0), (0.7, 1.0), (0.95, 9.0), (0.6, 4.0), (0.75, 6.0)]
    return write_store(directory, {"strategy": "RegularizedEvolution", "direction": "maximize",
                                   "objectives": [["accuracy", "maximize"], ["latency_ms", "minimize"]]}, [
        {"sample": {"x": i}, "metric": a, "metrics": {"accuracy": a, "latency_ms": lat}}
        for i, (a, lat) in enumerate(points)])


def oneshot(directory: Path, epochs: int = 4) -> Path:
    """A DARTS-style search's records: each epoch's losses, validation metric, sample and distributions."""
    ops = ["sep_conv_3x3", "skip_connect", "max_pool_3x3"]
    records = []
    for e in range(epochs):
        distribution = {label: ({str(v): (0.8 if v == value else 0.2 / 4) for v in range(5)} if "input" in label
                                else {op: (0.2 + 0.2 * e if op == ops[0] else (0.8 - 0.2 * e) / 2) for op in ops})
                        for label, value in DARTS_V2.items()}
        records.append({"train_loss": 2.0 - 0.3 * e, "arch_loss": 2.1 - 0.3 * e, "val_metric": 0.3 + 0.1 * e,
                        "seconds": 1.5,
                        "sample": DARTS_V2, "distribution": distribution})
    return write_store(directory, {"strategy": "DARTS", "kind": "oneshot", "direction": "maximize"},
                       [{"sample": DARTS_V2, "metric": 0.6, "metrics": {"default": 0.6},
                         "curve": [(e + 1, 0.3 + 0.1 * e) for e in range(epochs)]}], records)


def asha(directory: Path) -> Path:
    """An ASHA run's records (as a real one with ``max_resource=3`` wrote them): 3 trials ran their 3
    steps, 7 were pruned after their first report, each with that single point as its curve."""
    trials = []
    for i in range(10):
        sample = {"x": i, "act": ["relu", "tanh"][i % 2], "width": [2, 4, 8][i % 3]}
        if i in (0, 2, 5):
            trials.append({"sample": sample, "metric": 6.0 + i, "metrics": {"default": 6.0 + i},
                           "curve": [(s, (6.0 + i) * s / 3) for s in (1, 2, 3)]})
        else:
            trials.append({"sample": sample, "status": "pruned", "metric": 0.5 + i / 10,
                           "metrics": {"default": 0.5 + i / 10}, "curve": [(1, 0.5 + i / 10)]})
    return write_store(directory, {"strategy": "Random", "direction": "maximize", "kind": "multi-trial",
                                   "scheduler": {"name": "asha", "max_resource": 3}}, trials)


def many(directory: Path, n: int, *, seed: int = 0) -> Path:
    """``n`` succeeded trials over a 4-decision space, each with a 5-step curve (for the benchmark)."""
    rng = random.Random(seed)
    trials = []
    for _ in range(n):
        sample = {"depth": rng.choice([2, 4, 6]), "width": rng.choice([16, 32, 64, 128]),
                  "act": rng.choice(["relu", "gelu", "tanh"]), "kernel": rng.choice([3, 5, 7])}
        metric = rng.random()
        trials.append({"sample": sample, "metric": metric, "metrics": {"default": metric},
                       "curve": [(s, metric * s / 5) for s in range(1, 6)]})
    return write_store(directory, {"strategy": "Random", "direction": "maximize", "kind": "multi-trial"}, trials)
