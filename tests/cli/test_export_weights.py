"""Trained weights you can deploy (issue 24, item 5): ``keep_weights`` and ``export --onnx`` of
experiments started from a Python script, through the command line in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from archspace.cli import main
from archspace.cli.config import from_config
from archspace.errors import ArchspaceError
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.hardware import compare_onnx
from archspace.storage import open_storage
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.cli.test_config_imports import MYSPACE

ROOT = Path(__file__).resolve().parents[2]

# As a user writes it: the space in its own module, the search in a script run with `python`. Each
# trial "trains" by setting the head's bias to its id; the metric favours later trials, so the best
# trial changes as the run goes and the weights of the one it displaces must go.
SCRIPT = """
import torch
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.strategy import Random
from myspace import SkipCNN

def metric(model, ctx):
    with torch.no_grad():
        model.head.bias.fill_(float(ctx.trial_id))
    return float(ctx.trial_id)

if __name__ == "__main__":
    Experiment(SkipCNN(width=3), FunctionalEvaluator(metric), Random(), max_trials=3, seed=0, executor="inline",
               directory="runs/hw", progress=False, keep_weights=KEEP).run()
"""


def _python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def _weights(directory: Path) -> list[int]:
    return sorted(int(p.parent.name) for p in directory.glob("trials/*/model.pt"))


def test_a_script_started_experiment_exports_its_best_trained_model(tmp_path: Path) -> None:
    (tmp_path / "myspace.py").write_text(MYSPACE)
    (tmp_path / "hw_search.py").write_text(SCRIPT.replace("KEEP", "'best'"))
    done = _python(["hw_search.py"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert _weights(tmp_path / "runs" / "hw") == [2]  # trials 0 and 1 lost theirs when they fell out of the top 1
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exported = _python(["-m", "archspace.cli.main", "export", str(tmp_path / "runs" / "hw"), "--onnx", "hw.onnx"],
                       elsewhere)
    assert exported.returncode == 0, exported.stderr
    assert "exported trial 2 to ONNX (opset 17, trained weights from" in exported.stdout
    spec = importlib.util.spec_from_file_location("myspace_for_test", tmp_path / "myspace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    space = module.SkipCNN(width=3)
    trained = space.freeze(_stored_sample(tmp_path / "runs" / "hw", 2))
    trained.load_state_dict(torch.load(tmp_path / "runs" / "hw" / "trials" / "2" / "model.pt", weights_only=True))
    assert float(trained.head.bias[0].detach()) == 2.0
    assert compare_onnx(trained, elsewhere / "hw.onnx", space.example_input(3), rtol=1e-4, atol=1e-6) <= 1e-5


def _stored_sample(directory: Path, trial_id: int) -> dict[str, Any]:
    storage = open_storage(directory, read_only=True)
    try:
        return dict(storage.trial(trial_id).sample)
    finally:
        storage.close()


def test_a_space_defined_in_the_script_itself_exports_with_space(tmp_path: Path) -> None:
    script = MYSPACE + SCRIPT.replace("from myspace import SkipCNN\n", "").replace("KEEP", "None")
    (tmp_path / "hw_search.py").write_text(script)
    assert _python(["hw_search.py"], tmp_path).returncode == 0
    assert _weights(tmp_path / "runs" / "hw") == []  # keep_weights=None keeps none
    refused = _python(["-m", "archspace.cli.main", "export", "runs/hw", "--onnx"], tmp_path)
    assert refused.returncode == 2
    assert "pass --space hw_search:SkipCNN if the script runs its experiment only under" in refused.stderr
    exported = _python(["-m", "archspace.cli.main", "export", "runs/hw", "--onnx", "--space", "hw_search:SkipCNN",
                        "--space-args", '{"width": 3}'], tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "initial weights of trial 2, untrained" in exported.stdout
    assert "trial 2 kept no trained weights" in exported.stderr and "keep_weights='best'" in exported.stderr


def x_metric(model: Any, ctx: Any) -> float:
    return float(ctx.sample["x"])


@pytest.mark.parametrize(("keep", "kept", "executor"),
                         [(None, 0, "inline"), ("all", 5, "inline"), (2, 2, "inline"), ("best", 1, "process")])
def test_keep_weights_keeps_none_all_or_the_best_k(tmp_path: Path, keep: Any, kept: int, executor: str) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=5, seed=1,
                            executor=executor, directory=tmp_path, progress=False, keep_weights=keep)
    assert len(experiment.run()) == 5
    assert _weights(tmp_path) == sorted(t.id for t in experiment.best(5)[:kept])
    if kept:  # weights only: a state dict that loads into the frozen sample
        best = experiment.best(1)[0]
        state = torch.load(tmp_path / "trials" / str(best.id) / "model.pt", weights_only=True)
        TinySpace().freeze(best.sample).load_state_dict(state)
    # A resume with a smaller k drops the files of the trials no longer kept, before anything runs.
    resumed = Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=5, seed=1,
                         executor="inline", directory=tmp_path, progress=False, keep_weights=1 if kept else None)
    resumed.resume()
    assert _weights(tmp_path) == sorted(t.id for t in experiment.best(5)[:min(kept, 1)])


@pytest.mark.parametrize("bad", [0, -1, True, "most", 1.5])
def test_bad_keep_weights_are_refused_naming_what_is_allowed(bad: Any) -> None:
    with pytest.raises(ArchspaceError, match="keep_weights must be None .keep none., 'best', 'all' or a whole number"):
        Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), keep_weights=bad)


def test_keep_weights_in_a_config_and_old_stores_without_a_recorded_space(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = {"space": "archspace.testing.spaces:TinySpace", "strategy": "random",
              "evaluator": {"name": "classification", "data": "digits", "epochs": 1},
              "experiment": {"keep_weights": "best"}}
    assert from_config(config).keep_weights == 1
    Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=1, executor="inline",
               directory=tmp_path, progress=False).run()
    storage = open_storage(tmp_path)  # as an experiment from before the space was recorded
    stored = storage.get_config() or {}
    storage.set_config({k: v for k, v in stored.items() if k != "space_ref"})
    storage.close()
    assert main(["export", str(tmp_path), "--onnx", "--input-shape", "1,4"]) == 2
    assert "started from Python code, not from a file: give the space with --space module:Class" \
        in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--onnx", str(tmp_path / "t.onnx"), "--input-shape", "1,4",
                 "--space", "archspace.testing.spaces:TinySpace"]) == 0
    assert (tmp_path / "t.onnx").is_file()
    # The file it was started from is gone, but the class was recorded: export rebuilds from that.
    storage = open_storage(tmp_path)
    storage.set_config({**stored, "source": {"kind": "config", "path": str(tmp_path / "gone.yaml"), "sha256": ""}})
    storage.close()
    assert main(["export", str(tmp_path), "--onnx", str(tmp_path / "u.onnx"), "--input-shape", "1,4"]) == 0
    assert (tmp_path / "u.onnx").is_file()
