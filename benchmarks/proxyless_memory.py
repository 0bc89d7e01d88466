"""Peak memory of ProxylessNAS training steps vs the single-path frozen model and DARTS, one space.

Method: every case runs in its own fresh process (``python benchmarks/proxyless_memory.py --case
NAME``), one torch thread, on the CPU. A process reads its resident set size after importing torch
(``baseline``), builds its model, optimizer and a fixed batch, runs ``--steps`` training steps and
reads its peak resident set size (``ru_maxrss``). The figure compared is ``peak - baseline``: the
memory the model and its training need (weights, gradients, optimizer state, activations), without
the interpreter and the torch libraries every case shares.

Cases, all on the Fashion-MNIST ProxylessNAS space of ``examples/proxylessnas`` (width 16, 28x28
grayscale, batch ``--batch-size``):

- ``frozen_heaviest``: ``space.freeze`` of the heaviest path (``7x7_MBConv6`` everywhere), trained
  with SGD — the single path that bounds every path ProxylessNAS samples;
- ``frozen_default``: the default path (``3x3_MBConv3`` everywhere), for scale;
- ``proxyless``: ProxylessNAS steps (a one-path weight step and a two-path architecture step
  each), default settings (``recompute_arch=True``);
- ``proxyless_keep``: the same with ``recompute_arch=False`` (both paths' activations kept);
- ``darts``: first-order DARTS steps on the same space (every candidate runs).

    python benchmarks/proxyless_memory.py            # writes benchmarks/results/proxyless_memory.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = ("frozen_heaviest", "frozen_default", "proxyless", "proxyless_keep", "darts")


def _rss_mb() -> float:
    """The current resident set size (``/proc/self/statm``), MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def run_case(case: str, steps: int, batch_size: int) -> dict[str, Any]:
    """Run one case in this process; return its memory figures (MiB)."""
    import torch

    torch.set_num_threads(1)
    baseline = _rss_mb()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "examples" / "proxylessnas"))
    from search import fashion_space  # type: ignore[import-not-found]

    from archspace.hub.proxylessnas import CANDIDATES
    from archspace.oneshot import DARTS, ProxylessNAS

    torch.manual_seed(0)
    space = fashion_space(16)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch_size, 1, 28, 28, generator=g), torch.randint(0, 10, (batch_size,), generator=g)
    loss_fn = torch.nn.functional.cross_entropy
    if case.startswith("frozen"):
        value = CANDIDATES[-1] if case == "frozen_heaviest" else CANDIDATES[0]
        model = space.freeze({label: value for label in space.search_space()})
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()
    else:
        trainer = (DARTS(order=1, epochs=1, progress=False) if case == "darts"
                   else ProxylessNAS(epochs=1, progress=False, recompute_arch=case == "proxyless"))
        trainer.build(space)
        trainer.supernet.train()
        for _ in range(steps):
            trainer.step((x, y), (x, y), loss_fn)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"case": case, "baseline_mb": round(baseline, 1), "peak_mb": round(peak, 1),
            "training_mb": round(peak - baseline, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=CASES, help="run one case in this process and print its JSON")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "proxyless_memory.json"))
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.steps, args.batch_size)))
        return
    results = {}
    for case in CASES:
        done = subprocess.run([sys.executable, __file__, "--case", case, "--steps", str(args.steps), "--batch-size",
                               str(args.batch_size)], capture_output=True, text=True, check=True)
        results[case] = json.loads(done.stdout.strip().splitlines()[-1])
        print(results[case], flush=True)
    single = results["frozen_heaviest"]["training_mb"]
    ratios = {case: round(r["training_mb"] / single, 2) for case, r in results.items()}
    report = {"method": "peak RSS (ru_maxrss) minus RSS after importing torch, each case in a fresh process, "
                        "1 thread, CPU", "space": "examples/proxylessnas fashion_space(16), 1x28x28",
              "batch_size": args.batch_size, "steps": args.steps, "machine": platform.processor() or platform.machine(),
              "cases": results, "ratio_to_frozen_heaviest": ratios,
              "targets": {"proxyless <= 1.5x single path": ratios["proxyless"] <= 1.5,
                          "darts several times more": ratios["darts"] >= 3.0}}
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["ratio_to_frozen_heaviest"]), report["targets"])


if __name__ == "__main__":
    main()
