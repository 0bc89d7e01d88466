"""The archspace command, run as a real subprocess where it matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archspace.cli import main

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
space: archspace.testing.spaces:ExampleNet
strategy: {name: grid, shuffle: true}
evaluator: {name: classification, data: digits, epochs: 1}
experiment: {max_trials: 3, concurrency: 1, directory: out, executor: inline}
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "archspace.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_config_run_trials_export_and_resume(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(CONFIG)
    done = _run(["run", "exp.yaml"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 trials, 3 succeeded" in done.stdout and (tmp_path / "out" / "best.json").exists()
    listing = _run(["trials", "out"], tmp_path)
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "status", "metric", "duration"] and len(lines) == 4
    assert all(" succeeded " in line for line in lines[1:])
    exported = _run(["export", "out", "--top", "3"], tmp_path)
    assert exported.returncode == 0 and "top 3" in exported.stdout
    resumed = _run(["resume", "out"], tmp_path)  # already at its budget: nothing more to run
    assert resumed.returncode == 0 and "3 trials, 3 succeeded" in resumed.stdout


def test_python_file_run_and_export(tmp_path: Path) -> None:
    (tmp_path / "exp.py").write_text(
        "from archspace.evaluate import FunctionalEvaluator\n"
        "from archspace.experiment import Experiment\n"
        "from archspace.strategy import GridSearch\n"
        "from archspace.testing import TinySpace\n"
        "def metric(model, ctx):\n"
        "    return {'default': float(ctx.sample['x']), 'width': ctx.sample['hidden']}\n"
        "experiment = Experiment(TinySpace(), FunctionalEvaluator(metric), GridSearch(), max_trials=5,\n"
        "                        concurrency=2, directory='out', progress=False)\n"
    )
    done = _run(["run", "exp.py"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "best: trial" in done.stdout
    exported = _run(["export", "out", "--top", "2", "-o", "top.json"], tmp_path)
    assert exported.returncode == 0
    data = json.loads((tmp_path / "top.json").read_text())
    assert data["metric"] == 2.0 and data["top"][0]["metrics"]["width"] in (2, 4) and len(data["top"]) == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (CONFIG.replace("name: grid", "name: annealing"), "unknown strategy 'annealing'; known strategies: ['bananas', 'evolution', 'gp', 'grid', 'local_search', 'random', 'rl', 'tpe']"),
        (CONFIG.replace("name: classification", "name: vision"), "unknown evaluator 'vision'; known evaluators: ['classification', 'landmarks', 'regression']"),
        (CONFIG.replace("data: digits", "data: imagenet"), "evaluator data 'imagenet' is not one of ['cifar10', 'digits'"),
        (CONFIG + "extra: 1\n", "unknown keys ['extra']"),
        (CONFIG.replace("ExampleNet", "Nope"), "cannot import space"),
        ("space: [unclosed", "cannot parse"),
    ],
)
def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, message: str) -> None:
    (tmp_path / "exp.yaml").write_text(config)
    assert main(["run", str(tmp_path / "exp.yaml")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_resume_and_trials_of_missing_or_code_started_experiments(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", str(tmp_path)]) == 2
    assert "holds no experiment" in capsys.readouterr().err
    from archspace.evaluate import FunctionalEvaluator
    from archspace.experiment import Experiment
    from archspace.strategy import Random
    from archspace.testing import TinySpace
    from tests.experiment.helpers import x_metric

    Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=2, executor="inline",
               directory=tmp_path, progress=False).run()
    assert main(["resume", str(tmp_path)]) == 2
    assert "started from Python code" in capsys.readouterr().err


def test_toml_config(tmp_path: Path) -> None:
    (tmp_path / "exp.toml").write_text(
        'space = "archspace.testing.spaces:ExampleNet"\nstrategy = "random"\n'
        '[evaluator]\nname = "classification"\ndata = "digits"\nepochs = 1\n'
        '[experiment]\nmax_trials = 1\nexecutor = "inline"\ndirectory = "out"\n'
    )
    done = _run(["run", "exp.toml"], tmp_path)
    assert done.returncode == 0, done.stderr  # its one trial succeeds: a run whose every trial failed exits 1
    assert "1 trials, 1 succeeded" in done.stdout
