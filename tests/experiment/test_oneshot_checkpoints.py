"""One-shot checkpoints that cannot be trusted are refused by name; a run killed between its
checkpoint and the store's epoch row resumes with every epoch's validation metric and ends bit
for bit where an uninterrupted run ends (SPOS included)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from archspace.evaluate import Classification
from archspace.experiment import Experiment
from archspace.experiment.oneshot_run import OneShotRun
from archspace.oneshot import DARTS, SPOS, CheckpointError, create_oneshot
from archspace.testing import SharedNet

EVOLUTION = {"population": 4, "select": 2, "mutation": 1, "crossover": 1, "generations": 2}


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _experiment(directory: Path, name: str = "darts", epochs: int = 4) -> Experiment:
    extra: dict[str, Any] = {"evolution": EVOLUTION, "calibration_batches": 1} if name == "spos" else {}
    return Experiment(SharedNet(), Classification(_data(24, 1), _data(16, 2), batch_size=8),
                      create_oneshot(name, epochs=epochs, progress=False, **extra), directory=directory, threads=1)


class _Killed(KeyboardInterrupt):
    pass


def _cut_after_checkpoint(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """The driver dies after epoch ``epoch``'s checkpoint, before the store's row (no row written)."""
    original = OneShotRun._record_epoch

    def record(self: OneShotRun, row: dict[str, Any]) -> None:
        if row["epoch"] == epoch:
            raise _Killed
        original(self, row)

    monkeypatch.setattr(OneShotRun, "_record_epoch", record)


@pytest.fixture
def stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    """A DARTS run of 4 epochs stopped after epoch 1's checkpoint, and that checkpoint."""
    _cut_after_checkpoint(monkeypatch, 1)
    with pytest.raises(_Killed):
        _experiment(tmp_path).run()
    monkeypatch.undo()
    return tmp_path, torch.load(tmp_path / "oneshot" / "checkpoint.pt", weights_only=True)


@pytest.mark.parametrize("damage", ["empty", "another network", "epoch 'two'", "epoch 99", "weights not a dict"])
def test_a_checkpoint_that_cannot_be_trusted_is_refused_by_name(damage: str, stopped: tuple[Path, dict[str, Any]]) -> None:
    directory, good = stopped
    path = directory / "oneshot" / "checkpoint.pt"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "another network":
        torch.save({**good, "weights": {"fc.weight": torch.zeros(2, 2)}}, path)
    elif damage == "epoch 'two'":
        torch.save({**good, "epoch": "two"}, path)
    elif damage == "epoch 99":
        torch.save({**good, "epoch": 99}, path)
    else:
        torch.save({**good, "weights": [1, 2]}, path)
    with pytest.raises(CheckpointError, match=str(path)):
        _experiment(directory).resume()


def test_a_resume_without_a_checkpoint_says_it_restarts(stopped: tuple[Path, dict[str, Any]],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    directory, _ = stopped
    (directory / "oneshot" / "checkpoint.pt").unlink()
    with caplog.at_level(logging.WARNING, logger="archspace.oneshot"):
        experiment = _experiment(directory)
        experiment.resume()
    assert "restarts from epoch 0" in caplog.text
    assert [r["epoch"] for r in experiment.epochs()] == [0, 1, 2, 3]


@pytest.mark.parametrize("name", ["spos", "darts"])
def test_killed_between_checkpoint_and_store_resumes_with_every_metric_and_bit_identical(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = _experiment(tmp_path / "clean", name)
    clean.run()
    _cut_after_checkpoint(monkeypatch, 1)
    with pytest.raises(_Killed):
        _experiment(tmp_path / "cut", name).run()
    monkeypatch.undo()
    resumed = _experiment(tmp_path / "cut", name)
    resumed.resume()
    ours, theirs = resumed.epochs(), clean.epochs()
    assert [r["epoch"] for r in ours] == [0, 1, 2, 3]
    assert [r["val_metric"] for r in ours] == [r["val_metric"] for r in theirs]
    assert all(isinstance(r["val_metric"], float) for r in ours)
    a = resumed.strategy.supernet.state_dict()  # type: ignore[union-attr]
    b = clean.strategy.supernet.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.best()[0].sample == clean.best()[0].sample
    assert isinstance(resumed.strategy, (SPOS, DARTS))


def test_doctor_checks_the_checkpoint_and_the_epochs_of_a_oneshot_run(stopped: tuple[Path, dict[str, Any]]) -> None:
    from archspace.experiment.doctor import check_experiment

    directory, good = stopped
    path = directory / "oneshot" / "checkpoint.pt"
    report = check_experiment(directory)  # stopped after epoch 1's checkpoint, before its row
    assert report.healthy and any("one epoch ahead" in w for w in report.warnings), report.format()
    for state, message in (({**good, "epoch": 99}, "has 4 epochs"), ({**good, "epoch": 0}, "older than the store"),
                           ({**good, "epoch": "two"}, "epoch 'two'")):
        torch.save(state, path)
        report = check_experiment(directory)
        assert not report.healthy and any(message in e for e in report.errors), report.format()
    path.write_bytes(b"")
    assert not check_experiment(directory).healthy
    torch.save(good, path)
    _experiment(directory).resume()
    report = check_experiment(directory)
    assert report.healthy and not report.warnings, report.format()


def test_doctor_counts_selection_trials_apart_from_the_result(tmp_path: Path) -> None:
    from archspace.experiment.doctor import check_experiment

    experiment = _experiment(tmp_path, "spos", epochs=1)
    trials = experiment.run()
    assert sum(t.worker == "oneshot-selection" for t in trials) > 1
    report = check_experiment(tmp_path)
    assert report.healthy, report.format()
