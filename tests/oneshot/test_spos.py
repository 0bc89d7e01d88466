"""SPOS: weight sharing that ranks paths, BN recalibration, channel slices, constraints, same path on every rank."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from scipy.stats import kendalltau  # type: ignore[import-untyped]

from archspace.data.readers import digits
from archspace.errors import ArchspaceError
from archspace.hub.shufflenet import ShuffleNetSpace
from archspace.oneshot import ONESHOT, SPOS, to_supernet
from archspace.oneshot.spos import SampledPath
from archspace.oneshot.spos_search import (
    EvolutionSearch,
    EvolutionSearchError,
    accuracy,
    recalibrate_batch_norm,
    score_subnet,
)
from archspace.testing import SharedNet
from archspace.testing.oneshot_contracts import end_rank

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def _batches(x: torch.Tensor, y: torch.Tensor, size: int, seed: int) -> Batches:
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return [(x[order[i:i + size]], y[order[i:i + size]]) for i in range(0, len(x) - size + 1, size)]


def _digit_space() -> ShuffleNetSpace:
    """Two choice blocks on 8x8 digits; mid widths 1/8 or all of the default: paths of clearly
    different capacity."""
    return ShuffleNetSpace(num_classes=10, in_channels=1, stem_channels=8, stage_channels=(16, 32), stage_repeats=(1, 1),
                           last_channels=32, channel_search=True, channel_scales=(0.125, 1.0), affine=True, dropout=0.0)


# Enough for every path of the supernet to be clearly trained (~65 % with the supernet's mixed
# batch-norm statistics, ~85 % recalibrated, on 1 or 2 threads): at 3 epochs (~20 %) whether
# recalibration helped was luck of the floating-point order on another CPU.
EPOCHS = 25
STANDALONE_EPOCHS = 8  # a single path learns faster than a supernet shared by many
EVOLUTION = {"population": 6, "select": 2, "mutation": 2, "crossover": 2, "generations": 2}


@pytest.fixture(scope="module")
def digit_run() -> tuple[SPOS, Batches, Batches]:
    (x, y), (xv, yv) = digits()
    train, val = _batches(x, y, 64, 0), [(xv, yv)]
    trainer = SPOS(epochs=EPOCHS, learning_rate=0.1, weight_decay=0.0, seed=0, progress=False, evolution=EVOLUTION)
    trainer.fit(_digit_space(), train, val, threads=1)
    return trainer, train, val


def test_spos_is_registered_and_trains_one_path_per_step() -> None:
    trainer = ONESHOT.create("spos", epochs=1, progress=False)
    assert isinstance(trainer, SPOS) and not trainer.make_policy().differentiable
    data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))) for _ in range(3)]
    paths = []
    trainer.evolution = None  # train the supernet only
    trainer.fit(SharedNet(), data, on_epoch=lambda record: paths.append(trainer.last_path))
    assert set(paths[0]) == set(trainer.supernet.arch.names)
    assert all(p.grad is None for p in trainer.supernet.arch_parameters())  # no architecture step


def test_supernet_ranking_of_paths_correlates_with_standalone_training(digit_run: tuple[SPOS, Batches, Batches]) -> None:
    trainer, train, val = digit_run
    space = _digit_space()
    paths = [space.random_sample(seed) for seed in range(10)]
    shared = [score_subnet(trainer.supernet, p, train[:10], val) for p in paths]
    alone = []
    for path in paths:  # STANDALONE_EPOCHS epochs of the same batches, the same optimiser
        torch.manual_seed(0)
        model = space.freeze(path)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(STANDALONE_EPOCHS):
            model.train()
            for xb, yb in train:
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xb), yb).backward()
                opt.step()
        alone.append(accuracy(model, val))
    tau = kendalltau(shared, alone).statistic
    assert tau > 0, (tau, shared, alone)


def test_bn_recalibration_sets_the_exact_batch_statistics(digit_run: tuple[SPOS, Batches, Batches]) -> None:
    """The mechanism, exactly: every batch norm's running mean and variance become the average of
    its input's per-batch mean and (unbiased) variance over the calibration batches."""
    trainer, train, _ = digit_run
    model = trainer.supernet.subnet(_digit_space().random_sample(3))
    norms = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    seen_inputs: dict[str, list[torch.Tensor]] = {name: [] for name in norms}
    hooks = [m.register_forward_pre_hook(lambda m, args, name=name: seen_inputs[name].append(args[0].detach()))
             for name, m in norms.items()]
    seen = recalibrate_batch_norm(model, train[:10])
    for hook in hooks:
        hook.remove()
    assert seen == 640
    for name, m in norms.items():
        inputs = seen_inputs[name]
        assert len(inputs) == 10
        mean = torch.stack([x.mean((0, 2, 3)) for x in inputs]).mean(0)
        var = torch.stack([x.var((0, 2, 3), unbiased=True) for x in inputs]).mean(0)
        assert torch.allclose(m.running_mean, mean, atol=1e-5, rtol=1e-4), name
        assert torch.allclose(m.running_var, var, atol=1e-5, rtol=1e-4), name
    assert not model.training and all(m.momentum == 0.1 for m in norms.values())


