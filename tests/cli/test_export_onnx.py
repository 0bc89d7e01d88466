"""``archspace export DIR --onnx``: the best trial's architecture as an ONNX file, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from archspace.cli import main
from archspace.hardware import compare_onnx, run_onnx
from archspace.hardware.onnx import file_metadata, file_opset
from archspace.hub import NasBench201

ROOT = Path(__file__).resolve().parents[2]

# A small NB201 search whose metric favours wide convolutions; each trial leaves "trained" weights
# (its classifier bias set to the trial id) in its output folder, as an evaluator that saves would.
EXPERIMENT = """
import torch
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.hub import NasBench201
from archspace.strategy import Random

def metric(model, ctx):
    with torch.no_grad():
        model.classifier.bias.fill_(float(ctx.trial_id))
    torch.save(model.state_dict(), ctx.output_dir / "model.pt")
    return float(sum(p.numel() for p in model.parameters()))

experiment = Experiment(NasBench201(channels=4, num_cells=1), FunctionalEvaluator(metric), Random(),
                        max_trials=3, seed=3, executor="inline", directory="out", progress=False)
"""

CONFIG = """
space: archspace.testing.spaces:ExampleNet
strategy: random
evaluator: {name: classification, data: digits, epochs: 1}
experiment: {max_trials: 2, seed: 1, concurrency: 1, directory: out, executor: inline}
"""


def _best(directory: Path) -> tuple[int, dict[str, object]]:
    data = json.loads((directory / "best.json").read_text())
    return int(data["trial_id"]), data["sample"]


def test_python_experiment_exports_its_best_trial_to_onnx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "exp.py").write_text(EXPERIMENT)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "exp.py"]) == 0
    # As the user runs it: a separate process, default path DIR/best.onnx, the space's own example input.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "archspace.cli.main", "export", "out", "--onnx"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    trial_id, sample = _best(tmp_path / "out")
    path = tmp_path / "out" / "best.onnx"
    assert f"exported trial {trial_id} to ONNX (opset 17, trained weights from" in done.stdout
    assert file_opset(path) == 17 and json.loads(file_metadata(path)["archspace.sample"]) == sample
    space = NasBench201(channels=4, num_cells=1)
    trained = space.freeze(sample)
    trained.load_state_dict(torch.load(tmp_path / "out" / "trials" / str(trial_id) / "model.pt", weights_only=True))
    x = NasBench201.example_input(3)
    assert compare_onnx(trained, path, x, rtol=1e-4, atol=1e-6) <= 1e-5
    # Without saved weights: the weights the trial started from (the runner seeds them by trial id).
    (tmp_path / "out" / "trials" / str(trial_id) / "model.pt").unlink()
    assert main(["export", "out", "--onnx", "initial.onnx", "--opset", "13"]) == 0
    assert f"opset 13, initial weights of trial {trial_id}" in capsys.readouterr().out
    torch.manual_seed(trial_id)
    initial = space.freeze(sample)
    assert file_opset(tmp_path / "initial.onnx") == 13
    assert compare_onnx(initial, tmp_path / "initial.onnx", x, rtol=1e-4, atol=1e-6) <= 1e-5
    with pytest.raises(Exception, match="differs from PyTorch"):
        compare_onnx(trained, tmp_path / "initial.onnx", x, rtol=1e-4, atol=1e-6)
    # The file the space comes from changed: refused unless trusted.
    (tmp_path / "exp.py").write_text(EXPERIMENT + "# edited\n")
    assert main(["export", "out", "--onnx"]) == 2
    assert "changed since 'out' was started" in capsys.readouterr().err
    assert main(["export", "out", "--onnx", "--trust-source"]) == 0


def test_config_experiment_without_example_input_needs_the_input_shape(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "exp.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "exp.yaml"]) == 0
    capsys.readouterr()
    assert main(["export", "out", "--onnx", "net.onnx"]) == 2
    assert "ExampleNet has no example_input(): give the input shape, e.g. --input-shape 1,3,32,32" in capsys.readouterr().err
    assert not (tmp_path / "net.onnx").exists()
    assert main(["export", "out", "--onnx", "net.onnx", "--input-shape", "1,1,8,8"]) == 0
    out = run_onnx(tmp_path / "net.onnx", np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32))
    assert out[0].shape == (5, 10) and np.isfinite(out[0]).all()
    # An input too large to make, and a folder as the output path: named errors, nothing written.
    with pytest.raises(SystemExit):
        main(["export", "out", "--onnx", "huge.onnx", "--input-shape", "1,1,100000,100000"])
    assert "holds 10,000,000,000 values; an example input may hold at most" in capsys.readouterr().err
    (tmp_path / "folder").mkdir()
    assert main(["export", "out", "--onnx", "folder", "--input-shape", "1,1,8,8"]) == 2
    err = capsys.readouterr().err
    assert "is a directory; give the path of the .onnx file to write" in err and "Traceback" not in err
    assert list((tmp_path / "folder").iterdir()) == []


def test_bad_onnx_export_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from archspace.evaluate import FunctionalEvaluator
    from archspace.experiment import Experiment
    from archspace.strategy import Random
    from archspace.testing import TinySpace
    from tests.experiment.helpers import x_metric

    Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=2, executor="inline",
               directory=tmp_path, progress=False).run()
    # Started from Python code: the space comes from the class the config recorded (issue 24, item 5).
    assert main(["export", str(tmp_path), "--onnx"]) == 2
    assert "TinySpace has no example_input(): give the input shape" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--opset", "13"]) == 2
    assert "--opset and --input-shape apply to an ONNX export: add --onnx" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path), "--onnx", "--input-shape", "1,x,8"])
    assert "expected comma-separated positive sizes such as 1,3,32,32, got '1,x,8'" in capsys.readouterr().err
