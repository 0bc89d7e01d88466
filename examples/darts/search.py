"""DARTS search on CIFAR-10 (Liu et al., ICLR 2019, section 3.1).

Half of the CIFAR-10 training set trains the weights, the other half the architecture; 8 cells,
16 channels, batch 64, 50 epochs, first or second order. The architecture JSON is written after
every epoch (``arch_epoch_N.json``; ``arch_history.json`` holds the distributions), and the final
one to ``<output>/arch.json`` for ``retrain.py --arc-checkpoint``.

    python examples/darts/search.py --data /path/to/cifar-10-batches-py [--order 2]
    python examples/darts/search.py --smoke      # a few steps on generated CIFAR-shaped tensors
    torchrun --nproc_per_node 2 examples/darts/search.py --data ...   # data-parallel (gloo / nccl)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.evaluate.data import augment, cifar10, normalize  # noqa: E402
from archspace.hub import DartsSpace  # noqa: E402
from archspace.oneshot import DARTS  # noqa: E402


class Batches:
    """Shuffled, normalised batches, re-drawn (and, for training, re-augmented) every epoch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, size: int, seed: int, train: bool) -> None:
        self.x, self.y, self.size, self.train = x, y, size, train
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(0, len(self.x) - self.size + 1, self.size):
            idx = order[i:i + self.size]
            images = augment(self.x[idx], self.generator) if self.train else self.x[idx]
            yield normalize(images), self.y[idx]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder with CIFAR-10's python-format batches")
    parser.add_argument("--output", default="runs/darts-search")
    parser.add_argument("--order", type=int, default=1, choices=[1, 2])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="2 steps on generated tensors, a small network")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.smoke:
        g = torch.Generator().manual_seed(0)
        x, y = torch.rand(32, 3, 32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)
        args.epochs, args.batch_size, args.channels, args.layers = 1, 8, 4, 5
    else:
        if not args.data:
            parser.error("--data is required (or --smoke)")
        x, y = cifar10(args.data, train=True)
    if "WORLD_SIZE" in os.environ:  # under torchrun: one data shard per rank, gradients averaged
        import torch.distributed as dist

        dist.init_process_group("nccl" if str(args.device).startswith("cuda") else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if str(args.device).startswith("cuda"):
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        x, y = x[rank::world], y[rank::world]
    half = len(x) // 2
    trainer = DARTS(order=args.order, epochs=args.epochs)
    space = DartsSpace(width=args.channels, num_cells=args.layers, search=True)
    train = Batches(x[:half], y[:half], args.batch_size, 0, True)
    val = Batches(x[half:], y[half:], args.batch_size, 1, False)
    sample = trainer.fit(space, train, val, directory=args.output, device=args.device, resume=args.resume)
    if int(os.environ.get("RANK", 0)) == 0:
        out = Path(args.output) / "arch.json"
        out.write_text(json.dumps(sample, indent=2) + "\n")
        print(f"architecture written to {out}")


if __name__ == "__main__":
    main()
