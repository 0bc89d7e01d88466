"""The ProxylessNAS seed workflow, as CI runs it: search (with the measured latency term) then
retrain and export the found architecture, both with --smoke."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnx

from archspace.hardware.latency import LatencyTable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "proxylessnas"))

from search import fashion_space  # noqa: E402


def _search(tmp_path: Path, *flags: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the example's search with --smoke and ``flags``; its valid architecture and the epochs' history."""
    search = subprocess.run([sys.executable, str(ROOT / "examples/proxylessnas/search.py"), "--smoke", *flags,
                             "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert search.returncode == 0, search.stderr[-2000:]
    arch = json.loads((tmp_path / "arch.json").read_text())
    assert fashion_space(smoke=True).validate(arch) == arch
    history = json.loads((tmp_path / "arch_history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    return arch, history


def test_search_then_retrain_and_export_smoke(tmp_path: Path) -> None:
    arch, history = _search(tmp_path)
    space = fashion_space(smoke=True)
    assert "val_loss" not in history[0] and history[1]["latency_ms"] > 0  # epoch 0 warms the weights up
    summary = json.loads((tmp_path / "summary.json").read_text())
    table = LatencyTable.load(tmp_path / "latency_table.json", space=space)
    assert summary["predicted_ms"] == table.predict(arch) and summary["sample"] == arch
    retrain = subprocess.run([sys.executable, str(ROOT / "examples/proxylessnas/retrain.py"), "--smoke", "--arch",
                              str(tmp_path / "arch.json"), "--onnx", str(tmp_path / "model.onnx")],
                             capture_output=True, text=True, timeout=300)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert "epoch 0: loss" in retrain.stdout and "test accuracy" in retrain.stdout
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert json.loads(meta["archspace.sample"]) == arch


def test_the_reinforce_search_smoke(tmp_path: Path) -> None:
    _, history = _search(tmp_path, "--arch-algo", "rl")
    assert "reward" not in history[0]  # epoch 0 warms the weights up
    assert 0.0 <= history[1]["reward"] <= 1.0 and history[1]["latency_ms"] > 0  # the reward's accuracy, the paths' latency
    assert json.loads((tmp_path / "summary.json").read_text())["arch_algo"] == "rl"
