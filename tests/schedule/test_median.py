"""Median stopping: below the median of completed trials' running averages stops, above never does."""

from __future__ import annotations

import random
from statistics import median

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.schedule import MedianStopping, SchedulerError
from archspace.storage import TrialStatus
from archspace.strategy import Random
from tests.schedule.curves import EPOCHS, CurveSpace, curve

COMPLETED = {0: [0.5, 0.6, 0.7], 1: [0.3, 0.4, 0.5], 2: [0.7, 0.8, 0.9]}  # steps 1, 2, 3


def _with_completed(**settings: int) -> MedianStopping:
    median_stopping = MedianStopping(**settings)
    median_stopping.setup("maximize")
    for trial, points in COMPLETED.items():
        for step, v in enumerate(points, 1):
            median_stopping.on_report(trial, step, v)
        median_stopping.on_finish(trial, TrialStatus.SUCCEEDED)
    return median_stopping


def test_stops_a_trial_below_the_median_and_never_one_above() -> None:
    # Running averages at steps 1, 2, 3: medians 0.5, 0.55, 0.6.
    stopping = _with_completed(grace_period=1, min_trials=3)
    assert stopping.on_report(10, 1, 0.45) is True
    assert [stopping.on_report(11, s, v) for s, v in [(1, 0.5), (2, 0.55), (3, 0.6)]] == [False] * 3  # equal: go on
    assert [stopping.on_report(12, s, v) for s, v in [(1, 0.9), (2, 0.2), (3, 0.1)]] == [False] * 3  # best 0.9


def test_random_curves_follow_the_rule_exactly() -> None:
    rng = random.Random(5)
    stopping = MedianStopping(grace_period=2, min_trials=2)
    stopping.setup("maximize")
    completed: list[list[float]] = []
    stopped = kept = 0
    for trial in range(40):
        points: list[float] = []
        for step in range(1, 8):
            points.append(rng.random())
            averages = [sum(c[:step]) / step for c in completed]
            expected = step >= 2 and len(averages) >= 2 and max(points) < median(averages)
            verdict = stopping.on_report(trial, step, points[-1])
            assert verdict is expected, (trial, step)
            if verdict:
                break
        if verdict:
            stopping.on_finish(trial, TrialStatus.PRUNED)
            stopped += 1
        else:
            stopping.on_finish(trial, TrialStatus.SUCCEEDED)
            completed.append(points)
            kept += 1
    assert stopped and kept  # both branches were exercised


def test_grace_period_and_min_trials_hold_back_the_stop() -> None:
    assert _with_completed(grace_period=2, min_trials=3).on_report(10, 1, 0.0) is False
    assert _with_completed(grace_period=2, min_trials=3).on_report(10, 2, 0.0) is True
    assert _with_completed(grace_period=1, min_trials=4).on_report(10, 1, 0.0) is False


def test_pruned_and_failed_trials_do_not_set_the_bar() -> None:
    stopping = _with_completed(grace_period=1, min_trials=3)
    for trial in (20, 21, 22):
        stopping.on_report(trial, 1, 0.99)
        stopping.on_finish(trial, TrialStatus.PRUNED if trial % 2 else TrialStatus.FAILED)
    assert stopping.on_report(30, 1, 0.51) is False  # the median is still 0.5


def test_minimize() -> None:
    stopping = MedianStopping(grace_period=1, min_trials=1)
    stopping.setup("minimize")
    stopping.on_report(0, 1, 0.3)
    stopping.on_finish(0, TrialStatus.SUCCEEDED)
    assert stopping.on_report(1, 1, 0.4) is True and stopping.on_report(2, 1, 0.2) is False


def test_state_round_trips() -> None:
    stopping = _with_completed(grace_period=1, min_trials=3)
    stopping.on_report(7, 1, 0.61)
    copy = MedianStopping(grace_period=1, min_trials=3)
    copy.setup()
    copy.load_state_dict(stopping.state_dict())
    assert copy.state_dict() == stopping.state_dict()
    assert copy.on_report(7, 2, 0.1) == stopping.on_report(7, 2, 0.1)
    with pytest.raises(SchedulerError, match="not a MedianStopping state"):
        copy.load_state_dict({"rungs": []})


@pytest.mark.parametrize("settings, message", [
    ({"grace_period": -1}, "grace_period must be an int >= 0"),
    ({"min_trials": 0}, "min_trials must be an int >= 1"),
    ({"min_trials": 2.5}, "min_trials must be an int"),
])
def test_bad_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(SchedulerError, match=message):
        MedianStopping(**settings)  # type: ignore[arg-type]


def test_in_an_experiment_the_recorded_trials_obey_the_rule() -> None:
    experiment = Experiment(CurveSpace(), FunctionalEvaluator(curve), Random(),
                            scheduler=MedianStopping(grace_period=2, min_trials=3), max_trials=25, executor="inline",
                            seed=2, progress=False)
    trials = experiment.run()
    completed: list[list[float]] = []
    for t in trials:  # inline: each trial is judged against the trials that succeeded before it
        values = [v for _, v in t.intermediates]
        for step in range(1, len(values) + 1):
            averages = [sum(c[:step]) / step for c in completed]
            below = step >= 2 and len(averages) >= 3 and max(values[:step]) < median(averages)
            assert below is (t.status is TrialStatus.PRUNED and step == len(values)), (t.id, step)
        if t.status is TrialStatus.SUCCEEDED:
            assert len(values) == EPOCHS
            completed.append(values)
    assert sum(t.status is TrialStatus.PRUNED for t in trials) >= 5
