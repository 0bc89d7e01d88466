"""SPOS speed: supernet step vs the same path as a plain frozen model; evolutionary-search scoring rate.

1. Step time: one SPOS training step (draw a path, forward, backward, SGD) on the ShuffleNetV2
   supernet against a step of the very same path frozen into a plain model, interleaved in one run
   (median of ``--steps`` each, paths redrawn per step and the frozen model of each built outside
   the timing). Target: ratio <= 1.2. Both block-only and channel-searched spaces.
2. Search: candidates scored per second by ``EvolutionSearch`` (subnet extraction, batch-norm
   recalibration on ``--calib`` images, accuracy on ``--val`` images), stated with the subset.

    python benchmarks/spos_step.py [--batch 64 --size 32 --steps 15]
Writes benchmarks/results/spos_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archspace.hub.shufflenet import ShuffleNetSpace  # noqa: E402
from archspace.oneshot import SPOS  # noqa: E402
from archspace.oneshot.spos_search import EvolutionSearch  # noqa: E402


def space_for(channel_search: bool) -> ShuffleNetSpace:
    """The paper's layout at half width (CPU-sized), 10 classes."""
    return ShuffleNetSpace(num_classes=10, stem_channels=16, stage_channels=(32, 80, 160, 320), last_channels=512,
                           channel_search=channel_search)


def step_times(channel_search: bool, batch: int, size: int, steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    space = space_for(channel_search)
    trainer = SPOS(epochs=1, seed=0, progress=False)
    supernet = trainer.build(space)
    supernet.train()
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.functional.cross_entropy
    spos, plain = [], []
    for i in range(steps + 2):
        start = time.perf_counter()
        trainer.step((x, y), (x, y), loss_fn)
        t_spos = time.perf_counter() - start
        model = space.freeze(trainer.last_path)  # the same path, plain
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4)
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), 5.0)
        opt.step()
        t_plain = time.perf_counter() - start
        if i >= 2:  # warm-up
            spos.append(t_spos)
            plain.append(t_plain)
    s, p = statistics.median(spos), statistics.median(plain)
    return {"spos_step_ms": 1000 * s, "plain_step_ms": 1000 * p, "ratio": s / p}


def search_rate(calib: int, val: int, size: int) -> dict[str, float]:
    torch.manual_seed(0)
    trainer = SPOS(epochs=1, seed=0, progress=False)
    supernet = trainer.build(space_for(False))
    g = torch.Generator().manual_seed(0)
    calibration = [(torch.randn(64, 3, size, size, generator=g), torch.randint(0, 10, (64,), generator=g))
                   for _ in range(calib // 64)]
    validation = [(torch.randn(250, 3, size, size, generator=g), torch.randint(0, 10, (250,), generator=g))
                  for _ in range(val // 250)]
    result = EvolutionSearch(population=8, select=4, mutation=3, crossover=3, generations=2).search(
        supernet, calibration, validation)
    return {"candidates": len(result.scored), "candidates_per_second": result.candidates_per_second,
            "seconds_per_candidate": result.seconds_scoring / len(result.scored)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--calib", type=int, default=1024)
    parser.add_argument("--val", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "spos_step.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {
        "settings": {"space": "ShuffleNetV2 SPOS, paper layout (4,4,8,4) at half width (32,80,160,320), 10 classes",
                     "batch": args.batch, "input": [3, args.size, args.size], "steps": args.steps,
                     "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
                     "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]},
        "step_block_search": step_times(False, args.batch, args.size, args.steps),
        "step_channel_search": step_times(True, args.batch, args.size, args.steps),
        "search": {"calibration_images": args.calib, "validation_images": args.val,
                   **search_rate(args.calib, args.val, args.size)},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
