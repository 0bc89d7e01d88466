"""Random and GridSearch (the shared protocol is checked by test_contract.py)."""

from __future__ import annotations

import json

import pytest

import archspace as asp
from archspace.errors import SpaceDefinitionError
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.strategy import GridSearch, Random, Strategy, StrategyError
from archspace.testing import ExampleNet, NestedNet, TinySpace
from tests.experiment.helpers import x_metric


def _drain(strategy: Strategy, limit: int = 10_000) -> list[dict[str, object]]:
    out = []
    while (sample := strategy.ask()) is not None and len(out) < limit:
        out.append(sample)
    return out


def _keys(samples: list[dict[str, object]]) -> list[str]:
    return [json.dumps(s, sort_keys=True) for s in samples]


@pytest.mark.parametrize("space_cls", [NestedNet, ExampleNet, TinySpace])
def test_random_dedup_never_repeats_and_stops_at_exhaustion(space_cls: type[asp.ModelSpace]) -> None:
    space = space_cls().search_space()
    strategy = Random()
    strategy.setup(space, seed=3)
    samples = _drain(strategy)
    assert len(samples) == space.size() == len(set(_keys(samples)))
    assert all(space.validate(s) == s for s in samples)


def test_random_without_dedup_repeats() -> None:
    strategy = Random(dedup=False)
    strategy.setup(TinySpace().search_space(), seed=0)
    samples = _drain(strategy, limit=100)
    assert len(samples) == 100 and len(set(_keys(samples))) < 100


@pytest.mark.parametrize("shuffle", [False, True])
def test_grid_yields_exactly_the_space(shuffle: bool) -> None:
    space = NestedNet().search_space()
    strategy = GridSearch(shuffle=shuffle)
    strategy.setup(space, seed=1)
    samples = _drain(strategy)
    assert sorted(_keys(samples)) == sorted(_keys(list(space.enumerate())))
    assert len(samples) == space.size() == 105
    in_order = _keys(samples) == _keys(list(space.enumerate()))
    assert in_order != shuffle


def test_grid_refuses_a_huge_space() -> None:
    strategy = GridSearch(max_size=100)
    with pytest.raises(SpaceDefinitionError, match="105 samples, over max_size=100"):
        strategy.setup(NestedNet().search_space(), seed=0)


def test_filter_keeps_rejected_samples_out_of_training() -> None:
    space = TinySpace()
    strategy = Random(filter=lambda s: s["x"] % 2 == 0)
    experiment = Experiment(space, FunctionalEvaluator(x_metric), strategy, max_trials=50, executor="inline",
                            progress=False)
    trials = experiment.run()
    assert len(trials) == 8  # 4 even x values x 2 hidden sizes, then the space is exhausted
    assert all(t.sample["x"] % 2 == 0 for t in trials)


def test_filter_that_rejects_everything() -> None:
    strategy = Random(dedup=False, filter=lambda s: False)
    strategy.max_rejections = 50
    strategy.setup(TinySpace().search_space(), seed=0)
    with pytest.raises(StrategyError, match="rejected 50 samples in a row"):
        strategy.ask()


def test_ask_before_setup() -> None:
    with pytest.raises(StrategyError, match="setup"):
        Random().ask()
