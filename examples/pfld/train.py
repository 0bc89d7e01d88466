"""FBNet search of the simplified PFLD backbone on the 106-point landmark data (step 1 of 3).

The workflow of NNI's PFLD example, on archspace: a latency lookup table of every candidate block
is measured on this machine (or loaded), then GumbelDARTS searches the supernet with FBNet's
latency term (mode "mul", alpha 0.25, beta 0.6 by default) and PFLD's pose-weighted loss. The
weights learn on the training split; the architecture learns on a held-out part of it
(``--arch-fraction``; NNI's example uses the test split there, which this script keeps for
reporting only). Written to ``--output``:

    latency_table.json   the lookup table (reused with --table)
    arch.json            the searched sample (the input of retrain.py)
    supernet.pt          the supernet's weights, logits and the space's settings (for retrain.py)
    checkpoint.pt, arch_history.json, arch_epoch_N.json   the search's own log and checkpoint

    python examples/pfld/train.py --data data/106points --output runs/pfld
    python examples/pfld/train.py --smoke --output /tmp/pfld   # a tiny generated data set, seconds
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.data.landmarks import LandmarkDataset, write_synthetic  # noqa: E402
from archspace.evaluate.landmarks import Landmarks, nme  # noqa: E402
from archspace.hardware import LatencyTable  # noqa: E402
from archspace.hub import PFLD  # noqa: E402
from archspace.oneshot import GumbelDARTS  # noqa: E402
from archspace.oneshot.latency_loss import LatencyLoss  # noqa: E402


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="the 106-point data set (train_data/ and test_data/ inside)")
    parser.add_argument("--output", default="runs/pfld")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--input-size", type=int, default=112)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=0.025, help="weight SGD (cosine-annealed)")
    parser.add_argument("--arch-learning-rate", type=float, default=0.01, help="Adam on the logits (NNI: 0.01)")
    parser.add_argument("--arch-fraction", type=float, default=0.2, help="share of train_data for the architecture")
    parser.add_argument("--mode", choices=["mul", "add"], default="mul")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--beta", type=float, default=0.6)
    parser.add_argument("--target-ms", type=float, default=None, help="normalise the latency term by this latency")
    parser.add_argument("--table", help="load this latency table instead of measuring one")
    parser.add_argument("--threads", type=int, default=1, help="threads while timing the table")
    parser.add_argument("--search-threads", type=int, default=None,
                        help="torch threads while searching (default: a fair share of the CPUs)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per table entry")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a tiny generated data set, 32x32, a few steps")
    args = parser.parse_args(argv)
    if args.smoke:
        args.data = args.data or str(Path(args.output) / "data")
        write_synthetic(args.data, train=24, test=8, image_size=32)
        args.epochs, args.batch_size, args.input_size, args.width, args.repeats = 2, 8, 32, 4, 3
        args.arch_fraction, args.search_threads = 1 / 3, 1
    elif not args.data:
        parser.error("--data is required (or --smoke)")
    return args


def latency_table(args: argparse.Namespace, space: PFLD, out: Path) -> LatencyTable:
    """The table given with --table (checked against this space and input), else one measured now."""
    shape = (1, 3, args.input_size, args.input_size)
    if args.table:
        table = LatencyTable.load(args.table, space=space)
        logging.info("latency table loaded from %s", args.table)
    else:
        table = LatencyTable.measure(space, shape, device="cpu", backend="torch", threads=args.threads,
                                     repeats=args.repeats, warmup=max(1, args.repeats // 4))
        table.save(out / "latency_table.json")
        logging.info("latency table measured on this machine: %s", out / "latency_table.json")
    return table


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    config = {"input_size": args.input_size, "width": args.width}
    torch.manual_seed(args.seed)
    space = PFLD(**config)
    table = latency_table(args, space, out)

    train_set = LandmarkDataset(args.data, "train", image_size=args.input_size)
    test_set = LandmarkDataset(args.data, "test", image_size=args.input_size)
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(args.seed)).tolist()
    held = max(1, int(len(order) * args.arch_fraction))
    weights_part, arch_part = Subset(train_set, order[held:]), Subset(train_set, order[:held])
    # one loader per split; the architecture batches cycle so that every weight step has one
    g = torch.Generator().manual_seed(args.seed)
    train = DataLoader(weights_part, batch_size=args.batch_size, shuffle=True, drop_last=True, generator=g)
    arch = DataLoader(arch_part, batch_size=args.batch_size, shuffle=True, drop_last=True, generator=g)
    evaluator = Landmarks(weights_part, test_set, batch_size=args.batch_size)

    latency = LatencyLoss(table, mode=args.mode, alpha=args.alpha, beta=args.beta, target_ms=args.target_ms)
    # FBNet: temperature 5, decayed by exp(-0.045) per epoch (NNI's defaults)
    trainer = GumbelDARTS(epochs=args.epochs, tau_max=5.0, tau_min=5.0 * math.exp(-0.045 * max(args.epochs - 1, 1)),
                          latency=latency, learning_rate=args.learning_rate, arch_learning_rate=args.arch_learning_rate,
                          arch_weight_decay=5e-4, seed=args.seed)
    sample = trainer.fit(space, train, Cycle(arch, len(train)), loss_fn=evaluator.loss, directory=out,
                         device=args.device, threads=args.search_threads)
    (out / "arch.json").write_text(json.dumps(sample, indent=2) + "\n")
    supernet = trainer.supernet
    torch.save({"config": config, "sample": sample, "weights": supernet.net.state_dict(),
                "arch": supernet.arch.state_dict()}, out / "supernet.pt")

    model = supernet.subnet(sample).eval()
    errors = []
    with torch.no_grad():
        for x, y in DataLoader(test_set, batch_size=args.batch_size):
            errors.append(nme(model(x.to(args.device)), y[:, :-3].to(args.device)))
    result = {"sample": sample, "predicted_ms": table.predict(sample), "default_ms": table.predict(space.default_sample()),
              "test_nme_inherited": float(torch.cat(errors).mean())}
    (out / "search_result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"searched sample: {json.dumps(sample)}")
    print(f"predicted latency on this machine: {result['predicted_ms']:.3f} ms "
          f"(the default sample: {result['default_ms']:.3f} ms)")
    print(f"test NME with inherited weights (before retraining): {100 * result['test_nme_inherited']:.2f} %")
    print(f"written: {out / 'arch.json'}, {out / 'supernet.pt'}")
    return result


class Cycle:
    """``length`` batches of a loader, restarting it as often as needed."""

    def __init__(self, loader: DataLoader[Any], length: int) -> None:
        self.loader, self.length = loader, length

    def __iter__(self) -> Any:
        if len(self.loader) == 0:
            raise SystemExit("the architecture split has no full batch: raise --arch-fraction or lower --batch-size")
        count = 0
        while count < self.length:
            for batch in self.loader:
                if count == self.length:
                    return
                yield batch
                count += 1


if __name__ == "__main__":
    main()
