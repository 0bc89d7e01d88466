"""ENAS search, macro or micro (Pham et al., ICML 2018), on Fashion-MNIST or CIFAR-10.

Half of the training images train the shared weights, the other half score the controller's
paths (the paper holds out 5,000 CIFAR-10 images for the reward). After the search the paper's
selection picks the architecture: ``--best-of N`` draws N paths from the trained controller and
keeps the one with the best validation accuracy under the shared weights (``--best-of 0``: the
controller's most likely path). Writes ``arch_epoch_N.json``/``arch_history.json`` per epoch and
the final choice to ``<output>/arch.json`` for ``retrain.py --arc``.

    python examples/enas/search.py --search-for macro              # Fashion-MNIST (Debian's files)
    python examples/enas/search.py --search-for micro --cifar /path/to/cifar-10-batches-py
    python examples/enas/search.py --search-for micro --smoke      # a few steps on generated tensors
    torchrun --nproc_per_node 2 examples/enas/search.py --search-for macro   # data-parallel (gloo / nccl)
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from retrain import load_data, make_space  # noqa: E402

from archspace.oneshot import ENAS  # noqa: E402


class Batches:
    """Shuffled batches, re-drawn every epoch (seeded)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, size: int, seed: int) -> None:
        self.x, self.y, self.size = x, y, size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(0, len(self.x) - self.size + 1, self.size):
            yield self.x[order[i:i + self.size]], self.y[order[i:i + self.size]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--search-for", choices=["macro", "micro"], required=True)
    parser.add_argument("--cifar", help="folder with CIFAR-10's python batches (default: Fashion-MNIST)")
    parser.add_argument("--output", default=None, help="default: runs/enas-<macro|micro>")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--layers", type=int, default=None, help="default: 6 (macro), 3 (micro)")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=1)
    parser.add_argument("--controller-steps", type=int, default=1)
    parser.add_argument("--best-of", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="2 steps on generated tensors, a small network")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    output = Path(args.output or f"runs/enas-{args.search_for}")
    if args.smoke:
        args.epochs, args.batch_size, args.width, args.best_of = 1, 8, 4, 2
        args.layers = args.layers or (3 if args.search_for == "macro" else 1)
        args.nodes = 2 if args.search_for == "micro" else args.nodes
    layers = args.layers or (6 if args.search_for == "macro" else 3)
    (x, y), _ = load_data(args, args.smoke)
    if "WORLD_SIZE" in os.environ:  # under torchrun: one data shard per rank, the same paths on all
        import torch.distributed as dist

        dist.init_process_group("nccl" if str(args.device).startswith("cuda") else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if str(args.device).startswith("cuda"):
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        x, y = x[rank::world], y[rank::world]
    half = len(x) // 2
    space = make_space(args.search_for, width=args.width, layers=layers, in_channels=x.shape[1], nodes=args.nodes)
    micro = args.search_for == "micro"  # the official settings per space
    trainer = ENAS(epochs=args.epochs, seed=args.seed, controller_steps=args.controller_steps,
                   controller_learning_rate=3.5e-3 if micro else 1e-3, tanh_constant=1.1 if micro else 1.5,
                   temperature=5.0 if micro else None, final_draws=args.best_of)
    val = Batches(x[half:], y[half:], args.batch_size, 1)
    # the answer: the best of --best-of controller draws by validation reward (the greedy path if 0)
    sample = trainer.fit(space, Batches(x[:half], y[:half], args.batch_size, 0), val, directory=output,
                         device=args.device, resume=args.resume)
    if trainer.answer_score is not None:
        print(f"best of {args.best_of} paths: validation accuracy {trainer.answer_score:.4f} with the shared weights")
    if int(os.environ.get("RANK", 0)) == 0:
        (output / "arch.json").write_text(json.dumps(sample, indent=2) + "\n")
        print(f"architecture written to {output / 'arch.json'}")


if __name__ == "__main__":
    main()
