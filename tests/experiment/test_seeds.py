"""What a seed fixes in a multi-trial experiment at each concurrency (the README's "Seeds"):
at concurrency 1 the whole run; at concurrency > 1 each trial's own training, Random's whole
sequence of samples, and a learning strategy's samples until the first that depends on a result."""

from __future__ import annotations

import time

import torch

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.strategy import Random, RegularizedEvolution
from archspace.testing import ExampleNet


def _score(model: torch.nn.Module, ctx: object) -> float:
    """A metric of the trial's initial weights (seeded by its id) and a sleep that varies with
    them, so that concurrent trials finish in an order set by timing."""
    total = float(sum(p.detach().sum() for p in model.parameters()))
    time.sleep(0.02 * (abs(total) % 3))
    return total


def _run(strategy: object, concurrency: int, trials: int = 12) -> list[tuple[int, dict, float | None]]:  # type: ignore[type-arg]
    experiment = Experiment(ExampleNet(), FunctionalEvaluator(_score), strategy, max_trials=trials,  # type: ignore[arg-type]
                            concurrency=concurrency, executor="process" if concurrency > 1 else "inline", seed=7)
    return [(t.id, t.sample, t.metric) for t in experiment.run()]


def test_concurrency_one_repeats_the_whole_run() -> None:
    make = lambda: RegularizedEvolution(population_size=4, sample_size=2)  # noqa: E731
    assert _run(make(), 1) == _run(make(), 1)


def test_concurrency_two_repeats_each_trials_training_randoms_samples_and_evolutions_random_phase() -> None:
    first, second = _run(Random(), 2), _run(Random(), 2)
    assert [s for _, s, _ in first] == [s for _, s, _ in second]  # Random never reads a result
    metrics = {(i, str(s)): m for i, s, m in first}
    assert all(metrics[(i, str(s))] == m for i, s, m in second)  # a trial's training: its id and the evaluator
    evo = [_run(RegularizedEvolution(population_size=4, sample_size=2), 2) for _ in range(2)]
    # until the population first fills (4 results), every sample is drawn at random: the same
    assert [s for _, s, _ in evo[0][:4]] == [s for _, s, _ in evo[1][:4]]