def test_bn_recalibration_improves_the_accuracy_of_inherited_paths(digit_run: tuple[SPOS, Batches, Batches]) -> None:
    """The outcome, on a supernet trained until it is clear of noise: over six random paths the
    mean validation accuracy with recalibrated statistics beats the supernet's own statistics
    by a wide margin (measured: ~0.65 -> ~0.86 on 1 and 2 threads)."""
    trainer, train, val = digit_run
    space = _digit_space()
    plain, recalibrated = [], []
    for seed in range(6):
        model = trainer.supernet.subnet(space.random_sample(seed))
        plain.append(accuracy(model, val))
        recalibrate_batch_norm(model, train[:10])
        recalibrated.append(accuracy(model, val))
    assert sum(recalibrated) / 6 > sum(plain) / 6 + 0.1, (plain, recalibrated)
    assert sum(recalibrated) / 6 > 0.6, recalibrated


def test_spos_answer_is_its_evolutionary_search(digit_run: tuple[SPOS, Batches, Batches]) -> None:
    trainer, train, val = digit_run
    result = trainer.search_result
    assert result is not None and len(result.scored) >= EVOLUTION["population"]
    assert trainer.export() == result.best == trainer.supernet.export()
    assert trainer.answer_score == result.best_score == max(score for _, score in result.scored)
    # each score is the subnet's accuracy with inherited weights after recalibration on the first batches
    sample, score = result.scored[0]
    assert score == pytest.approx(score_subnet(trainer.supernet, sample, train[:trainer.calibration_batches], val))


def test_channel_search_subnet_holds_the_slices_it_was_trained_as() -> None:
    torch.manual_seed(0)
    space = ShuffleNetSpace.small(channel_search=True)
    sample = {"layer_1": "xcep", "channel_1": 2, "layer_2": "k5", "channel_2": 2, "layer_3": "k3", "channel_3": 4}
    supernet = to_supernet(space, SampledPath(sample))
    shared = supernet.net.features[0].candidates["xcep"].block
    before = {k: v.detach().clone() for k, v in shared.state_dict().items()}
    opt = torch.optim.SGD(supernet.weight_parameters(), lr=0.5)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    for _ in range(2):  # train on the narrow path: only the leading slices may move
        opt.zero_grad()
        torch.nn.functional.cross_entropy(supernet(x), y).backward()
        opt.step()
    pw = shared.branch_main[2].weight  # the first pointwise conv: 4 (max mid) x 4 inputs
    assert not torch.equal(pw[:2], before["branch_main.2.weight"][:2])
    assert torch.equal(pw[2:], before["branch_main.2.weight"][2:])
    assert torch.equal(shared.branch_main[3].running_mean[2:], before["branch_main.3.running_mean"][2:])
    subnet = supernet.subnet(sample)
    block = subnet.features[0]
    for name, value in block.state_dict().items():
        big = shared.state_dict()[name]
        assert torch.equal(value, big[tuple(slice(0, n) for n in value.shape)]), name
    assert block.branch_main[2].weight.shape == (2, 4, 1, 1)
    supernet.eval()
    subnet.eval()
    with torch.no_grad():
        assert torch.allclose(subnet(x), supernet(x), atol=1e-6)


