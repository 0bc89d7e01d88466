"""Config files resolve names through the registries (archspace.cli.config.from_config)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archspace.cli.config import ConfigError, from_config
from archspace.errors import UnknownNameError
from archspace.experiment import ProcessExecutor
from archspace.strategy import RegularizedEvolution


def config(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "space": "archspace.testing.spaces:TinySpace",
        "strategy": "random",
        "evaluator": {"name": "regression", "data": "digits"},
        "experiment": {"max_trials": 1, "executor": "inline", "progress": False},
    }
    return {**base, **overrides}


def fake_cifar(folder: Path, per_batch: int = 3) -> None:
    """Python-format CIFAR-10 batches of ``per_batch`` random images each."""
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, per_batch).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))


def test_names_are_case_insensitive_and_settings_reach_the_strategy(tmp_path: Path) -> None:
    experiment = from_config(config(strategy={"name": "Evolution", "population_size": 6, "sample_size": 2},
                                    experiment={"directory": str(tmp_path), "progress": False}))
    assert isinstance(experiment.strategy, RegularizedEvolution)
    assert experiment.strategy.population_size == 6


def test_a_typo_in_strategy_settings_names_the_accepted_arguments() -> None:
    with pytest.raises(ConfigError) as info:
        from_config(config(strategy={"name": "evolution", "population": 6}))
    message = str(info.value)
    assert message.startswith("config: strategy 'evolution' does not take 'population'; accepted arguments: [")
    assert "'population_size'" in message


def test_an_unknown_executor_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"config: unknown executor 'slurm'; known executors: \['inline', 'process', 'ray'\]"):
        from_config(config(experiment={"executor": {"name": "slurm"}}))


def test_an_executor_mapping_builds_that_executor() -> None:
    experiment = from_config(config(experiment={"executor": {"name": "Process", "max_trials_per_worker": 2},
                                                "concurrency": 2, "progress": False}))
    assert isinstance(experiment.executor, ProcessExecutor) and experiment.executor.concurrency == 2


def test_the_functional_evaluator_is_not_offered_to_configs() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown evaluator 'functional'; known evaluators: \['classification', 'landmarks', 'regression'\]"):
        from_config(config(evaluator={"name": "functional", "data": "digits"}))
    with pytest.raises(UnknownNameError, match=r"unknown evaluator 'lightning'"):  # needs a LightningModule: Python
        from_config(config(evaluator={"name": "lightning", "data": "digits"}))


def test_cifar10_data_with_a_root(tmp_path: Path) -> None:
    fake_cifar(tmp_path)
    experiment = from_config(config(evaluator={"name": "classification", "data": {"name": "cifar10", "root": str(tmp_path)}}))
    x, y = experiment.evaluator.train_data  # type: ignore[attr-defined]
    assert tuple(x.shape) == (15, 3, 32, 32) and len(y) == 15
    assert abs(float(x.mean())) < 2.0  # normalised per channel, not raw [0, 1]
    xv, _ = experiment.evaluator.val_data  # type: ignore[attr-defined]
    assert len(xv) == 3


def test_dataset_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot load dataset 'cifar10': CIFAR-10 file .*data_batch_1.* is missing"):
        from_config(config(evaluator={"name": "classification", "data": {"name": "cifar10", "root": str(tmp_path)}}))
    with pytest.raises(ConfigError, match=r"dataset 'cifar10' does not take 'path'; accepted arguments: \['root', 'normalized'\]"):
        from_config(config(evaluator={"name": "classification", "data": {"name": "cifar10", "path": "x"}}))
    with pytest.raises(ConfigError, match=r"evaluator data 'mnist' is not one of \['cifar10', 'digits'"):
        from_config(config(evaluator={"name": "classification", "data": {"name": "mnist"}}))


def test_objectives_and_constraints_from_a_config() -> None:
    experiment = from_config(config(space="archspace.testing.spaces:ExampleNet",
                                    evaluator={"name": "classification", "data": "digits", "epochs": 1},
                                    experiment={"max_trials": 3, "executor": "inline", "progress": False,
                                                "objectives": {"accuracy": "max", "params": "min"},
                                                "constraints": ["params <= 1e9"], "input_shape": [1, 1, 8, 8]}))
    trials = experiment.run()
    assert all(t.status == "succeeded" and t.metrics["params"] > 0 and "accuracy" in t.metrics for t in trials)
    assert experiment.pareto()
    with pytest.raises(ConfigError, match="unknown metric 'accuracy'"):
        from_config(config(experiment={"constraints": ["accuracy >= 0.9"]}))
    with pytest.raises(ConfigError, match=r"TinySpace has no example_input\(\); pass input_shape"):
        from_config(config(experiment={"constraints": ["params <= 10"]}))


def test_a_landmark_search_runs_from_a_config(tmp_path: Path) -> None:
    """PFLD on the 106-point format, NME minimized, all by name: the FBNet-on-PFLD workflow's multi-trial form."""
    from archspace.data.landmarks import write_synthetic
    from archspace.evaluate import Landmarks

    write_synthetic(tmp_path / "data", train=6, test=4, image_size=32)
    experiment = from_config(config(
        space="archspace.hub.pfld:PFLD", space_args={"input_size": 32, "width": 4},
        evaluator={"name": "landmarks", "data": {"name": "landmarks", "root": str(tmp_path / "data"), "image_size": 32},
                   "epochs": 1, "batch_size": 3},
        experiment={"max_trials": 2, "executor": "inline", "progress": False, "directory": str(tmp_path / "run")}))
    assert isinstance(experiment.evaluator, Landmarks)
    experiment.run()
    trials = experiment.trials()
    assert len(trials) == 2 and all(t.status.value == "succeeded" for t in trials)
    assert all(0 < t.metric < 10 for t in trials)  # NME: a positive fraction of the inter-ocular distance
    assert experiment.best()[0].metric == min(t.metric for t in trials)  # minimized
