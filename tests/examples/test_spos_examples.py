"""The SPOS workflow, as CI runs it: supernet, evolutionary search, evaluation — each with --smoke."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from archspace.hub.shufflenet import ShuffleNetSpace

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, str(ROOT / "examples/spos" / script), "--smoke", *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_supernet_search_evaluation_smoke_with_channel_search_and_spos_preprocessing(tmp_path: Path) -> None:
    _run("supernet.py", "--output", str(tmp_path), "--channel-search", "--spos-preprocessing")
    assert (tmp_path / "supernet.pt").exists() and (tmp_path / "checkpoint.pt").exists()
    settings = json.loads((tmp_path / "space.json").read_text())
    assert settings["channel_search"] and settings["in_channels"] == 3 and settings["spos_preprocessing"]
    search = _run("search.py", "--output", str(tmp_path), "--params-limit", "1e9")
    assert "best" in search.stdout
    arch = json.loads((tmp_path / "arch.json").read_text())
    settings.pop("spos_preprocessing")
    assert ShuffleNetSpace(**settings).validate(arch) == arch and "channel_1" in arch
    history = json.loads((tmp_path / "search.json").read_text())["history"]
    assert len(history) == 2
    evaluation = _run("evaluation.py", "--output", str(tmp_path), "--fixed-arc", str(tmp_path / "arch.json"))
    assert "test accuracy" in evaluation.stdout
    assert 0.0 <= json.loads((tmp_path / "evaluation.json").read_text())["accuracy"] <= 1.0