def test_evolution_respects_the_constraint_and_is_reproducible() -> None:
    torch.manual_seed(0)
    space = ShuffleNetSpace.small()
    supernet = to_supernet(space, SampledPath())
    data = [(torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,)))]
    from archspace.hardware import count_params

    sizes = sorted({count_params(space, space.random_sample(s)) for s in range(30)})
    bound = sizes[len(sizes) // 2]
    search = EvolutionSearch(population=8, select=3, mutation=3, crossover=3, generations=3,
                             constraint=f"params <= {bound}", seed=1)
    result = search.search(supernet, data, data)
    assert result.rejected > 0 and len(result.scored) > 8
    assert all(count_params(space, s) <= bound for s, _ in result.scored)
    assert len({str(sorted(s.items())) for s, _ in result.scored}) == len(result.scored)  # none scored twice
    again = EvolutionSearch(population=8, select=3, mutation=3, crossover=3, generations=3,
                            constraint=f"params <= {bound}", seed=1).search(supernet, data, data)
    assert again.best == result.best and [s for s, _ in again.scored] == [s for s, _ in result.scored]
    assert result.best_score == max(score for _, score in result.scored)
    with pytest.raises(EvolutionSearchError, match="no candidate passed"):
        EvolutionSearch(population=4, select=2, mutation=1, crossover=1, generations=1,
                        constraint=lambda s: False).search(supernet, data, data)
    with pytest.raises(EvolutionSearchError, match="exceed the population"):
        EvolutionSearch(population=4, mutation=3, crossover=3)


def test_a_runs_constraint_goes_through_fit_in_addition_to_the_searchs_own() -> None:
    data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))] * 2
    settings = {"population": 4, "select": 2, "mutation": 1, "crossover": 1, "generations": 2}
    seen: list[dict[str, object]] = []

    def wide_only(sample: Mapping[str, Any]) -> bool:
        seen.append(dict(sample))
        return sample["width"] == 8

    trainer = SPOS(epochs=1, progress=False, evolution={**settings, "constraint": lambda s: s["act"] == "relu"})
    assert trainer.accepts_constraints and trainer.has_own_constraint
    trainer.fit(SharedNet(), data, data, constraint=wide_only)
    assert trainer.search_result is not None and trainer.search_result.rejected > 0
    scored = [sample for sample, _ in trainer.search_result.scored]
    assert scored and all(s["width"] == 8 and s["act"] == "relu" for s in scored)  # both constraints held
    assert seen and all(s["act"] == "relu" for s in seen)  # the run's is checked after the search's own
    trainer.fit(SharedNet(), data, data)  # the run's constraint was for that run only
    assert trainer.search_result is not None
    assert {s["width"] for s, _ in trainer.search_result.scored} == {4, 8}
    assert all(s["act"] == "relu" for s, _ in trainer.search_result.scored)  # the search's own stays
    assert not SPOS(evolution=settings).has_own_constraint
    untrained = SPOS(epochs=1, progress=False, evolution=False)
    assert not untrained.accepts_constraints and not untrained.has_own_constraint
    with pytest.raises(ArchspaceError, match="SPOS takes no constraint"):
        untrained.fit(SharedNet(), data, constraint=wide_only)
    darts = ONESHOT.create("darts", epochs=1, progress=False)
    assert not darts.accepts_constraints
    with pytest.raises(ArchspaceError, match="DARTS takes no constraint"):
        darts.fit(SharedNet(), data, data, constraint=wide_only)


