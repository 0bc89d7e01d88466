"""Retrain an ENAS architecture from scratch (Pham et al., ICML 2018, sections 3.1-3.2).

The paper retrains its macro architectures for 310 epochs (SGD, cosine learning rate 0.05 ->
0.0005, Nesterov momentum, weight decay 2.5e-4 (macro), drop path and auxiliary heads, 512
channels) and its micro cells in a 15-cell network. This script trains the frozen architecture
of ``search.py``'s ``arch.json`` with SGD and a cosine schedule on Fashion-MNIST (28x28
grayscale, Debian's ``dataset-fashion-mnist``) or CIFAR-10, and reports the test accuracy.

    python examples/enas/retrain.py --search-for macro --arc runs/enas-macro/arch.json
    python examples/enas/retrain.py --search-for micro --arc runs/enas-micro/arch.json --cifar /path/to/cifar
    python examples/enas/retrain.py --search-for macro --arc arch.json --smoke   # generated tensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.hub import EnasMacroSpace, EnasMicroSpace  # noqa: E402
from archspace.nn.space import ModelSpace  # noqa: E402

Tensors = tuple[torch.Tensor, torch.Tensor]


def make_space(search_for: str, *, width: int, layers: int, in_channels: int, nodes: int = 5) -> ModelSpace:
    """The ENAS space searched for (``macro`` or ``micro``) at the given size."""
    if search_for == "macro":
        return EnasMacroSpace(width=width, num_layers=layers, in_channels=in_channels)
    return EnasMicroSpace(width=width, num_layers=layers, num_nodes=nodes, in_channels=in_channels)


def load_data(args: Any, smoke: bool) -> tuple[Tensors, Tensors]:
    """(train, test) tensors: generated for a smoke run, else Fashion-MNIST or CIFAR-10."""
    if smoke:
        g = torch.Generator().manual_seed(0)
        return ((torch.rand(16, 1, 16, 16, generator=g), torch.randint(0, 10, (16,), generator=g)),
                (torch.rand(8, 1, 16, 16, generator=g), torch.randint(0, 10, (8,), generator=g)))
    if args.cifar:
        from archspace.evaluate.data import cifar10, normalize

        (x, y), (xt, yt) = cifar10(args.cifar, train=True), cifar10(args.cifar, train=False)
        return (normalize(x)[: args.train_limit], y[: args.train_limit]), (normalize(xt), yt)
    from archspace.data import fashion_mnist_splits

    (x, y), (xt, yt) = fashion_mnist_splits(train_limit=args.train_limit, val_limit=args.test_limit)
    return ((x - 0.286) / 0.353, y), ((xt - 0.286) / 0.353, yt)


def train_and_test(model: nn.Module, train: Tensors, test: Tensors, *, epochs: int, batch_size: int = 64,
                   learning_rate: float = 0.05, weight_decay: float = 2.5e-4, seed: int = 0,
                   log: bool = True) -> float:
    """SGD (momentum 0.9, Nesterov) with a cosine schedule and gradient clip 5; the test accuracy."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9, nesterov=True,
                                weight_decay=weight_decay)
    steps = max(epochs * (len(train[0]) // batch_size), 1)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=learning_rate / 100)
    x, y = train
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        batches = 0
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach())
            batches += 1
        if log:
            print(f"epoch {epoch}: loss {total / max(batches, 1):.4f}", flush=True)
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test[0]), 500):
            correct += int((model(test[0][i:i + 500]).argmax(1) == test[1][i:i + 500]).sum())
    return correct / len(test[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--search-for", choices=["macro", "micro"], required=True)
    parser.add_argument("--arc", required=True, help="the architecture JSON (search.py's arch.json)")
    parser.add_argument("--cifar", help="folder with CIFAR-10's python batches (default: Fashion-MNIST)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--layers", type=int, default=None, help="default: 6 (macro), 3 (micro)")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="one epoch on generated tensors, a small network")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.batch_size, args.width = 1, 8, 4
        args.layers = args.layers or (3 if args.search_for == "macro" else 1)
        args.nodes = 2 if args.search_for == "micro" else args.nodes
    layers = args.layers or (6 if args.search_for == "macro" else 3)
    train, test = load_data(args, args.smoke)
    space = make_space(args.search_for, width=args.width, layers=layers, in_channels=train[0].shape[1],
                       nodes=args.nodes)
    sample = space.validate(json.loads(Path(args.arc).read_text()))
    torch.manual_seed(args.seed)
    model = space.freeze(sample)
    accuracy = train_and_test(model, train, test, epochs=args.epochs, batch_size=args.batch_size,
                              learning_rate=args.learning_rate, seed=args.seed)
    print(f"test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
