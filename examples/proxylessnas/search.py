"""ProxylessNAS search on Fashion-MNIST with a latency table measured on this machine.

The space is the ProxylessNAS / MobileNetV2 space (MBConv, kernel 3/5/7, expansion 3/6, ``zero``
in residual blocks) shrunk for 28x28 grayscale images (:func:`fashion_space`). Half of the
training images train the weights, the other half the architecture (Cai et al., ICLR 2019, hold
out a validation split of ImageNet's training set the same way). The latency of every candidate
is measured once here (``LatencyTable.measure``, batch 1, one thread) and the architecture loss
is ``CE * (E[LAT] / target) ** beta`` (``--mode mul``) or ``CE + lambda * E[LAT]`` (``--mode add``),
E[LAT] being the table's expected latency under the gates' probabilities. The architecture is
written after every epoch (``arch_epoch_N.json``) and at the end to ``<output>/arch.json``, with
its predicted latency in ``summary.json``; ``retrain.py --arch`` trains it from scratch.

    python examples/proxylessnas/search.py                      # Fashion-MNIST (Debian's dataset-fashion-mnist)
    python examples/proxylessnas/search.py --mode add --lam 0.5  # CE + 0.5 * E[LAT in ms]; --lam 0: CE alone
    python examples/proxylessnas/search.py --smoke              # a few steps on generated tensors
    torchrun --nproc_per_node 2 examples/proxylessnas/search.py # data-parallel (gloo / nccl)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.hardware.latency import LatencyTable  # noqa: E402
from archspace.hub import ProxylessNASSpace  # noqa: E402
from archspace.oneshot import ProxylessNAS  # noqa: E402
from archspace.oneshot.latency_loss import LatencyLoss  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's training-set statistics


def fashion_space(width: int = 16, smoke: bool = False) -> ProxylessNASSpace:
    """The ProxylessNAS space for 28x28 grayscale images: three stages of ``width``, 1.5x and 2x
    channels (2 blocks each; strides 1, 2, 2: 14x14, 7x7, 4x4 maps), a ``4 * width`` head."""
    if smoke:
        return ProxylessNASSpace(10, in_channels=1, width_stages=(8, 8), depth_stages=(1, 2), stride_stages=(2, 1),
                                 stem_channels=8, first_channels=8, last_channels=16)
    return ProxylessNASSpace(10, in_channels=1, width_stages=(width, width * 3 // 2, width * 2),
                             depth_stages=(2, 2, 2), stride_stages=(1, 2, 2), stem_channels=width,
                             first_channels=width, last_channels=width * 4)


def load_data(smoke: bool, train_limit: int | None, test_limit: int | None = None,
              ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Normalised Fashion-MNIST ``(train, test)`` tensors, or generated ones for ``--smoke``."""
    if smoke:
        g = torch.Generator().manual_seed(0)
        return ((torch.randn(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)),
                (torch.randn(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)))
    from archspace.data.readers import fashion_mnist_splits

    (x, y), (xt, yt) = fashion_mnist_splits(train_limit=train_limit, val_limit=test_limit)
    return ((x - MEAN) / STD, y), ((xt - MEAN) / STD, yt)


