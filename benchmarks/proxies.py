"""Zero-cost proxies against ground truth: rank correlation on NAS-Bench-201 CIFAR-10 and on the
Fashion-201 table, time per architecture, and whether a proxy warm start helps a search.

Three steps, each resumable (scores are cached per architecture in benchmarks/results/):

    # data-free proxies (params, flops, synflow) of the first N of a seeded shuffle of NB201's
    # 15,625 architectures, on the benchmark's own CIFAR-10 network (16 channels, 5 cells/stage)
    python benchmarks/proxies.py nb201 --archs 2000
    # every proxy on every Fashion-201 entry (the table's network; one batch of 64 training images)
    python benchmarks/proxies.py fashion
    # Random and RegularizedEvolution with and without a synflow warm start, 50 seeds, NB201
    python benchmarks/proxies.py warmstart --seeds 50

Writes benchmarks/results/proxies_{nb201,fashion201}_scores.json (the cache),
proxies_{nb201,fashion201}.json (correlations) and proxies_warmstart_nb201.json.

Correlations are Spearman's rho and Kendall's tau between a proxy's score and the test accuracy
(NB201: ``cifar10_test``, the mean over the benchmark's seeds; Fashion-201: the mean test accuracy
over the table's seeds), signed (a negative value means the proxy ranks backwards); NaN scores
are left out and counted.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from scipy import stats  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspace.benchmarks import load_table  # noqa: E402
from archspace.benchmarks.fashion201 import PROTOCOL, build_model, load_splits  # noqa: E402
from archspace.benchmarks.fashion201_table import load_fashion201  # noqa: E402
from archspace.hub.nasbench201 import NasBench201, from_arch_str, to_arch_str  # noqa: E402
from archspace.proxies import DATA_FREE, PROXIES, Batch, score_model  # noqa: E402
from archspace.strategy import STRATEGIES  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
NB201_CSV = ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"
#: Abdelfattah et al. (ICLR 2021), Spearman rho against NB201 CIFAR-10 test accuracy over all 15,625
#: architectures, as their repository's notebook prints it (absolute values: their code takes abs()).
PUBLISHED_NB201_RHO = {"grad_norm": 0.594, "snip": 0.596, "grasp": 0.514, "fisher": 0.36, "synflow": 0.737,
                       "jacob_cov": 0.731}
SEED = 0


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _save(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def correlations(scores: dict[str, dict[str, Any]], truth: dict[str, float], names: list[str]) -> dict[str, Any]:
    """Per proxy: rho and tau against ``truth`` over the architectures both have, and seconds per arch."""
    out: dict[str, Any] = {}
    for name in names:
        pairs = [(s[name], truth[a]) for a, s in scores.items() if a in truth and name in s]
        finite = [(x, y) for x, y in pairs if math.isfinite(x)]
        xs, ys = [p[0] for p in finite], [p[1] for p in finite]
        seconds = [s["seconds"][name] for s in scores.values() if name in s.get("seconds", {})]
        out[name] = {"spearman_rho": round(float(stats.spearmanr(xs, ys).statistic), 3),
                     "kendall_tau": round(float(stats.kendalltau(xs, ys).statistic), 3),
                     "archs": len(finite), "nan": len(pairs) - len(finite),
                     "ms_per_arch_median": round(statistics.median(seconds) * 1000, 1) if seconds else None}
    return out


def _print_table(title: str, result: dict[str, Any], published: dict[str, float] | None = None) -> None:
    print(f"\n{title}")
    print("| proxy | Spearman rho | Kendall tau | archs | ms per arch (median) |" + (" published rho |" if published else ""))
    for name, r in result.items():
        extra = f" {published[name]:.3f} |" if published and name in published else (" - |" if published else "")
        print(f"| {name} | {r['spearman_rho']:.3f} | {r['kendall_tau']:.3f} | {r['archs']} | {r['ms_per_arch_median']} |"
              + extra)


def nb201(args: argparse.Namespace) -> None:
    """Data-free proxies on NB201's CIFAR-10 network, for the first ``--archs`` of a seeded order."""
    torch.set_num_threads(1)
    table = load_table(args.table)
    order = sorted(table)
    random.Random(SEED).shuffle(order)
    cache_path = RESULTS / "proxies_nb201_scores.json"
    cache = _load(cache_path)
    space = NasBench201()  # the benchmark's network: 16 channels, 5 cells per stage, 10 classes
    proxies = [PROXIES.create(n) for n in DATA_FREE]
    batch = Batch(torch.zeros(1, 3, 32, 32))
    start, done = time.time(), 0
    for arch in order[:args.archs]:
        if arch in cache:
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            model = space.freeze(from_arch_str(arch))
        result = score_model(model, proxies, batch, seed=SEED)
        cache[arch] = {**{n: r.value for n, r in result.items()}, "seconds": {n: r.seconds for n, r in result.items()}}
        done += 1
        if done % 100 == 0:
            _save(cache_path, cache)
            print(f"{len(cache)} scored ({time.time() - start:.0f} s)", flush=True)
    _save(cache_path, cache)
    chosen = {a: cache[a] for a in order[:args.archs] if a in cache}
    truth = {a: table[a]["cifar10_test"] for a in chosen}
    result = correlations(chosen, truth, list(DATA_FREE))
    result["table_flops_m"] = correlations({a: {"table_flops_m": table[a]["flops_m"], "seconds": {}} for a in chosen},
                                           truth, ["table_flops_m"])["table_flops_m"]
    _print_table(f"NB201 CIFAR-10, {len(chosen)} architectures (seeded uniform draw of 15,625)", result,
                 PUBLISHED_NB201_RHO)
    _save(RESULTS / "proxies_nb201.json", {"archs": len(chosen), "draw_seed": SEED, "init_seed": SEED,
                                           "network": "NB201 CIFAR-10: 16 channels, 5 cells per stage, 32x32",
                                           "truth": "cifar10_test", "correlations": result,
                                           "published_spearman_abs": PUBLISHED_NB201_RHO})


