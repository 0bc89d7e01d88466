"""Retrain a ProxylessNAS architecture from scratch on Fashion-MNIST and report its test accuracy.

The architecture is a sample JSON from ``search.py`` (``arch.json``) or any experiment export of
the same space. Training follows the paper's recipe scaled down: SGD with Nesterov momentum 0.9,
cosine learning rate from 0.05, weight decay 4e-5, label smoothing 0.1, batch 64 (the paper
retrains 300 epochs on ImageNet at batch 256 with dropout 0.1-0.3). The trained weights are saved
to ``--save`` (a ``state_dict`` of ``space.freeze(sample)``), and ``--onnx`` exports the model.

    python examples/proxylessnas/retrain.py --arch runs/proxylessnas-search/arch.json
    python examples/proxylessnas/retrain.py --arch runs/proxylessnas-search/arch.json --smoke
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import Batches, fashion_space, label_smoothing_loss, load_data  # noqa: E402

from archspace.hub import ProxylessNASSpace  # noqa: E402


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` in evaluation mode."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    return correct / max(len(x), 1)


def retrain(space: ProxylessNASSpace, sample: dict[str, Any], train: tuple[torch.Tensor, torch.Tensor],
            test: tuple[torch.Tensor, torch.Tensor], *, epochs: int, batch_size: int = 64, seed: int = 0,
            learning_rate: float = 0.05, log: bool = True) -> tuple[nn.Module, float]:
    """Train ``space.freeze(sample)`` from scratch (seeded) and return it with its test accuracy."""
    torch.manual_seed(seed)
    model = space.freeze(space.validate(sample))
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9, nesterov=True, weight_decay=4e-5)
    batches = Batches(*train, batch_size, seed)
    total = max(epochs * (len(train[0]) // batch_size), 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    loss_fn = label_smoothing_loss()
    for epoch in range(epochs):
        model.train()
        running, steps = 0.0, 0
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            running, steps = running + float(loss.detach()), steps + 1
        if log:
            print(f"epoch {epoch}: loss {running / max(steps, 1):.4f}", flush=True)
    return model, accuracy(model, *test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", required=True, help="the architecture JSON (search.py's arch.json)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-limit", type=int, default=10000, help="training images used (0: all 60,000)")
    parser.add_argument("--width", type=int, default=16, help="as in the search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the trained state_dict here")
    parser.add_argument("--onnx", help="export the trained model to this ONNX file")
    parser.add_argument("--smoke", action="store_true", help="one epoch on generated tensors, the smoke space")
    args = parser.parse_args()
    train, test = load_data(args.smoke, args.train_limit or None)
    if args.smoke:
        args.epochs, args.batch_size = 1, 8
    space = fashion_space(args.width, args.smoke)
    sample = json.loads(Path(args.arch).read_text())
    model, acc = retrain(space, sample, train, test, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    print(f"test accuracy {acc:.4f} ({len(test[0])} images)")
    if args.save:
        torch.save(model.state_dict(), args.save)
    if args.onnx:
        from archspace.hardware.onnx import export_onnx

        export_onnx(model.eval(), args.onnx, torch.randn(1, 1, 28, 28))
        print(f"ONNX model written to {args.onnx}")


if __name__ == "__main__":
    main()
