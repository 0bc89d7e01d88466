"""One-shot algorithms (DARTS) inside an Experiment: epochs in the store, export, config, crash and resume."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import archspace as asp
from archspace.cli.config import ConfigError, from_config, load_experiment
from archspace.cli.main import main
from archspace.errors import UnknownNameError
from archspace.evaluate import Classification, FunctionalEvaluator
from archspace.experiment import Experiment, ExperimentError, InvalidSettingError
from archspace.oneshot import DARTS, GumbelDARTS
from archspace.storage import SQLiteStorage, TrialStatus
from archspace.testing import CellNet, SharedNet

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("killable_oneshot.py")


def _data(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def _evaluator(**kwargs: object) -> Classification:
    return Classification(_data(16, 1), _data(16, 2), batch_size=8, **kwargs)  # type: ignore[arg-type]


def test_darts_experiment_records_every_epoch_and_exports_the_derived_sample(tmp_path: Path) -> None:
    torch.manual_seed(0)
    experiment = Experiment(SharedNet(), _evaluator(), DARTS(epochs=3, progress=False), directory=tmp_path, threads=1)
    trials = experiment.run()

    epochs = experiment.epochs()
    assert [row["epoch"] for row in epochs] == [0, 1, 2]
    for row in epochs:
        assert {"train_loss", "val_loss", "val_metric", "sample", "distribution"} <= set(row)
        assert 0.0 <= row["val_metric"] <= 1.0
        for label, probs in row["distribution"].items():  # a distribution per decision
            assert sum(probs.values()) == pytest.approx(1.0), label
    assert len(trials) == 1 and trials[0].status is TrialStatus.SUCCEEDED and trials[0].worker == "oneshot"
    best = experiment.best(1)[0]
    assert best.sample == epochs[-1]["sample"] == experiment.space.validate(best.sample)
    assert best.metric == epochs[-1]["val_metric"]
    assert [step for step, _ in best.intermediates] == [1, 2, 3]  # the validation curve
    assert (tmp_path / "oneshot" / "checkpoint.pt").is_file()  # the trainer checkpoints into the experiment
    exported = json.loads(experiment.export(tmp_path / "arch.json").read_text())
    with asp.fixed_arch(exported["sample"]):
        child = SharedNet()
    assert child(_data(2)[0]).shape == (2, 10)


def test_the_store_survives_reopening_read_only(tmp_path: Path) -> None:
    experiment = Experiment(SharedNet(), _evaluator(), GumbelDARTS(epochs=2, progress=False), directory=tmp_path,
                            threads=1)
    experiment.run()
    reader = SQLiteStorage(tmp_path / "experiment.db", read_only=True)
    assert [row["epoch"] for row in reader.epochs()] == [0, 1]
    assert reader.trials()[0].sample == experiment.best()[0].sample


def test_in_memory_experiment_runs_without_a_directory() -> None:
    experiment = Experiment(SharedNet(), _evaluator(), DARTS(epochs=1, progress=False), directory=None, threads=1)
    assert experiment.run()[0].status is TrialStatus.SUCCEEDED
    assert len(experiment.epochs()) == 1


def test_search_uses_the_evaluators_loss_and_data() -> None:
    seen: list[tuple[int, ...]] = []
    scored: list[int] = []

    class Recording(Classification):
        def criterion(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(target.shape))
            return super().criterion(output, target)

        def batch_metric(self, output: object, target: torch.Tensor) -> tuple[float, int]:
            scored.append(len(target))
            return super().batch_metric(output, target)

    evaluator = Recording(_data(12, 1), _data(12, 2), batch_size=4)
    experiment = Experiment(SharedNet(), evaluator, DARTS(epochs=1, progress=False), directory=None, threads=1)
    experiment.run()
    # 3 training and 3 validation batches of the evaluator's batch size, through its loss
    assert seen.count((4,)) == 6 and len(seen) == 6
    # the validation metric comes from the 3 validation batches the architecture steps ran, not a second pass
    assert scored == [4, 4, 4]
    assert experiment.epochs()[0]["val_metric"] in (0.0, 1 / 12, 2 / 12, 3 / 12, 4 / 12, 5 / 12, 6 / 12, 7 / 12,
                                                    8 / 12, 9 / 12, 10 / 12, 11 / 12, 1.0)


def test_threads_are_set_logged_and_restored(caplog: pytest.LogCaptureFixture) -> None:
    before = torch.get_num_threads()
    used: list[int] = []

    class Spy(DARTS):
        def step(self, train, val, loss_fn):  # type: ignore[no-untyped-def]
            used.append(torch.get_num_threads())
            return super().step(train, val, loss_fn)

    with caplog.at_level(logging.INFO, logger="archspace"):
        Experiment(SharedNet(), _evaluator(), Spy(epochs=1, progress=False), directory=None, threads=1).run()
    assert used and set(used) == {1}
    assert torch.get_num_threads() == before
    assert any("1 torch thread" in r.getMessage() for r in caplog.records)


def test_settings_a_oneshot_search_cannot_honour_are_refused() -> None:
    darts = DARTS(epochs=1)
    with pytest.raises(InvalidSettingError, match="max_trials does not apply"):
        Experiment(SharedNet(), _evaluator(), darts, max_trials=5)
    with pytest.raises(InvalidSettingError, match="SupervisedEvaluator"):
        Experiment(SharedNet(), FunctionalEvaluator(lambda model, ctx: 1.0), darts)
    with pytest.raises(InvalidSettingError, match="concurrency must be 1"):
        Experiment(SharedNet(), _evaluator(), darts, concurrency=2)
    with pytest.raises(InvalidSettingError, match="threads must be"):
        Experiment(SharedNet(), _evaluator(), darts, threads=0)
    with pytest.raises(ExperimentError, match="enqueue"):
        Experiment(SharedNet(), _evaluator(), darts).enqueue({})


def test_a_second_run_is_refused_and_resume_after_the_end_changes_nothing(tmp_path: Path) -> None:
    make = lambda: Experiment(SharedNet(), _evaluator(), DARTS(epochs=1, progress=False),  # noqa: E731
                              directory=tmp_path, threads=1)
    first = make().run()
    with pytest.raises(ExperimentError):
        make().run()
    again = make().resume()
    assert [(t.id, t.sample, t.metric) for t in again] == [(t.id, t.sample, t.metric) for t in first]


def test_config_takes_a_oneshot_strategy_by_name(tmp_path: Path) -> None:
    config = {"space": "archspace.testing.spaces:SharedNet", "strategy": {"name": "darts", "epochs": 1, "order": 1},
              "evaluator": {"name": "classification", "data": "digits", "batch_size": 32},
              "experiment": {"directory": str(tmp_path), "threads": 1}}
    experiment = from_config(config)
    assert isinstance(experiment.strategy, DARTS) and experiment.oneshot and experiment.strategy.epochs == 1
    with pytest.raises(UnknownNameError, match="one-shot algorithms: .*darts"):
        from_config({**config, "strategy": "dartz"})
    with pytest.raises(ConfigError, match="max_trials does not apply"):
        from_config({**config, "experiment": {"max_trials": 3}})


def _epochs_in(db: Path) -> list[dict[str, object]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return [json.loads(r[0]) for r in conn.execute("SELECT record FROM epochs ORDER BY epoch")]
    except sqlite3.OperationalError:  # not created yet
        return []


def test_darts_killed_mid_epoch_resumes_to_the_same_architecture_and_parameters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(killed_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(SCRIPT)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not _epochs_in(killed_dir / "experiment.db"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the search recorded no epoch"
        time.sleep(0.02)
    first = _epochs_in(killed_dir / "experiment.db")[0]
    time.sleep(float(first["seconds"]) / 2)  # type: ignore[arg-type]  # halfway through the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    recorded = _epochs_in(killed_dir / "experiment.db")
    assert 1 <= len(recorded) < 5  # killed before the end ...
    assert SQLiteStorage(killed_dir / "experiment.db", read_only=True).trials() == []  # ... with no result yet

    resumed = load_experiment(SCRIPT)
    resumed.directory = killed_dir
    resumed.resume()
    clean = load_experiment(SCRIPT)
    clean.directory = clean_dir
    clean.run()

    assert resumed.best()[0].sample == clean.best()[0].sample
    assert resumed.best()[0].metric == clean.best()[0].metric
    assert [row["epoch"] for row in resumed.epochs()] == [0, 1, 2, 3, 4]
    assert [row["sample"] for row in resumed.epochs()] == [row["sample"] for row in clean.epochs()]
    assert [row["train_loss"] for row in resumed.epochs()] == [row["train_loss"] for row in clean.epochs()]
    ours = resumed.strategy.supernet.state_dict()  # type: ignore[union-attr]
    theirs = clean.strategy.supernet.state_dict()  # type: ignore[union-attr]
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[key], theirs[key]) for key in ours), "parameters differ after the resume"

    # The command line reads the one-shot experiment like any other.
    capsys.readouterr()
    assert main(["trials", str(killed_dir)]) == 0
    table = capsys.readouterr().out
    assert "succeeded" in table and f"{resumed.best()[0].metric:.4f}" in table
    assert main(["export", str(killed_dir), "--top", "3"]) == 0
    exported = json.loads((killed_dir / "best.json").read_text())
    assert exported["sample"] == clean.best()[0].sample and len(exported["top"]) == 1
    with asp.fixed_arch(exported["sample"]):
        assert CellNet(channels=4)(_data(2)[0]).shape == (2, 10)


def test_doctor_checks_a_oneshot_experiment_by_its_epochs(tmp_path: Path) -> None:
    from archspace.experiment.doctor import check_experiment

    Experiment(SharedNet(), _evaluator(), DARTS(epochs=2, progress=False), directory=tmp_path, threads=1).run()
    report = check_experiment(tmp_path)
    assert report.healthy and not report.warnings, report.format()
    assert any("2 epoch(s) recorded; checkpoint present" in fact for fact in report.facts)
    (tmp_path / "oneshot" / "checkpoint.pt").unlink()
    assert any("checkpoint.pt" in warning for warning in check_experiment(tmp_path).warnings)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_the_search_and_archspace_resume_finishes_it(
        tmp_path: Path, sig: signal.Signals, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(SCRIPT)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not _epochs_in(tmp_path / "experiment.db"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the search recorded no epoch"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and b"archspace resume" in err
    assert len(_epochs_in(tmp_path / "experiment.db")) < 5
    log = (tmp_path / "experiment.log").read_text()
    assert "one-shot search; resume() continues from the last checkpoint" in log

    capsys.readouterr()
    assert main(["resume", str(tmp_path)]) == 0
    assert "1 trials, 1 succeeded" in capsys.readouterr().out
    store = SQLiteStorage(tmp_path / "experiment.db", read_only=True)
    assert [row["epoch"] for row in store.epochs()] == [0, 1, 2, 3, 4]
    assert json.loads((tmp_path / "best.json").read_text())["sample"] == store.trials()[0].sample