def _rank(rank: int, port: int, out: str) -> None:
    from torch import distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))) for _ in range(4)]
        trainer = SPOS(epochs=1, seed=rank, progress=False, evolution=False)  # different seeds: the broadcast decides
        paths: list[dict[str, object]] = []
        original = trainer.step

        def step(train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], loss_fn: object) -> dict[str, float]:
            losses = original(train, val, loss_fn)  # type: ignore[arg-type]
            paths.append(trainer.last_path)
            return losses

        trainer.step = step  # type: ignore[method-assign]
        trainer.fit(SharedNet(), data)
        torch.save(paths, Path(out, f"paths{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    end_rank()


def test_torchrun_ranks_draw_the_same_path_every_step() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(_rank, args=(port, tmp), nprocs=2, join=True, start_method="spawn")
        a, b = (torch.load(Path(tmp, f"paths{r}.pt")) for r in (0, 1))
    assert len(a) == 4 and a == b
    assert len({str(p) for p in a}) > 1  # the path does change between steps


def test_a_multi_trial_strategy_searches_the_trained_supernet_inside_an_experiment(
        digit_run: tuple[SPOS, Batches, Batches]) -> None:
    from archspace.evaluate.base import TrialContext
    from archspace.experiment import Experiment
    from archspace.oneshot import SupernetEvaluator
    from archspace.strategy import RegularizedEvolution

    trainer, train, val = digit_run
    evaluator = SupernetEvaluator(trainer.supernet, train[:4], val)
    experiment = Experiment(_digit_space(), evaluator, RegularizedEvolution(population_size=4, sample_size=2),
                            max_trials=8, executor="inline", progress=False)
    trials = experiment.run()
    assert len(trials) == 8 and all(t.status == "succeeded" for t in trials)
    for t in trials[:3]:  # each metric is the subnet's inherited-weight accuracy after recalibration
        assert t.metric == pytest.approx(score_subnet(trainer.supernet, t.sample, train[:4], val))
    assert evaluator.evaluate(None, TrialContext(0, trials[0].sample, lambda s, v: None)) == pytest.approx(trials[0].metric)


def test_path_sampler_draws_every_training_path_and_the_rest_uniformly() -> None:
    """SPOS(path_sampler=...) trains exactly the paths it draws (labels it leaves out drawn
    uniformly), reproducibly from the trainer's seed; a draw outside the supernet is refused."""
    data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))) for _ in range(6)]
    probe = SPOS(epochs=1, progress=False, evolution=False)
    probe.fit(SharedNet(), data[:1])
    names = probe.supernet.arch.names
    first, *others = sorted(names)
    pinned = names[first][-1]

    def run(sampler: Any) -> list[dict[str, Any]]:
        trainer = SPOS(epochs=1, progress=False, evolution=False, seed=4, path_sampler=sampler)
        paths: list[dict[str, Any]] = []
        original = trainer.step

        def step(train: Any, val: Any, loss_fn: Any) -> dict[str, float]:
            out = original(train, val, loss_fn)
            paths.append(trainer.last_path)
            return out

        trainer.step = step  # type: ignore[method-assign]
        trainer.fit(SharedNet(), data)
        return paths

    def sampler(generator: torch.Generator) -> dict[str, Any]:
        torch.randint(2, (1,), generator=generator)  # draws from the policy's generator like a real one
        return {first: pinned}

    paths = run(sampler)
    assert len(paths) == len(data) and all(p[first] == pinned for p in paths)
    assert all(set(p) == set(names) for p in paths)
    if others:
        assert len({tuple(p[label] for label in others) for p in paths}) > 1  # the rest still vary
    assert run(sampler) == paths  # the generator is the trainer's (seeded, checkpointed)
    with pytest.raises(ArchspaceError, match="labels the supernet does not have"):
        run(lambda g: {"nope": 1})
    with pytest.raises(ArchspaceError, match="candidates are"):
        run(lambda g: {first: "not-a-candidate"})


