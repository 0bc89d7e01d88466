"""Bad input gets a named error, at the moment it is given — not a traceback after every trial failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from archspace.cli.config import ConfigError, load_experiment
from archspace.cli.main import main
from archspace.errors import ArchspaceError
from archspace.evaluate import EvaluatorError, FunctionalEvaluator
from archspace.experiment import Experiment, InvalidSettingError
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment.helpers import x_metric

BASE = ("space: archspace.testing.spaces:TinySpace\nstrategy: {strategy}\n"
        "evaluator: {evaluator}\nexperiment: {experiment}\n")


def _config(tmp_path: Path, strategy: str = "random", evaluator: str = "{name: regression, data: digits}",
            experiment: str = "{max_trials: 2}") -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(BASE.format(strategy=strategy, evaluator=evaluator, experiment=experiment))
    return path


@pytest.mark.parametrize(("experiment", "named"), [
    ("{max_trials: ten}", "max_trials must be an int >= 1 or None, got 'ten'"),
    ("{max_trials: 0}", "max_trials must be an int >= 1"),
    ("{max_trials: -3}", "max_trials must be an int >= 1"),
    ("{concurrency: '2'}", "concurrency must be an int >= 1, got '2'"),
    ("{max_duration: -5}", "max_duration must be a positive number of seconds"),
    ("{trial_timeout: 0}", "trial_timeout must be a positive number of seconds"),
    ("{max_trials: 2, budget: 3}", "experiment does not take 'budget'; accepted arguments: ['max_trials'"),
    ("{executor: {name: process, recycle: 3}}", "does not take 'recycle'; accepted arguments: ['concurrency'"),
])
def test_experiment_settings_are_checked(tmp_path: Path, experiment: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(_config(tmp_path, experiment=experiment))
    assert "exp.yaml" in str(info.value) and named in str(info.value)


def test_unknown_strategy_and_evaluator_arguments_name_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy 'random' does not take 'dedupe'; accepted arguments: \['dedup'"):
        load_experiment(_config(tmp_path, strategy="{name: random, dedupe: true}"))
    with pytest.raises(ConfigError, match=r"does not take 'epoch'; accepted arguments: \[.*'epochs'"):
        load_experiment(_config(tmp_path, evaluator="{name: regression, data: digits, epoch: 2}"))


def test_python_settings_are_checked_too() -> None:
    space, evaluator = TinySpace(), FunctionalEvaluator(x_metric)
    for kwargs in ({"max_trials": 0}, {"max_trials": True}, {"concurrency": 1.5}, {"seed": -1},
                   {"max_duration": float("nan")}, {"progress": "yes"}):
        with pytest.raises(InvalidSettingError, match=next(iter(kwargs))):
            Experiment(space, evaluator, Random(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidSettingError, match="strategy must be an archspace Strategy"):
        Experiment(space, evaluator, "random")  # type: ignore[arg-type]


def _one_arg(model: Any) -> float:
    return 1.0


def _three_args(model: Any, ctx: Any, extra: Any) -> float:
    return 1.0


def _flexible(model: Any, ctx: Any = None, *rest: Any, **more: Any) -> float:
    return 1.0


def test_evaluator_functions_that_cannot_take_model_and_ctx_are_refused_at_once() -> None:
    for fn in (_one_arg, _three_args, lambda: 1.0):
        with pytest.raises(EvaluatorError, match=r"cannot be called as fn\(model, ctx\)"):
            FunctionalEvaluator(fn)  # type: ignore[arg-type]
    assert FunctionalEvaluator(_flexible).fn is _flexible


def test_export_top_zero_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export", str(tmp_path), "--top", "0"])
    assert info.value.code == 2 and "expected a whole number >= 1, got 0" in capsys.readouterr().err
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=1, executor="inline",
                            directory=tmp_path, progress=False)
    experiment.run()
    with pytest.raises(InvalidSettingError, match="k must be an int >= 1"):
        experiment.best(0)


def test_error_messages_never_echo_megabytes(tmp_path: Path) -> None:
    huge = "w" * 2_000_000
    for bad in ({"x": huge}, {huge: 1}, {"x": {"nested": huge}}):
        with pytest.raises(ArchspaceError) as info:
            TinySpace().validate(bad)
        assert len(str(info.value)) < 2000
