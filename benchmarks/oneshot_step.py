"""One-shot step time and peak memory, side by side in one run.

Two settings, each with its baselines and archspace's savings one at a time:

- DARTS (8 cells, 16 channels, batch 32 of 3x32x32), first-order DARTS;
- NAS-Bench-201 (16 channels, 5 cells per stage, batch 64), DARTS and GumbelDARTS (soft).

Baselines: ``inline``, a plain PyTorch supernet of the same cells written below (pt.darts-style
mixed op ``sum(w * op(x))``, every candidate run, including ``none``); ``before``, archspace's
supernet before the one-shot redesign (commit f9b0f15, imported from a git worktree of it, see
``--before``); ``naive``, today's supernet with every saving off. Then each saving alone
(``skip_zero``, ``share_relu``, ``fold_weight``, ``inplace``: the separable conv's second ReLU
in place, ``checkpoint``: ``checkpoint_ops=True``, ``channels_last``: the opt-in NHWC layout),
the default (the first four: exact savings), and the default plus each opt-in one.

Each configuration runs in its own process (so peak resident memory is its own) with 2 threads:
warm-up steps, then the median of timed steps; configurations are interleaved over REPEATS
rounds, and ratios are taken between medians of the same run.

    git worktree add /tmp/archspace-before f9b0f15
    .venv/bin/python benchmarks/oneshot_step.py [--steps 2] [--repeats 3] [--before /tmp/archspace-before]

Writes benchmarks/results/oneshot_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BEFORE = Path("/tmp/archspace-before")

OFF = {"skip_zero": False, "share_relu": False, "fold_weight": False, "checkpoint_ops": False, "channels_last": False}
EXACT = {**OFF, "skip_zero": True, "share_relu": True, "fold_weight": True}
# name -> (setting, implementation, trainer, supernet savings, SepConv's second ReLU in place)
CONFIGS: dict[str, tuple[str, str, str, dict[str, bool], bool]] = {
    "darts/inline": ("darts", "inline", "darts", OFF, False),
    "darts/before": ("darts", "before", "darts", OFF, False),
    "darts/naive": ("darts", "archspace", "darts", OFF, False),
    "darts/skip_zero": ("darts", "archspace", "darts", {**OFF, "skip_zero": True}, False),
    "darts/share_relu": ("darts", "archspace", "darts", {**OFF, "share_relu": True}, False),
    "darts/fold_weight": ("darts", "archspace", "darts", {**OFF, "fold_weight": True}, False),
    "darts/inplace": ("darts", "archspace", "darts", OFF, True),
    "darts/checkpoint": ("darts", "archspace", "darts", {**OFF, "checkpoint_ops": True}, False),
    "darts/channels_last": ("darts", "archspace", "darts", {**OFF, "channels_last": True}, False),
    "darts/default": ("darts", "archspace", "darts", EXACT, True),
    "darts/default+channels_last": ("darts", "archspace", "darts", {**EXACT, "channels_last": True}, True),
    "darts/default+checkpoint": ("darts", "archspace", "darts", {**EXACT, "checkpoint_ops": True}, True),
    "nb201/inline": ("nb201", "inline", "darts", OFF, False),
    "nb201/before": ("nb201", "before", "darts", OFF, False),
    "nb201/naive": ("nb201", "archspace", "darts", OFF, False),
    "nb201/skip_zero": ("nb201", "archspace", "darts", {**OFF, "skip_zero": True}, False),
    "nb201/share_relu": ("nb201", "archspace", "darts", {**OFF, "share_relu": True}, False),
    "nb201/fold_weight": ("nb201", "archspace", "darts", {**OFF, "fold_weight": True}, False),
    "nb201/checkpoint": ("nb201", "archspace", "darts", {**OFF, "checkpoint_ops": True}, False),
    "nb201/channels_last": ("nb201", "archspace", "darts", {**OFF, "channels_last": True}, False),
    "nb201/default": ("nb201", "archspace", "darts", EXACT, True),
    "nb201/default+channels_last": ("nb201", "archspace", "darts", {**EXACT, "channels_last": True}, True),
    "nb201/default+checkpoint": ("nb201", "archspace", "darts", {**EXACT, "checkpoint_ops": True}, True),
    "nb201/gumbel_before": ("nb201", "before", "gumbel", OFF, False),
    "nb201/gumbel_naive": ("nb201", "archspace", "gumbel", OFF, False),
    "nb201/gumbel_default": ("nb201", "archspace", "gumbel", EXACT, True),
}


def _total(terms: list[torch.Tensor]) -> torch.Tensor:
    out = terms[0]
    for term in terms[1:]:
        out = out + term
    return out


def _mixed_sum(weights: torch.Tensor, ops: Any, x: torch.Tensor) -> torch.Tensor:
    """pt.darts's MixedOp: every candidate, ``none`` included, times its weight."""
    return _total([w * op(x) for w, op in zip(weights, ops)])


