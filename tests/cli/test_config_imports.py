"""Configs import what sits next to them (issue 24, item 1), through the command line in a subprocess.

A user's ``myspace.py`` beside ``search.yaml`` is importable as ``myspace`` by ``run``, by the
worker processes that unpickle its class, by ``resume`` and ``export --onnx`` from another working
directory, and by ``latency measure myspace:SkipCNN`` from the working directory; when an import
still fails, the error names the folders it tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MYSPACE = """
import torch
from torch import nn
import archspace as asp


class SkipCNN(asp.ModelSpace):
    def __init__(self, width=4):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1)
        self.op = asp.LayerChoice({"conv": nn.Conv2d(width, width, 3, padding=1), "id": nn.Identity()}, label="op")
        self.act = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        x = self.act(self.stem(x))
        return self.head((x + self.op(x)).mean((2, 3)))

    @staticmethod
    def example_input(batch=1):
        return torch.randn(batch, 1, 8, 8)
"""

CONFIG = """
space: myspace:SkipCNN
strategy: random
evaluator: {name: classification, data: digits, epochs: 1}
experiment: {max_trials: 1, seed: 1, concurrency: 1, directory: out, progress: false}
"""


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the package only: not the user's folders
    return subprocess.run([sys.executable, "-m", "archspace.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


def test_a_config_imports_the_module_beside_it_in_run_workers_resume_and_export(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "myspace.py").write_text(MYSPACE)
    (project / "search.yaml").write_text(CONFIG)
    # Run from elsewhere, with the default process executor: the worker unpickles myspace.SkipCNN.
    done = _cli(["run", "project/search.yaml"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 trials, 1 succeeded" in done.stdout
    stored = json.loads(json.dumps(_stored_source(project / "out")))
    assert str(project) in stored["paths"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = _cli(["resume", str(project / "out")], elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 trials, 1 succeeded" in resumed.stdout
    exported = _cli(["export", str(project / "out"), "--onnx", "net.onnx"], elsewhere)
    assert exported.returncode == 0, exported.stderr
    assert (elsewhere / "net.onnx").is_file()


def _stored_source(directory: Path) -> dict[str, object]:
    from archspace.storage import open_storage

    storage = open_storage(directory, read_only=True)
    try:
        config = storage.get_config() or {}
    finally:
        storage.close()
    source = config["source"]
    assert isinstance(source, dict)
    return source


def test_latency_measure_imports_from_the_working_directory_and_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "myspace.py").write_text(MYSPACE)
    done = _cli(["latency", "measure", "myspace:SkipCNN", "--repeats", "1", "--warmup", "0",
                 "-o", "table.json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "table.json").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    failed = _cli(["latency", "measure", "myspace:SkipCNN", "-o", "table.json"], elsewhere)
    assert failed.returncode == 2
    assert "no module named 'myspace'" in failed.stderr and repr(str(elsewhere)) in failed.stderr
    assert "Traceback" not in failed.stderr


def test_a_config_whose_module_is_nowhere_names_the_folders_tried(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "search.yaml").write_text(CONFIG.replace("myspace:", "nosuchspace:"))
    done = _cli(["run", "conf/search.yaml"], tmp_path)
    assert done.returncode == 2
    err = done.stderr
    assert "search.yaml: cannot import space 'nosuchspace:SkipCNN': no module named 'nosuchspace'" in err
    assert repr(str(tmp_path / "conf")) in err and repr(str(tmp_path)) in err and "Traceback" not in err
    # A module that is found but imports something missing says so, not that it is missing itself.
    (tmp_path / "conf" / "broken.py").write_text("import not_installed_anywhere\n")
    (tmp_path / "conf" / "search.yaml").write_text(CONFIG.replace("myspace:", "broken:"))
    done = _cli(["run", "conf/search.yaml"], tmp_path)
    assert done.returncode == 2
    assert "module 'broken' imports 'not_installed_anywhere', which is not installed" in done.stderr
