"""Hardware constraints (checked before training) and multi-objective experiments (Pareto front)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, ExperimentError, InvalidSettingError
from archspace.hardware import LatencyTable, count_flops, count_params
from archspace.hub import NasBench201
from archspace.objectives import dominates, parse_objectives
from archspace.schedule import ASHA
from archspace.storage import StorageError
from archspace.strategy import PolicyBasedRL, Random, RegularizedEvolution


def ops_score(model: Any, ctx: Any) -> float:
    """A stand-in accuracy that prefers convolutions (so it trades off against size)."""
    return sum(str(v).startswith("conv") for v in ctx.sample.values()) + 0.01 * (ctx.trial_id % 7)


def ops_and_depth(model: Any, ctx: Any) -> dict[str, float]:
    return {"default": ops_score(model, ctx), "depth": float(len(ctx.sample))}


def no_objective(model: Any, ctx: Any) -> dict[str, float]:
    return {"default": 1.0}


EVALUATOR = FunctionalEvaluator(ops_score)
EVALUATOR.needs_model = False  # the hardware figures come from the driver, not from a built model


@pytest.fixture(scope="module")
def space() -> NasBench201:
    return NasBench201.small()


@pytest.fixture(scope="module")
def table(space: NasBench201) -> LatencyTable:
    return LatencyTable.measure(space, repeats=3, warmup=1, fixed_samples=2)


def test_no_trained_trial_breaks_a_constraint(space: NasBench201, tmp_path: Path) -> None:
    bound = statistics.median(count_params(space, space.random_sample(seed)) for seed in range(15))
    experiment = Experiment(space, EVALUATOR, Random(), max_trials=12, executor="inline", directory=tmp_path,
                            progress=False, constraints=[f"params <= {bound}"])
    trials = experiment.run()
    assert len(trials) == 12 and all(t.status == "succeeded" for t in trials)
    for t in trials:
        assert count_params(space, t.sample) <= bound
        assert t.metrics["params"] == count_params(space, t.sample)  # the driver recorded the figure
    assert "rejected before training" in (tmp_path / "experiment.log").read_text()
    assert experiment.strategy.filter is None  # the user's strategy is left as it was


def test_latency_constraint_uses_the_table(space: NasBench201, table: LatencyTable, tmp_path: Path) -> None:
    predicted = sorted(table.predict(space.random_sample(seed)) for seed in range(20))
    bound = predicted[len(predicted) // 2]
    path = table.save(tmp_path / "table.json")
    experiment = Experiment(space, EVALUATOR, Random(), max_trials=8, executor="inline", progress=False,
                            constraints={"latency_ms": bound}, latency_table=str(path))
    for t in experiment.run():
        assert t.metrics["latency_ms"] == pytest.approx(table.predict(t.sample))
        assert t.metrics["latency_ms"] <= bound


def test_multi_objective_front_has_no_dominated_trial_and_every_non_dominated_one(space: NasBench201) -> None:
    objectives = {"accuracy": "maximize", "flops": "minimize"}
    experiment = Experiment(space, EVALUATOR, RegularizedEvolution(population_size=8, sample_size=3),
                            max_trials=24, executor="inline", progress=False, objectives=objectives)
    trials = experiment.run()
    objs = parse_objectives(objectives)
    points = {t.id: (t.metrics["accuracy"], t.metrics["flops"]) for t in trials}
    for t in trials:  # the evaluator's single number is the first objective; FLOPs come from the profile
        assert t.metric == t.metrics["accuracy"] == t.metrics["default"]
        assert t.metrics["flops"] == count_flops(space, (1, 3, 32, 32), t.sample)
    front = {t.id for t in experiment.pareto()}
    for i, p in points.items():
        beaten = any(dominates(q, p, objs) for q in points.values())
        assert (i in front) == (not beaten)
    assert experiment.best(1)[0].metric == max(p[0] for p in points.values())
    worst = (0.0, max(p[1] for p in points.values()) * 1.1)
    assert experiment.hypervolume(worst) > 0


def test_objectives_from_the_evaluators_dict(space: NasBench201) -> None:
    experiment = Experiment(space, FunctionalEvaluator(ops_and_depth), Random(), max_trials=4, executor="inline",
                            progress=False, objectives=["default:max", "depth:min"])
    trials = experiment.run()
    assert all(t.status == "succeeded" and t.metrics["depth"] == 6.0 for t in trials)
    assert {t.id for t in experiment.pareto()} == {t.id for t in trials if t.metric == max(x.metric for x in trials)}


def test_a_trial_missing_an_objective_fails_with_the_reason(space: NasBench201) -> None:
    experiment = Experiment(space, FunctionalEvaluator(no_objective), Random(), max_trials=2, executor="inline",
                            progress=False, objectives={"default": "max", "robustness": "max"})
    trials = experiment.run()
    assert all(t.status == "failed" and "no number for objective(s) ['robustness']" in (t.error or "")
               for t in trials)


def test_resume_with_other_objectives_is_refused(space: NasBench201, tmp_path: Path) -> None:
    Experiment(space, EVALUATOR, Random(), max_trials=2, executor="inline", directory=tmp_path, progress=False,
               objectives={"accuracy": "max", "params": "min"}).run()
    other = Experiment(space, EVALUATOR, Random(), max_trials=3, executor="inline", directory=tmp_path,
                       progress=False, objectives={"accuracy": "max", "flops": "min"})
    with pytest.raises(StorageError, match="objectives"):
        other.resume()


def test_an_enqueued_sample_that_breaks_a_constraint_is_refused(space: NasBench201) -> None:
    sample = space.default_sample()
    experiment = Experiment(space, EVALUATOR, Random(), max_trials=1, executor="inline", progress=False,
                            constraints=[f"params < {count_params(space, sample)}"])
    with pytest.raises(ExperimentError, match=r"breaks the experiment's constraints: params < .* \(it has"):
        experiment.enqueue(sample)


@pytest.mark.parametrize("kwargs, match", [
    ({"constraints": ["latency <= 5"]}, "cannot read the constraint|unknown metric 'latency'"),
    ({"constraints": ["accuracy >= 0.5"]}, "unknown metric 'accuracy'.*checked before training"),
    ({"constraints": ["latency_ms <= 5"]}, "needs a latency table"),
    ({"constraints": "params <= lots"}, "cannot read the constraint"),
    ({"objectives": {"accuracy": "max", "latency_ms": "min"}}, "latency_ms needs a latency table"),
    ({"objectives": {"accuracy": "upwards"}}, "direction must be 'maximize' or 'minimize'"),
    ({"objectives": {"a": "max", "b": "min"}, "strategy": PolicyBasedRL()}, "PolicyBasedRL optimises a single"),
    ({"objectives": {"a": "max", "b": "min"}, "scheduler": ASHA(max_resource=4)}, "cannot be combined"),
    ({"objectives": {"err": "min"}, "direction": "maximize"}, "contradicts the first objective"),
    ({"latency_table": 3}, "LatencyTable or the path"),
    ({"latency_table": "/nonexistent/table.json"}, "cannot read a latency table"),
])
def test_bad_objectives_and_constraints_are_named(space: NasBench201, kwargs: dict[str, Any], match: str) -> None:
    strategy = kwargs.pop("strategy", Random())
    with pytest.raises(InvalidSettingError, match=match):
        Experiment(space, EVALUATOR, strategy, max_trials=1, executor="inline", progress=False, **kwargs)


def test_a_table_of_another_space_is_refused(table: LatencyTable) -> None:
    other = NasBench201(channels=8, num_cells=1)
    with pytest.raises(InvalidSettingError, match="LatencyTableMismatch"):
        Experiment(other, EVALUATOR, Random(), max_trials=1, executor="inline", progress=False,
                   constraints=["latency_ms <= 5"], latency_table=table)
