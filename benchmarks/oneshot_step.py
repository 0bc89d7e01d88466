"""One-shot step time and peak memory, side by side in one run.

1. First-order DARTS on the DARTS search space (8 cells, 16 channels, batch 32 of 3x32x32):
   archspace's DARTS vs a plain PyTorch supernet of the same cells written inline below
   (pt.darts-style MixedOp / cell / alphas), both doing the same alternation.
2. Second-order DARTS on the same setting, as a ratio to first order.
3. The NAS-Bench-201 setting of the issue (16 channels, 5 cells per stage, batch 64, 2 threads):
   DARTS and GumbelDARTS.

Each configuration runs in its own process (so peak resident memory is its own): warm-up steps,
then the median of timed steps. Configurations are interleaved over REPEATS rounds.

    .venv/bin/python benchmarks/oneshot_step.py [--steps 5] [--repeats 2]

Writes benchmarks/results/oneshot_step.json.
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT))

from archspace.hub.darts import OPS, Preprocess, make_op  # noqa: E402


class InlineMixedOp(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, c, stride, False, True) for name in OPS)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))  # type: ignore[return-value]


class InlineCell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre = Preprocess(c_pp, c_p, c, reduction_prev, False)
        self.edges = nn.ModuleList(InlineMixedOp(c, 2 if reduction and j < 2 else 1) for i in range(4) for j in range(2 + i))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = self.pre([s0, s1])
        offset = 0
        for _node in range(4):
            states.append(sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[2:], dim=1)


class InlineSupernet(nn.Module):
    """The DARTS search network written directly in PyTorch (the comparison baseline)."""

    def __init__(self, c: int = 16, layers: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        stem = 3 * c
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem))
        c_pp, c_p, cur = stem, stem, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                cur *= 2
            self.cells.append(InlineCell(c_pp, c_p, cur, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * cur
        self.classifier = nn.Linear(c_p, num_classes)
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(14, len(OPS)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(14, len(OPS)))

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("alpha")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wn, wr = torch.softmax(self.alpha_normal, -1), torch.softmax(self.alpha_reduce, -1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
        return self.classifier(s1.mean((2, 3)))


def run_config(name: str, steps: int, warmup: int) -> dict[str, Any]:
    """Time one configuration in this process."""
    from archspace.hub import DartsSpace, NasBench201
    from archspace.oneshot import DARTS, GumbelDARTS

    torch.manual_seed(0)
    loss = nn.functional.cross_entropy
    batch = 64 if name.startswith("nb201") else 32
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if name == "inline_darts1":
        net = InlineSupernet()
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        a_opt = torch.optim.Adam([net.alpha_normal, net.alpha_reduce], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

        def step() -> None:
            a_opt.zero_grad()
            loss(net(x), y).backward()
            a_opt.step()
            w_opt.zero_grad()
            loss(net(x), y).backward()
            nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
            w_opt.step()
    else:
        if name.startswith("nb201"):
            space: Any = NasBench201(channels=16, num_cells=5)
        else:
            space = DartsSpace(channels=16, layers=8, search=True)
        trainer: Any = GumbelDARTS() if name.endswith("gumbel") else DARTS(order=2 if name.endswith("2") else 1)
        trainer.build(space)

        def step() -> None:
            trainer.step((x, y), (x, y), loss)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"name": name, "step_s": statistics.median(times), "peak_rss_mb": peak / 1024,
            "rss_growth_mb": (peak - rss_before) / 1024}


CONFIGS = ["archspace_darts1", "inline_darts1", "archspace_darts2", "nb201_darts1", "nb201_gumbel"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        torch.set_num_threads(2)
        print(json.dumps(run_config(args.config, args.steps, args.warmup)))
        return
    rounds: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    for _ in range(args.repeats):
        for config in CONFIGS:
            out = subprocess.run([sys.executable, __file__, "--config", config, "--steps", str(args.steps),
                                  "--warmup", str(args.warmup)], capture_output=True, text=True, check=True)
            rounds[config].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {c: {"step_s_median": statistics.median(r["step_s"] for r in runs),
                   "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs), "runs": runs}
               for c, runs in rounds.items()}
    ratio_inline = summary["archspace_darts1"]["step_s_median"] / summary["inline_darts1"]["step_s_median"]
    ratio_second = summary["archspace_darts2"]["step_s_median"] / summary["archspace_darts1"]["step_s_median"]
    for c in CONFIGS:
        print(f"{c:18s} step {summary[c]['step_s_median']:.3f} s   peak RSS {summary[c]['peak_rss_mb_max']:.0f} MB")
    print(f"archspace / inline first-order step time: {ratio_inline:.3f} (target <= 1.10)")
    print(f"second / first order step time: {ratio_second:.2f} (target <= 3)")
    out_path = ROOT / "benchmarks" / "results" / "oneshot_step.json"
    out_path.write_text(json.dumps({"steps": args.steps, "repeats": args.repeats, "threads": 2,
                                    "ratio_archspace_over_inline": ratio_inline,
                                    "ratio_second_over_first": ratio_second, "configs": summary}, indent=2) + "\n")
    print(f"wrote {out_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
