"""Several objectives: which strategies search for a Pareto front, and that they beat Random at it."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from archspace.objectives import hypervolume, pareto_indices, parse_objectives
from archspace.space import Categorical, SearchSpace
from archspace.strategy import TPE, GridSearch, PolicyBasedRL, Random, RegularizedEvolution, Strategy
from archspace.strategy.base import StrategyError

OBJECTIVES = parse_objectives({"accuracy": "maximize", "latency": "minimize"})
REFERENCE = (0.0, 40.0)


def space() -> SearchSpace:
    return SearchSpace({f"x{i}": Categorical([0, 1, 2, 3, 4, 5], f"x{i}") for i in range(6)})


def evaluate(sample: dict[str, Any]) -> tuple[float, float]:
    """Accuracy saturates (diminishing returns) while latency grows linearly: a real trade-off,
    with decisions of unequal worth (x0 buys accuracy cheaply, x5 dearly)."""
    accuracy = sum((1.0 - 0.5 ** v) * (6 - i) for i, v in enumerate(sample[f"x{i}"] for i in range(6)))
    latency = sum(v * (1.0 + 0.3 * i) for i, v in enumerate(sample[f"x{i}"] for i in range(6)))
    return accuracy, latency


def run(strategy: Strategy, seed: int, budget: int) -> float:
    strategy.setup(space(), seed, OBJECTIVES)
    points = []
    for _ in range(budget):
        sample = strategy.ask()
        assert sample is not None
        result = evaluate(sample)
        points.append(result)
        strategy.tell(sample, result)
    return hypervolume(points, OBJECTIVES, REFERENCE)


@pytest.mark.parametrize("factory", [
    lambda: RegularizedEvolution(population_size=30, sample_size=8, mutation_prob=0.2),
    lambda: TPE(n_startup_trials=15),
], ids=["evolution", "tpe"])
def test_front_searching_strategies_beat_random_on_hypervolume(factory: Any) -> None:
    seeds = range(3)
    ours = statistics.median(run(factory(), seed, 90) for seed in seeds)
    random = statistics.median(run(Random(), seed, 90) for seed in seeds)
    assert ours > random, (ours, random)


def test_evolution_parents_come_from_the_front() -> None:
    strategy = RegularizedEvolution(population_size=20, sample_size=20, mutation_prob=0.2)
    strategy.setup(space(), 0, OBJECTIVES)
    samples = []
    for _ in range(20):
        sample = strategy.ask()
        assert sample is not None
        samples.append(sample)
        strategy.tell(sample, evaluate(sample))
    front = [samples[i] for i in pareto_indices([evaluate(s) for s in samples], OBJECTIVES)]
    # with the whole population in the tournament the parent is always non-dominated
    for _ in range(10):
        assert strategy._tournament() in front


@pytest.mark.parametrize("factory", [
    lambda: RegularizedEvolution(population_size=10, sample_size=3),
    lambda: TPE(n_startup_trials=5),
], ids=["evolution", "tpe"])
def test_multi_objective_state_resumes_exactly(factory: Any) -> None:
    first = factory()
    first.setup(space(), 4, OBJECTIVES)
    for _ in range(14):
        sample = first.ask()
        assert sample is not None
        first.tell(sample, evaluate(sample) if len(sample) % 2 == 0 or sample["x0"] != 3 else None)
    state = first.state_dict()
    second = factory()
    second.setup(space(), 4, OBJECTIVES)
    import json

    second.load_state_dict(json.loads(json.dumps(state)))
    for _ in range(6):
        a, b = first.ask(), second.ask()
        assert a == b
        assert a is not None and b is not None
        first.tell(a, evaluate(a))
        second.tell(b, evaluate(b))


def test_single_objective_strategies_refuse_several_objectives() -> None:
    with pytest.raises(StrategyError, match="PolicyBasedRL optimises a single metric.*evolution, tpe"):
        PolicyBasedRL().setup(space(), 0, OBJECTIVES)
    for ok in (Random(), GridSearch()):
        ok.setup(space(), 0, OBJECTIVES)


def test_results_must_match_the_declared_objectives() -> None:
    strategy = RegularizedEvolution(population_size=4, sample_size=2)
    strategy.setup(space(), 0, OBJECTIVES)
    sample = strategy.ask()
    assert sample is not None
    with pytest.raises(StrategyError, match=r"searches 2 objectives \['accuracy', 'latency'\]"):
        strategy.tell(sample, 0.5)
    single = RegularizedEvolution(population_size=4, sample_size=2)
    single.setup(space(), 0, "maximize")
    with pytest.raises(StrategyError, match="searches one metric"):
        single.tell(sample, (0.5, 1.0))