class Batches:
    """Shuffled batches, re-drawn every epoch (a random horizontal flip for training)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, size: int, seed: int, flip: bool = True) -> None:
        self.x, self.y, self.size, self.flip = x, y, size, flip
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(0, len(self.x) - self.size + 1, self.size):
            idx = order[i:i + self.size]
            images = self.x[idx]
            if self.flip:
                mask = torch.rand(len(idx), generator=self.generator) < 0.5
                images = torch.where(mask[:, None, None, None], images.flip(-1), images)
            yield images, self.y[idx]


def search(space: ProxylessNASSpace, train: tuple[torch.Tensor, torch.Tensor], *, epochs: int, batch_size: int,
           mode: str, target_ms: float, beta: float, lam: float, warmup_epochs: int, seed: int,
           output: Path | None, table: LatencyTable, device: str = "cpu", resume: bool = False,
           arch_algo: str = "grad", rl_tradeoff: float = 0.1) -> dict[str, Any]:
    """Search with ``table``'s latencies; return ``{"sample", "predicted_ms"}``.

    ``mode="add"`` with ``lam=0`` searches on cross-entropy alone. ``arch_algo="rl"``: the paper's
    REINFORCE update, whose reward ``acc * (target / LAT) ** rl_tradeoff`` uses only the target of
    the term (its mode, beta and lam do not apply; ``mode="add"`` with ``lam=0``: accuracy alone).
    """
    term = None
    if arch_algo == "rl":
        if mode == "mul" or lam > 0:
            term = LatencyLoss(table, mode="mul", log=False, alpha=1.0, beta=beta, target_ms=target_ms)
    elif mode == "mul":
        term = LatencyLoss(table, mode="mul", log=False, alpha=1.0, beta=beta, target_ms=target_ms)
    elif lam > 0:
        term = LatencyLoss(table, mode="add", alpha=lam, beta=1.0, target_ms=1.0)
    x, y = train
    half = len(x) // 2
    trainer = ProxylessNAS(epochs=epochs, latency=term, warmup_epochs=warmup_epochs, seed=seed, learning_rate=0.05,
                           arch_algo=arch_algo, rl_tradeoff=rl_tradeoff)
    sample = trainer.fit(space, Batches(x[:half], y[:half], batch_size, seed), Batches(x[half:], y[half:], batch_size,
                                                                                        seed + 1, flip=False),
                         loss_fn=label_smoothing_loss(), directory=output, device=device, resume=resume)
    return {"sample": sample, "predicted_ms": table.predict(sample)}


def label_smoothing_loss(smoothing: float = 0.1) -> Any:
    """Cross-entropy with label smoothing 0.1, as the paper's code trains."""
    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(output, target, label_smoothing=smoothing)
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="runs/proxylessnas-search")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-limit", type=int, default=10000, help="training images used (0: all 60,000)")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--mode", choices=["mul", "add"], default="mul")
    parser.add_argument("--target-ms", type=float, default=0.0, help="latency target (0: the default sample's)")
    parser.add_argument("--beta", type=float, default=0.3, help="exponent of the 'mul' term")
    parser.add_argument("--lam", type=float, default=0.1, help="weight of the 'add' term per ms (0: no latency term)")
    parser.add_argument("--arch-algo", choices=["grad", "rl"], default="grad",
                        help="the architecture update: the binary gates' gradient, or the paper's REINFORCE")
    parser.add_argument("--rl-tradeoff", type=float, default=0.1,
                        help="with --arch-algo rl: the exponent of target / latency in the reward (official: 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a few steps on generated tensors, a tiny space")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train, _ = load_data(args.smoke, args.train_limit or None, 1)
    if args.smoke:
        args.epochs, args.warmup_epochs, args.batch_size = 2, 1, 8
    if "WORLD_SIZE" in os.environ:  # under torchrun: one data shard per rank, gradients averaged
        import torch.distributed as dist

        dist.init_process_group("nccl" if str(args.device).startswith("cuda") else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if str(args.device).startswith("cuda"):
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        train = (train[0][rank::world], train[1][rank::world])
    space = fashion_space(args.width, args.smoke)
    output = Path(args.output)
    repeats = 3 if args.smoke else 10
    table = LatencyTable.measure(space, (1, 1, 28, 28), repeats=repeats, warmup=max(1, repeats // 4))
    # Without a target, the default sample's predicted latency: the search trades around it.
    target = args.target_ms if args.target_ms > 0 else table.predict(space.default_sample())
    found = search(space, train, epochs=args.epochs, batch_size=args.batch_size, mode=args.mode, target_ms=target,
                   beta=args.beta, lam=args.lam, warmup_epochs=args.warmup_epochs, seed=args.seed, output=output,
                   table=table, device=args.device, resume=args.resume, arch_algo=args.arch_algo,
                   rl_tradeoff=args.rl_tradeoff)
    if int(os.environ.get("RANK", 0)) == 0:
        (output / "arch.json").write_text(json.dumps(found["sample"], indent=2) + "\n")
        table.save(output / "latency_table.json")
        summary = {"sample": found["sample"], "predicted_ms": found["predicted_ms"], "target_ms": target,
                   "mode": args.mode, "arch_algo": args.arch_algo, "width": args.width, "smoke": args.smoke}
        (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"architecture written to {output / 'arch.json'}; predicted latency {found['predicted_ms']:.3f} ms "
              f"(target {target:.3f} ms)")


if __name__ == "__main__":
    main()
