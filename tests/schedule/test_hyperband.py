"""Hyperband: brackets of ASHA with rising first rungs, filled in proportion to Hyperband's sizes."""

from __future__ import annotations

from collections import Counter

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.schedule import Hyperband, SchedulerError
from archspace.storage import TrialStatus
from archspace.strategy import Random
from tests.schedule.curves import EPOCHS, CurveSpace, curve, quality


def test_brackets_start_one_factor_apart_and_the_last_stops_nothing() -> None:
    hyperband = Hyperband(max_resource=27)
    hyperband.setup()
    assert hyperband.brackets == 4 and hyperband.sizes() == [27, 12, 6, 4]
    assert [hyperband.bracket_rungs(b) for b in range(4)] == [[1, 3, 9], [3, 9], [9], []]
    assert Hyperband(max_resource=27, brackets=2).sizes() == [27, 12]


def test_trials_fill_brackets_in_proportion_to_their_sizes() -> None:
    hyperband = Hyperband(max_resource=27)
    hyperband.setup()
    counts = Counter(hyperband.bracket_of(t) for t in range(490))
    for bracket, size in enumerate(hyperband.sizes()):
        assert abs(counts[bracket] - 490 * size / 49) <= 5
    assert len({hyperband.bracket_of(t) for t in range(10)}) == 4  # spread over any short run of ids


def test_each_bracket_judges_only_its_own_trials_from_its_first_rung() -> None:
    hyperband = Hyperband(max_resource=27)
    hyperband.setup()
    by_bracket: dict[int, list[int]] = {}
    for trial in range(60):
        by_bracket.setdefault(hyperband.bracket_of(trial), []).append(trial)
    # bracket 0 has good results; a poor trial of bracket 1 is judged at step 3 against bracket 1 only
    for trial in by_bracket[0][:5]:
        hyperband.on_report(trial, 3, 0.9)
    first, second = by_bracket[1][:2]
    assert hyperband.on_report(first, 1, 0.1) is False  # bracket 1 has no rung at step 1
    assert hyperband.on_report(first, 3, 0.1) is False  # the first of bracket 1 at rung 3
    assert hyperband.on_report(second, 3, 0.05) is True
    last = by_bracket[3]
    for trial in last[:3]:
        assert not any(hyperband.on_report(trial, step, 0.0) for step in range(1, 28))  # never stopped


def test_state_round_trips() -> None:
    hyperband = Hyperband(max_resource=27)
    hyperband.setup()
    for trial in range(20):
        hyperband.on_report(trial, 9, trial / 20)
    copy = Hyperband(max_resource=27)
    copy.setup()
    copy.load_state_dict(hyperband.state_dict())
    assert copy.state_dict() == hyperband.state_dict()


@pytest.mark.parametrize("brackets", [0, 5, True, 1.5])
def test_bad_bracket_counts_name_the_range(brackets: object) -> None:
    with pytest.raises(SchedulerError, match="brackets must be an int from 1 to 4"):
        Hyperband(max_resource=27, brackets=brackets)  # type: ignore[arg-type]


def test_in_an_experiment_the_best_trial_survives_its_bracket() -> None:
    hyperband = Hyperband(max_resource=EPOCHS)
    experiment = Experiment(CurveSpace(), FunctionalEvaluator(curve), Random(), scheduler=hyperband, max_trials=40,
                            executor="inline", seed=4, progress=False)
    trials = experiment.run()
    assert quality(experiment.best(1)[0].sample) == max(quality(t.sample) for t in trials)
    for t in trials:
        rungs = hyperband.bracket_rungs(hyperband.bracket_of(t.id))
        if t.status is TrialStatus.PRUNED:
            assert t.intermediates[-1][0] in rungs
        else:
            assert len(t.intermediates) == EPOCHS
    assert sum(len(t.intermediates) for t in trials) < 0.6 * len(trials) * EPOCHS
