"""One trial never stops an experiment: whatever a trial returns, reports or raises (text with
lone surrogates or NUL, huge or non-finite numbers, out-of-range steps, objects that fail to print
or to be written as JSON, deep nesting) is stored escaped and capped, or the trial fails with a
clear reason; the driver lives and the store stays readable. Through the inline, process and
Ray executors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.storage import SQLiteStorage, TrialStatus
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment.poison_helpers import POISONS, Acts, Unprintable, poison

SPECIAL_TEXT = st.sampled_from(["caf\udce9", "\x00", "\ud800\udfff", "x" * 70_000, "", "é\u2028\U0001f600"])
TEXT = st.one_of(SPECIAL_TEXT, st.text(max_size=50))
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**100), 2**100))
VALUE = st.recursive(st.one_of(st.none(), st.booleans(), NUMBER, TEXT, st.builds(Unprintable)),
                     lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
                     max_leaves=8)
OUTCOME = st.one_of(
    st.tuples(st.just("raise"), TEXT),
    st.tuples(st.just("raise unprintable"), st.none()),
    st.tuples(st.just("return"), VALUE),
    st.tuples(st.just("return dict"), st.dictionaries(TEXT, VALUE, max_size=3)),
    st.tuples(st.just("report"), st.tuples(NUMBER, st.one_of(st.none(), st.integers(-(2**70), 2**70), st.floats()))),
)


@pytest.fixture(scope="module")
def shared_ray() -> Any:
    """One Ray for this module's Ray runs (a RayExecutor uses the Ray its process already runs),
    instead of one started per Hypothesis example."""
    import ray

    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False)
    yield ray
    ray.shutdown()


def _check_store(path: Path, trials: int) -> None:
    stored = SQLiteStorage(path, read_only=True).trials()
    assert len(stored) == trials
    for t in stored:
        assert t.status in (TrialStatus.SUCCEEDED, TrialStatus.FAILED), t
        if t.status is TrialStatus.FAILED:
            assert t.error and t.error.strip(), t
        else:
            assert t.metric is not None and math.isfinite(t.metric)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(outcome=OUTCOME)
def test_any_outcome_of_a_trial_leaves_the_driver_alive_and_the_store_readable(
        outcome: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("poison")
    experiment = Experiment(TinySpace(), Acts(outcome), Random(dedup=False), max_trials=2, executor="inline",
                            directory=directory, progress=False)
    trials = experiment.run()
    assert len(trials) == 2
    _check_store(directory / "experiment.db", 2)
    again = Experiment(TinySpace(), FunctionalEvaluator(lambda model, ctx: 0.5), Random(dedup=False), max_trials=2,
                       executor="inline", directory=directory, progress=False)
    assert len(again.resume()) == 2  # a resume finds nothing to re-run: every trial was recorded


@pytest.mark.parametrize("executor", ["inline", "process", "ray"])
def test_every_known_poison_through_each_executor(executor: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if executor == "ray":
        request.getfixturevalue("shared_ray")
    count = len(POISONS)
    experiment = Experiment(TinySpace(), FunctionalEvaluator(poison), Random(dedup=False), max_trials=count,
                            concurrency=1 if executor == "inline" else 2, executor=executor, directory=tmp_path,
                            progress=False)
    trials = experiment.run()
    _check_store(tmp_path / "experiment.db", count)
    by_kind = {POISONS[t.id % count]: t for t in trials}
    assert by_kind["fine"].status is TrialStatus.SUCCEEDED and by_kind["fine"].metric == 0.25
    assert "caf\\udce9" in (by_kind["surrogate error"].error or "")
    assert "\\x00" in (by_kind["nul error"].error or "")
    for kind in ("huge step", "negative step", "float step"):
        assert by_kind[kind].status is TrialStatus.FAILED and "step" in (by_kind[kind].error or ""), kind
    assert by_kind["surrogate metrics"].metrics["path"] == "caf\\udce9\\x00"
    assert by_kind["unprintable error"].status is TrialStatus.FAILED
    assert len(by_kind["megabyte error"].error or "") < 200_000
    assert by_kind["deep metrics"].status in (TrialStatus.SUCCEEDED, TrialStatus.FAILED)


@pytest.mark.parametrize("executor", ["process", "ray"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(outcome=OUTCOME)
def test_any_outcome_through_worker_processes_and_ray(executor: str, outcome: tuple[str, Any],
                                                      tmp_path_factory: pytest.TempPathFactory,
                                                      request: pytest.FixtureRequest) -> None:
    """The same property where the outcome crosses a process boundary (pickled results, errors
    described in the worker); fewer examples, as each starts its workers."""
    if executor == "ray":
        request.getfixturevalue("shared_ray")
    directory = tmp_path_factory.mktemp("poison")
    experiment = Experiment(TinySpace(), Acts(outcome), Random(dedup=False), max_trials=2, concurrency=2,
                            executor=executor, directory=directory, progress=False)
    assert len(experiment.run()) == 2
    _check_store(directory / "experiment.db", 2)
