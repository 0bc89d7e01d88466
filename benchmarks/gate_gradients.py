"""Why do the sampling searches (GDAS, ProxylessNAS) collapse to ``none`` on Fashion-201? Measured.

A hard (one-hot, straight-through) search scales the drawn op's output by a gate ``w = 1`` and
moves the logits by the gate's gradient ``g = dL/dw = <dL/d(edge output), op output>``: with the
drawn op ``s`` and probabilities ``p``, ``dL/dalpha_j = g_s p_s (1[j = s] - p_j)`` (GDAS; the
ProxylessNAS binary-gate estimator has the same sign structure). ``none``'s output is zero, so
its own ``g`` is always 0: whenever it is drawn nothing moves, and whenever a real op is drawn
with ``g_s > 0`` (turning that op's output down would lower the validation loss) the step lowers
``alpha_s`` and raises every other logit, ``none``'s among them. If ``g_s > 0`` is the common case
on validation batches, ``none`` gains on every edge whatever the ops are worth.

This script trains the table's supernet (SPOS's uniform single paths, so no candidate is
favoured) and, after each of ``--epochs``, draws a uniform path for each of ``--batches``
validation (and training) batches and takes every candidate's gate gradient on every edge at
that path: every candidate runs, the drawn one with gate 1 and the others with gate 0, in
training mode (batch statistics, as an architecture step; the running statistics are left
alone). It reports, per op, the mean gate gradient when drawn and the share of positive ones,
and the mean step a GDAS update at uniform logits gives each op's logit (``-dL/dalpha`` with
``p`` the plain softmax, 1/5 each: GDAS's Gumbel-perturbed weights change the sizes, not the
signs, which are what this is for).

    python benchmarks/gate_gradients.py --epochs 2 8 16 --batches 60
    # writes benchmarks/results/gate_gradients.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.benchmarks.fashion201 import PROTOCOL, load_splits  # noqa: E402
from archspace.oneshot import create_oneshot  # noqa: E402
from archspace.oneshot.buffers import kept_buffers  # noqa: E402
from archspace.oneshot.policy import Mix, WeightingPolicy  # noqa: E402
from archspace.oneshot.spos import uniform_path  # noqa: E402
from archspace.oneshot.supernet import Supernet  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from oneshot_quality import batches, space  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "gate_gradients.json"


class Gates(WeightingPolicy):
    """Every candidate runs, gated by a leaf tensor: 1 for the path's value, 0 for the others, so
    each gate's gradient is the loss's derivative along that candidate's output."""

    def __init__(self, path: Mapping[str, Any]) -> None:
        self.path = dict(path)
        self.gates: dict[str, torch.Tensor] = {}

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        gate = torch.zeros(len(values), dtype=logits.dtype)
        gate[list(values).index(self.path[label])] = 1.0
        self.gates[label] = gate.requires_grad_(True)
        return Mix(tuple(range(len(values))), self.gates[label])


def gate_gradients(supernet: Supernet, data: list[tuple[torch.Tensor, torch.Tensor]], generator: torch.Generator,
                   ) -> list[dict[str, Any]]:
    """One record per batch: the uniform path drawn and every label's gate gradients."""
    values = {label: list(d.values) for label, d in supernet.space[0].search_space().items()}
    records = []
    supernet.train()
    with kept_buffers(supernet):
        for x, y in data:
            policy = Gates(uniform_path(values, generator))
            with supernet.using(policy):
                loss = torch.nn.functional.cross_entropy(supernet(x), y)
            labels = list(policy.gates)
            grads = torch.autograd.grad(loss, [policy.gates[label] for label in labels], allow_unused=True)
            records.append({"path": policy.path, "loss": float(loss.detach()),
                            "gates": {label: ([0.0] * len(values[label]) if g is None else [float(v) for v in g])
                                      for label, g in zip(labels, grads)}})
    return records