def test_class_uniform_sampler_draws_nb201_classes_uniformly() -> None:
    """De-isomorphic sampling: every draw is a class representative, and the classes come out
    uniformly — unlike a uniform draw over the 6 labels, which favours classes with dead edges."""
    from archspace.benchmarks.fashion201 import class_uniform_sampler, representative, unique_archs
    from archspace.hub.nasbench201 import from_arch_str, to_arch_str

    draw = class_uniform_sampler()
    g = torch.Generator().manual_seed(0)
    drawn = [to_arch_str(draw(g)) for _ in range(3000)]
    assert all(representative(a) == a for a in drawn[:200])
    dead = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # 125 label assignments, one class
    classes = set(unique_archs())
    assert dead in classes and from_arch_str(dead)["edge_3_0"] == "skip_connect"
    # uniform over 6,466 classes: 3,000 draws hit ~2,400 distinct ones; uniform over labels would
    # hit far fewer, as it keeps returning the big classes
    assert len(set(drawn)) > 2200


def test_strict_fairness_covers_every_candidate_and_steps_on_the_summed_gradient() -> None:
    """SPOS(strict_fairness=True) is FairNAS's step: per batch m paths (m the most candidates of
    any decision) on which each decision's candidates appear equally often (⌊m/k⌋ or ⌈m/k⌉ times,
    exactly once where k == m), and one SGD update by the sum of the m paths' gradients."""
    import copy
    from collections import Counter

    data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))) for _ in range(3)]
    trainer = SPOS(epochs=1, progress=False, evolution=False, seed=5, strict_fairness=True,
                   momentum=0.0, weight_decay=0.0, grad_clip=1e9, learning_rate=0.1)
    drawn: list[list[dict[str, Any]]] = []
    checks: list[float] = []
    original_paths, original_step = trainer.fair_paths, trainer.step

    def fair_paths() -> list[dict[str, Any]]:
        drawn.append(original_paths())
        return drawn[-1]

    def step(train: Any, val: Any, loss_fn: Any) -> dict[str, float]:
        before = copy.deepcopy(trainer.supernet)
        lr = trainer.weight_optimizer.param_groups[0]["lr"]
        out = original_step(train, val, loss_fn)
        for path in drawn[-1]:  # the update the summed gradient gives, recomputed on the copy
            before.policy.follow(path)
            loss_fn(before(train[0]), train[1]).backward()
        after = dict(trainer.supernet.named_parameters())
        for name, p in before.named_parameters():
            if p.grad is not None:
                checks.append(float((p.detach() - lr * p.grad - after[name].detach()).abs().max()))
        return out

    trainer.fair_paths = fair_paths  # type: ignore[method-assign]
    trainer.step = step  # type: ignore[method-assign]
    trainer.fit(SharedNet(), data)
    names = trainer.supernet.arch.names
    m = max(len(v) for v in names.values())
    assert len(drawn) == len(data) and all(len(paths) == m for paths in drawn)
    for paths in drawn:
        for label, values in names.items():
            counts = Counter(p[label] for p in paths)
            assert set(counts) <= set(values)
            assert {counts[v] for v in values} <= {m // len(values), -(-m // len(values))}
    assert checks and max(checks) < 1e-5
    assert len({tuple(sorted(p.items())) for p in drawn[0]}) > 1
    from types import SimpleNamespace  # decisions of unequal sizes: 5, 2 and 3 candidates
    uneven = {"a": [1, 2, 3, 4, 5], "b": ["x", "y"], "c": [0.1, 0.2, 0.3]}
    trainer.supernet = SimpleNamespace(arch=SimpleNamespace(names=uneven))  # type: ignore[assignment]
    for _ in range(5):
        paths = original_paths()
        assert len(paths) == 5 and sorted(p["a"] for p in paths) == [1, 2, 3, 4, 5]
        assert sorted(Counter(p["b"] for p in paths).values()) == [2, 3]
        assert sorted(Counter(p["c"] for p in paths).values()) == [1, 2, 2]
    with pytest.raises(ArchspaceError, match="not both"):
        SPOS(strict_fairness=True, path_sampler=lambda g: {})
