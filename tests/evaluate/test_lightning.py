"""The Lightning evaluator: a LightningModule trains each trial, reports each epoch, is pruned by ASHA
through Lightning's own stop, checkpoints into the trial's folder, and survives a SIGKILLed driver."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pytorch_lightning")

from archspace.cli.config import load_experiment  # noqa: E402
from archspace.evaluate import EvaluatorError, MetricError  # noqa: E402
from archspace.evaluate.lightning import Classification, Lightning  # noqa: E402
from archspace.storage import SQLiteStorage, TrialStatus  # noqa: E402
from tests.evaluate.lightning_helpers import DigitsModule, DigitsSpace, loaders  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("lightning_exp.py")


def _finished(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM trials WHERE status IN ('succeeded', 'pruned')")
                       .fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_asha_prunes_lightning_trials_and_a_killed_driver_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
           "ARCHSPACE_TEST_EPOCH_SLEEP": "0.3"}
    driver = subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(SCRIPT)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while _finished(tmp_path / "experiment.db") < 2:
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the experiment made no progress"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.communicate(timeout=30)
    before = {t.id: t for t in SQLiteStorage(tmp_path / "experiment.db").trials() if t.finished}
    assert 2 <= len(before) < 5

    experiment = load_experiment(SCRIPT)
    experiment.directory = tmp_path
    trials = experiment.resume()

    assert [t.id for t in trials] == list(range(5))
    for trial_id, old in before.items():  # kept as they were, not trained again
        assert trials[trial_id].ended_at == old.ended_at and trials[trial_id].intermediates == old.intermediates
    statuses = [t.status for t in trials]
    assert TrialStatus.PRUNED in statuses and TrialStatus.SUCCEEDED in statuses, statuses
    for trial in trials:  # curves stored epoch by epoch; a pruned trial stopped after its first epoch
        steps = [step for step, _ in trial.intermediates]
        assert steps == ([1] if trial.status is TrialStatus.PRUNED else [1, 2]), (trial.status, trial.intermediates)
        assert trial.metric == trial.intermediates[-1][1]
        checkpoints = list((tmp_path / "trials" / str(trial.id) / "checkpoints").glob("*.ckpt"))
        assert len(checkpoints) == 1 and checkpoints[0].name.startswith(f"epoch={len(steps) - 1}-")
    best = experiment.best()[0]
    assert best.sample["hidden"] >= 16 and best.metric > 0.8
    assert {"val_acc", "val_loss", "train_loss"} <= set(best.metrics)


def test_fit_outside_an_experiment_and_the_nni_style_classification() -> None:
    train, val = loaders()
    model = DigitsSpace().freeze({"hidden": 32})
    evaluator = Lightning(DigitsModule, {"max_epochs": 1, "accelerator": "cpu", "limit_train_batches": 5},
                          train_dataloaders=train, val_dataloaders=val, metric="val_acc", mode="max")
    result = evaluator.fit(model)
    assert 0 <= result["val_acc"] <= 1 and "val_loss" in result
    nni_style = Classification(train_dataloaders=train, val_dataloaders=val, max_epochs=1, num_classes=10,
                               learning_rate=0.02, limit_train_batches=5)
    assert nni_style.direction == "maximize" and nni_style.primary == "val_acc"
    assert 0 <= nni_style.fit(DigitsSpace().freeze({"hidden": 16}))["val_acc"] <= 1


def test_bad_settings_are_refused_by_name() -> None:
    train, val = loaders()
    with pytest.raises(EvaluatorError, match="mode='max' or mode='min'"):
        Lightning(DigitsModule, {}, train_dataloaders=train, metric="val_acc")
    with pytest.raises(EvaluatorError, match="did you mean 'max_epochs'"):
        Lightning(DigitsModule, {"max_epoch": 2}, train_dataloaders=train, metric="val_acc", mode="max")
    with pytest.raises(EvaluatorError, match="keyword arguments as a mapping"):
        import pytorch_lightning as pl

        Lightning(DigitsModule, pl.Trainer(logger=False), train_dataloaders=train, metric="val_acc", mode="max")
    with pytest.raises(MetricError, match="never logged 'val_f1'"):
        Lightning(DigitsModule, {"max_epochs": 1, "limit_train_batches": 1}, train_dataloaders=train,
                  val_dataloaders=val, metric="val_f1", mode="max").fit(DigitsSpace().freeze({"hidden": 2}))


def test_without_lightning_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of it now fails, as when it is not installed
    with pytest.raises(EvaluatorError, match=r"pip install 'archspace\[lightning\]'"):
        Lightning(lambda model: model, {}, train_dataloaders=[], metric="val_acc", mode="max")