def summarise(records: list[dict[str, Any]], values: Mapping[str, list[str]]) -> dict[str, Any]:
    """Per op (over edges and batches): the drawn gate's mean gradient and share positive, the
    undrawn gates' mean, and the mean GDAS logit step at uniform logits (``-dL/dalpha``, tau 1)."""
    ops = next(iter(values.values()))
    drawn: dict[str, list[float]] = {op: [] for op in ops}
    undrawn: dict[str, list[float]] = {op: [] for op in ops}
    step: dict[str, list[float]] = {op: [] for op in ops}
    for record in records:
        for label, grads in record["gates"].items():
            s = values[label].index(record["path"][label])
            p = 1.0 / len(grads)
            for j, op in enumerate(values[label]):
                (drawn if j == s else undrawn)[op].append(grads[j])
                step[op].append(-grads[s] * p * ((1.0 if j == s else 0.0) - p))
    real = [g for op, gs in drawn.items() if op != "none" for g in gs]
    return {
        "drawn_mean": {op: statistics.mean(gs) for op, gs in drawn.items() if gs},
        "drawn_positive_share": {op: sum(g > 0 for g in gs) / len(gs) for op, gs in drawn.items() if gs},
        "drawn_count": {op: len(gs) for op, gs in drawn.items()},
        "undrawn_mean": {op: statistics.mean(gs) for op, gs in undrawn.items() if gs},
        "gdas_step_mean": {op: statistics.mean(gs) for op, gs in step.items() if gs},
        "real_drawn_positive_share": sum(g > 0 for g in real) / len(real),
        "mean_loss": statistics.mean(r["loss"] for r in records),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, nargs="+", default=[2, 8, 16], help="measure after these supernet epochs")
    p.add_argument("--batches", type=int, default=60, help="validation (and training) batches per measurement")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training/valid images")
    p.add_argument("--smoke", action="store_true", help="nothing saved")
    args = p.parse_args()
    torch.set_num_threads(1)
    train, valid, _ = load_splits(PROTOCOL)
    train_b, valid_b = batches(train, args.batch, args.limit), batches(valid, args.batch, args.limit)
    trainer = create_oneshot("spos", epochs=max(args.epochs), seed=args.seed, progress=False, evolution=False)
    values: dict[str, list[str]] = {}
    result: dict[str, Any] = {"command": "python benchmarks/gate_gradients.py " + " ".join(sys.argv[1:]),
                              "supernet": "SPOS (uniform single paths), the table's network and training split",
                              "batch": args.batch, "seed": args.seed, "epochs": {}}
    start = time.time()

    def on_epoch(record: dict[str, Any]) -> None:
        epoch = record["epoch"] + 1
        if epoch not in args.epochs:
            return
        supernet = trainer.supernet
        values.update({label: list(d.values) for label, d in supernet.space[0].search_space().items()})
        with torch.random.fork_rng(devices=[]):
            generator = torch.Generator().manual_seed(1000 + epoch)
            measured = {split: summarise(gate_gradients(supernet, data[:args.batches], generator), values)
                        for split, data in (("valid", valid_b), ("train", train_b))}
        result["epochs"][str(epoch)] = measured
        v = measured["valid"]
        print(f"epoch {epoch} ({time.time() - start:.0f} s): valid drawn-gate mean "
              + ", ".join(f"{op} {g:+.2e} ({v['drawn_positive_share'][op]:.0%} >0)" for op, g in v["drawn_mean"].items())
              + "; GDAS step at uniform logits: " + ", ".join(f"{op} {s:+.2e}" for op, s in v["gdas_step_mean"].items())
              + f"; train real drawn >0: {measured['train']['real_drawn_positive_share']:.0%}", flush=True)
        if not args.smoke:
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps(result, indent=1) + "\n")

    trainer.fit(space(), train_b, None, threads=1, on_epoch=on_epoch)


if __name__ == "__main__":
    main()
