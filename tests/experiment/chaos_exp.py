"""The chaos test's experiment: 300 samples, trials of random length that log every evaluation,
one trial that leaks past the workers' memory limit. Run by `archspace run`, killed, resumed."""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import archspace as asp
from archspace.evaluate import FunctionalEvaluator, TrialContext
from archspace.experiment import Experiment, ProcessExecutor
from archspace.strategy import Random

LOG = os.environ.get("ARCHSPACE_CHAOS_LOG", "chaos.log")


class ChaosSpace(asp.ModelSpace):
    """100 x 3 samples, a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.x = asp.choice("x", list(range(100)))
        self.fc = asp.nn.Linear(4, asp.choice("hidden", [2, 4, 8]))


def chaos_metric(model: Any, ctx: TrialContext) -> float:
    """Logs (trial, sample, pid) when it starts, sleeps a little, leaks on trial 17."""
    with open(LOG, "a") as log:
        log.write(json.dumps({"trial": ctx.trial_id, "sample": ctx.sample, "pid": os.getpid()}) + "\n")
    if ctx.trial_id == 17:
        hoard = [bytearray(2**20) for _ in range(4096)]  # 4 GiB: past the limit, MemoryError
        return float(len(hoard))
    time.sleep(random.Random(ctx.trial_id).uniform(0.05, 0.3))
    return float(ctx.sample["x"] + ctx.sample["hidden"])


experiment = Experiment(
    ChaosSpace(), FunctionalEvaluator(chaos_metric), Random(),
    max_trials=int(os.environ.get("ARCHSPACE_CHAOS_TRIALS", "40")), seed=3, progress=False,
    executor=ProcessExecutor(2, trial_timeout=4, startup_timeout=20, worker_memory_limit=300),
    directory=os.environ.get("ARCHSPACE_CHAOS_DIR", "runs/chaos"),
)
