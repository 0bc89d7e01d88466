"""Mistakes refused before the first trial trains (issue 24, item 4): objective and constraint names,
a run in which every trial failed, a typo'd label in a sample file, EvolutionSearch's input shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import archspace as asp
from archspace.evaluate import Classification, FunctionalEvaluator
from archspace.experiment import Experiment, InvalidSettingError
from archspace.oneshot import to_supernet
from archspace.oneshot.spos_search import EvolutionSearch, EvolutionSearchError
from archspace.strategy import Random
from archspace.testing import ExampleNet, SharedNet, TinySpace

ROOT = Path(__file__).resolve().parents[2]


def accuracy(model: Any, ctx: Any) -> float:
    """A single number: recorded under the first objective."""
    return float(ctx.sample["x"])


def accuracy_and_robustness(model: Any, ctx: Any) -> dict[str, float]:
    return {"default": float(ctx.sample["x"]), "robustness": 1.0}


def _experiment(evaluator: Any, **kwargs: Any) -> Experiment:
    return Experiment(TinySpace(), evaluator, Random(), max_trials=2, executor="inline", progress=False,
                      input_shape=(1, 4), **kwargs)


@pytest.mark.parametrize("evaluator", [FunctionalEvaluator(accuracy), FunctionalEvaluator(accuracy_and_robustness)])
def test_an_objective_that_looks_like_a_hardware_figure_is_refused_with_the_figure_meant(evaluator: Any) -> None:
    with pytest.raises(InvalidSettingError, match="objective 'latency' is not a hardware figure: did you mean "
                                                  "'latency_ms'"):
        _experiment(evaluator, objectives={"accuracy": "max", "latency": "min"})
    with pytest.raises(InvalidSettingError, match="did you mean 'params'"):
        _experiment(evaluator, objectives={"accuracy": "max", "num_params": "min"})


@pytest.mark.parametrize(("constraints", "meant"), [(["latency <= 5"], "latency_ms"), ({"param": 3e4}, "params"),
                                                    ("flop < 1e6", "flops")])
def test_a_constraint_on_a_lookalike_name_says_which_figure(constraints: Any, meant: str) -> None:
    with pytest.raises(InvalidSettingError, match=f"unknown metric .*did you mean '{meant}'"):
        _experiment(FunctionalEvaluator(accuracy), constraints=constraints)


def test_objectives_a_single_number_evaluator_cannot_fill_are_refused() -> None:
    with pytest.raises(InvalidSettingError, match="objective 'robustness' would be missing from every trial.*"
                                                  "returns a single number"):
        _experiment(FunctionalEvaluator(accuracy), objectives={"accuracy": "max", "robustness": "max"})
    data = (torch.randn(8, 4), torch.randint(0, 2, (8,)))
    with pytest.raises(InvalidSettingError, match="'robustness' would be missing"):  # Classification: -> float
        _experiment(Classification(data, data), objectives={"accuracy": "max", "robustness": "max"})


def test_declared_metric_names_are_checked_and_trusted() -> None:
    evaluator = FunctionalEvaluator(accuracy_and_robustness)
    evaluator.metric_names = ("default", "robustness")  # type: ignore[attr-defined]
    with pytest.raises(InvalidSettingError, match="'robustnes' would be missing.*did you mean 'robustness'"):
        _experiment(evaluator, objectives={"default": "max", "robustnes": "max"})
    trials = _experiment(evaluator, objectives={"default": "max", "robustness": "max"}).run()
    assert [t.status for t in trials] == ["succeeded"] * 2
    measured = FunctionalEvaluator(accuracy_and_robustness)
    measured.metric_names = ("default", "latency")  # type: ignore[attr-defined]  # its own measurement
    _experiment(measured, objectives={"default": "max", "latency": "min"})


def test_undeclared_dict_results_and_hardware_figures_still_pass() -> None:
    _experiment(FunctionalEvaluator(accuracy_and_robustness), objectives={"default": "max", "robustness": "max"})
    _experiment(FunctionalEvaluator(accuracy), objectives={"accuracy": "max", "params": "min"},
                constraints=["params <= 1e6"])


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "archspace.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_cli_run_in_which_every_trial_failed_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "exp.py").write_text(
        "from archspace.evaluate import FunctionalEvaluator\n"
        "from archspace.experiment import Experiment\n"
        "from archspace.strategy import GridSearch\n"
        "from archspace.testing import TinySpace\n"
        "def broken(model, ctx):\n"
        "    raise RuntimeError('the data loader is missing')\n"
        "experiment = Experiment(TinySpace(), FunctionalEvaluator(broken), GridSearch(), max_trials=3,\n"
        "                        executor='inline', directory='out', progress=False)\n")
    done = _cli(["run", "exp.py"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "3 trials, 0 succeeded" in done.stdout
    assert "every trial failed (trial 0: RuntimeError: the data loader is missing)" in done.stderr
    assert "archspace trials out --status failed" in done.stderr


def test_a_cli_config_with_a_lookalike_objective_fails_before_any_trial(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(
        "space: archspace.testing.spaces:ExampleNet\n"
        "strategy: {name: random}\n"
        "evaluator: {name: classification, data: digits, epochs: 1}\n"
        "experiment: {max_trials: 3, directory: out, executor: inline,\n"
        "             objectives: {accuracy: max, latency: min}}\n")
    done = _cli(["run", "exp.yaml"], tmp_path)
    assert done.returncode == 2 and "did you mean 'latency_ms'" in done.stderr
    assert not (tmp_path / "out" / "experiment.db").exists()


def test_fixed_arch_names_a_typod_label_of_a_sample_file(tmp_path: Path) -> None:
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"widht": 32, "op": "conv3", "depth": 1, "blocks.0.act": "relu"}))
    with pytest.raises(asp.UnknownLabelError, match=r"unknown label\(s\) 'widht' \(did you mean 'width'\?\)"):
        with asp.fixed_arch(path):
            ExampleNet()
    right = {"width": 32, "op": "conv3", "depth": 1, "blocks.0.act": "relu"}
    with asp.fixed_arch(right):
        assert ExampleNet().head.in_features == 32


def test_evolution_search_constraint_strings_take_an_input_shape() -> None:
    supernet = to_supernet(SharedNet())
    data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))]
    settings: dict[str, Any] = {"population": 3, "select": 2, "mutation": 1, "crossover": 1, "generations": 1}
    with pytest.raises(Exception, match="input_shape"):  # no example_input(): the message asks for input_shape=
        EvolutionSearch(constraint="params <= 3e4", **settings).search(supernet, data, data)
    result = EvolutionSearch(constraint="params <= 3e4", input_shape=(1, 1, 8, 8), **settings).search(
        supernet, data, data)
    assert asp.hardware.count_params(SharedNet(), result.best) <= 3e4
    with pytest.raises(EvolutionSearchError, match="input_shape must be positive sizes"):
        EvolutionSearch(input_shape=(1, 0, 8))


def test_evolution_search_constraint_strings_are_read_when_built_not_after_the_supernet_trains() -> None:
    from archspace.oneshot import SPOS

    with pytest.raises(EvolutionSearchError, match="unknown metric 'latency'"):
        SPOS(epochs=1, progress=False, evolution={"constraint": "latency <= 5"})
    with pytest.raises(EvolutionSearchError, match="cannot read the constraint"):
        EvolutionSearch(constraint=["params <= lots"])


def test_spos_refuses_constraint_strings_a_space_cannot_count_before_the_supernet_trains() -> None:
    from archspace.oneshot import SPOS

    steps: list[int] = []

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        steps.append(1)
        return torch.nn.functional.cross_entropy(output, target)

    data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))]
    settings = {"population": 3, "select": 2, "mutation": 1, "crossover": 1, "generations": 1}
    trainer = SPOS(epochs=1, progress=False, evolution={"constraint": "params <= 3e4", **settings})
    with pytest.raises(Exception, match="input_shape"):
        trainer.fit(SharedNet(), data, data, loss_fn=loss)
    assert steps == []  # refused before a single training step
    shaped = SPOS(epochs=1, progress=False,
                  evolution={"constraint": "params <= 3e4", "input_shape": (1, 1, 8, 8), **settings})
    assert asp.hardware.count_params(SharedNet(), shaped.fit(SharedNet(), data, data, loss_fn=loss)) <= 3e4
    assert steps
