"""Step 1 of SPOS: train the supernet, one uniformly drawn path per batch (Guo et al., ECCV 2020).

The paper's ShuffleNetV2 space (20 choice blocks of k3/k5/k7/xcep; ``--channel-search`` adds the
per-block mid-channel scales) on Fashion-MNIST, at a quarter of the paper's widths for 28x28
grayscale. Writes ``<output>/space.json`` (the space's settings) and ``<output>/supernet.pt``
(weights) for ``search.py``; the trainer's checkpoint allows ``--resume``.

    python examples/spos/supernet.py --epochs 10 --train-limit 10000
    python examples/spos/supernet.py --smoke
    torchrun --nproc_per_node 2 examples/spos/supernet.py ...   # the same path on every rank
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch
from _common import Batches, add_common, build_space, load_data, save_json, space_kwargs

from archspace.oneshot import SPOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=4e-5)
    parser.add_argument("--channel-search", action="store_true")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.smoke:
        args.epochs, args.batch_size = 1, 8
    (x, y), _ = load_data(args)
    if "WORLD_SIZE" in os.environ:
        import torch.distributed as dist

        dist.init_process_group("nccl" if str(args.device).startswith("cuda") else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if str(args.device).startswith("cuda"):
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        x, y = x[rank::world], y[rank::world]
    kwargs = space_kwargs(args, channel_search=args.channel_search)
    torch.manual_seed(args.seed)
    space = build_space(kwargs)
    trainer = SPOS(epochs=args.epochs, learning_rate=args.learning_rate, weight_decay=args.weight_decay,
                   seed=args.seed, evolution=False)  # the paper's workflow: the search is search.py's step
    out = Path(args.output)
    trainer.fit(space, Batches((x, y), args.batch_size, args.seed, args), directory=out, device=args.device,
                resume=args.resume)
    save_json(out / "space.json", {**kwargs, "spos_preprocessing": args.spos_preprocessing})
    torch.save(trainer.supernet.net.state_dict(), out / "supernet.pt")
    print(f"supernet written to {out / 'supernet.pt'}")


if __name__ == "__main__":
    main()
