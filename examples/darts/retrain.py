"""Retrain a DARTS architecture on CIFAR-10 from scratch (Liu et al., ICLR 2019, section 3.2).

20 cells, 36 channels, batch 96, 600 epochs, SGD 0.025 with cosine schedule, momentum 0.9, weight
decay 3e-4, cutout 16, drop path rising linearly to 0.2, auxiliary head weighted 0.4, gradient
clip 5. The architecture is a sample JSON from ``search.py`` (or any experiment export), or an
architecture dict of NNI's DARTS space (converted by ``archspace.hub.from_nni_darts``).

    python examples/darts/retrain.py --arc-checkpoint runs/darts-search/arch.json --data /path/to/cifar
    python examples/darts/retrain.py --arc-checkpoint runs/darts-search/arch.json --smoke
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import archspace as asp  # noqa: E402
from archspace.evaluate.data import augment, cifar10, normalize  # noqa: E402
from archspace.hub import DartsSpace, from_nni_darts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arc-checkpoint", required=True, help="the architecture JSON")
    parser.add_argument("--data")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--channels", type=int, default=36)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--drop-path", type=float, default=0.2)
    parser.add_argument("--aux-weight", type=float, default=0.4)
    parser.add_argument("--cutout", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="2 steps on generated tensors, a small network")
    args = parser.parse_args()
    if args.smoke:
        g = torch.Generator().manual_seed(0)
        x, y = torch.rand(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)
        xt, yt = x[:8], y[:8]
        args.epochs, args.batch_size, args.channels, args.layers = 1, 8, 4, 5
    else:
        if not args.data:
            parser.error("--data is required (or --smoke)")
        x, y = cifar10(args.data, train=True)
        xt, yt = cifar10(args.data, train=False)
    with asp.fixed_arch(from_nni_darts(asp.load_sample(args.arc_checkpoint))):
        model = DartsSpace(width=args.channels, num_cells=args.layers, auxiliary_loss=True, search=False)
    model.to(args.device)
    head = asp.count_params(model.auxiliary) if model.auxiliary is not None else 0
    print(f"{(asp.count_params(model) - head) / 1e6:.2f}M parameters (+{head / 1e6:.2f}M in the auxiliary head)")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    g = torch.Generator().manual_seed(0)
    for epoch in range(args.epochs):
        model.set_drop_path(args.drop_path * epoch / args.epochs)
        model.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - args.batch_size + 1, args.batch_size):
            idx = order[i:i + args.batch_size]
            inputs = normalize(augment(x[idx], g, cutout=args.cutout)).to(args.device)
            logits, aux = model(inputs)
            loss = nn.functional.cross_entropy(logits, y[idx].to(args.device))
            loss = loss + args.aux_weight * nn.functional.cross_entropy(aux, y[idx].to(args.device))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        schedule.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(xt), 256):
                correct += int((model(normalize(xt[i:i + 256]).to(args.device)).argmax(1).cpu() == yt[i:i + 256]).sum())
        print(f"epoch {epoch}: loss {loss.item():.3f}, test accuracy {correct / len(xt):.4f}")


if __name__ == "__main__":
    main()
