"""ASHA: rungs, the top-1/eta rule, direction, state, and real experiments on a curve family."""

from __future__ import annotations

import random

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.schedule import ASHA, SchedulerError
from archspace.storage import TrialStatus
from archspace.strategy import Random
from tests.schedule.curves import EPOCHS, CurveSpace, curve, curve_minimize, quality, value


def test_rungs_lie_at_min_resource_times_eta_powers_below_max_resource() -> None:
    assert ASHA(min_resource=1, max_resource=27).rungs == [1, 3, 9]
    assert ASHA(min_resource=2, max_resource=100, reduction_factor=4).rungs == [2, 8, 32]


def test_a_trial_goes_on_only_in_the_top_third_of_its_rung() -> None:
    asha = ASHA(max_resource=9)
    asha.setup("maximize")
    assert asha.on_report(0, 1, 0.5) is False  # the first arrival has nothing to lose to
    assert asha.on_report(1, 1, 0.4) is True  # below the only other result
    assert asha.on_report(2, 1, 0.6) is False  # the best so far
    # 4 results recorded: the 2/3 quantile of [0.4, 0.5, 0.6, 0.55] is 0.55; only values >= it go on
    assert asha.on_report(3, 1, 0.55) is False
    assert asha.on_report(4, 1, 0.52) is True
    assert asha.on_report(2, 2, 0.1) is False  # between rungs nothing is judged
    assert asha.recorded()[0] == {0: 0.5, 1: 0.4, 2: 0.6, 3: 0.55, 4: 0.52}


def test_minimize_keeps_the_low_values() -> None:
    asha = ASHA(max_resource=9)
    asha.setup("minimize")
    assert [asha.on_report(t, 1, v) for t, v in enumerate([0.5, 0.6, 0.4])] == [False, True, False]


def test_a_report_that_skips_rungs_is_judged_at_each() -> None:
    asha = ASHA(max_resource=27)
    asha.setup()
    for trial in range(3):
        asha.on_report(trial, 9, 0.9)  # reported only at step 9: recorded at rungs 1, 3 and 9
    assert [len(r) for r in asha.recorded()] == [3, 3, 3]
    assert asha.on_report(3, 9, 0.1) is True
    assert [len(r) for r in asha.recorded()] == [4, 3, 3]  # stopped at the first rung it failed


def test_state_round_trips_and_replay_rebuilds_it() -> None:
    rng = random.Random(0)
    live = ASHA(max_resource=27)
    live.setup()
    for trial in range(30):
        for step in range(1, 28):
            if live.on_report(trial, step, rng.random() * step):
                break
    copy = ASHA(max_resource=27)
    copy.setup()
    copy.load_state_dict(live.state_dict())
    assert copy.state_dict() == live.state_dict()
    assert [copy.on_report(99, s, 5.0) for s in (1, 3, 9)] == [live.on_report(99, s, 5.0) for s in (1, 3, 9)]


@pytest.mark.parametrize("settings, message", [
    ({"max_resource": 0}, "max_resource must be a number > 0"),
    ({"max_resource": 9, "min_resource": 9}, "must be below max_resource"),
    ({"max_resource": 9, "reduction_factor": 1}, "reduction_factor must be a number > 1"),
    ({"max_resource": "9"}, "max_resource must be a number"),
    ({"max_resource": 9, "min_resource": True}, "min_resource must be a number"),
])
def test_bad_settings_name_what_is_allowed(settings: dict[str, object], message: str) -> None:
    with pytest.raises(SchedulerError, match=message):
        ASHA(**settings)  # type: ignore[arg-type]


def _run_asha(executor: str, evaluator: FunctionalEvaluator, direction: str | None = None) -> tuple[Experiment, list]:
    experiment = Experiment(CurveSpace(), evaluator, Random(), scheduler=ASHA(max_resource=EPOCHS), max_trials=60,
                            executor=executor, concurrency=2, seed=1, progress=False, direction=direction)
    return experiment, experiment.run()


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_asha_keeps_the_best_trial_for_a_fraction_of_the_epochs(executor: str) -> None:
    experiment, trials = _run_asha(executor, FunctionalEvaluator(curve))
    assert len(trials) == 60 and all(t.finished for t in trials)
    best_quality = max(quality(t.sample) for t in trials)
    best = experiment.best(1)[0]
    assert quality(best.sample) == best_quality and best.status is TrialStatus.SUCCEEDED
    spent = sum(len(t.intermediates) for t in trials)  # epochs run: one report per epoch
    assert spent < 0.4 * len(trials) * EPOCHS
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    assert len(pruned) > 30
    for t in pruned:  # recorded with the curve up to the rung where it stopped, metric = last value
        steps = [s for s, _ in t.intermediates]
        assert steps == list(range(1, steps[-1] + 1)) and steps[-1] in (1, 3, 9)
        assert t.metric == t.intermediates[-1][1] == pytest.approx(value(t.sample, steps[-1]))
    for t in trials:
        if t.status is TrialStatus.SUCCEEDED:
            assert len(t.intermediates) == EPOCHS


def test_asha_on_a_loss_keeps_the_lowest() -> None:
    experiment, trials = _run_asha("inline", FunctionalEvaluator(curve_minimize, direction="minimize"))
    assert experiment.direction == "minimize"
    assert quality(experiment.best(1)[0].sample) == max(quality(t.sample) for t in trials)
    assert sum(len(t.intermediates) for t in trials) < 0.4 * len(trials) * EPOCHS
