"""Step 2 of SPOS: evolutionary search over the trained supernet (population 50, top 10, 25
mutations at p=0.1, 25 crossovers, 20 generations by default, as the official code).

Each candidate is scored by its subnet with the supernet's weights after batch-norm statistics
are recomputed on ``--calib-images`` training images; ``--flops-limit`` / ``--params-limit`` filter
candidates before scoring (the paper: 330M FLOPs on ImageNet). Writes ``<output>/arch.json``.

    python examples/spos/search.py --output runs/spos --flops-limit 20e6
    python examples/spos/search.py --smoke
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from _common import Batches, add_common, build_space, load_data, save_json

from archspace.oneshot import SampledPath, to_supernet
from archspace.oneshot.spos_search import EvolutionSearch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--select", type=int, default=10)
    parser.add_argument("--mutation", type=int, default=25)
    parser.add_argument("--crossover", type=int, default=25)
    parser.add_argument("--mutation-prob", type=float, default=0.1)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--calib-images", type=int, default=2048)
    parser.add_argument("--flops-limit", type=float, default=None)
    parser.add_argument("--params-limit", type=float, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.output)
    kwargs = json.loads((out / "space.json").read_text())
    args.spos_preprocessing = bool(kwargs.pop("spos_preprocessing", False))
    if args.smoke:
        args.population, args.select, args.mutation, args.crossover, args.generations = 4, 2, 1, 1, 2
        args.calib_images, args.batch_size = 16, 8
    (x, y), (xv, yv) = load_data(args)
    space = build_space(kwargs)
    supernet = to_supernet(space, SampledPath())
    supernet.net.load_state_dict(torch.load(out / "supernet.pt", weights_only=True))
    supernet.to(args.device)
    calibration = list(Batches((x[:args.calib_images], y[:args.calib_images]), args.batch_size, args.seed, args))
    validation = list(Batches((xv, yv), 500, 0, args, shuffle=False))
    constraints = [c for c in (f"flops <= {args.flops_limit}" if args.flops_limit else None,
                               f"params <= {args.params_limit}" if args.params_limit else None) if c]
    search = EvolutionSearch(population=args.population, select=args.select, mutation=args.mutation,
                             crossover=args.crossover, mutation_prob=args.mutation_prob,
                             generations=args.generations, constraint=constraints or None, seed=args.seed)
    result = search.search(supernet, calibration, validation, device=args.device,
                           on_generation=lambda r: logging.info("generation %d: best %.4f (%d scored)",
                                                                r["generation"], r["best_score"], r["scored"]))
    save_json(out / "arch.json", result.best)
    save_json(out / "search.json", {"best": result.best, "best_score": result.best_score,
                                    "history": result.history, "rejected": result.rejected,
                                    "candidates_per_second": result.candidates_per_second})
    print(f"best {result.best_score:.4f} ({len(result.scored)} scored, "
          f"{result.candidates_per_second:.2f}/s); architecture in {out / 'arch.json'}")


if __name__ == "__main__":
    main()
