"""SPOS end to end on Fashion-MNIST, small scale: supernet, evolutionary search, retraining.

The ShuffleNetV2 SPOS space with channel search, shrunk for 28x28 grayscale on a CPU (three
stages of 2 choice blocks, 16/32/64 channels, mid scales 0.2-1.6), trained as a supernet on a
training subset; the evolutionary search scores candidates on held-out training images (never the
test set) after BN recalibration; then the found architecture and 3 random architectures of the
same space are each retrained from scratch for the same budget over ``--seeds`` seeds and tested
on the test subset: mean +- std.

    python benchmarks/spos_fashion_mnist.py            # ~10-15 min on 2 shared cores
Writes benchmarks/results/spos_fashion_mnist.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archspace.data.readers import fashion_mnist_splits  # noqa: E402
from archspace.hub.shufflenet import ShuffleNetSpace  # noqa: E402
from archspace.oneshot import SPOS  # noqa: E402
from archspace.oneshot.spos_search import EvolutionSearch, accuracy  # noqa: E402

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def space(*, affine: bool = False) -> ShuffleNetSpace:
    """The space; affine batch norm for retraining (the supernet's is not affine, as the official one)."""
    return ShuffleNetSpace(num_classes=10, in_channels=1, stem_channels=8, stage_channels=(16, 32, 64),
                           stage_repeats=(2, 2, 2), last_channels=128, channel_search=True, dropout=0.0, affine=affine)


def batches(x: torch.Tensor, y: torch.Tensor, size: int, seed: int) -> Batches:
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return [(x[order[i:i + size]], y[order[i:i + size]]) for i in range(0, len(x) - size + 1, size)]


def retrain(sample: dict[str, object], train: tuple[torch.Tensor, torch.Tensor], test: Batches, epochs: int,
            seed: int) -> float:
    torch.manual_seed(seed)
    model = space(affine=True).freeze(sample)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=4e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        model.train()
        for xb, yb in batches(*train, 128, seed * 1000 + epoch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        sched.step()
    return accuracy(model, test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--test-limit", type=int, default=2000)
    parser.add_argument("--supernet-epochs", type=int, default=8)
    parser.add_argument("--retrain-epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "spos_fashion_mnist.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    (x, y), (xt, yt) = fashion_mnist_splits(train_limit=args.train_limit, val_limit=args.test_limit)
    held = len(x) // 6  # the search's validation: held-out training images
    (xs, ys), (xh, yh) = (x[held:], y[held:]), (x[:held], y[:held])
    test = [(xt[i:i + 500], yt[i:i + 500]) for i in range(0, len(xt), 500)]
    torch.manual_seed(0)
    trainer = SPOS(epochs=args.supernet_epochs, learning_rate=0.1, weight_decay=4e-5, seed=0, progress=False,
                   evolution=False)  # the search runs below, on held-out training images
    epoch_batches = [batches(xs, ys, 64, e) for e in range(args.supernet_epochs)]

    class PerEpoch:
        def __init__(self) -> None:
            self.epoch = 0

        def __iter__(self):  # type: ignore[no-untyped-def]
            data = epoch_batches[self.epoch % len(epoch_batches)]
            self.epoch += 1
            return iter(data)

    trainer.fit(space(), PerEpoch(), threads=args.threads)
    t_supernet = time.perf_counter() - began
    search = EvolutionSearch(population=16, select=4, mutation=6, crossover=6, generations=4, seed=0)
    result = search.search(trainer.supernet, batches(xs, ys, 100, 99)[:10], [(xh, yh)])
    t_search = time.perf_counter() - began - t_supernet
    rng = random.Random(1)
    randoms = [space().random_sample(rng.randrange(10**6)) for _ in range(3)]
    runs: dict[str, dict[str, object]] = {}
    for name, sample in [("searched", result.best)] + [(f"random_{i}", s) for i, s in enumerate(randoms)]:
        accs = [retrain(sample, (xs, ys), test, args.retrain_epochs, seed) for seed in range(args.seeds)]
        runs[name] = {"sample": sample, "accuracies": accs, "mean": statistics.mean(accs),
                      "std": statistics.stdev(accs) if len(accs) > 1 else 0.0}
        print(name, runs[name]["mean"], runs[name]["std"], flush=True)
    random_means = [runs[f"random_{i}"]["mean"] for i in range(3)]
    out = {
        "command": "python benchmarks/spos_fashion_mnist.py " + " ".join(sys.argv[1:]),
        "settings": {**vars(args), "space": "ShuffleNetSpace(in 1, stem 8, stages (16,32,64) x (2,2,2), last 128, "
                     "channel_search 0.2-1.6)", "search": "population 16, top 4, 6 mutations, 6 crossovers, "
                     "4 generations; BN recalibration on 1000 training images; scored on held-out training images"},
        "supernet_seconds": t_supernet, "search_seconds": t_search,
        "search_candidates_per_second": result.candidates_per_second, "search_best_inherited_accuracy": result.best_score,
        "runs": runs, "random_mean_of_means": statistics.mean(random_means),  # type: ignore[arg-type]
        "total_seconds": time.perf_counter() - began,
    }
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
