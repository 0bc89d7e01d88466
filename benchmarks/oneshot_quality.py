"""Does one-shot search find better architectures than chance? Measured on the Fashion-201 table.

Two questions, each resumable (results are kept per run in benchmarks/results/oneshot_quality.json),
and a summary:

    # search quality: every algorithm on the Fashion-201 space with the table's own train/valid
    # split, several seeds; the found cell is looked up in the table (or trained by its protocol
    # and added), and placed among the table's architectures
    python benchmarks/oneshot_quality.py search --algorithms spos,enas,gdas,proxyless,darts1,darts2,drnas \
        --seeds 3 --epochs 10
    # ranking fidelity: a weight-sharing supernet (SPOS by default; --algorithm enas, proxyless,
    # gdas, darts1, ... train theirs with architecture steps), Kendall tau between every table
    # architecture's inherited-weight validation accuracy (batch norm recalibrated) and its table
    # test accuracy, after each of --epochs
    python benchmarks/oneshot_quality.py fidelity --epochs 8 16 32 64
    # the control for re-checked searches: K random cells through the same stand-alone re-check
    python benchmarks/oneshot_quality.py control --top 10 --seeds 10
    # the table of found accuracy, percentile, same-budget Random / RE and RE's cost to match
    python benchmarks/oneshot_quality.py summary
    # do the answers' standings hold under a longer training? (8 epochs instead of the table's 2)
    python benchmarks/oneshot_quality.py longer --epochs 8 --random 96 --ceiling 24

The supernet is the table's network (``Fashion201Net`` at the protocol's 8 channels, 3 cells per
stage, stride-2 stem on 32x32-padded images) trained on the protocol's 8,000 training images and
searched on its 5,000 validation images; the test images are only read through the table.
Settings follow each paper, scaled by epochs only (``--epochs``; batch 64 as DARTS); one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fashion201_report import run_strategy  # noqa: E402

from archspace.benchmarks.fashion201 import (  # noqa: E402
    PROTOCOL,
    Fashion201Net,
    class_uniform_sampler,
    load_splits,
    representative,
    unique_archs,
)
from archspace.benchmarks.fashion201_table import DEFAULT_PATH, load_fashion201, lookup_or_train  # noqa: E402
from archspace.hub.nasbench201 import from_arch_str, to_arch_str  # noqa: E402
from archspace.oneshot import create_oneshot  # noqa: E402
from archspace.oneshot._reward import reward_metric  # noqa: E402
from archspace.oneshot.rerank import StandaloneRerank  # noqa: E402
from archspace.oneshot.rerank import rerank as standalone_rerank  # noqa: E402
from archspace.oneshot.spos_search import recalibrate_batch_norm, score_subnet  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "oneshot_quality.json"
#: name -> (registry name, settings beyond the paper defaults)
ALGORITHMS: dict[str, tuple[str, dict[str, Any]]] = {
    "darts1": ("darts", {"order": 1}), "darts2": ("darts", {"order": 2}),
    "gumbel": ("gumbel", {}), "gdas": ("gumbel", {"hard": True}),  # GDAS: tau annealed linearly (its code)
    # the runs before GumbelDARTS's tau_schedule: GDAS with FBNet's geometric annealing
    "gdas-geometric": ("gumbel", {"hard": True, "tau_schedule": "geometric"}),
    # GDAS with its NB201 code's forward_gdas: the undrawn candidates' weights join each edge as scalars
    "gdas-scalar": ("gumbel", {"hard": True, "undrawn_terms": True}),
    "enas": ("enas", {}),
    # NAS-Bench-201's ENAS scores 10 final draws; 100 give the re-check a wider pool to choose from
    "enas-draws100": ("enas", {"final_draws": 100}),
    # the paper's evolution (population 50, 20 generations: 1,000 candidates of a 7^20-path space)
    # scaled to NB201's 6,466 classes: 200 candidates, population 20, 10 generations
    "spos": ("spos", {"evolution": {"population": 20, "select": 5, "mutation": 10, "crossover": 10, "generations": 10}}),
    # FairNAS's strict fairness on SPOS's supernet: 5 paths per batch (5x SPOS's cost per epoch)
    "fairnas": ("spos", {"strict_fairness": True,
                         "evolution": {"population": 20, "select": 5, "mutation": 10, "crossover": 10, "generations": 10}}),
    "proxyless": ("proxylessnas", {}), "drnas": ("drnas", {}),
    # the official code's default estimator (full_v2): every candidate's gate gradient, one active path
    "proxyless-full": ("proxylessnas", {"binary_mode": "full"}),
    # the official code's zero-op skip: no logit update for a decision whose active path is none
    "proxyless-skipzero": ("proxylessnas", {"skip_zero_active": True}),
    # the paper's REINFORCE update (Proxyless-R; the official --arch_algo rl): ten networks scored per
    # update, one update every 4 batches of 64 — the official ratio of scored to trained images (ten
    # networks on 1,000 validation images per 16 batches of 256: ~2.4)
    "proxyless-rl": ("proxylessnas", {"arch_algo": "rl", "arch_every": 4}),
    "betadarts": ("betadarts", {}),
    # DARTS-PT: the paper's proj_intv 5 at 100 supernet epochs is 0.5 at 10: 1, the least whole epoch
    "dartspt": ("dartspt", {"projection_interval": 1}),
    "dartspt-fix": ("dartspt", {"projection_interval": 1, "fix_alpha": True}),
    # the official code's other projection criterion (--proj_crit loss): the validation loss, not accuracy
    "dartspt-fix-loss": ("dartspt", {"projection_interval": 1, "fix_alpha": True, "projection_criterion": "loss"}),
}

#: architecture steps of each differentiable search's paper setting (batch 64 on half of CIFAR-10's
#: 50,000 training images: 391 steps per epoch): DARTS 50 epochs, GDAS 250 (NAS-Bench-201's
#: setting; the GDAS paper's 240), DrNAS 100, β-DARTS 100 (its official NB201 script), DARTS-PT 100 (its
#: supernet, ``darts-201.sh``). Adam moves a logit by about its learning rate per
#: step whatever the gradient's scale, so a search with S times fewer steps reaches only 1/S of
#: the paper's logit range: ``--arch-lr-scale steps`` multiplies the architecture learning rate
#: by that ratio, so the arch distribution can sharpen as far as in the paper.
#: ProxylessNAS's official search (``search/imagenet_arch_search.py``): 120 epochs after the warm-up,
#: architecture steps from the second on, one every 5 batches of 256 from ImageNet's training set
#: less the 50,000 images it holds out for validation (4,809 batches per epoch), Adam at 1e-3.
#: Its REINFORCE mode (``--arch_algo rl``): 300 updates an epoch (``rl_update_steps_per_epoch``) for
#: the same 119 epochs, Adam at 1e-3 too.
PAPER_ARCH_STEPS = {"darts": 50 * 391, "gumbel": 250 * 391, "drnas": 100 * 391, "betadarts": 100 * 391,
                    "dartspt": 100 * 391, "proxylessnas": 119 * 4809 // 5, "proxylessnas-rl": 119 * 300}
#: each paper's architecture learning rate (3e-4 where not listed: DARTS's, which the others keep)
PAPER_ARCH_LR = {"proxylessnas": 1e-3, "proxylessnas-rl": 1e-3}


def arch_settings(registry_name: str, epochs: int, steps_per_epoch: int, mode: str,
                  settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The architecture learning rate for ``mode`` 'steps' (scaled to the paper's step count; see
    :data:`PAPER_ARCH_STEPS`) or 'paper' (unchanged: no setting). ``settings``: the algorithm's own
    (an ``arch_every`` spaces the steps; ProxylessNAS's ``arch_algo="rl"`` has its own count)."""
    settings = settings or {}
    name = registry_name + ("-rl" if settings.get("arch_algo") == "rl" else "")
    if mode == "paper" or name not in PAPER_ARCH_STEPS:
        return {}
    steps = epochs * -(-steps_per_epoch // settings.get("arch_every", 1))
    scale = max(1.0, PAPER_ARCH_STEPS[name] / steps)
    return {"arch_learning_rate": float(f"{PAPER_ARCH_LR.get(name, 3e-4) * scale:.2g}")}


def space(search: bool = False) -> Fashion201Net:
    """The table's network; ``search``: NB201's one-shot search form (non-affine cell batch norms)."""
    return Fashion201Net(PROTOCOL.channels, PROTOCOL.num_cells, stem_stride=PROTOCOL.stem_stride, search=search)


def batches(split: tuple[torch.Tensor, torch.Tensor], size: int, limit: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x, y = split
    n = len(x) if limit is None else min(limit, len(x))
    return [(x[i:i + size], y[i:i + size]) for i in range(0, n, size)]


def _results() -> dict[str, Any]:
    return json.loads(OUT.read_text()) if OUT.exists() else {"search": {}, "fidelity": {}}


def _save(data: dict[str, Any]) -> None:
    tmp = OUT.with_name(f"{OUT.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(OUT)


def table_test_means(table: dict[str, dict[Any, dict[str, Any]]]) -> dict[str, float]:
    """Each table cell's test accuracy (a fraction), averaged over the seeds it was trained with."""
    return {a: statistics.mean(e["test_acc"] for e in s.values()) for a, s in table.items()}


def percentile(value: float, population: list[float]) -> float:
    """The share of ``population`` strictly below ``value``, in percent."""
    return 100.0 * sum(v < value for v in population) / len(population)


def _table_rerank(top: int) -> dict[str, Any]:
    """The re-check's settings of every run here: the table's own training (epochs, learning
    rate, momentum, weight decay) for the ``top`` candidates, so that a re-checked candidate's
    validation accuracy is what the table would record; the searches and the control share it."""
    return {"top": top, "epochs": PROTOCOL.epochs, "learning_rate": PROTOCOL.learning_rate,
            "momentum": PROTOCOL.momentum, "weight_decay": PROTOCOL.weight_decay}


def search(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    train, valid, _ = load_splits(PROTOCOL)
    train_b, valid_b = batches(train, args.batch, args.limit), batches(valid, args.batch, args.limit)
    data = _results()
    for name in args.algorithms.split(","):
        registry_name = ALGORITHMS[name][0]
        for seed in range(args.first_seed, args.seeds):
            arch_lr = ({} if ALGORITHMS[name][1].get("fix_alpha") else  # no architecture step to scale
                       {"arch_learning_rate": args.arch_lr} if args.arch_lr is not None else
                       arch_settings(registry_name, args.epochs - args.warmup, len(train_b), args.arch_lr_scale,
                                     ALGORITHMS[name][1]))
            key = f"{name}/seed{seed}/epochs{args.epochs}" + (f"/archlr{arch_lr['arch_learning_rate']}" if arch_lr else "")
            settings = {**ALGORITHMS[name][1], **arch_lr}
            if args.sampler == "classes" and registry_name == "spos":  # de-isomorphic sampling
                settings["path_sampler"] = class_uniform_sampler()
                key += "/classes"
            if args.warmup:  # weights alone first (GumbelDARTS, ProxylessNAS, ENAS)
                settings["warmup_epochs"] = args.warmup
                key += f"/warmup{args.warmup}"
            if args.smoke and registry_name == "spos":  # a tiny evolution: the smoke run checks the plumbing
                settings = {**settings, "evolution": {"population": 6, "select": 2, "mutation": 2, "crossover": 2,
                                                      "generations": 1}}
            if args.search_form:  # the supernet in NB201's search form; the re-check trains the table's
                key += "/searchbn"
            if args.learning_rate is not None:
                settings = {**settings, "learning_rate": args.learning_rate}
            if args.min_learning_rate is not None:  # equal to the learning rate: a constant schedule
                settings = {**settings, "min_learning_rate": args.min_learning_rate}
                key += f"/minlr{args.min_learning_rate}"
            if args.rerank:  # the search's k best candidates re-checked by the table's stand-alone training
                settings = {**settings, "rerank": _table_rerank(args.rerank)}
                key += f"/rerank{args.rerank}"
                if args.rerank_batch:  # the table's batches (else the search's: ~2 points above the table)
                    settings["rerank"]["batch_size"] = args.rerank_batch
                    key += f"-b{args.rerank_batch}"
                # NB201's isomorphism classes de-duplicate the candidates (NasBench201.equivalence_key):
                # runs before it re-checked isomorphic twins as different cells
                key += "-iso"
                if args.rerank_repeats > 1:  # each candidate trained under that many seeds, scores averaged
                    settings["rerank"]["repeats"] = args.rerank_repeats
                    key += f"-r{args.rerank_repeats}"  # last, as `repeat` writes it
            if key in data["search"] and not args.smoke:  # done before: the run resumes where it stopped
                continue
            trainer = create_oneshot(registry_name, epochs=args.epochs, seed=seed, progress=False, **settings)
            start, cpu = time.time(), time.process_time()
            sample = trainer.fit(space(args.search_form), train_b, valid_b, threads=1)
            seconds, cpu = time.time() - start, time.process_time() - cpu
            arch = representative(to_arch_str(sample))
            if args.smoke:  # never trains: the found cell's entry only if the table has it
                known = load_fashion201(args.table, protocol=PROTOCOL)
                entry = known[arch][min(known[arch])] if arch in known else {"test_acc": float("nan"), "valid_acc": float("nan")}
            else:
                entry = lookup_or_train(arch, args.table or DEFAULT_PATH, seed=0)
            record = {"arch": to_arch_str(sample), "class": arch, "test_acc": entry["test_acc"],
                      "valid_acc": entry["valid_acc"], "search_seconds": round(seconds, 1),
                      "search_cpu_seconds": round(cpu, 1),
                      "skip_or_none_edges": _skip_or_none(to_arch_str(sample)), "settings": {
                          k: (v if k != "path_sampler" else "classes") for k, v in settings.items() if k != "evolution"}}
            if getattr(trainer, "projections", None):  # DARTS-PT: each edge's scores with each op removed
                record["projections"] = trainer.projections
            if getattr(trainer, "rerank_result", None) is not None:  # what the re-check saw: both scores per cell
                record["rerank"] = [{"class": representative(to_arch_str(c)), "arch": to_arch_str(c),
                                     "standalone": round(a, 6), "inherited": round(i, 4),
                                     "repeats": [round(v, 6) for v in r]}
                                    for (c, a, i), r in zip(trainer.rerank_result.ranked,
                                                            trainer.rerank_result.repeat_scores)]
                record["rerank_seconds"] = round(trainer.rerank_result.seconds, 1)
                record["rerank_cpu_seconds"] = round(trainer.rerank_result.cpu_seconds, 1)
                if trainer.selection is not None and not args.smoke:  # the paper's answer, placed too
                    pick = representative(to_arch_str(trainer.selection))
                    record["paper_pick"] = {"class": pick, "test_acc": lookup_or_train(pick, args.table or DEFAULT_PATH,
                                                                                        seed=0)["test_acc"]}
            print(key, record, flush=True)
            if not args.smoke:
                data = _results()
                data["search"][key] = record
                _save(data)
    print("python benchmarks/oneshot_quality.py summary  # the table of results, with the same-budget baselines")


def repeat(args: argparse.Namespace) -> None:
    """A saved re-checked search, its re-check repeated under more seeds without re-running the
    search: each saved candidate (its exact sample) trained by the same re-check under the seeds
    ``seed + 1`` ... ``seed + repeats - 1`` (the saved scores are seed ``seed``'s), the scores
    averaged, the best by the mean looked up (or trained into the table). This is what
    ``search --rerank-repeats`` records, since the search is deterministic (one thread) and the
    re-check's repeat ``r`` is its single re-check under seed ``seed + r``; it is saved under the
    key ``search`` would use, with ``"repeated_from"`` naming the record it extends, its seconds
    the saved search's plus the added trainings'."""
    torch.set_num_threads(1)
    train, valid, _ = load_splits(PROTOCOL)
    train_b, valid_b = batches(train, args.batch), batches(valid, args.batch)
    loss = torch.nn.functional.cross_entropy
    data = _results()
    for source in args.keys:
        record = data["search"][source]
        if "-r" in source.rsplit("/", 1)[-1] or not all("arch" in c for c in record.get("rerank", [{}])):
            raise SystemExit(f"{source}: needs a single-seed re-check that saved each candidate's sample")
        key = f"{source}-r{args.repeats}"
        if key in data["search"]:
            continue
        seed = int(source.split("/")[1].removeprefix("seed"))
        settings = StandaloneRerank.coerce(record["settings"]["rerank"], seed=seed)
        assert settings is not None and settings.repeats == 1
        candidates = [(from_arch_str(c["arch"]), c["inherited"]) for c in record["rerank"]]
        start, cpu = time.time(), time.process_time()
        extra = [standalone_rerank(space(), candidates, train_b, valid_b, loss_fn=loss, metric=reward_metric(loss),
                                   settings=replace(settings, top=len(candidates), seed=seed + r))
                 for r in range(1, args.repeats)]
        seconds, cpu = time.time() - start, time.process_time() - cpu
        scores = {c["arch"]: [c["standalone"]] for c in record["rerank"]}
        for result in extra:
            for sample, score, _ in result.ranked:
                scores[to_arch_str(sample)].append(score)
        ranked = sorted(record["rerank"], key=lambda c: -statistics.mean(scores[c["arch"]]))  # stable: ties keep order
        ranked = [{**c, "standalone": round(statistics.mean(scores[c["arch"]]), 6),
                   "repeats": [round(v, 6) for v in scores[c["arch"]]]} for c in ranked]
        best = ranked[0]["arch"]
        entry = lookup_or_train(representative(best), args.table or DEFAULT_PATH, seed=0)
        new = {**record, "arch": best, "class": representative(best), "test_acc": entry["test_acc"],
               "valid_acc": entry["valid_acc"], "skip_or_none_edges": _skip_or_none(best), "rerank": ranked,
               "settings": {**record["settings"], "rerank": {**record["settings"]["rerank"], "repeats": args.repeats}},
               "search_seconds": round(record["search_seconds"] + seconds, 1),
               "search_cpu_seconds": round(record["search_cpu_seconds"] + cpu, 1),
               "rerank_seconds": round(record["rerank_seconds"] + seconds, 1),
               "rerank_cpu_seconds": round(record["rerank_cpu_seconds"] + cpu, 1), "repeated_from": source}
        print(key, new, flush=True)
        data = _results()
        data["search"][key] = new
        _save(data)


def control(args: argparse.Namespace) -> None:
    """The re-check without a supernet: ``--top`` cells drawn uniformly from NB201's 6,466
    isomorphism classes (as the table draws its cells), trained by the very re-check the searches
    use (the table's protocol at the table's batch, seed = the search seed) and the best by that
    training's validation accuracy looked up in the table (or trained into it). A search's
    ``rerankK`` row is only worth its supernet where it beats this row at the same K: below it,
    the figure is the re-check's. The draw's first ``top // 2`` cells are also kept as the
    ``rerank(top//2)`` row, from the same trainings (each candidate's training depends only on its
    seed, not on the others)."""
    torch.set_num_threads(1)
    train, valid, _ = load_splits(PROTOCOL)
    train_b, valid_b = batches(train, args.batch, args.limit), batches(valid, args.batch, args.limit)
    loss = torch.nn.functional.cross_entropy
    classes = unique_archs()
    half = max(1, args.top // 2)
    for seed in range(args.first_seed, args.seeds):
        keys = {k: f"control-random/seed{seed}/epochs0/rerank{k}-b{PROTOCOL.batch_size}-iso" for k in (half, args.top)}
        data = _results()
        if all(k in data["search"] for k in keys.values()) and not args.smoke:
            continue
        rng = np.random.default_rng(10_000 + seed)  # apart from the table's own shuffle
        drawn = [classes[i] for i in rng.choice(len(classes), size=args.top, replace=False)]
        settings = StandaloneRerank(**_table_rerank(args.top), batch_size=PROTOCOL.batch_size, seed=seed)
        scored: list[dict[str, Any]] = []
        cpu_parts, wall_parts = [], []
        for part in (drawn[:half], drawn[half:]):
            if not part:
                continue
            start, cpu = time.time(), time.process_time()
            result = standalone_rerank(space(), [(from_arch_str(a), 0.0) for a in part], train_b, valid_b,
                                       loss_fn=loss, metric=reward_metric(loss),
                                       settings=replace(settings, top=len(part)))
            wall_parts.append(time.time() - start)
            cpu_parts.append(time.process_time() - cpu)
            by_arch = {to_arch_str(c): a for c, a, _ in result.ranked}
            scored += [{"class": a, "arch": a, "standalone": round(by_arch[a], 6), "inherited": 0.0,
                        "repeats": [round(by_arch[a], 6)], "drawn": drawn.index(a)} for a in part]
        for k, key in keys.items():
            pool = [c for c in scored if c["drawn"] < k]
            ranked = sorted(pool, key=lambda c: -c["standalone"])  # stable: ties keep the draw's order
            best = ranked[0]["arch"]
            if args.smoke:
                print(key, best, ranked[0]["standalone"], flush=True)
                continue
            entry = lookup_or_train(best, args.table or DEFAULT_PATH, seed=0)
            parts = 1 if k == half else len(cpu_parts)
            record = {"arch": best, "class": best, "test_acc": entry["test_acc"], "valid_acc": entry["valid_acc"],
                      "skip_or_none_edges": _skip_or_none(best), "rerank": ranked,
                      "settings": {"rerank": {**{f: getattr(settings, f) for f in (
                          "epochs", "learning_rate", "momentum", "weight_decay", "batch_size")}, "top": k},
                          "control": "uniform over isomorphism classes, no supernet"},
                      "search_seconds": round(sum(wall_parts[:parts]), 1),
                      "search_cpu_seconds": round(sum(cpu_parts[:parts]), 1),
                      "rerank_seconds": round(sum(wall_parts[:parts]), 1),
                      "rerank_cpu_seconds": round(sum(cpu_parts[:parts]), 1)}
            print(key, record, flush=True)
            data = _results()
            data["search"][key] = record
            _save(data)


def _skip_or_none(arch: str) -> int:
    """How many of an arch string's six edges are skip_connect or none."""
    return sum(item.split("~")[0] in ("skip_connect", "none") for item in arch.replace("+", "|").split("|") if item)


def _curves(rows: dict[str, dict[str, float]], name: str, trials: int, seeds: int) -> list[list[float]]:
    """``name``'s best-on-valid test accuracy after each trial (percent), per seed, on the table."""
    return [[v * 100 for v in run_strategy(name, seed, rows, trials)] for seed in range(seeds)]


def summarise(args: argparse.Namespace) -> None:
    """Per algorithm and epochs: found test accuracy (the table's mean over seeds), percentile
    among the table's architectures, skip/none-dominated cells, search seconds; beside the random
    architecture, Random and RegularizedEvolution given the same CPU budget (search seconds over
    the table's median CPU seconds per architecture and seed), and the trials RE needs to reach
    the one-shot result on average (the cost comparison)."""
    data = _results()
    table = load_fashion201(args.table, protocol=PROTOCOL)
    mean_test = {a: v * 100 for a, v in table_test_means(table).items()}
    mean_valid = {a: statistics.mean(e["valid_acc"] for e in s.values()) for a, s in table.items()}
    rows = {a: {"valid": mean_valid[a], "test": mean_test[a] / 100} for a in table}
    population = list(mean_test.values())
    cpu_per_arch = statistics.median(e["cpu_seconds"] or e["train_seconds"] for s in table.values() for e in s.values())
    trials = min(200, len(rows))
    curves = {name: _curves(rows, name, trials, args.baseline_seeds) for name in ("random", "evolution")}
    mean_curve = {name: [statistics.mean(c[i] for c in cs) for i in range(trials)] for name, cs in curves.items()}
    groups: dict[str, list[dict[str, Any]]] = {}
    picks: dict[str, dict[str, dict[str, Any]]] = {}  # label -> seed -> the paper's pick (once per search)
    for key, record in data["search"].items():
        name, seed, epochs, *variant = key.split("/")
        label = f"{name} ({epochs.removeprefix('epochs')} epochs" + "".join(f", {v}" for v in variant) + ")"
        if name == "control-random":  # no supernet: random cells through the same re-check (`control`)
            label = "random cells, no supernet (" + ", ".join(variant) + ")"
        groups.setdefault(label, []).append(record)
        if "paper_pick" in record:  # a re-checked run also places the paper's own answer (no re-check)
            pick = {**record, **record["paper_pick"], "paper_pick_of": key,
                    # the trainings' CPU (runs before it was recorded: their wall time, an overestimate)
                    "search_cpu_seconds": record["search_cpu_seconds"] - record.get(
                        "rerank_cpu_seconds", record["rerank_seconds"])}
            plain = [v for v in variant if not v.startswith("rerank")]
            picks.setdefault(f"{name} ({epochs.removeprefix('epochs')} epochs" + "".join(f", {v}" for v in plain)
                             + ", its paper's pick)", {}).setdefault(seed, pick)  # re-checked twice: one search
    for label, by_seed in picks.items():
        groups[label] = [by_seed[seed] for seed in sorted(by_seed)]
    summary: dict[str, Any] = {}
    for group, runs in sorted(groups.items()):
        accs = [mean_test.get(r["class"], r["test_acc"] * 100) for r in runs]
        # CPU time where recorded (one thread: the time on one core, whatever else ran beside it)
        seconds = statistics.median(r.get("search_cpu_seconds", r["search_seconds"]) for r in runs)
        budget = max(1, min(trials, round(seconds / cpu_per_arch)))
        same = {name: [c[budget - 1] for c in cs] for name, cs in curves.items()}
        found = statistics.mean(accs)
        reach = next((i + 1 for i, v in enumerate(mean_curve["evolution"]) if v >= found), None)
        sem = statistics.stdev(accs) / len(accs) ** 0.5 if len(accs) > 1 else float("nan")
        # the best a re-check could have picked from its candidates (those in the table): below the
        # target, the candidates are the limit, not the selection among them (not for the control:
        # its random candidates are mostly outside the table, so the figure would be its own pick)
        best_known = [max(known) for r in runs if "rerank" in r and "paper_pick_of" not in r
                      and "control" not in r["settings"]
                      and (known := [mean_test[representative(c.get("arch", c["class"]))]
                                     for c in r["rerank"] if representative(c.get("arch", c["class"])) in mean_test])]
        oracle = statistics.mean(best_known) if len(best_known) == len(runs) else None
        summary[group] = {
            "runs": len(runs), "test_mean": round(found, 2),
            "test_std": round(statistics.stdev(accs), 2) if len(accs) > 1 else 0.0,
            "percentile_mean": round(statistics.mean(percentile(v, population) for v in accs), 1),
            "vs_random_arch_sems": round((found - statistics.mean(population)) / sem, 1) if sem == sem and sem > 0 else None,
            # on the effective cell (the class: edges that cannot reach the output count as none)
            "skip_or_none_dominated": sum(_skip_or_none(r["class"]) >= 4 for r in runs),
            "search_seconds_median": round(seconds, 1),
            "same_budget_trials": budget,
            "same_budget_random": round(statistics.mean(same["random"]), 2),
            "same_budget_evolution": round(statistics.mean(same["evolution"]), 2),
            "evolution_trials_to_match": reach,
            "evolution_seconds_to_match": round(reach * cpu_per_arch, 1) if reach else None,
            "best_candidate_mean": round(oracle, 2) if oracle is not None else None,
            "best_candidate_percentile": round(statistics.mean(percentile(v, population) for v in best_known), 1)
            if oracle is not None else None,
        }
    summary["random architecture"] = {"test_mean": round(statistics.mean(population), 2),
                                      "test_median": round(statistics.median(population), 2),
                                      "p90": round(float(np.percentile(population, 90)), 2),
                                      "p95": round(float(np.percentile(population, 95)), 2),
                                      "table_archs": len(population), "cpu_seconds_per_arch": round(cpu_per_arch, 1)}
    print(json.dumps(summary, indent=1))
    if args.markdown:  # the README's search table
        for group, row in summary.items():
            if group == "random architecture":
                continue
            sems = "—" if row["vs_random_arch_sems"] is None else f"{row['vs_random_arch_sems']}"
            print(f"| {group} | {row['runs']} | {row['test_mean']:.2f} ± {row['test_std']:.2f} | "
                  f"{row['percentile_mean']:.0f} | {sems} | {row['skip_or_none_dominated']}/{row['runs']} | "
                  f"{row['search_seconds_median']:,.0f} | {row['same_budget_random']:.2f} / "
                  f"{row['same_budget_evolution']:.2f} ({row['same_budget_trials']} trials) | "
                  f"{row['evolution_trials_to_match'] or '—'} | "
                  + ("—" if row["best_candidate_mean"] is None else
                     f"{row['best_candidate_mean']:.2f} ({row['best_candidate_percentile']:.0f})") + " |")
    if not args.smoke:
        data = _results()
        data["search_summary"] = summary
        _save(data)


def _fidelity_inputs(args: argparse.Namespace) -> tuple[dict[str, float], list[str], list[Any], Any]:
    """One thread; the table's mean test accuracy per cell, the cells to score (``--archs``), the
    training batches and the validation split."""
    torch.set_num_threads(1)
    table = load_fashion201(args.table, protocol=PROTOCOL)
    truth = table_test_means(table)
    archs = sorted(truth)[:args.archs] if args.archs else sorted(truth)
    train, valid, _ = load_splits(PROTOCOL)
    return truth, archs, batches(train, args.batch, args.limit), valid


def fidelity(args: argparse.Namespace) -> None:
    """Kendall tau between each table architecture's inherited-weight validation accuracy (batch
    norm recalibrated) and its table test accuracy, after each of ``--epochs`` supernet epochs.

    SPOS trains on the training images alone; the other algorithms also take their architecture
    steps on the validation images, as in a search, and their supernets are scored on fixed paths
    (one op per edge, the weights it trained with)."""
    truth, archs, train_b, valid = _fidelity_inputs(args)
    calibration, validation = train_b[:args.calibration], batches(valid, 500, args.valid)
    curve: dict[str, Any] = {}
    registry_name, settings = ALGORITHMS[args.algorithm]
    settings = {k: v for k, v in settings.items() if k != "evolution"}
    if args.learning_rate is not None:
        settings = {**settings, "learning_rate": args.learning_rate}
    if args.min_learning_rate is not None:  # equal to the learning rate: a constant schedule
        settings = {**settings, "min_learning_rate": args.min_learning_rate}
    if registry_name == "spos":
        settings = {**settings, "evolution": False}
        if args.sampler == "classes":
            settings["path_sampler"] = class_uniform_sampler()
    if args.arch_lr is not None:  # the search's architecture rate (e.g. the steps-scaled one of its row)
        settings = {**settings, "arch_learning_rate": args.arch_lr}
    if args.warmup:  # weights alone first, as the search's --warmup
        settings = {**settings, "warmup_epochs": args.warmup}
    trainer = create_oneshot(registry_name, epochs=max(args.epochs), seed=args.seed, progress=False, **settings)
    start = time.time()

    def on_epoch(record: dict[str, Any]) -> None:
        epoch = record["epoch"] + 1 if "epoch" in record else len(curve) + 1
        if epoch not in args.epochs:
            return
        scored = time.time()
        scores = [score_subnet(trainer.supernet, from_arch_str(a), calibration, validation) for a in archs]
        tau = float(stats.kendalltau(scores, [truth[a] for a in archs]).statistic)
        rho = float(stats.spearmanr(scores, [truth[a] for a in archs]).statistic)
        curve[str(epoch)] = {"kendall_tau": round(tau, 3), "spearman_rho": round(rho, 3), "archs": len(archs),
                             "elapsed_seconds": round(scored - start, 1),
                             "mean_inherited_acc": round(statistics.mean(scores), 4),
                             # per cell, so a low tau can be traced to the cells it misranks
                             "scores": {a: round(v, 4) for a, v in zip(archs, scores)}}
        if args.ablate_bn:  # the supernet's own running statistics, not recalibrated per subnet
            own = [score_subnet(trainer.supernet, from_arch_str(a), calibration, validation, recalibrate=False)
                   for a in archs]
            curve[str(epoch)]["kendall_tau_without_recalibration"] = round(
                float(stats.kendalltau(own, [truth[a] for a in archs]).statistic), 3)
            print(f"  without BN recalibration: tau {curve[str(epoch)]['kendall_tau_without_recalibration']:.3f}")
        if args.save_supernets:  # for `rescore`: other scoring settings on the same weights
            folder = Path(args.save_supernets)
            folder.mkdir(parents=True, exist_ok=True)
            torch.save(trainer.supernet.state_dict(), folder / f"{_key().replace('/', '_')}_e{epoch}.pt")
        save()  # after every checkpoint: a long run that is stopped keeps its curve so far
        print(f"epoch {epoch}: tau {tau:.3f} rho {rho:.3f} over {len(archs)} architectures "
              f"(mean inherited accuracy {statistics.mean(scores):.3f}; {time.time() - start:.0f} s)", flush=True)

    def _key() -> str:
        key = f"{args.algorithm}/seed{args.seed}" + (f"/lr{args.learning_rate}" if args.learning_rate is not None else "")
        key += f"/minlr{args.min_learning_rate}" if args.min_learning_rate is not None else ""
        key += "/classes" if args.sampler == "classes" and registry_name == "spos" else ""
        key += f"/archlr{args.arch_lr}" if args.arch_lr is not None else ""
        key += f"/warmup{args.warmup}" if args.warmup else ""
        key += "/searchbn" if args.search_form else ""
        return key + (f"/{args.tag}" if args.tag else "")

    def save() -> None:
        if args.smoke:
            return
        key = _key()
        data = _results()  # read again: another run may have saved meanwhile
        data["fidelity"][key] = {"curve": curve, "calibration_batches": args.calibration, "validation_images": args.valid,
                                 "table": f"{PROTOCOL.name}, {len(archs)} architectures",
                                 "settings": {k: (v if k != "path_sampler" else "classes") for k, v in settings.items()},
                                 "command": "python benchmarks/oneshot_quality.py " + " ".join(sys.argv[1:])}
        _save(data)

    arch_data: Any = None if registry_name == "spos" else batches(valid, args.batch, args.limit)
    trainer.fit(space(args.search_form), train_b, arch_data, threads=1, on_epoch=on_epoch)


def _saved_supernet(checkpoint: str) -> Any:
    """The SPOS supernet of the table's network with the weights ``fidelity --save-supernets`` saved."""
    supernet = create_oneshot("spos", epochs=1, seed=0, progress=False, evolution=False).build(space())
    supernet.load_state_dict(torch.load(checkpoint))
    return supernet


def rescore(args: argparse.Namespace) -> None:
    """Score every table cell again on a saved SPOS supernet with other scoring settings (BN
    calibration batches, validation images): Kendall tau against the table."""
    truth, archs, train_b, valid = _fidelity_inputs(args)
    calibration = train_b[args.calibration_offset:args.calibration_offset + args.calibration]
    validation = batches(valid, 500, args.valid)
    supernet = _saved_supernet(args.checkpoint)
    start = time.time()
    if args.refit_head or args.finetune_steps:
        tuning = train_b[args.calibration_offset + args.calibration:]
        scores = {a: _adapted_score(supernet, a, calibration, tuning, validation, args) for a in archs}
    else:
        scores = {a: score_subnet(supernet, from_arch_str(a), calibration, validation) for a in archs}
    tau = float(stats.kendalltau([scores[a] for a in archs], [truth[a] for a in archs]).statistic)
    rho = float(stats.spearmanr([scores[a] for a in archs], [truth[a] for a in archs]).statistic)
    record = {"checkpoint": Path(args.checkpoint).name, "archs": len(archs), "calibration": args.calibration,
              "calibration_offset": args.calibration_offset, "valid": args.valid,
              "refit_head": args.refit_head, "finetune_steps": args.finetune_steps,
              "kendall_tau": round(tau, 3), "spearman_rho": round(rho, 3), "seconds": round(time.time() - start, 1)}
    print(json.dumps(record), flush=True)
    if args.dump:
        Path(args.dump).write_text(json.dumps(scores, indent=1) + "\n")
    if args.record and not args.smoke:  # the figure and its per-cell scores, kept with the others
        data = _results()
        data.setdefault("rescore", {})[args.record] = {**record, "scores": {a: round(v, 4) for a, v in scores.items()}}
        _save(data)


def rerank(args: argparse.Namespace) -> None:
    """From the saved per-cell scores alone: the table accuracy of a supernet's top-1 cell against
    the best, by the table's stand-alone validation accuracy (its first seed), of its top ``k``
    cells — what re-checking the search's best few candidates by a short stand-alone training
    would pick. Every fidelity snapshot and ``rescore --record`` set that saved scores is read."""
    data = _results()
    table = load_fashion201(args.table, protocol=PROTOCOL)
    test = {a: v * 100 for a, v in table_test_means(table).items()}
    valid = {a: s[min(s)]["valid_acc"] for a, s in table.items()}
    sets = {f"{key}@{epochs}": point["scores"] for key, run in data["fidelity"].items()
            for epochs, point in run["curve"].items() if point.get("scores")}
    sets.update({f"rescore {key}": run["scores"] for key, run in data.get("rescore", {}).items()})
    p90 = float(np.percentile(list(test.values()), 90))
    for name, scores in sets.items():
        ranked = sorted((a for a in scores if a in test), key=lambda a: -scores[a])
        picks = {k: test[max(ranked[:k], key=lambda a: valid[a])] for k in args.top}
        print(f"{name} ({len(ranked)} cells): " + ", ".join(f"top-{k} {v:.2f}" for k, v in picks.items())
              + f" (table p90 {p90:.2f}, best of these cells {max(test[a] for a in ranked):.2f})")


def _adapted_score(supernet: Any, arch: str, calibration: list[Any], tuning: list[Any], validation: list[Any],
                   args: argparse.Namespace) -> float:
    """A subnet's validation accuracy after adapting its inherited weights a little: a diagnostic
    of *where* the shared weights misfit a subnet, not a scoring rule of any paper.

    ``--finetune-steps N``: N SGD steps (lr 0.01, momentum 0.9) of the whole subnet on training
    batches not used for calibration, then batch norm recalibrated. ``--refit-head``: the
    classifier alone refitted (multinomial logistic regression by L-BFGS, from the trained
    weights, on 20 training batches' pooled features) after recalibration. If a refitted head
    restores a subnet the supernet scores near chance, its features were fine and only the
    shared classifier was tuned to other paths' features; if only fine-tuning does, the misfit is
    inside the network."""
    model = supernet.subnet(from_arch_str(arch))
    if args.finetune_steps:
        model.train()
        optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for x, y in tuning[:args.finetune_steps]:
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimiser.step()
    recalibrate_batch_norm(model, calibration)
    if args.refit_head:
        features: list[torch.Tensor] = []
        hook = model.classifier.register_forward_hook(lambda _m, inputs, _o: features.append(inputs[0].detach()))
        with torch.no_grad():
            for x, _ in tuning[:20]:
                model(x)
        hook.remove()
        f, y = torch.cat(features), torch.cat([b[1] for b in tuning[:20]])
        head = model.classifier
        lbfgs = torch.optim.LBFGS(head.parameters(), max_iter=100, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            lbfgs.zero_grad()
            loss = torch.nn.functional.cross_entropy(head(f), y) + 1e-3 * head.weight.pow(2).sum()
            loss.backward()
            return loss
        lbfgs.step(closure)
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(x).argmax(1) == y).sum()) for x, y in validation)
    return hits / sum(len(y) for _, y in validation)


def fewshot(args: argparse.Namespace) -> None:
    """Few-shot NAS's split (Zhao et al., "Few-shot Neural Architecture Search", ICML 2021) on a
    saved SPOS supernet: one copy per candidate of ``--edge``, each trained on for ``--epochs``
    epochs with that edge fixed to its candidate (the other edges drawn uniformly, as in SPOS),
    and each table cell scored on the copy whose candidate it has on that edge. The control
    spends the same epochs (candidates x ``--epochs``) training the unsplit supernet on, so the
    comparison is at equal cost. Kendall tau of both against the table, on the same cells.

    Why it should help here: a deep edge's shared conv is trained on the outputs of every op
    upstream of it (``none`` included), and the per-cell scores show conv-rich deep cells rated far
    below the table (README); a split fixes what node 1 holds for every edge downstream of it."""
    truth, archs, train_b, valid = _fidelity_inputs(args)
    calibration, validation = train_b[:args.calibration], batches(valid, 500, args.valid)
    candidates = sorted({from_arch_str(a)[args.edge] for a in unique_archs()})
    result: dict[str, Any] = {"checkpoint": args.checkpoint, "edge": args.edge, "epochs_per_split": args.epochs,
                              "archs": len(archs), "learning_rate": args.learning_rate,
                              "command": "python benchmarks/oneshot_quality.py " + " ".join(sys.argv[1:])}
    start = time.time()

    def trained(sampler: Any, epochs: int) -> Any:
        supernet = _saved_supernet(args.checkpoint)
        trainer = create_oneshot("spos", epochs=epochs, seed=args.seed, progress=False, evolution=False,
                                 learning_rate=args.learning_rate, min_learning_rate=args.learning_rate / 25,
                                 path_sampler=sampler)
        trainer.fit(supernet, train_b, None, threads=1)
        return supernet

    def tau(scores: dict[str, float]) -> float:
        return round(float(stats.kendalltau([scores[a] for a in archs], [truth[a] for a in archs]).statistic), 3)

    base = _saved_supernet(args.checkpoint)
    scores = {a: score_subnet(base, from_arch_str(a), calibration, validation) for a in archs}
    result["one_shot_tau"] = tau(scores)
    print(f"one-shot supernet: tau {result['one_shot_tau']} ({time.time() - start:.0f} s)", flush=True)
    split: dict[str, float] = {}
    for candidate in candidates:
        supernet = trained(lambda _g, c=candidate: {args.edge: c}, args.epochs)
        split.update({a: score_subnet(supernet, from_arch_str(a), calibration, validation)
                      for a in archs if from_arch_str(a)[args.edge] == candidate})
        print(f"  split {args.edge}={candidate}: trained and scored ({time.time() - start:.0f} s)", flush=True)
    result["few_shot_tau"] = tau(split)
    print(f"few-shot ({len(candidates)} splits x {args.epochs} epochs): tau {result['few_shot_tau']}", flush=True)
    if args.control:
        control = trained(None, args.epochs * len(candidates))
        result["control_tau"] = tau({a: score_subnet(control, from_arch_str(a), calibration, validation) for a in archs})
        print(f"control ({args.epochs * len(candidates)} more epochs unsplit): tau {result['control_tau']}", flush=True)
    result["seconds"] = round(time.time() - start, 1)
    result["scores"] = {"one_shot": scores, "few_shot": split}
    print(json.dumps({k: v for k, v in result.items() if k != "scores"}), flush=True)
    if not args.smoke:
        data = _results()
        data.setdefault("fewshot", {})[f"{Path(args.checkpoint).stem}/{args.edge}/e{args.epochs}"] = result
        _save(data)


def _keep_output(store: dict[tuple[int, str], torch.Tensor], key: tuple[int, str]) -> Any:
    """A forward hook that keeps its module's output (with its gradient) in ``store[key]``."""
    def hook(_module: Any, _inputs: Any, out: torch.Tensor) -> None:
        out.retain_grad()
        store[key] = out
    return hook


def invariance(args: argparse.Namespace) -> None:
    """Do the edges summed into a cell's output node compete? For each cell of a subnet (inherited
    weights, batch norm recalibrated, training mode as in a search step), g_k = <dL/dn3, o_k> for
    the three edges into n3; if the loss hardly depends on n3's scale, sum_k g_k = <dL/dn3, n3> is
    near 0 and the g_k nearly cancel. Reports |sum g| / sum |g| over random all-alive cells."""
    torch.set_num_threads(1)
    train, valid, _ = load_splits(PROTOCOL)
    calibration, validation = batches(train, args.batch)[:10], batches(valid, args.batch)
    supernet = _saved_supernet(args.checkpoint)
    rng, sign_rng = np.random.default_rng(args.seed), np.random.default_rng(args.seed + 1)
    alive = [a for a in unique_archs() if "none" not in a]
    edges = ("3_0", "3_1", "3_2")
    ratios: list[float] = []
    null: list[float] = []
    for trial in range(args.cells):
        with torch.random.fork_rng(devices=[]):
            model = supernet.subnet(from_arch_str(alive[int(rng.integers(len(alive)))]))
        recalibrate_batch_norm(model, calibration)
        model.train()
        cells = [m for m in model.modules() if isinstance(getattr(m, "edges", None), torch.nn.ModuleDict)]
        outputs: dict[tuple[int, str], torch.Tensor] = {}
        hooks = [cell.edges[e].register_forward_hook(_keep_output(outputs, (i, e)))
                 for i, cell in enumerate(cells) for e in edges]
        x, y = validation[trial % len(validation)]
        torch.nn.functional.cross_entropy(model(x), y).backward()
        for i in range(len(cells)):
            g = [float((outputs[(i, e)].grad * outputs[(i, e)]).detach().sum()) for e in edges]  # type: ignore[operator]
            ratios.append(abs(sum(g)) / sum(abs(v) for v in g))
            signs = sign_rng.choice([-1.0, 1.0], size=len(g))  # the null: the same magnitudes, no cancellation
            null.append(abs(sum(sg * v for sg, v in zip(signs, g))) / sum(abs(v) for v in g))
        for h in hooks:
            h.remove()
    result = {"checkpoint": args.checkpoint, "cell_outputs": len(ratios),
              "median_abs_sum_over_sum_abs": round(statistics.median(ratios), 3),
              "mean_abs_sum_over_sum_abs": round(statistics.mean(ratios), 3),
              "null_median_random_signs": round(statistics.median(null), 3),
              "command": "python benchmarks/oneshot_quality.py " + " ".join(sys.argv[1:])}
    print(json.dumps(result), flush=True)
    if not args.smoke:
        data = _results()
        data["invariance"] = result
        _save(data)


def independent(args: argparse.Namespace) -> None:
    """Seed 0's answers under a second table seed: the reported figure from a training apart from
    the one that picked it.

    The re-check trains its candidates by the table's protocol, batch and the search seed's initial
    weights, so on search seed 0 a candidate's re-check is the very training the table records as
    that cell's seed 0 (its validation accuracy the same to the digit). The re-check then picks by
    that training's validation accuracy and the row reports the same training's test accuracy: the
    best of K noisy trainings, its noise counted in the figure (the controls' seed 0 alike; other
    seeds' re-checks are trainings apart from the table's). Each such seed-0 answer is trained under
    the table's seed 1 (kept in the table, so later figures average both seeds) and seed 1 is set
    against seed 0, beside the same difference over the table's other cells trained with both
    seeds (what seed 1 changes with no selection).
    """
    torch.set_num_threads(1)
    path = args.table or DEFAULT_PATH
    table = load_fashion201(path)
    data = _results()
    todo = []
    for key, record in sorted(data["search"].items()):
        if "/seed0/" not in key or not record.get("rerank"):
            continue
        arch = record["class"]
        won = [c for c in record["rerank"] if c["class"] == arch and len(c.get("repeats", [0])) == 1]
        if table.has(arch, 0) and any(abs(c["standalone"] - table[arch][0]["valid_acc"]) < 1e-9 for c in won):
            todo.append((key, arch))
    archs = sorted({a for _, a in todo})
    mine = archs[args.shard::args.shards]
    for arch in mine:
        lookup_or_train(arch, path, seed=1)
        print("seed 1 of", arch, "in the table", flush=True)
    if args.shard:
        return
    table = load_fashion201(path)
    if any(not table.has(a, 1) for a in archs):
        print("the other shard has not finished: run shard 0 again when it has", flush=True)
        return
    rows = {key: {"class": a, "seed0_test": table[a][0]["test_acc"], "seed1_test": table[a][1]["test_acc"]}
            for key, a in todo}
    drops = [(table[a][1]["test_acc"] - table[a][0]["test_acc"]) * 100 for a in archs]
    before = [(table[a][1]["test_acc"] - table[a][0]["test_acc"]) * 100 for a in table  # no selection
              if a not in archs and table.has(a, 0) and table.has(a, 1)]
    summary = {"answers": len(rows), "cells": len(archs),
               "seed1_minus_seed0_points": {"mean": statistics.mean(drops), "median": statistics.median(drops),
                                            "std": statistics.stdev(drops) if len(drops) > 1 else 0.0},
               "other_cells_with_both_seeds": {"cells": len(before), "mean": statistics.mean(before),
                                               "std": statistics.stdev(before)}}
    data = _results()
    data["independent"] = {"rows": rows, "summary": summary}
    _save(data)
    for key, row in rows.items():
        print(f"{key}: seed 0 {row['seed0_test'] * 100:.2f}, seed 1 {row['seed1_test'] * 100:.2f}")
    print(json.dumps(summary, indent=1))


#: the rows `longer` re-trains under a longer protocol: each algorithm's best setting (the README's
#: "at a glance"), DARTS's collapse, DrNAS's longer search and the ten-cell control
LONGER_ROWS = {
    "SPOS": "spos/epochs32/rerank5-b128",
    "ENAS": "enas-draws100/epochs64/rerank10-b128-iso",
    "GDAS": "gdas/epochs128/archlr0.0018/rerank5-b128",
    "ProxylessNAS": "proxyless/epochs32/archlr0.038/warmup8/searchbn/rerank5-b128-iso",
    "ProxylessNAS, REINFORCE": "proxyless-rl/epochs32/archlr0.046/warmup8/searchbn/rerank5-b128-iso",
    "DARTS-PT fix α": "dartspt-fix/epochs10/searchbn/rerank10-b128-iso",
    "DrNAS": "drnas/epochs10/archlr0.0094/searchbn/rerank5-b128-iso",
    "DrNAS, 32 epochs": "drnas/epochs32/archlr0.0029",
    "β-DARTS": "betadarts/epochs10/archlr0.0094/searchbn/rerank5-b128-iso",
    "DARTS 1st order": "darts1/epochs10/archlr0.0047",
    "DARTS 2nd order": "darts2/epochs10/archlr0.0047",
    "control: 10 random cells re-checked": "control-random/epochs0/rerank10-b128-iso",
}


def _longer_answers(data: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per :data:`LONGER_ROWS` row: its seeds' own answers ("own": the paper's selection) and
    re-checked answers ("rechecked", where the row re-checks), as table classes."""
    rows: dict[str, dict[str, list[str]]] = {}
    for label, rest in LONGER_ROWS.items():
        name, _, tail = rest.partition("/")
        records = [r for k, r in sorted(data["search"].items())
                   if k.split("/")[0] == name and "/".join(k.split("/")[2:]) == tail]
        if not records:
            continue
        rechecked = "rerank" in tail
        rows[label] = {"own": [r["paper_pick"]["class"] if rechecked and "paper_pick" in r else r["class"]
                               for r in records if not rechecked or "paper_pick" in r],
                       "rechecked": [r["class"] for r in records] if rechecked else []}
    return rows


def longer(args: argparse.Namespace) -> None:
    """Do the answers' standings hold under a longer training? The table trains each cell for two
    epochs; the papers' targets come from NB201's 200. The searches' answers (:data:`LONGER_ROWS`)
    and ``--random`` of the table's cells drawn uniformly are trained again under the table's
    protocol with ``--epochs`` epochs (seed 0; their own table file, resumable, shardable:
    ``--shard i --shards n`` in n processes), and each row's answers are placed among the random
    cells under both protocols: a row whose percentile rises under the longer training was held
    back by the two-epoch ground truth, one whose percentile does not was not. ``--ceiling N`` also
    trains the first N random cells with seed 1: the longer protocol's own seed-to-seed tau, the
    most any ranking of it can agree with it."""
    torch.set_num_threads(1)
    protocol = replace(PROTOCOL, name=f"{PROTOCOL.name}-e{args.epochs}", epochs=args.epochs)
    path = ROOT / "benchmarks" / "results" / f"fashion201_e{args.epochs}_table.json"
    short = load_fashion201(args.table or DEFAULT_PATH)
    short_means = table_test_means(dict(short.items()))
    pool = sorted(short_means)
    # apart from the table's and the control's draws; a larger --random extends the same draw (the
    # first run's 48, then a permutation of the rest), so cells trained before are kept
    first = [int(i) for i in np.random.default_rng(20_000 + args.seed).choice(len(pool), size=min(48, len(pool)),
                                                                               replace=False)]
    drawn = set(first)
    rest = [int(i) for i in np.random.default_rng(30_000 + args.seed).permutation(len(pool)) if i not in drawn]
    randoms = [pool[i] for i in (first + rest)[:args.random]]
    rows = _longer_answers(_results())
    found = [a for r in rows.values() for a in r["own"] + r["rechecked"]]
    # random and found cells alternate, so a stopped run has some of both
    order = list(dict.fromkeys(a for pair in zip_longest(randoms, found) for a in pair if a))
    jobs = [(arch, 0) for arch in order] + [(arch, 1) for arch in randoms[:args.ceiling]]
    for arch, seed in jobs[args.shard::args.shards]:
        entry = lookup_or_train(arch, path, seed=seed, protocol=protocol)
        print(f"{arch} (seed {seed}): {args.epochs} epochs {entry['test_acc'] * 100:.2f}, "
              f"2 epochs {short_means[arch] * 100:.2f}", flush=True)
    if args.shard:
        return
    long = load_fashion201(path, protocol=protocol)
    missing = [a for a, seed in jobs if not long.has(a, seed)]
    if missing:
        print(f"{len(missing)} cells not trained yet (the other shards): run shard 0 again when they are", flush=True)
        return
    long_acc = {a: long[a][0]["test_acc"] for a in order}
    ref_short = [short_means[a] for a in randoms]
    ref_long = [long_acc[a] for a in randoms]
    tau = stats.kendalltau(ref_short, ref_long)
    result: dict[str, Any] = {"epochs": args.epochs, "random_cells": len(randoms), "seed": args.seed,
                              "random_tau_2_vs_long": round(float(tau.statistic), 3),
                              "random_spearman_2_vs_long": round(float(stats.spearmanr(ref_short, ref_long).statistic), 3),
                              "random_long": {"mean": statistics.mean(ref_long), "median": statistics.median(ref_long),
                                              "p90": float(np.percentile(ref_long, 90)),
                                              "p95": float(np.percentile(ref_long, 95)), "max": max(ref_long)},
                              "rows": {}}
    for label, r in rows.items():
        for kind in ("own", "rechecked"):
            cells = r[kind]
            if not cells:
                continue
            result["rows"][f"{label} ({kind})"] = {
                "answers": len(cells), "key": LONGER_ROWS[label],
                "short_acc": statistics.mean(short_means[a] for a in cells),
                "long_acc": statistics.mean(long_acc[a] for a in cells),
                "short_percentile_among_random": statistics.mean(percentile(short_means[a], ref_short) for a in cells),
                "long_percentile_among_random": statistics.mean(percentile(long_acc[a], ref_long) for a in cells),
                "short_percentile_in_table": statistics.mean(percentile(short_means[a], list(short_means.values()))
                                                             for a in cells)}
    if args.ceiling:  # the longer protocol's own noise ceiling, and the short one's on the same cells
        cells = randoms[:args.ceiling]
        seeds = [[long[a][seed]["test_acc"] for a in cells] for seed in (0, 1)]
        result["ceiling_cells"] = len(cells)
        result["long_seed_tau"] = round(float(stats.kendalltau(*seeds).statistic), 3)
        result["long_seed0_vs_short_tau"] = round(float(stats.kendalltau(seeds[0], [short_means[a] for a in cells])
                                                        .statistic), 3)
        result["long_mean_abs_seed_diff"] = statistics.mean(abs(x - y) for x, y in zip(*seeds))
        print(f"{args.epochs} epochs, seed 0 vs seed 1 on {len(cells)} random cells: Kendall tau "
              f"{result['long_seed_tau']} (seed 0 vs the table's 2 epochs on them: {result['long_seed0_vs_short_tau']})")
    data = _results()
    data.setdefault("longer", {})[f"epochs{args.epochs}/random{len(randoms)}"] = result
    _save(data)
    print(f"{len(randoms)} random table cells: Kendall tau 2 vs {args.epochs} epochs {tau.statistic:.3f}")
    print(f"| row | answers | 2 epochs: acc. / percentile among the random cells | {args.epochs} epochs: acc. / percentile |")
    for label, row in result["rows"].items():
        print(f"| {label} | {row['answers']} | {row['short_acc'] * 100:.2f} / {row['short_percentile_among_random']:.0f} "
              f"| {row['long_acc'] * 100:.2f} / {row['long_percentile_among_random']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("search")
    p.add_argument("--algorithms", default="spos,enas,gdas,proxyless,darts1,darts2,drnas")
    p.add_argument("--learning-rate", type=float, default=None, help="the weights' learning rate (default: the loop's)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="start at this seed (two processes side by side)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=0, help="epochs of weight training before the architecture steps")
    p.add_argument("--search-form", action="store_true",
                   help="train the supernet in NB201's search form (non-affine batch norm in the cells, as the "
                        "benchmark's own search code); key suffix /searchbn")
    p.add_argument("--rerank", type=int, default=0,
                   help="re-check the search's K best cells by the table's stand-alone training (0: no)")
    p.add_argument("--rerank-batch", type=int, default=PROTOCOL.batch_size,
                   help="the re-check's batch size (default: the table's, which repeats its training exactly; 0: "
                        "the search's own batches, unshuffled, as the runs before it was added)")
    p.add_argument("--rerank-repeats", type=int, default=1,
                   help="train each re-checked candidate under this many seeds and rank by the mean (1: once)")
    p.add_argument("--min-learning-rate", type=float, default=None,
                   help="where the weights' cosine schedule ends (default: the loop's; the learning rate itself: "
                        "constant)")
    p.add_argument("--arch-lr-scale", choices=["paper", "steps"], default="paper",
                   help="'steps': the gradient searches' (and ProxylessNAS's) architecture learning rate times the paper's "
                        "step count over this run's (see PAPER_ARCH_STEPS)")
    p.add_argument("--arch-lr", type=float, default=None,
                   help="the architecture learning rate itself (overrides --arch-lr-scale; a rate between the paper's "
                        "and the steps-scaled one)")
    p = sub.add_parser("fidelity")
    p.add_argument("--algorithm", default="spos", choices=sorted(ALGORITHMS))
    p.add_argument("--arch-lr", type=float, default=None, help="the architecture learning rate (default: the paper's)")
    p.add_argument("--warmup", type=int, default=0, help="epochs of weight training before the architecture steps")
    p.add_argument("--search-form", action="store_true",
                   help="the supernet in NB201's search form (the subnets scored are the same cells; key /searchbn)")
    p.add_argument("--learning-rate", type=float, default=None, help="the weights' learning rate (default: the loop's)")
    p.add_argument("--min-learning-rate", type=float, default=None,
                   help="where the cosine schedule ends (default: the loop's; the learning rate itself: constant)")
    p.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--archs", type=int, default=0, help="at most this many table architectures (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calibration", type=int, default=10, help="training batches to recalibrate BN")
    p.add_argument("--valid", type=int, default=5000, help="validation images per subnet")
    p.add_argument("--ablate-bn", action="store_true", help="also score without recalibrating batch norm")
    p.add_argument("--tag", default="", help="appended to the result's key (a variant of the same settings)")
    p.add_argument("--save-supernets", default="", help="a folder to save the supernet's weights in at each of --epochs")
    p = sub.add_parser("rescore")
    p.add_argument("checkpoint", help="a supernet saved by fidelity --save-supernets (SPOS)")
    p.add_argument("--calibration", type=int, default=10, help="training batches to recalibrate BN")
    p.add_argument("--calibration-offset", type=int, default=0, help="first training batch used for calibration")
    p.add_argument("--dump", default="", help="write the per-cell scores to this JSON file")
    p.add_argument("--valid", type=int, default=5000, help="validation images per subnet")
    p.add_argument("--archs", type=int, default=0, help="at most this many table architectures (0: all)")
    p.add_argument("--refit-head", action="store_true", help="refit the classifier per subnet (a diagnostic)")
    p.add_argument("--finetune-steps", type=int, default=0, help="SGD steps per subnet before scoring (a diagnostic)")
    p.add_argument("--record", default="", help="keep the figure and per-cell scores in the results file under this key")
    p = sub.add_parser("fewshot")
    p.add_argument("checkpoint", help="a supernet saved by fidelity --save-supernets (SPOS)")
    p.add_argument("--edge", default="edge_1_0", help="the decision to split the supernet on")
    p.add_argument("--epochs", type=int, default=4, help="epochs of training per split")
    p.add_argument("--learning-rate", type=float, default=0.01, help="the split supernets' starting learning rate")
    p.add_argument("--archs", type=int, default=0, help="at most this many table architectures (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calibration", type=int, default=10, help="training batches to recalibrate BN")
    p.add_argument("--valid", type=int, default=5000, help="validation images per subnet")
    p.add_argument("--control", action="store_true", help="also train the unsplit supernet for the same epochs")
    p = sub.add_parser("invariance")
    p.add_argument("checkpoint", help="a supernet saved by fidelity --save-supernets (SPOS)")
    p.add_argument("--cells", type=int, default=12, help="random all-alive cells (each gives one value per network cell)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("rerank")
    p.add_argument("--top", type=int, nargs="+", default=[1, 3, 5, 10], help="how many best-scored cells to re-check")
    p = sub.add_parser("repeat")
    p.add_argument("keys", nargs="+", help="saved search keys with a single-seed re-check (rerankK-bB)")
    p.add_argument("--repeats", type=int, default=2, help="seeds per candidate in all, the saved one included")
    p = sub.add_parser("control")
    p.add_argument("--top", type=int, default=10, help="random cells re-checked per seed (its first half: a second row)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="start at this seed (two processes side by side)")
    p = sub.add_parser("longer")
    p.add_argument("--epochs", type=int, default=8, help="epochs of the longer protocol (the table's: 2)")
    p.add_argument("--random", type=int, default=96, help="table cells drawn uniformly as the reference")
    p.add_argument("--seed", type=int, default=0, help="the draw of the reference cells")
    p.add_argument("--ceiling", type=int, default=0, help="also train this many random cells with seed 1 (the noise ceiling)")
    p.add_argument("--shard", type=int, default=0, help="this process's share of the cells (0: also reports)")
    p.add_argument("--shards", type=int, default=1)
    p = sub.add_parser("independent")
    p.add_argument("--shard", type=int, default=0, help="this process's share of the cells (0: also reports)")
    p.add_argument("--shards", type=int, default=1)
    sub.add_parser("summary")
    for p in sub.choices.values():
        p.add_argument("--baseline-seeds", type=int, default=50, help="seeds of the same-budget Random / RE runs")
        p.add_argument("--markdown", action="store_true", help="summary: also print the README's table rows")
        p.add_argument("--table", default=None)
        p.add_argument("--batch", type=int, default=64)
        p.add_argument("--sampler", choices=["labels", "classes"], default="labels",
                       help="SPOS's training paths: uniform over the labels (the paper) or over NB201's "
                            "isomorphism classes (de-isomorphic sampling, Ning et al. 2021)")
        p.add_argument("--limit", type=int, default=None, help="use only the first N training/valid images")
        p.add_argument("--smoke", action="store_true", help="tiny run; nothing saved")
    args = parser.parse_args()
    {"search": search, "fidelity": fidelity, "summary": summarise, "rescore": rescore,
     "invariance": invariance, "fewshot": fewshot, "rerank": rerank,
     "repeat": repeat, "control": control, "independent": independent,
     "longer": longer}[args.step](args)


if __name__ == "__main__":
    main()
