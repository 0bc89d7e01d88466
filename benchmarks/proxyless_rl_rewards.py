"""Why ProxylessNAS's REINFORCE update ends on the empty cell on Fashion-201: its reward when the
updates begin.

After the search's 8-epoch warm-up (the weights alone, paths drawn from the still uniform
distribution: ``ProxylessNAS(arch_algo="rl", warmup_epochs=8)``, the table's supernet in NB201's
search form), the reward the update would give — top-1 accuracy in training mode, here averaged
over 20 validation batches of 64 — of the empty cell (a skip from the input to the output, every
other edge ``none``) against 60 uniformly drawn paths::

    python benchmarks/proxyless_rl_rewards.py --seeds 0 1

Writes ``benchmarks/results/proxyless_rl_rewards.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from oneshot_quality import PROTOCOL, batches, load_splits, space  # noqa: E402

from archspace.hub.nasbench201 import from_arch_str, to_arch_str  # noqa: E402
from archspace.oneshot import ProxylessNAS  # noqa: E402
from archspace.oneshot._reward import accuracy_or_loss  # noqa: E402
from archspace.oneshot.buffers import kept_buffers  # noqa: E402
from archspace.oneshot.spos import SampledPath  # noqa: E402

EMPTY = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
OUT = ROOT / "benchmarks" / "results" / "proxyless_rl_rewards.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--paths", type=int, default=60)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, valid, _ = load_splits(PROTOCOL)
    train_b, valid_b = batches(train, 64), batches(valid, 64)
    results = {}
    for seed in args.seeds:
        trainer = ProxylessNAS(epochs=8, warmup_epochs=8, progress=False, arch_algo="rl", seed=seed)
        trainer.fit(space(True), train_b, valid_b, threads=1)
        supernet = trainer.supernet
        supernet.train()

        def reward(sample: dict) -> float:  # type: ignore[type-arg]
            with supernet.using(SampledPath(sample)), torch.no_grad(), kept_buffers(supernet):
                return statistics.mean(accuracy_or_loss(supernet(x), y, torch.nn.functional.cross_entropy)
                                       for x, y in valid_b[:args.batches])

        g = torch.Generator().manual_seed(seed)
        drawn = []
        for _ in range(args.paths):
            sample = {label: values[int(torch.randint(len(values), (1,), generator=g))]
                      for label, values in supernet.arch.names.items()}
            drawn.append({"arch": to_arch_str(sample), "reward": reward(sample)})
        empty = reward(from_arch_str(EMPTY))
        rewards = [d["reward"] for d in drawn]
        results[f"seed{seed}"] = {"empty_reward": empty, "random_median": statistics.median(rewards),
                                  "random_best": max(rewards), "empty_rank": 1 + sum(r > empty for r in rewards),
                                  "of": len(rewards) + 1, "paths": sorted(drawn, key=lambda d: -d["reward"])}
        print(f"seed {seed}: the empty cell's reward {empty:.4f}, rank {results[f'seed{seed}']['empty_rank']} of "
              f"{len(rewards) + 1}; {len(rewards)} random paths: median {statistics.median(rewards):.4f}, best "
              f"{max(rewards):.4f}", flush=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
