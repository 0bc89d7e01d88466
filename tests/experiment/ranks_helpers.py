"""Module-level evaluators and a scheduler for the multi-process trial tests (ranks import them by name)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import distributed as dist
from torch import nn

from archspace.evaluate import FunctionalEvaluator, TrialContext
from archspace.experiment import run_trial
from archspace.schedule import Scheduler
from archspace.testing import TinySpace

STEPS = 3
LEARNING_RATE = 0.1


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The whole batch (16 rows); with several ranks, each trains on its contiguous share."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 4, generator=generator), torch.randn(16, 4, generator=generator)


def ddp_fit(model: nn.Module, ctx: TrialContext) -> dict[str, Any]:
    """SGD on a mean-squared error, data-parallel (DDP) when a process group runs.

    By the sample's x: 1 SIGKILLs rank 1 after its first step, 3 sleeps past any timeout; the
    others train. Every rank notes in the trial folder what it saw (pid, sample, torchrun's
    environment), and reports its loss per step.
    """
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    folder = ctx.output_dir
    if folder is not None:
        seen = {"pid": os.getpid(), "sample": ctx.sample, "backend": dist.get_backend() if world > 1 else None,
                **{key: os.environ.get(key) for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                         "MASTER_PORT")}}
        (folder / f"rank{rank}.json").write_text(json.dumps(seen))
    inputs, targets = batch()
    targets = targets[:, :ctx.sample["hidden"]]
    share = len(inputs) // world
    inputs, targets = inputs[rank * share:(rank + 1) * share], targets[rank * share:(rank + 1) * share]
    net: nn.Module = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    loss = torch.tensor(0.0)
    x = ctx.sample["x"]
    for step in range(1, STEPS + 1):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(inputs), targets)
        loss.backward()
        optimizer.step()
        if x == 1 and rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if x == 3:
            time.sleep(60)
        ctx.report(float(loss.detach()), step=step)
    return {"default": float(loss.detach()), "rank": rank}


class StopAt(Scheduler):
    """Stops trials whose id is in ``trials`` at ``step`` (a scheduler with a known verdict)."""

    name = "stop_at"

    def __init__(self, trials: list[int], step: int) -> None:
        self.trials = list(trials)
        self.step = step
        super().__init__()

    def on_report(self, trial_id: int, step: int, value: float) -> bool:
        return trial_id in self.trials and step >= self.step

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "trials": self.trials, "step": self.step}


def alive(pid: int) -> bool:
    """Whether process ``pid`` is still running (a zombie, already dead, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


EVALUATOR = FunctionalEvaluator(ddp_fit, direction="minimize")


def single_process_weights(tmp_path: Path, trial_id: int, sample: dict[str, int]) -> dict[str, torch.Tensor]:
    """The weights one process reaches training the same trial on the whole batch."""
    result = run_trial(TinySpace(), EVALUATOR, trial_id, sample, lambda step, value: False, tmp_path / "single",
                       keep_weights=True)
    assert result.status.value == "succeeded", result.error
    return torch.load(tmp_path / "single" / "trials" / str(trial_id) / "model.pt", weights_only=True)


def ranks_seen(folder: Path) -> list[dict[str, Any]]:
    """What each rank of a trial noted (see :func:`ddp_fit`)."""
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(2)]


def check_equal_to_one_process(tmp_path: Path, trial_id: int, sample: dict[str, int]) -> None:
    """Both ranks of the trial saw one sample and torchrun's environment, and rank 0's trained weights
    equal one process's on the whole batch (DDP averaged the two halves' gradients)."""
    folder = tmp_path / "trials" / str(trial_id)
    seen = ranks_seen(folder)
    assert [s["RANK"] for s in seen] == ["0", "1"] and {s["WORLD_SIZE"] for s in seen} == {"2"}
    assert seen[0]["sample"] == seen[1]["sample"] == sample  # one sample, rank 0's, on every rank
    assert seen[0]["MASTER_PORT"] == seen[1]["MASTER_PORT"] and {s["backend"] for s in seen} == {"gloo"}
    trained = torch.load(folder / "model.pt", weights_only=True)  # rank 0's
    for name, reference in single_process_weights(tmp_path, trial_id, sample).items():
        torch.testing.assert_close(trained[name], reference, rtol=1e-5, atol=1e-6)
