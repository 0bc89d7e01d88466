"""Build (or extend) the Fashion-201 table with archspace's own engine.

Draws unique NB201 architectures uniformly (one seeded shuffle of the 6,466 isomorphism classes;
``--archs N`` takes its first N, so a larger N extends the same draw) and trains each with seeds
``0 .. S-1`` under the table's protocol, as the trials of an :class:`~archspace.experiment.Experiment`
(process executor, a directory per invocation, progress bar). Every trial writes its entries into
its folder; they are merged into the table file after the run, and also at the start of the next
invocation, so a killed build loses at most the trials that were running. Entries already in the
table are never trained again.

    python benchmarks/build_fashion201.py --archs 1000 --seeds 1     # then --archs 200 --seeds 2
Writes the table the package ships, archspace/benchmarks/fashion201_table.json (and the runs under
runs/<protocol name>/build-NNN/); needs
Fashion-MNIST (``apt install dataset-fashion-mnist``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archspace.benchmarks.fashion201 import PROTOCOL, Fashion201Net, Protocol, unique_archs  # noqa: E402
from archspace.benchmarks.fashion201_table import (  # noqa: E402
    DEFAULT_PATH,
    Fashion201Evaluator,
    add_to_table,
)
from archspace.experiment import Experiment  # noqa: E402
from archspace.hub.nasbench201 import from_arch_str  # noqa: E402
from archspace.strategy import Random  # noqa: E402

ROOT = Path(__file__).resolve().parent
DEFAULT_TABLE = DEFAULT_PATH  # the table ships with the package


def draw(archs: int, seed: int = 0) -> list[str]:
    """The first ``archs`` unique architectures of the seeded uniform order."""
    order = list(unique_archs())
    random.Random(seed).shuffle(order)
    return order[:archs]


def build(table_path: str | Path, directory: str | Path, *, archs: int, seeds: int, protocol: Protocol = PROTOCOL,
          root: str | None = None, draw_seed: int = 0, workers: int = 2, executor: str = "process",
          progress: bool | None = None) -> dict[str, Any]:
    """Extend the table at ``table_path`` to the first ``archs`` drawn architectures x ``seeds`` seeds.

    Returns what was done: entries merged from earlier runs, architectures trained now, table size.
    """
    directory = Path(directory)
    table, recovered = add_to_table(table_path, (), protocol, trial_dir=directory)  # trials a killed run left
    wanted = draw(archs, draw_seed)
    todo = [a for a in wanted if any(not table.has(a, s) for s in range(seeds))]
    start = time.time()
    if todo:
        run_dir = directory / f"build-{len(list(directory.glob('build-*'))) + 1:03d}" if directory.exists() \
            else directory / "build-001"
        skip = {a: tuple(s for s in range(seeds) if table.has(a, s)) for a in todo}
        evaluator = Fashion201Evaluator(tuple(range(seeds)), protocol, root, skip)
        experiment = Experiment(Fashion201Net(protocol.channels, protocol.num_cells, stem_stride=protocol.stem_stride), evaluator, Random(),
                                max_trials=len(todo), concurrency=workers, executor=executor, directory=run_dir,
                                progress=progress)
        for arch in todo:
            experiment.enqueue(from_arch_str(arch))
        experiment.run()
        # under the table's lock, read again: entries added meanwhile (lookup_or_train elsewhere) are kept
        table, _ = add_to_table(table_path, (), protocol, trial_dir=directory)
    return {"recovered": recovered, "trained_archs": len(todo), "table_archs": len(table),
            "table_entries": sum(len(s) for s in table.values()), "seconds": round(time.time() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", type=int, required=True, help="the first N architectures of the draw")
    parser.add_argument("--seeds", type=int, default=1, help="train seeds 0..S-1 of each")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--table", default=str(DEFAULT_TABLE))
    parser.add_argument("--dir", default=f"runs/{PROTOCOL.name}",
                        help="the experiments' folder (one run per invocation; one folder per protocol: the "
                             "trials' entry files do not name their protocol)")
    parser.add_argument("--root", default=None, help="the Fashion-MNIST IDX folder")
    args = parser.parse_args()
    print(build(args.table, args.dir, archs=args.archs, seeds=args.seeds, root=args.root, workers=args.workers,
                progress=True))


if __name__ == "__main__":
    main()
