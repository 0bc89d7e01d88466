"""Experiment(proxy=..., proxy_pool=N): the best-scored candidates of a seeded random pool are the
first trials, ahead of the strategy's asks; the strategy is told them; resume never scores again;
bad settings are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from archspace.benchmarks import BenchmarkEvaluator, NB201Table
from archspace.benchmarks.fashion201 import all_archs
from archspace.experiment import Experiment, InvalidSettingError
from archspace.experiment import proxy_start as proxy_start_module
from archspace.hub import NasBench201
from archspace.hub.nasbench201 import to_arch_str
from archspace.oneshot import DARTS
from archspace.proxies import PROXIES, Batch, top_by_proxy
from archspace.strategy import Random, RegularizedEvolution


@pytest.fixture(scope="module")
def table() -> NB201Table:
    gen = torch.Generator().manual_seed(0)
    rows = {a: {"cifar10_valid": float(v), "cifar10_test": float(v)}
            for a, v in zip(all_archs(), torch.rand(15_625, generator=gen) * 100)}
    return NB201Table(rows, ["cifar10_valid", "cifar10_test"], "synthetic",
                      {"cifar10_valid": "maximize", "cifar10_test": "maximize"})


def small() -> NasBench201:
    return NasBench201(channels=4, num_cells=1)


def test_the_best_scored_candidates_are_the_first_trials_and_resume_scores_nothing(
        table: NB201Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = top_by_proxy(small(), [PROXIES.create("synflow")], Batch(torch.zeros(1, 3, 32, 32)), pool=12, top=4,
                            seed=7)
    strategy = Random()
    told: list[dict] = []
    tell = strategy.tell
    monkeypatch.setattr(strategy, "tell", lambda s, r, **kw: (told.append(dict(s)), tell(s, r, **kw)))
    experiment = Experiment(small(), BenchmarkEvaluator(table), strategy, max_trials=6, executor="inline",
                            seed=7, directory=tmp_path / "run", progress=False, proxy="synflow", proxy_pool=12,
                            proxy_top=4)
    trials = experiment.run()
    assert [to_arch_str(t.sample) for t in trials[:4]] == [to_arch_str(s) for s in expected]
    assert len(trials) == 6 and [to_arch_str(s) for s in told[:4]] == [to_arch_str(s) for s in expected]
    calls: list[int] = []
    original = proxy_start_module.top_by_proxy
    monkeypatch.setattr(proxy_start_module, "top_by_proxy", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    again = Experiment(small(), BenchmarkEvaluator(table), Random(), max_trials=8, executor="inline", seed=7,
                       directory=tmp_path / "run", progress=False, proxy="synflow", proxy_pool=12, proxy_top=4)
    resumed = again.resume()
    assert calls == [] and len(resumed) == 8  # the warm trials were stored: nothing is scored twice
    assert [t.sample for t in resumed[:6]] == [t.sample for t in trials]


def test_the_warm_start_fills_the_population_by_default(table: NB201Table) -> None:
    experiment = Experiment(small(), BenchmarkEvaluator(table), RegularizedEvolution(population_size=5, sample_size=2),
                            max_trials=5, executor="inline", seed=1, progress=False, proxy=["synflow", "params"],
                            proxy_pool=8)
    assert experiment.proxy_start is not None and experiment.proxy_start.top == 5
    pool_best = top_by_proxy(small(), [PROXIES.create("synflow"), PROXIES.create("params")],
                             Batch(torch.zeros(1, 3, 32, 32)), pool=8, top=5, seed=1)
    assert [t.sample for t in experiment.run()] == pool_best


def test_bad_warm_start_settings_are_named(table: NB201Table) -> None:
    def make(**kwargs: object) -> Experiment:
        return Experiment(small(), BenchmarkEvaluator(table), Random(), max_trials=2, executor="inline",
                          progress=False, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(InvalidSettingError, match="give proxy= too"):
        make(proxy_pool=10)
    with pytest.raises(InvalidSettingError, match="known proxies.*synflow"):
        make(proxy="synflo", proxy_pool=10)
    with pytest.raises(InvalidSettingError, match="needs proxy_pool"):
        make(proxy="synflow")
    with pytest.raises(InvalidSettingError, match="proxy_pool must be an int >= 1"):
        make(proxy="synflow", proxy_pool=0)
    with pytest.raises(InvalidSettingError, match="at most proxy_pool"):
        make(proxy="synflow", proxy_pool=3, proxy_top=4)
    with pytest.raises(InvalidSettingError, match="read data: pass proxy_batch"):
        make(proxy="naswot", proxy_pool=3)
    with pytest.raises(InvalidSettingError, match="take a loss: proxy_batch needs targets"):
        make(proxy="snip", proxy_pool=3, proxy_batch=Batch(torch.zeros(2, 3, 32, 32)))
    with pytest.raises(InvalidSettingError, match="proxy_batch must be"):
        make(proxy="snip", proxy_pool=3, proxy_batch="data")
    with pytest.raises(InvalidSettingError, match="warm-starts a multi-trial strategy"):
        proxy_start_module.check_proxy_start(small(), DARTS(epochs=1), proxy="synflow", proxy_pool=3, proxy_top=None,
                                             proxy_batch=None, input_shape=None, oneshot=True)
    ok = make(proxy="snip", proxy_pool=3, proxy_batch=(torch.randn(2, 3, 32, 32), torch.tensor([0, 1])))
    assert ok.proxy_start is not None and ok.proxy_start.top == 3
