"""What the three SPOS example scripts share: the space, the data, batching."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.data.readers import fashion_mnist_splits  # noqa: E402
from archspace.data.spos_preprocessing import spos_preprocess  # noqa: E402
from archspace.hub.shufflenet import ShuffleNetSpace  # noqa: E402

Tensors = tuple[torch.Tensor, torch.Tensor]


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="Fashion-MNIST IDX folder (default: $ARCHSPACE_FASHION_MNIST or Debian's)")
    parser.add_argument("--train-limit", type=int, default=None, help="use the first N training images")
    parser.add_argument("--val-limit", type=int, default=None, help="use the first N test images")
    parser.add_argument("--output", default="runs/spos")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--spos-preprocessing", action="store_true",
                        help="feed BGR values 0-255 as the official checkpoints expect (grayscale repeated to 3 channels)")
    parser.add_argument("--smoke", action="store_true", help="a few steps on generated tensors, a tiny network")


def space_kwargs(args: argparse.Namespace, *, channel_search: bool) -> dict[str, Any]:
    """The space's settings: the paper's layout at 0.25 width for 28x28 grayscale; tiny for --smoke."""
    kwargs: dict[str, Any] = {"num_classes": 10, "in_channels": 3 if args.spos_preprocessing else 1,
                              "channel_search": channel_search, "affine": False}
    if args.smoke:
        kwargs.update(stem_channels=4, stage_channels=[8, 16], stage_repeats=[1, 1], last_channels=16,
                      channel_scales=[0.5, 1.0])
    else:
        kwargs.update(stem_channels=16, stage_channels=[16, 40, 80, 160], stage_repeats=[4, 4, 8, 4], last_channels=256)
    return kwargs


def build_space(kwargs: dict[str, Any]) -> ShuffleNetSpace:
    return ShuffleNetSpace(**kwargs)


def save_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def load_data(args: argparse.Namespace) -> tuple[Tensors, Tensors]:
    if args.smoke:
        g = torch.Generator().manual_seed(0)
        x, y = torch.rand(48, 1, 28, 28, generator=g), torch.randint(0, 10, (48,), generator=g)
        return (x[:32], y[:32]), (x[32:], y[32:])
    return fashion_mnist_splits(args.data, train_limit=args.train_limit, val_limit=args.val_limit)


def prepare(x: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
    """Images as the network takes them: [0, 1] grayscale, or SPOS's BGR 0-255."""
    return spos_preprocess(x.expand(-1, 3, -1, -1)) if args.spos_preprocessing else x


class Batches:
    """Shuffled batches, re-drawn every epoch (``shuffle=False``: in order)."""

    def __init__(self, data: Tensors, size: int, seed: int, args: argparse.Namespace, *, shuffle: bool = True) -> None:
        self.x, self.y = prepare(data[0], args), data[1]
        self.size, self.shuffle = size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[Tensors]:
        order = torch.randperm(len(self.x), generator=self.generator) if self.shuffle else torch.arange(len(self.x))
        for i in range(0, len(self.x), self.size):
            idx = order[i:i + self.size]
            if self.shuffle and len(idx) < self.size:
                break
            yield self.x[idx], self.y[idx]
