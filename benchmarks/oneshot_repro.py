"""Does one seed fix a one-shot search's result? For every registered algorithm and each of N
seeds, two runs with that seed, the space built each time after another state of torch's global
generator (as two separate programs would leave it): do they pick the same architecture and end
with the same supernet weights and logits, bit for bit?

Each algorithm searches the small form of the hub space it was written for (DARTS and
GumbelDARTS: DARTS cells; ENAS: ENAS macro; SPOS: ShuffleNetV2 with channel search;
ProxylessNAS: MobileNetV2 blocks) for 2 epochs of 4 training and 4 validation batches, with its
final selection (ENAS: 4 draws; SPOS: a 6-candidate, 2-generation evolution), on one thread
(several threads may sum in another order, which a seed cannot fix), and on a space of a user's
shape (``archspace.testing.generated.GeneratedSpace``: a LayerChoice of convolutions sharing a
width choice, a Repeat, an InputChoice) on 8x8 images. Figures are printed and written to
``benchmarks/results/oneshot_repro.json``. Target: 10/10 seeds agree for every algorithm.

    .venv/bin/python benchmarks/oneshot_repro.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.oneshot import ONESHOT, OneShotTrainer  # noqa: E402
from archspace.testing.generated import GeneratedSpace  # noqa: E402
from archspace.testing.oneshot_contracts import one_thread, oneshot_form, tiny_batches  # noqa: E402

HUB_SPACE = {"darts": "darts", "gumbel": "darts", "enas": "enas_macro", "spos": "shufflenet_spos",
             "proxylessnas": "proxylessnas"}
SELECTION: dict[str, dict[str, Any]] = {
    "enas": {"final_draws": 4},
    "spos": {"evolution": {"population": 6, "select": 2, "mutation": 2, "crossover": 2, "generations": 2},
             "calibration_batches": 2},
}
USER_SPEC = {"width": [4, 8], "blocks": [
    {"kind": "layer", "label": "stem_op", "ops": ["conv3", "kconv"], "nested": False},
    {"kind": "repeat", "label": "rep", "depths": [1, 2], "hidden": [2, 4]},
    {"kind": "input", "label": "skip", "chosen": 1, "reduction": "sum"}]}


def _state(trainer: OneShotTrainer) -> dict[str, torch.Tensor]:
    net = {f"net.{k}": v.detach().clone() for k, v in trainer.supernet.net.state_dict().items()}
    return net | {f"arch.{k}": v.detach().clone() for k, v in trainer.supernet.arch.state_dict().items()}


def _run(name: str, factory: Any, inputs: torch.Tensor, seed: int, global_seed: int) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    data = tiny_batches(inputs, 10, 8, seed=100 + seed)
    torch.manual_seed(global_seed)
    space = factory()
    trainer = ONESHOT.create(name, epochs=2, seed=seed, progress=False, **SELECTION.get(name, {}))
    with one_thread():
        answer = trainer.fit(space, data[:4], data[4:])
    return answer, _state(trainer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    cases = [(name, "hub:" + HUB_SPACE[name]) for name in ONESHOT.list()] + [(name, "user") for name in ONESHOT.list()]
    for name, where in cases:
        if where == "user":
            factory: Any = functools.partial(GeneratedSpace, USER_SPEC)
            inputs = torch.randn(4, 1, 8, 8)
        else:
            hub = HUB_SPACE[name]
            factory = oneshot_form(hub)
            inputs = factory().example_input(4)
        agree_arch = agree_weights = 0
        start = time.perf_counter()
        for seed in range(args.seeds):
            (a, wa), (b, wb) = _run(name, factory, inputs, seed, 0), _run(name, factory, inputs, seed, 1000 + seed)
            agree_arch += a == b
            agree_weights += wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
        row = {"space": where, "seeds": args.seeds, "same_architecture": agree_arch, "same_weights": agree_weights,
               "seconds": round(time.perf_counter() - start, 1)}
        results[f"{name}/{where}"] = row
        print(f"{name:13s} {where:22s} same architecture {agree_arch}/{args.seeds}, "
              f"bit-identical weights and logits {agree_weights}/{args.seeds} ({row['seconds']} s)", flush=True)
    out = ROOT / "benchmarks" / "results" / "oneshot_repro.json"
    out.write_text(json.dumps({"command": " ".join(["benchmarks/oneshot_repro.py", *sys.argv[1:]]),
                               "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                               "results": results}, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