def _relus_not_in_place(net: nn.Module) -> None:
    """Undo the separable conv's in-place ReLU (the naive rows and the inline supernet)."""
    from archspace.hub.darts import SepConv

    for module in net.modules():
        if isinstance(module, SepConv):
            for layer in module:
                if isinstance(layer, nn.ReLU):
                    layer.inplace = False


class InlineDarts(nn.Module):
    """The DARTS search network written directly in PyTorch (pt.darts style)."""

    def __init__(self, c: int = 16, layers: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        from archspace.hub.darts import OPS, Preprocess, make_op

        stem = 3 * c
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem))
        c_pp, c_p, cur = stem, stem, c
        self.pre, self.edges, self.reduction = nn.ModuleList(), nn.ModuleList(), []
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            cur *= 2 if reduction else 1
            self.pre.append(Preprocess(c_pp, c_p, cur, reduction_prev, False))
            self.edges.append(nn.ModuleList(
                nn.ModuleList(make_op(name, cur, 2 if reduction and j < 2 else 1, False, True) for name in OPS)
                for node in range(4) for j in range(2 + node)))
            self.reduction.append(reduction)
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * cur
        self.classifier = nn.Linear(c_p, num_classes)
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(14, len(OPS)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(14, len(OPS)))
        _relus_not_in_place(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wn, wr = torch.softmax(self.alpha_normal, -1), torch.softmax(self.alpha_reduce, -1)
        s0 = s1 = self.stem(x)
        for pre, edges, reduction in zip(self.pre, self.edges, self.reduction):
            weights = wr if reduction else wn
            states = pre([s0, s1])
            offset = 0
            for _node in range(4):
                cell_edges: Any = edges
                states.append(_total([_mixed_sum(weights[offset + j], cell_edges[offset + j], h)
                                      for j, h in enumerate(states)]))
                offset += len(states) - 1
            s0, s1 = s1, torch.cat(states[2:], dim=1)
        return self.classifier(s1.mean((2, 3)))


class InlineNB201(nn.Module):
    """The NAS-Bench-201 search network written directly in PyTorch (every cell shares the logits)."""

    def __init__(self, c: int = 16, num_cells: int = 5, num_classes: int = 10) -> None:
        super().__init__()
        from archspace.hub.nasbench201 import EDGES, OPS, ResidualReduction, make_op

        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.edges_of = [f"{k}_{j}" for k, j in EDGES]
        self.layers = nn.ModuleList()
        for stage in range(3):
            if stage > 0:
                self.layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            for _ in range(num_cells):
                self.layers.append(nn.ModuleDict({e: nn.ModuleList(make_op(o, c) for o in OPS) for e in self.edges_of}))
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c, num_classes)
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.alpha, -1)
        x = self.stem(x)
        layer: Any
        for layer in self.layers:
            if not isinstance(layer, nn.ModuleDict):
                x = layer(x)
                continue
            nodes = [x]
            for k in range(1, 4):
                nodes.append(_total([_mixed_sum(weights[self.edges_of.index(f"{k}_{j}")], layer[f"{k}_{j}"], nodes[j])
                                     for j in range(k)]))
            x = nodes[3]
        return self.classifier(self.lastact(x).mean((2, 3)))


