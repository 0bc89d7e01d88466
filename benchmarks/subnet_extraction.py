"""``Supernet.subnet(sample)``: the copy-on-write extraction against the deep copy it replaced.

SPOS's evolution, the re-check (``rerank``) and the ranking-fidelity runs extract one subnet per
candidate scored; until this change every extraction deep-copied the whole supernet (every
candidate's weights) before replacing its mixed forms. Per hub space at its paper's search size,
both ways are timed interleaved in one process (the same samples, alternating), median of
``--samples`` each, and checked to give identical state dicts.

    python benchmarks/subnet_extraction.py [--samples 7 --threads 1]
Writes benchmarks/results/subnet_extraction.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archspace.hub.darts import DartsSpace  # noqa: E402
from archspace.hub.nasbench201 import NasBench201  # noqa: E402
from archspace.hub.proxylessnas import ProxylessNASSpace  # noqa: E402
from archspace.hub.shufflenet import ShuffleNetSpace  # noqa: E402
from archspace.nn.space import ModelSpace  # noqa: E402
from archspace.oneshot import SPOS, Supernet  # noqa: E402
from archspace.oneshot.supernet import _subnet_tree  # noqa: E402

#: The spaces at the sizes their papers search (10 classes; ShuffleNet at the paper's 1.0x layout).
SPACES: dict[str, tuple[str, Callable[[], ModelSpace]]] = {
    "darts": ("DARTS search supernet: 16 channels, 8 cells, none offered",
              lambda: DartsSpace(width=16, num_cells=8, num_classes=10, search=True)),
    "nasbench201": ("NAS-Bench-201: 16 channels, 5 cells per stage, search form",
                    lambda: NasBench201(num_classes=10, search=True)),
    "shufflenet_spos": ("SPOS ShuffleNetV2 1.0x (64,160,320,640), 20 choice blocks, 10 classes",
                        lambda: ShuffleNetSpace(num_classes=10)),
    "proxylessnas": ("ProxylessNAS MobileNetV2 space, 10 classes",
                     lambda: ProxylessNASSpace(num_classes=10)),
}


def deep_copy_subnet(supernet: Supernet, sample: Mapping[str, Any]) -> nn.Module:
    """The extraction as it was: deep-copy the supernet's network, then replace its mixed forms."""
    space = supernet.space[0]
    valid = space.validate(sample)
    trained = _subnet_tree(copy.deepcopy(supernet.net), valid)
    model = space.freeze(valid)
    model.load_state_dict(trained.state_dict())
    model.train(supernet.training)
    return model


def measure(make: Callable[[], ModelSpace], samples: int) -> dict[str, Any]:
    torch.manual_seed(0)
    space = make()
    supernet = SPOS(epochs=1, seed=0, progress=False).build(space)
    draws = [space.random_sample(seed) for seed in range(samples + 1)]
    old, new, freeze = [], [], []
    for i, sample in enumerate(draws):
        with torch.random.fork_rng(devices=[]):
            start = time.perf_counter()
            a = deep_copy_subnet(supernet, sample)
            t_old = time.perf_counter() - start
            start = time.perf_counter()
            b = supernet.subnet(sample)
            t_new = time.perf_counter() - start
            start = time.perf_counter()
            space.freeze(space.validate(sample))
            t_freeze = time.perf_counter() - start
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), "the two extractions differ"
        if i:  # the first is a warm-up
            old.append(t_old)
            new.append(t_new)
            freeze.append(t_freeze)
    weights = sum(p.numel() for p in supernet.net.parameters())
    o, n = statistics.median(old), statistics.median(new)
    return {"supernet_weights": weights, "deep_copy_ms": 1000 * o, "copy_on_write_ms": 1000 * n,
            "of_which_freeze_ms": 1000 * statistics.median(freeze), "speedup": o / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "subnet_extraction.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "settings": {"samples": args.samples, "threads": args.threads, "torch": torch.__version__,
                     "machine": platform.machine(), "cpus": os.cpu_count(),
                     "load_average_at_start": os.getloadavg()[0]},
    }
    for name in args.spaces:
        description, make = SPACES[name]
        result[name] = {"space": description, **measure(make, args.samples)}
        print(name, json.dumps(result[name]), flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
