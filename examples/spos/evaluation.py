"""Step 3 of SPOS: train the searched architecture from scratch and report its test accuracy.

    python examples/spos/evaluation.py --fixed-arc runs/spos/arch.json --output runs/spos --epochs 20
    python examples/spos/evaluation.py --fixed-arc arch.json --smoke

The space's settings come from ``<output>/space.json`` (written by ``supernet.py``); batch norm is
made affine for the retraining, as in the official evaluation networks.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from _common import Batches, add_common, build_space, load_data, save_json

from archspace.oneshot.spos_search import accuracy
from archspace.space.samples import load_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--fixed-arc", required=True, help="the architecture JSON (search.py's arch.json)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=4e-5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.output)
    kwargs = json.loads((out / "space.json").read_text())
    args.spos_preprocessing = bool(kwargs.pop("spos_preprocessing", False))
    kwargs["affine"] = True
    if args.smoke:
        args.epochs, args.batch_size = 1, 8
    (x, y), (xv, yv) = load_data(args)
    torch.manual_seed(args.seed)
    space = build_space(kwargs)
    model = space.freeze(load_sample(args.fixed_arc)).to(args.device)
    opt = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=0.9, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(args.epochs, 1))
    train = Batches((x, y), args.batch_size, args.seed, args)
    for epoch in range(args.epochs):
        model.train()
        for xb, yb in train:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb.to(args.device)), yb.to(args.device))
            loss.backward()
            opt.step()
        sched.step()
        logging.info("epoch %d: last loss %.4f", epoch, float(loss))
    acc = accuracy(model, Batches((xv, yv), 500, 0, args, shuffle=False), device=args.device)
    save_json(out / "evaluation.json", {"arch": args.fixed_arc, "epochs": args.epochs, "accuracy": acc})
    print(f"test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