def run_config(name: str, steps: int, warmup: int) -> dict[str, Any]:
    """Time one configuration in this process (archspace already on sys.path)."""
    import archspace
    from archspace.hub import DartsSpace, NasBench201
    from archspace.oneshot import DARTS, GumbelDARTS

    setting, impl, algorithm, savings, inplace = CONFIGS[name]
    torch.manual_seed(0)
    loss = nn.functional.cross_entropy
    batch = 64 if setting == "nb201" else 32
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if impl == "inline":
        net: Any = InlineNB201() if setting == "nb201" else InlineDarts()
        alphas = [p for n, p in net.named_parameters() if n.startswith("alpha")]
        weights = [p for n, p in net.named_parameters() if not n.startswith("alpha")]
        w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
        a_opt = torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

        def step() -> None:
            a_opt.zero_grad()
            loss(net(x), y).backward()
            a_opt.step()
            w_opt.zero_grad()
            loss(net(x), y).backward()
            nn.utils.clip_grad_norm_(weights, 5.0)
            w_opt.step()
    else:
        space: Any = (NasBench201(channels=16, num_cells=5) if setting == "nb201"
                      else DartsSpace(channels=16, layers=8, search=True))
        trainer: Any = GumbelDARTS() if algorithm == "gumbel" else DARTS(order=1)
        if impl == "before":
            trainer.build(space)
        else:
            from archspace.oneshot import to_supernet

            supernet = to_supernet(space, skip_zero=savings["skip_zero"], share_relu=savings["share_relu"],
                                   fold_weight=savings["fold_weight"], checkpoint_ops=savings["checkpoint_ops"],
                                   channels_last=savings["channels_last"])
            if not inplace:
                _relus_not_in_place(supernet)
            trainer.build(supernet)

        net = trainer.supernet

        def step() -> None:
            trainer.step((x, y), (x, y), loss)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"name": name, "code": str(Path(archspace.__file__).parent.parent), "step_s": statistics.median(times),
            "peak_rss_mb": peak / 1024, "rss_growth_mb": (peak - rss_before) / 1024,
            "saved_activations_mb": saved_activations_mb(net, x)}


def saved_activations_mb(net: nn.Module, x: torch.Tensor) -> float:
    """What one forward keeps for the backward pass (distinct storages): memory without the noise
    of the allocator and of the machine, measured after the timed steps."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x)
    return sum(storages.values()) / 2**20


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each configuration's step time and peak memory over its setting's inline supernet's,
    and over the pre-redesign supernet's of the same algorithm."""
    out: dict[str, dict[str, float]] = {}
    for name, s in summary.items():
        setting, impl, algorithm, _, _ = CONFIGS[name]
        row: dict[str, float] = {}
        inline = summary.get(f"{setting}/inline")
        if inline is not None and algorithm == "darts":
            row["time_vs_inline"] = s["step_s_median"] / inline["step_s_median"]
            row["memory_vs_inline"] = s["peak_rss_mb_max"] / inline["peak_rss_mb_max"]
            row["saved_vs_inline"] = s["saved_activations_mb"] / inline["saved_activations_mb"]
        before = summary.get(f"{setting}/gumbel_before" if algorithm == "gumbel" else f"{setting}/before")
        if before is not None and impl != "inline":
            row["time_vs_before"] = s["step_s_median"] / before["step_s_median"]
            row["memory_vs_before"] = s["peak_rss_mb_max"] / before["peak_rss_mb_max"]
        out[name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, default=DEFAULT_BEFORE,
                        help="a checkout of the pre-redesign commit f9b0f15 (git worktree add DIR f9b0f15)")
    parser.add_argument("--only", nargs="*", help="run only these configurations")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        torch.set_num_threads(2)
        impl = CONFIGS[args.config][1]
        sys.path.insert(0, str(args.before if impl == "before" else ROOT))
        print(json.dumps(run_config(args.config, args.steps, args.warmup)))
        return
    configs = [c for c in CONFIGS if not args.only or c in args.only]
    if not (args.before / "archspace").is_dir():
        print(f"no pre-redesign checkout at {args.before}: skipping the 'before' rows")
        configs = [c for c in configs if CONFIGS[c][1] != "before"]
    rounds: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for _ in range(args.repeats):
        for config in configs:
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--config", config, "--steps", str(args.steps),
                                  "--warmup", str(args.warmup), "--before", str(args.before)],
                                 capture_output=True, text=True, check=True, env=env, cwd="/")
            rounds[config].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {config:26s} {rounds[config][-1]['step_s']:.2f} s", flush=True)
    summary = {c: {"step_s_median": statistics.median(r["step_s"] for r in runs),
                   "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
                   "saved_activations_mb": runs[0]["saved_activations_mb"], "runs": runs}
               for c, runs in rounds.items()}
    table = ratios(summary)
    for c in configs:
        extra = "  ".join(f"{k} {v:.2f}" for k, v in table[c].items())
        print(f"{c:26s} step {summary[c]['step_s_median']:6.2f} s  peak RSS {summary[c]['peak_rss_mb_max']:5.0f} MB  "
              f"saved {summary[c]['saved_activations_mb']:5.0f} MB  {extra}")
    out_path = ROOT / "benchmarks" / "results" / "oneshot_step.json"
    out_path.write_text(json.dumps({"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "threads": 2,
                                    "before_commit": "f9b0f15", "ratios": table, "configs": summary}, indent=2) + "\n")
    print(f"wrote {out_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
