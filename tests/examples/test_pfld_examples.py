"""The PFLD workflow as CI runs it: search, retrain and export, each with --smoke, in a chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from archspace.hardware import LatencyTable, run_onnx
from archspace.hub import PFLD

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "examples/pfld" / script), "--smoke", *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_train_retrain_export_smoke_chain(tmp_path: Path) -> None:
    space = PFLD(input_size=32, width=4)
    out = _run("train.py", "--output", str(tmp_path))
    # the generated data set is in the real layout
    assert (tmp_path / "data/train_data/list.txt").exists() and (tmp_path / "data/test_data/imgs").is_dir()
    sample = json.loads((tmp_path / "arch.json").read_text())
    assert space.validate(sample) == sample
    history = json.loads((tmp_path / "arch_history.json").read_text())
    assert len(history) == 2 and all(r["latency_ms"] > 0 and "arch_loss" in r for r in history)
    search = json.loads((tmp_path / "search_result.json").read_text())
    table = LatencyTable.load(tmp_path / "latency_table.json", space=space)
    assert abs(table.predict(sample) - search["predicted_ms"]) < 1e-9
    assert f"{search['predicted_ms']:.3f} ms" in out
    state = torch.load(tmp_path / "supernet.pt", weights_only=True)
    assert state["sample"] == sample and state["config"] == {"input_size": 32, "width": 4}

    out = _run("retrain.py", "--supernet", str(tmp_path / "supernet.pt"))
    retrain = json.loads((tmp_path / "subnet/retrain_result.json").read_text())
    # the subnet inherits exactly the supernet's weights: the same NME as the search measured
    assert abs(retrain["test_nme_inherited"] - search["test_nme_inherited"]) < 1e-5
    assert retrain["test_nme"] > 0 and "after fine-tuning" in out
    assert (tmp_path / "subnet/model.pt").exists()

    out = _run("export.py", "--subnet", str(tmp_path / "subnet/subnet.pt"))
    onnx_path = tmp_path / "subnet/subnet.onnx"
    exported = json.loads(onnx_path.with_suffix(".json").read_text())
    assert exported["outputs"] == [[1, 212]] and exported["ms"] > 0 and exported["max_abs_diff"] < 1e-3
    assert "ONNX Runtime latency:" in out
    subnet = torch.load(tmp_path / "subnet/subnet.pt", weights_only=True)
    model = space.freeze(sample)
    model.load_state_dict(subnet["weights"])
    x = torch.rand(3, 3, 32, 32)
    (landmarks,) = run_onnx(onnx_path, x)  # one output (no angles), free batch size
    with torch.no_grad():
        assert np.allclose(landmarks, model.eval()(x).numpy(), atol=1e-4)