def fashion(args: argparse.Namespace) -> None:
    """Every proxy on every Fashion-201 entry: the table's network, one batch of training images."""
    torch.set_num_threads(1)
    table = load_fashion201(args.table, protocol=PROTOCOL)
    (x, y), _, _ = load_splits(PROTOCOL)
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))[:args.batch]
    batch = Batch(x[pick], y[pick])
    cache_path = RESULTS / "proxies_fashion201_scores.json"
    cache = _load(cache_path)
    names = sorted(PROXIES.list())
    proxies = [PROXIES.create(n) for n in names]
    for arch in sorted(table):
        if arch in cache and all(n in cache[arch] for n in names):
            continue
        result = score_model(build_model(arch, PROTOCOL, SEED), proxies, batch, seed=SEED)
        cache[arch] = {**{n: r.value for n, r in result.items()}, "seconds": {n: r.seconds for n, r in result.items()}}
        if len(cache) % 50 == 0:  # an interrupted run keeps what it scored
            _save(cache_path, cache)
    _save(cache_path, cache)
    truth = {a: statistics.mean(e["test_acc"] for e in table[a].values()) for a in table}
    result = correlations({a: cache[a] for a in table}, truth, names)
    _print_table(f"Fashion-201, {len(table)} architectures (every table entry)", result)
    _save(RESULTS / "proxies_fashion201.json", {"archs": len(table), "batch": args.batch, "init_seed": SEED,
                                                "protocol": PROTOCOL.name, "truth": "mean test accuracy over seeds",
                                                "correlations": result})


def _search(name: str, settings: dict[str, Any], seed: int, trials: int, table: Any, warm: list[str]) -> list[float]:
    """Best-on-validation test accuracy after each trial; the ``warm`` archs are the first trials."""
    strategy = STRATEGIES[name](**settings)
    strategy.setup(NasBench201(channels=4, num_cells=1).search_space(), seed, "maximize")
    best_valid, best_test, curve = -math.inf, 0.0, []
    queue = [from_arch_str(a) for a in warm]
    for _ in range(trials):
        sample = queue.pop(0) if queue else strategy.ask()
        if sample is None:
            break
        row = table[to_arch_str(sample)]
        if row["cifar10_valid"] > best_valid:
            best_valid, best_test = row["cifar10_valid"], row["cifar10_test"]
        strategy.tell(sample, row["cifar10_valid"])
        curve.append(best_test)
    return curve


def warmstart(args: argparse.Namespace) -> None:
    """Random and RE at 50/100 trials, with and without a synflow warm start (pool from the cache)."""
    table = load_table(args.table)
    cache = _load(RESULTS / "proxies_nb201_scores.json")
    scored = sorted(a for a in cache if math.isfinite(cache[a].get(args.proxy, math.nan)))
    if len(scored) < args.pool:
        raise SystemExit(f"only {len(scored)} architectures scored; run `proxies.py nb201 --archs N` first")
    settings = {"random": {}, "evolution": {"population_size": 20, "sample_size": 10, "mutation_prob": 0.05}}
    summary: dict[str, Any] = {}
    for name, setting in settings.items():
        for warm in (False, True):
            curves = []
            for seed in range(args.seeds):
                rng = random.Random(1000 + seed)
                pool = rng.sample(scored, args.pool) if warm else []
                top = sorted(pool, key=lambda a: -cache[a][args.proxy])[:args.top]
                curves.append(_search(name, setting, seed, max(args.checkpoints), table, top))
            key = f"{name}{'+' + args.proxy if warm else ''}"
            summary[key] = {}
            for c in args.checkpoints:
                values = [curve[c - 1] for curve in curves]
                sd = statistics.stdev(values)
                summary[key][str(c)] = {"mean": round(statistics.mean(values), 3), "std": round(sd, 3),
                                        "sem": round(sd / math.sqrt(len(values)), 3)}
    print(f"\nNB201 CIFAR-10: {args.proxy} warm start (pool {args.pool} from the scored draw, top {args.top} first); "
          f"{args.seeds} seeds")
    print("| strategy | " + " | ".join(f"{c} trials" for c in args.checkpoints) + " |")
    for key, row in summary.items():
        print(f"| {key} | " + " | ".join(f"{row[str(c)]['mean']:.2f} ± {row[str(c)]['sem']:.2f}" for c in args.checkpoints)
              + " |")
    _save(RESULTS / "proxies_warmstart_nb201.json", {"proxy": args.proxy, "pool": args.pool, "top": args.top,
                                                     "seeds": args.seeds, "pool_from": f"{len(scored)} scored archs",
                                                     "summary": summary, "cell": "mean ± sem"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("nb201")
    p.add_argument("--archs", type=int, default=2000)
    p.add_argument("--table", default=str(NB201_CSV))
    p = sub.add_parser("fashion")
    p.add_argument("--table", default=None, help="the Fashion-201 table (default: the packaged one)")
    p.add_argument("--batch", type=int, default=64)
    p = sub.add_parser("warmstart")
    p.add_argument("--table", default=str(NB201_CSV))
    p.add_argument("--proxy", default="synflow")
    p.add_argument("--pool", type=int, default=200)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--checkpoints", type=int, nargs="+", default=[50, 100])
    args = parser.parse_args()
    {"nb201": nb201, "fashion": fashion, "warmstart": warmstart}[args.step](args)


if __name__ == "__main__":
    main()
