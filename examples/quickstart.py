"""A tour of a model space, without training: build ``ExampleNet`` (archspace.testing), print
its decisions and the number of architectures, freeze four random samples into plain
``nn.Module``s (timing each build, counting parameters and multiply-adds, running a batch of 8x8
images through each), then save the last sample as JSON and rebuild it with ``fixed_arch``.

Run it with ``python examples/quickstart.py`` (a few seconds). The search demo is
``examples/digits_search.py``, which ``make demo`` runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

import archspace as asp
from archspace.testing import ExampleNet


def main() -> None:
    space = ExampleNet()
    decisions = space.search_space()
    print(f"The example space has {len(decisions)} decisions and {space.size()} architectures:")
    print(decisions)
    x = torch.randn(8, 1, 8, 8)
    for seed in range(4):
        sample = space.random_sample(seed=seed)
        start = time.perf_counter()
        model = space.freeze(sample)
        built = (time.perf_counter() - start) * 1000
        params = asp.count_params(model)
        macs = asp.count_flops(model, (1, 1, 8, 8))
        print(f"sample {seed}: {sample}")
        print(f"  frozen in {built:.1f} ms -> {type(model).__name__} with {params} parameters, "
              f"{macs} MACs per image, output {tuple(model(x).shape)}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "best.json"
        asp.save_sample(sample, path)
        with asp.fixed_arch(path):
            rebuilt = ExampleNet()
        print(f"rebuilt from {path.name} with fixed_arch: {rebuilt.frozen_sample}")
        print(rebuilt)


if __name__ == "__main__":
    main()
