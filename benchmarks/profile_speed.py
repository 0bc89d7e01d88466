"""How fast profile() answers after the one-time pass, against counting each frozen model directly.

For both hub spaces at their default size (NAS-Bench-201: 16 channels, 5 cells per stage; DARTS:
the search form, 16 channels, 8 cells) at a 1x3x32x32 input: the one-time pass (decomposition and
its self-check against direct counting), the time of one profile (median over N random samples,
sample validation included), the time of direct counting (count_params + count_flops on the meta
device) for a few samples, and whether the two agree exactly on every sample compared.

    .venv/bin/python benchmarks/profile_speed.py [--samples 1000] [--direct 10]

Writes benchmarks/results/profile_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.hardware import Profiler, count_flops, count_params  # noqa: E402
from archspace.hub import DartsSpace, NasBench201  # noqa: E402
from archspace.nn.space import ModelSpace  # noqa: E402

SHAPE = (1, 3, 32, 32)


def bench(name: str, space: ModelSpace, samples: int, direct: int) -> dict[str, Any]:
    start = time.perf_counter()
    prof = Profiler(space, SHAPE)
    dec = prof.decomposition
    one_time = time.perf_counter() - start
    pool = [space.random_sample(seed) for seed in range(samples)]
    times = []
    for sample in pool:
        t0 = time.perf_counter()
        prof.profile(sample)
        times.append((time.perf_counter() - t0) * 1e3)
    direct_ms, agree = [], 0
    for sample in pool[:direct]:
        t0 = time.perf_counter()
        truth = (count_params(space, sample), count_flops(space, SHAPE, sample))
        direct_ms.append((time.perf_counter() - t0) * 1e3)
        p = prof.profile(sample)
        agree += (p.params, p.flops) == truth
    row = {"space": name, "units": len(dec.entries), "covering_samples": len(dec.samples),
           "exact_decomposition": dec.separable, "one_time_pass_s": round(one_time, 2),
           "profile_ms_median": round(statistics.median(times), 4), "profile_ms_p95": round(sorted(times)[int(.95 * len(times))], 4),
           "direct_count_ms_median": round(statistics.median(direct_ms), 1), "agree_with_direct": f"{agree}/{direct}",
           "profiled_samples": samples}
    print(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--direct", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [bench("nasbench201 (channels=16, num_cells=5)", NasBench201(), args.samples, args.direct),
            bench("darts (width=16, num_cells=8, search=True)", DartsSpace(), args.samples, args.direct)]
    out = ROOT / "benchmarks" / "results" / "profile_speed.json"
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                               "input_shape": list(SHAPE), "rows": rows,
                               "command": "benchmarks/profile_speed.py " + " ".join(sys.argv[1:])}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
