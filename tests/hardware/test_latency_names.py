"""A latency table a person can read: ``latency show`` names each unit by where it sits and the
decision values it is timed at, each unit keyed only by the decisions it depends on (tables written
with wider keys still load, and predict the same); ``latency predict`` without ``--space`` names a
sample's typo'd label instead of reporting a missing timing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.cli.main import main
from archspace.hardware import LatencyTable
from archspace.hardware._units import FIXED, UnitDef, hkey


class SkipCNN(asp.ModelSpace):
    """A stem choice, then a conv whose width and kernel are choices: a plain ReLU reads the width,
    so the space splits into units only with every unit keyed by the shape labels (width, kernel),
    the stem included although neither changes it."""

    def __init__(self) -> None:
        super().__init__()
        width = asp.choice("width", [8, 16])
        self.stem = asp.LayerChoice({"k3": nn.Conv2d(3, 8, 3, padding=1), "k5": nn.Conv2d(3, 8, 5, padding=2)},
                                    label="stem_op")
        self.conv = asp.nn.Conv2d(8, width, asp.choice("kernel", [3, 5]), padding=1)
        self.act = nn.ReLU()
        self.head = asp.nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(self.stem(x))).mean((2, 3)))  # type: ignore[no-any-return]


SAMPLES = [dict(zip(("stem_op", "width", "kernel"), combo)) for combo in itertools.product(["k3", "k5"], [8, 16], [3, 5])]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table measured through the CLI (one timed call per unit: only its keys matter here)."""
    out = tmp_path_factory.mktemp("names") / "table.json"
    assert main(["latency", "measure", f"{__name__}:SkipCNN", "--input-shape", "1,3,8,8", "--repeats", "1",
                 "--warmup", "0", "-o", str(out)]) == 0
    return out


def _shown(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["latency", "show", str(path), "--top", "50"]) == 0
    return [line.split(" ms  ", 1)[1] for line in capsys.readouterr().out.splitlines() if " ms  " in line]


def test_show_names_units_by_label_and_value_keyed_only_by_what_they_read(
        measured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(measured.read_text())
    keys = {u["uid"]: u["key_labels"] for u in data["units"]}
    assert keys == {"stem.k3": [], "stem.k5": [], "conv": ["width", "kernel"], "head": ["width"], FIXED: []}
    shown = _shown(measured, capsys)
    assert sorted(shown) == sorted(["stem  stem_op=k3", "stem  stem_op=k5", "head  width=8", "head  width=16"]
                                   + [f"conv  width={w} kernel={k}" for w in (8, 16) for k in (3, 5)])
    assert data["meta"]["units"] == 8


def _widen(data: dict[str, Any]) -> dict[str, Any]:
    """The table as written before units were narrowed: every unit keyed by both shape labels (the
    same figure under each), no ``site`` recorded."""
    old = json.loads(json.dumps(data))
    domains = old["domains"]
    labels = ["width", "kernel"]
    entries = []
    for e in old["entries"]:
        unit = next(u for u in old["units"] if u["uid"] == e["unit"])
        fixed = dict(zip(unit["key_labels"], e["key"]))
        for combo in itertools.product(*[domains[label] for label in labels]):
            if all(fixed.get(label, v) == v for label, v in zip(labels, combo)):
                entries.append({"unit": e["unit"], "key": list(combo), "ms": e["ms"]})
    for unit in old["units"]:
        unit["key_labels"] = labels
        unit.pop("site", None)
    old["entries"] = entries
    return old


def test_a_table_with_wider_keys_still_loads_reads_the_same_and_predicts_the_same(
        measured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _widen(json.loads(measured.read_text()))
    assert any(e["unit"] == "stem.k5" and e["key"] == [8, 3] for e in old["entries"])  # `stem.k5 [8, 3]`
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    narrow, wide = LatencyTable.load(measured), LatencyTable.load(path)
    units = {u["uid"]: UnitDef.from_json(u) for u in old["units"]}
    ms = {(e["unit"], tuple(e["key"])): e["ms"] for e in old["entries"]}
    for sample in SAMPLES:
        values = {label: hkey(v) for label, v in sample.items()}
        by_hand = old["fixed_ms"] + sum(ms[u.key(values)] for u in units.values() if u.active(values))
        assert wide.predict(sample) == narrow.predict(sample) == pytest.approx(by_hand, rel=1e-12)
    assert wide.entries == narrow.entries
    assert sorted(_shown(path, capsys)) == sorted(_shown(measured, capsys))


def test_predict_without_a_space_names_a_typod_or_missing_label(measured: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    typo, lacking, good = tmp_path / "typo.json", tmp_path / "lacking.json", tmp_path / "good.json"
    asp.save_sample({"stem_op": "k3", "widht": 8, "kernel": 3}, typo)
    asp.save_sample({"stem_op": "k3", "kernel": 3}, lacking)
    asp.save_sample({"stem_op": "k3", "width": 8, "kernel": 3}, good)
    capsys.readouterr()
    assert main(["latency", "predict", str(measured), str(typo)]) == 2
    err = capsys.readouterr().err
    assert "'widht' (did you mean 'width'?)" in err and "no timing" not in err
    assert main(["latency", "predict", str(measured), str(lacking)]) == 2
    assert "no value for label 'width'" in capsys.readouterr().err
    asp.save_sample({"stem_op": "k7", "width": 8, "kernel": 3}, lacking)
    assert main(["latency", "predict", str(measured), str(lacking)]) == 2
    assert "value 'k7' of label 'stem_op' is not one of" in capsys.readouterr().err
    assert main(["latency", "predict", str(measured), str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["latency_ms"] == pytest.approx(
        LatencyTable.load(measured).predict({"stem_op": "k3", "width": 8, "kernel": 3}), abs=1e-4)
