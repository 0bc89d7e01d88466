"""A full small-scale ENAS run on Fashion-MNIST: search, then retrain the found architecture and
3 random architectures of the same space for the same budget, over several seeds.

Per seed: ENAS searches the macro space (``--search-for micro`` for cells) on half of a training
subset (the other half gives the controller's rewards), picks the best of 10 controller draws by
validation accuracy under the shared weights (the paper's selection), then the found architecture
and 3 uniformly random ones are each trained from scratch on the whole subset with the same
schedule and scored on Fashion-MNIST's test images. Writes
``benchmarks/results/enas_fashion_mnist_<space>.json`` with every run and mean ± std.

Sized for a shared CPU (about 10 minutes): 28x28 grayscale, 4,000 training images, a 6-layer /
12-channel macro network. The paper's figures are for full runs on CIFAR-10: macro search 4.23%
test error (96.1% at 512 channels, 12 layers), micro 2.89% with cutout, in 0.32-0.45 GPU-days.

    python examples/enas/fashion_mnist.py [--search-for macro|micro] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from retrain import make_space, train_and_test  # noqa: E402
from search import Batches  # noqa: E402

from archspace.data import fashion_mnist_splits  # noqa: E402
from archspace.oneshot import ENAS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--search-for", choices=["macro", "micro"], default="macro")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--train-limit", type=int, default=4000)
    parser.add_argument("--test-limit", type=int, default=2000)
    parser.add_argument("--width", type=int, default=12)
    parser.add_argument("--layers", type=int, default=None, help="default: 6 (macro), 2 (micro)")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--search-epochs", type=int, default=5)
    parser.add_argument("--retrain-epochs", type=int, default=3)
    parser.add_argument("--random", type=int, default=3, help="random architectures per seed")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    layers = args.layers or (6 if args.search_for == "macro" else 2)
    (x, y), (xt, yt) = fashion_mnist_splits(train_limit=args.train_limit, val_limit=args.test_limit)
    x, xt = (x - 0.286) / 0.353, (xt - 0.286) / 0.353
    half = len(x) // 2
    micro = args.search_for == "micro"
    runs = []
    start = time.perf_counter()
    for seed in args.seeds:
        torch.manual_seed(seed)
        space = make_space(args.search_for, width=args.width, layers=layers, in_channels=1, nodes=args.nodes)
        trainer = ENAS(epochs=args.search_epochs, seed=seed, controller_steps=2, progress=False,
                       controller_learning_rate=3.5e-3 if micro else 1e-3, tanh_constant=1.1 if micro else 1.5,
                       temperature=5.0 if micro else None, final_draws=0)  # best_of below, on 4 batches
        t0 = time.perf_counter()
        val = Batches(x[half:], y[half:], 64, seed + 1000)
        trainer.fit(space, Batches(x[:half], y[:half], 64, seed), val)
        found, score = trainer.best_of(list(val)[:4], 10)
        search_s = time.perf_counter() - t0
        print(f"seed {seed}: search {search_s:.0f}s, best of 10 draws {score:.3f} with shared weights: {found}",
              flush=True)
        candidates = [("found", found)] + [(f"random_{i}", space.random_sample(seed * 100 + i))
                                           for i in range(args.random)]
        for name, sample in candidates:
            torch.manual_seed(seed)
            model = space.freeze(sample)
            t0 = time.perf_counter()
            accuracy = train_and_test(model, (x, y), (xt, yt), epochs=args.retrain_epochs, seed=seed, log=False)
            params = sum(p.numel() for p in model.parameters())
            runs.append({"seed": seed, "arch": name, "test_accuracy": accuracy, "params": params,
                         "retrain_s": time.perf_counter() - t0, "search_s": search_s if name == "found" else None,
                         "sample": sample})
            print(f"seed {seed} {name}: test accuracy {accuracy:.4f} ({params} parameters)", flush=True)
    found_acc = [r["test_accuracy"] for r in runs if r["arch"] == "found"]
    random_acc = [r["test_accuracy"] for r in runs if r["arch"] != "found"]
    summary = {"found": mean_std(found_acc), "random": mean_std(random_acc)}
    out = {"run": f"ENAS {args.search_for} on Fashion-MNIST: search, retrain found vs random for the same budget",
           "command": "python examples/enas/fashion_mnist.py " + " ".join(sys.argv[1:]),
           "settings": {k: v for k, v in vars(args).items()}, "layers": layers, "summary": summary,
           "wall_s": time.perf_counter() - start,
           "paper_reference": {"macro_cifar10_test_error": 4.23, "micro_cifar10_test_error_cutout": 2.89},
           "runs": runs}
    path = ROOT / "benchmarks" / "results" / f"enas_fashion_mnist_{args.search_for}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"found {summary['found']['mean']:.4f} ± {summary['found']['std']:.4f}, random "
          f"{summary['random']['mean']:.4f} ± {summary['random']['std']:.4f}; written to {path}")


if __name__ == "__main__":
    main()
