"""The ENAS seed workflow, as CI runs it: search (macro and micro) then retrain, with --smoke."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archspace.hub import EnasMacroSpace, EnasMicroSpace

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("search_for", ["macro", "micro"])
def test_search_then_retrain_smoke(tmp_path: Path, search_for: str) -> None:
    search = subprocess.run([sys.executable, str(ROOT / "examples/enas/search.py"), "--search-for", search_for,
                             "--smoke", "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert search.returncode == 0, search.stderr[-2000:]
    arch = json.loads((tmp_path / "arch.json").read_text())
    space = (EnasMacroSpace(width=4, num_layers=3, in_channels=1) if search_for == "macro"
             else EnasMicroSpace(width=4, num_layers=1, num_nodes=2, in_channels=1))
    assert space.validate(arch) == arch
    assert "best of 2 paths" in search.stdout
    assert (tmp_path / "arch_epoch_0.json").exists() and (tmp_path / "checkpoint.pt").exists()
    history = json.loads((tmp_path / "arch_history.json").read_text())
    assert history[0]["steps"] == 1 and "reward" in history[0]
    retrain = subprocess.run([sys.executable, str(ROOT / "examples/enas/retrain.py"), "--search-for", search_for,
                              "--smoke", "--arc", str(tmp_path / "arch.json")], capture_output=True, text=True,
                             timeout=300)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert "epoch 0: loss" in retrain.stdout and "test accuracy" in retrain.stdout
