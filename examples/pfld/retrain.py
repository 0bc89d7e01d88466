"""Fine-tune the searched PFLD subnet with the supernet's weights (step 2 of 3).

Rebuilds the supernet that ``train.py`` saved, takes the searched sample (``arch.json``), and
builds the subnet with ``supernet.subnet(sample)``: the plain model of the sample carrying the
weights its blocks were trained with in the supernet (NNI's example copies them by renaming
state-dict keys; here the supernet does it). It is then fine-tuned with PFLD's loss (Adam,
cosine schedule) and its test NME reported before and after. Written to ``--output``:
``subnet.pt`` (settings, sample and weights, the input of export.py), ``model.pt``,
``result.json`` and ``retrain_result.json`` (NME before and after).

    python examples/pfld/retrain.py --data data/106points --supernet runs/pfld/supernet.pt
    python examples/pfld/retrain.py --smoke --supernet /tmp/pfld/supernet.pt
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.data.landmarks import LandmarkDataset  # noqa: E402
from archspace.evaluate.landmarks import Landmarks  # noqa: E402
from archspace.hub import PFLD  # noqa: E402
from archspace.oneshot import to_supernet  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supernet", required=True, help="supernet.pt written by train.py")
    parser.add_argument("--arch", help="the sample to retrain (default: arch.json next to --supernet)")
    parser.add_argument("--data", help="the 106-point data set (default with --smoke: the smoke data of train.py)")
    parser.add_argument("--output", help="default: the --supernet folder's subnet/")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="one epoch on train.py's smoke data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder = Path(args.supernet).parent
    if args.smoke:
        args.epochs, args.batch_size = 1, 8
        args.data = args.data or str(folder / "data")
        torch.set_num_threads(1)
    if not args.data:
        parser.error("--data is required")
    out = Path(args.output) if args.output else folder / "subnet"

    state = torch.load(args.supernet, weights_only=True)
    sample = json.loads(Path(args.arch or folder / "arch.json").read_text())
    space = PFLD(**state["config"])
    supernet = to_supernet(space)
    supernet.net.load_state_dict(state["weights"])
    supernet.arch.load_state_dict(state["arch"])
    model = supernet.subnet(sample)

    size = state["config"]["input_size"]
    train = LandmarkDataset(args.data, "train", image_size=size)
    test = LandmarkDataset(args.data, "test", image_size=size)
    # full batches only: a last batch of one face would stop batch norm in training
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    evaluator = Landmarks(loader, test, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                          schedule="cosine", device=args.device)
    before = evaluator.score(model.to(args.device))
    after = evaluator.fit(model, sample=sample, output_dir=out, reset_weights=False)  # fine-tune inherited weights
    torch.save({"config": state["config"], "sample": sample, "weights": model.state_dict()}, out / "subnet.pt")
    result = {"sample": sample, "test_nme_inherited": before, "test_nme": after,
              "params": sum(p.numel() for n, p in model.named_parameters() if not n.startswith("auxiliary."))}
    print(f"subnet {json.dumps(sample)}: {result['params']} parameters without the auxiliary net")
    print(f"test NME: {100 * before:.2f} % with the supernet's weights, {100 * after:.2f} % after fine-tuning")
    (out / "retrain_result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out / 'subnet.pt'}")
    return result


if __name__ == "__main__":
    main()
