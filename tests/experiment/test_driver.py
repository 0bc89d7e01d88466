"""The driver's seams: executors that run on submit and hand over on poll, a judge handed in at
start, the run's constraint handed to the strategy (never swapped into it), the run's source as a
typed record, and the two kinds of run as peers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, Finished, InlineExecutor, Reported, RunSource, Started
from archspace.experiment.driver import IDENTITY, Driver
from archspace.experiment.multi_trial import MultiTrialRun
from archspace.experiment.oneshot_run import OneShotRun
from archspace.storage import TrialStatus
from archspace.strategy import GridSearch, Random
from archspace.testing import TinySpace

CALLS: list[int] = []


def curve(model: Any, ctx: Any) -> float:
    CALLS.append(ctx.trial_id)
    for step in (1, 2, 3):
        ctx.report(float(step), step)
    return 3.0


def test_the_inline_executor_runs_a_trial_on_submit_and_holds_its_slot_until_poll() -> None:
    CALLS.clear()
    executor = InlineExecutor()
    executor.start(TinySpace(), FunctionalEvaluator(curve), None, None)
    assert executor.free_slots() == 1 and executor.running() == []
    executor.submit(7, {"x": 1, "hidden": 2})
    assert CALLS == [7]  # it ran inside submit
    assert executor.running() == [7] and executor.free_slots() == 0  # until its end is handed over
    events = executor.poll(0.0)
    assert [type(e) for e in events] == [Started, Reported, Reported, Reported, Finished]
    assert isinstance(events[-1], Finished) and events[-1].status is TrialStatus.SUCCEEDED
    assert executor.running() == [] and executor.free_slots() == 1 and executor.poll(0.0) == []


def test_a_judge_handed_to_start_stops_the_trial_at_its_verdict() -> None:
    executor = InlineExecutor()
    executor.start(TinySpace(), FunctionalEvaluator(curve), None, None, judge=lambda trial, step, value: step >= 2)
    executor.submit(0, {"x": 1, "hidden": 2})
    events = executor.poll(0.0)
    assert [e.step for e in events if isinstance(e, Reported)] == [1, 2]
    assert isinstance(events[-1], Finished) and events[-1].status is TrialStatus.PRUNED and events[-1].metric == 2.0


def test_constraints_reach_the_strategy_as_its_runs_filter_and_the_users_filter_stays_in_place() -> None:
    seen_filters: list[Any] = []

    def users_filter(sample: dict[str, Any]) -> bool:
        seen_filters.append(strategy.filter)
        return sample["x"] != 3

    strategy = Random(filter=users_filter)
    experiment = Experiment(TinySpace(), FunctionalEvaluator(lambda m, c: 0.5), strategy, max_trials=12,
                            executor="inline", progress=False, constraints=["params <= 10"], input_shape=(1, 4))
    trials = experiment.run()
    # TinySpace's Linear(4, hidden): 10 parameters with hidden 2, 20 with hidden 4
    assert trials and all(t.sample["hidden"] == 2 and t.sample["x"] != 3 for t in trials)
    assert seen_filters and all(f is users_filter for f in seen_filters)  # never replaced, even mid-run
    assert strategy.filter is users_filter


def test_the_runs_source_is_one_typed_record_stored_as_json(tmp_path: Path) -> None:
    file = tmp_path / "exp.py"
    file.write_text("x = 1\n")
    source = RunSource.python_file(file, "archspace_user_x")
    assert source.needs_import and source.changed() is False
    assert RunSource.from_json(json.loads(json.dumps(source.to_json()))) == source
    file.write_text("x = 2\n")
    assert source.changed() is True
    file.unlink()
    assert source.changed() is None
    for junk in (None, 3, "path", {}, {"path": ""}, {"path": 5}, ["a"]):
        assert RunSource.from_json(junk) is None
    experiment = Experiment(TinySpace(), FunctionalEvaluator(lambda m, c: 0.5), GridSearch(), max_trials=2,
                            executor="inline", directory=tmp_path / "run", progress=False)
    file.write_text("x = 3\n")
    experiment.source = RunSource.config_file(file)
    experiment.run()
    assert experiment.storage.get_config()["source"] == experiment.source.to_json()  # type: ignore[index]


def test_both_kinds_of_run_are_peers_the_driver_runs_alike() -> None:
    for run in (MultiTrialRun, OneShotRun):
        assert "max_trials" in run.resumable_settings
        assert callable(run.run)
    assert not set(IDENTITY) & set(MultiTrialRun.resumable_settings + OneShotRun.resumable_settings)
    assert Driver.drive.__doc__


def test_a_directory_holding_another_experiment_is_refused_by_the_driver_for_either_kind(tmp_path: Path) -> None:
    Experiment(TinySpace(), FunctionalEvaluator(lambda m, c: 0.5), GridSearch(), max_trials=2, executor="inline",
               directory=tmp_path, progress=False).run()
    other = Experiment(TinySpace(), FunctionalEvaluator(lambda m, c: 0.5), Random(), max_trials=2, executor="inline",
                       directory=tmp_path, progress=False)
    with pytest.raises(Exception, match="holds another experiment .*strategy: stored 'GridSearch', now 'Random'"):
        other.resume()
