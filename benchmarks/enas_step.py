"""ENAS supernet step time vs the same sampled path trained as a plain frozen model.

For each space (macro, micro) and several paths drawn by the controller, one weight step of the
supernet along the path (``ENAS.follow`` + ``weight_step``: SGD, clipping) and one step of the
frozen model of that path (``supernet.subnet(sample)``, the same SGD settings) are timed
alternately on the same batch; medians per side, ratio supernet / frozen (target <= 1.2). The
full ENAS step (path draw, weight step, one controller update with its reward pass and greedy
decode) is timed too, for the controller's share. Writes benchmarks/results/enas_step.json.

    python benchmarks/enas_step.py [--repeats 7] [--paths 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archspace.hub import EnasMacroSpace, EnasMicroSpace  # noqa: E402
from archspace.oneshot import ENAS  # noqa: E402


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def bench(name: str, space: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], paths: int, repeats: int) -> dict:
    trainer = ENAS(epochs=1, seed=0, progress=False)
    supernet = trainer.build(space)  # type: ignore[arg-type]
    supernet.train()
    loss_fn = nn.functional.cross_entropy
    g = torch.Generator().manual_seed(0)
    rows = []
    for p in range(paths):
        with torch.no_grad():
            sample = trainer.controller.trace(generator=g).sample
        frozen = supernet.subnet(sample)
        frozen.train()
        opt = torch.optim.SGD(frozen.parameters(), lr=0.05, momentum=0.9, weight_decay=2.5e-4)

        def frozen_step(frozen: nn.Module = frozen, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad(set_to_none=True)
            loss_fn(frozen(batch[0]), batch[1]).backward()
            nn.utils.clip_grad_norm_(list(frozen.parameters()), 5.0)
            opt.step()

        def supernet_step(sample: dict = sample) -> None:
            trainer.follow(sample)
            trainer.weight_step(batch, loss_fn)

        for _ in range(2):  # warm-up
            frozen_step()
            supernet_step()
        sup, fro = [], []
        for _ in range(repeats):
            sup.append(_timed(supernet_step))
            fro.append(_timed(frozen_step))
        full = [_timed(lambda: trainer.step(batch, batch, loss_fn)) for _ in range(max(repeats // 2, 2))]
        s, f = statistics.median(sup), statistics.median(fro)
        rows.append({"path": p, "supernet_ms": 1e3 * s, "frozen_ms": 1e3 * f, "ratio": s / f,
                     "full_enas_step_ms": 1e3 * statistics.median(full)})
        print(f"{name} path {p}: supernet {1e3 * s:.1f} ms, frozen {1e3 * f:.1f} ms, ratio {s / f:.3f}; "
              f"full ENAS step {rows[-1]['full_enas_step_ms']:.1f} ms", flush=True)
    return {"space": name, "paths": rows, "median_ratio": statistics.median(r["ratio"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--paths", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "enas_step.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = (torch.randn(args.batch_size, 1, 28, 28), torch.randint(0, 10, (args.batch_size,)))
    spaces = {"macro (12 layers, 16 channels)": EnasMacroSpace(width=16, num_layers=12, in_channels=1),
              "micro (3+2 cells, 5 nodes, 8 channels)": EnasMicroSpace(width=8, num_layers=3, in_channels=1)}
    results = [bench(name, space, batch, args.paths, args.repeats) for name, space in spaces.items()]
    out = {"benchmark": "ENAS weight step along a path vs the frozen path model, one process, medians",
           "command": "python benchmarks/enas_step.py " + " ".join(sys.argv[1:]), "input": [args.batch_size, 1, 28, 28],
           "threads": args.threads, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
           "target_ratio": 1.2, "results": results}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
