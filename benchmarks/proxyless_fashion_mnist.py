"""A full small-scale ProxylessNAS run on Fashion-MNIST: search, then retrain the found architecture
and random architectures of the same space for the same budget, over several seeds.

Search: ``examples/proxylessnas/search.py``'s :func:`search` (latency table measured here, the
"mul" term ``CE * (E[LAT] / T) ** 0.3`` with ``T`` the default sample's predicted latency) on the
first ``--train-limit`` training images (half for the weights, half for the architecture). Each
seed searches anew. Retraining: ``retrain.py``'s :func:`retrain` from scratch on the same images,
``--epochs`` epochs, scored on the first ``--test-limit`` test images; the random architectures
are drawn with the seed and get the same budget. Reports mean ± std over seeds and the predicted
latency of every architecture.

    python benchmarks/proxyless_fashion_mnist.py     # writes benchmarks/results/proxyless_fashion_mnist.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "proxylessnas"))

from retrain import retrain  # noqa: E402
from search import fashion_space, load_data, search  # noqa: E402

from archspace.hardware.latency import LatencyTable  # noqa: E402


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--random", type=int, default=3, help="random architectures per seed")
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--test-limit", type=int, default=2000)
    parser.add_argument("--search-epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3, help="retraining epochs of every architecture")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "proxyless_fashion_mnist.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    train, test = load_data(False, args.train_limit, args.test_limit)
    space = fashion_space(args.width)
    table = LatencyTable.measure(space, (1, 1, 28, 28), repeats=10, warmup=3)
    target = table.predict(space.default_sample())
    runs: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        found = search(space, train, epochs=args.search_epochs, batch_size=64, mode="mul", target_ms=target, beta=0.3,
                       lam=0.0, warmup_epochs=1, seed=seed, output=None, table=table)
        search_s = time.perf_counter() - t0
        _, acc = retrain(space, found["sample"], train, test, epochs=args.epochs, seed=seed, log=False)
        run = {"seed": seed, "search_seconds": round(search_s, 1), "found": {
            "sample": found["sample"], "accuracy": acc, "predicted_ms": table.predict(found["sample"])}, "random": []}
        for k in range(args.random):
            sample = space.random_sample(1000 * seed + k)
            _, racc = retrain(space, sample, train, test, epochs=args.epochs, seed=seed, log=False)
            run["random"].append({"sample": sample, "accuracy": racc, "predicted_ms": table.predict(sample)})
        runs.append(run)
        print(json.dumps({"seed": seed, "found": acc, "random": [r["accuracy"] for r in run["random"]],
                          "elapsed_s": round(time.perf_counter() - start)}), flush=True)
    found_acc = [r["found"]["accuracy"] for r in runs]
    random_acc = [x["accuracy"] for r in runs for x in r["random"]]
    report = {
        "command": "python benchmarks/proxyless_fashion_mnist.py " + " ".join(sys.argv[1:]),
        "settings": {k: v for k, v in vars(args).items() if k != "output"},
        "latency_target_ms": target, "latency_table_device": table.meta.get("device_name"),
        "found": {**_stats(found_acc), "predicted_ms": _stats([r["found"]["predicted_ms"] for r in runs])},
        "random": {**_stats(random_acc),
                   "predicted_ms": _stats([x["predicted_ms"] for r in runs for x in r["random"]])},
        "runs": runs, "wall_seconds": round(time.perf_counter() - start, 1),
    }
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("found", "random", "wall_seconds")}))


if __name__ == "__main__":
    main()
