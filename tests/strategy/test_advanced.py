"""RegularizedEvolution, TPE and PolicyBasedRL: they must find good samples faster than Random
(resume, conditions, parallel asks and dedup are checked for every strategy by test_contract.py)."""

from __future__ import annotations

from typing import Any

import pytest

from archspace.space import Categorical, Condition, SearchSpace
from archspace.strategy import STRATEGIES, TPE, PolicyBasedRL, Random, RegularizedEvolution, Strategy


def conditional_space() -> SearchSpace:
    """5 x 4 x 4 x 4 values; 'depth' gates two nested decisions; 'op' gates 'k'."""
    decisions = {
        "a": Categorical([0, 1, 2, 3, 4], "a"),
        "b": Categorical([0, 1, 2, 3], "b"),
        "c": Categorical([0, 1, 2, 3], "c"),
        "op": Categorical(["conv", "pool", "skip"], "op"),
        "k": Categorical([1, 3, 5, 7], "k"),
        "depth": Categorical([1, 2, 3], "depth"),
        "d2": Categorical([0, 1, 2, 3], "d2"),
        "d3": Categorical([0, 1, 2, 3], "d3"),
    }
    conditions = {
        "k": Condition.always().require("op", ["conv"]),
        "d2": Condition.always().require("depth", [2, 3]),
        "d3": Condition.always().require("depth", [3]),
    }
    return SearchSpace(decisions, conditions)


def objective(sample: dict[str, Any]) -> float:
    """A smooth-ish synthetic objective whose optimum (a=4, b=3, c=0, conv k=5, depth 3, d2=d3=2)
    lies in the conditional part of the space."""
    score = sample["a"] * 1.0 + sample["b"] * 0.8 - sample["c"] * 0.6
    if sample["op"] == "conv":
        score += 2.0 - abs(sample["k"] - 5) * 0.5
    score += {1: 0.0, 2: 0.5, 3: 1.0}[sample["depth"]]
    score -= abs(sample.get("d2", 2) - 2) * 0.4 + abs(sample.get("d3", 2) - 2) * 0.4
    return score


OPTIMUM = 4 + 2.4 + 2.0 + 1.0


def _hits(strategy_factory: Any, budget: int, seeds: range) -> int:
    hits = 0
    for seed in seeds:
        strategy: Strategy = strategy_factory()
        strategy.setup(conditional_space(), seed)
        best = -1e9
        for _ in range(budget):
            sample = strategy.ask()
            assert sample is not None
            value = objective(sample)
            best = max(best, value)
            strategy.tell(sample, value)
        hits += best >= OPTIMUM - 1e-9
    return hits


FACTORIES = {
    "evolution": lambda: RegularizedEvolution(population_size=20, sample_size=5, mutation_prob=0.1),
    "tpe": lambda: TPE(n_startup_trials=10),
    "rl": lambda: PolicyBasedRL(batch_size=5, learning_rate=0.05, reward_scale=0.3),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_finds_the_optimum_more_often_than_random(name: str) -> None:
    seeds = range(12)
    budget = 150  # of 3,600 samples (space size checked below)
    assert conditional_space().size() == 5 * 4 * 4 * (2 + 4) * (1 + 4 + 16)
    random_hits = _hits(Random, budget, seeds)
    strategy_hits = _hits(FACTORIES[name], budget, seeds)
    assert strategy_hits > random_hits, (strategy_hits, random_hits)


def test_minimize_direction_is_respected() -> None:
    space = conditional_space()
    strategy = RegularizedEvolution(population_size=10, sample_size=5)
    strategy.setup(space, seed=1, direction="minimize")
    values = []
    for _ in range(120):
        sample = strategy.ask()
        assert sample is not None
        values.append(objective(sample))
        strategy.tell(sample, values[-1])
    assert sum(values[-30:]) / 30 < sum(values[:30]) / 30  # it walked downhill


def test_evolution_population_ages_out_the_oldest() -> None:
    strategy = RegularizedEvolution(population_size=3, sample_size=2, on_failure="worst")
    strategy.setup(conditional_space(), seed=0)
    samples = [strategy.ask() for _ in range(5)]
    for i, sample in enumerate(samples):
        assert sample is not None
        strategy.tell(sample, None if i == 4 else float(i))
    population = strategy.state_dict()["population"]
    assert [p[0] for p in population] == samples[2:]
    assert population[-1][1] == float("-inf")


def test_every_strategy_is_registered() -> None:
    assert {"random", "grid", "evolution", "tpe", "rl"} <= set(STRATEGIES)


@pytest.mark.parametrize("name", ["evolution", "tpe", "rl"])
def test_filter_applies_to_every_strategy(name: str) -> None:
    strategy = FACTORIES[name]()
    strategy.filter = lambda s: s["op"] != "pool"
    strategy.setup(conditional_space(), seed=2)
    for _ in range(40):
        sample = strategy.ask()
        assert sample is not None and sample["op"] != "pool"
        strategy.tell(sample, objective(sample))


def test_tpe_tells_refused_samples_as_infeasible_and_resumes_with_them() -> None:
    """A filter refusal becomes an infeasible study trial (constraint > 0), so TPE's model learns
    to avoid the refused region; the checkpoint keeps them, so a restored TPE proposes the same."""
    import json

    def fresh() -> TPE:
        strategy = TPE(n_startup_trials=5)
        strategy.filter = lambda s: s["op"] != "pool" and s["a"] >= 2
        strategy.setup(conditional_space(), seed=3)
        return strategy

    reference = fresh()
    refused: list[dict[str, Any]] = []
    original = reference._rejected

    def spy(sample: dict[str, Any]) -> None:
        refused.append(dict(sample))
        original(sample)

    reference._rejected = spy  # type: ignore[method-assign]
    for _ in range(25):
        sample = reference.ask()
        assert sample is not None
        reference.tell(sample, objective(sample))
    trials = reference._study.get_trials(deepcopy=False)
    infeasible = [t for t in trials if t.constraints.get("filter", 0.0) > 0]
    assert refused and len(infeasible) >= len(refused)  # repeats of a refused sample count too
    assert all(t.state.name == "COMPLETE" for t in infeasible)
    assert all(t.params["a"] < 2 or t.params["op"] == 1 for t in infeasible)  # op index 1 is "pool"
    state = json.loads(json.dumps(reference.state_dict()))
    restored = fresh()
    restored.load_state_dict(state)
    assert len(restored._study.get_trials(deepcopy=False)) == len(trials)
    for _ in range(10):
        a, b = reference.ask(), restored.ask()
        assert a == b and a is not None
        reference.tell(a, objective(a))
        restored.tell(b, objective(b))
