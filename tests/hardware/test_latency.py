"""Latency tables: measured per unit, saved and loaded, refused for other settings, used from the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.cli.latency import add_parser
from archspace.hardware import LatencyTable, LatencyTableError, LatencyTableMismatch, count_params
from archspace.hub import NasBench201
from archspace.testing import ExampleNet

CONV = {f"edge_{k}_{j}": "nor_conv_3x3" for k in range(1, 4) for j in range(k)}
SKIP = {f"edge_{k}_{j}": "skip_connect" for k in range(1, 4) for j in range(k)}


@pytest.fixture(scope="module")
def space() -> NasBench201:
    return NasBench201.small()


@pytest.fixture(scope="module")
def table(space: NasBench201) -> LatencyTable:
    return LatencyTable.measure(space, repeats=5, warmup=1)


def test_predictions_rank_a_heavy_network_above_a_light_one(table: LatencyTable) -> None:
    assert table.predict(CONV) > table.predict(SKIP) > 0
    costs = table.choice_costs()
    ops = list(NasBench201.small().search_space()["edge_1_0"].values)
    assert costs["edge_1_0"][ops.index("nor_conv_3x3")] > costs["edge_1_0"][ops.index("skip_connect")]


def test_a_saved_table_loads_and_predicts_identically(space: NasBench201, table: LatencyTable,
                                                        tmp_path: Path) -> None:
    path = table.save(tmp_path / "t.json")
    loaded = LatencyTable.load(path, space=space, input_shape=(1, 3, 32, 32), backend="torch", threads=1)
    for seed in range(10):
        sample = space.random_sample(seed)
        assert loaded.predict(sample) == table.predict(sample)
    assert loaded.choice_costs() == table.choice_costs()
    meta = json.loads(path.read_text())["meta"]
    assert meta["backend"] == "torch" and meta["threads"] == 1 and meta["input_shape"] == [1, 3, 32, 32]
    assert meta["device_name"] and meta["versions"]["torch"] == torch.__version__


@pytest.mark.parametrize(("setting", "value", "named"), [
    ("space", NasBench201(channels=8, num_cells=1), "space args"),
    ("input_shape", (1, 3, 16, 16), "input shape"),
    ("backend", "onnxruntime", "backend"),
    ("threads", 2, "threads"),
])
def test_a_table_for_other_settings_is_refused(table: LatencyTable, tmp_path: Path, setting: str, value: object,
                                               named: str) -> None:
    path = table.save(tmp_path / "t.json")
    with pytest.raises(LatencyTableMismatch, match=named):
        LatencyTable.load(path, **{setting: value})  # type: ignore[arg-type]


def test_another_space_class_is_refused(table: LatencyTable) -> None:
    with pytest.raises(LatencyTableMismatch, match="space class"):
        table.check(space=ExampleNet())


def test_expected_latency_is_the_exact_expectation(space: NasBench201, table: LatencyTable) -> None:
    labels = list(space.search_space())
    values = {label: list(space.search_space()[label].values) for label in labels}
    sample = space.random_sample(3)
    one_hot = {label: torch.nn.functional.one_hot(torch.tensor(values[label].index(sample[label])), 5).float()
               for label in labels}
    assert table.expected_latency(one_hot).item() == pytest.approx(table.predict(sample, calibrated=False), rel=1e-5)
    logits = {label: torch.zeros(5, requires_grad=True) for label in labels}
    expected = table.expected_latency({label: torch.softmax(x, 0) for label, x in logits.items()})
    costs = table.choice_costs()
    assert expected.item() == pytest.approx(table.always_ms() + sum(sum(c) / 5 for c in costs.values()), rel=1e-5)
    expected.backward()
    grad = logits["edge_1_0"].grad
    assert grad is not None and grad[values["edge_1_0"].index("nor_conv_3x3")] > 0
    with pytest.raises(LatencyTableError, match="edge_1_0"):
        table.expected_latency({})


def test_calibration_is_fitted_stored_and_applied(space: NasBench201, tmp_path: Path) -> None:
    table = LatencyTable.measure(space, repeats=3, warmup=1, fixed_samples=1)
    fit = table.calibrate(space, [CONV, SKIP, space.random_sample(1)], repeats=3)
    assert fit["n"] == 3 and len(fit["relative_residuals"]) == 3
    raw = table.predict(CONV, calibrated=False)
    assert table.predict(CONV) == pytest.approx(fit["slope"] * raw + fit["intercept"])
    loaded = LatencyTable.load(table.save(tmp_path / "c.json"))
    assert loaded.calibration == table.calibration and loaded.predict(CONV) == table.predict(CONV)
    line = table.fit([CONV, SKIP], [3.0, 1.0])  # two points: the line through them
    assert table.predict(CONV) == pytest.approx(3.0) and table.predict(SKIP) == pytest.approx(1.0)
    assert line["relative_residuals"] == pytest.approx([0.0, 0.0], abs=1e-9)
    with pytest.raises(LatencyTableError, match="at least 2"):
        table.fit([CONV], [1.0])


class Tiny(asp.ModelSpace):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.op = asp.LayerChoice({"conv": nn.Conv2d(4, 4, 3, padding=1), "skip": nn.Identity()}, label="op")
        self.blocks = asp.Repeat(lambda i: nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()), depth=range(1, 3))
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.op(self.stem(x))).mean((2, 3)))  # type: ignore[no-any-return]


def test_the_onnxruntime_backend_times_every_unit() -> None:
    space = Tiny()
    table = LatencyTable.measure(space, (1, 3, 16, 16), backend="onnxruntime", repeats=3, warmup=1)
    assert table.meta["backend"] == "onnxruntime" and "onnxruntime" in table.meta["versions"]
    assert set(table.unit_latencies()) == {"op.conv", "op.skip", "blocks.0", "blocks.1"}
    assert all(ms >= 0 for ms in table.entries.values())
    assert table.predict({"op": "conv", "blocks": 2}) > table.predict({"op": "skip", "blocks": 1})


def test_a_space_that_does_not_split_into_units_is_refused() -> None:
    from tests.hardware.test_profile import Strided

    with pytest.raises(LatencyTableError, match="does not split"):
        LatencyTable.measure(Strided(), (1, 1, 8, 8), repeats=1)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="archspace")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_measure_and_predict_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table.json"
    args = '{"channels": 4, "num_cells": 1}'
    assert _cli(["latency", "measure", "nasbench201", "--space-args", args, "--input-shape", "1,3,16,16",
                 "--repeats", "2", "--warmup", "1", "--quantile", "0.25", "--calibrate", "14", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "per kind: avg_pool_3x3" in printed and "(14 networks)" in printed  # 14 = 2 x (5 kinds + 2)
    stored = LatencyTable.load(out)
    assert stored.meta["quantile"] == 0.25 and set(stored.calibration["per_kind"]) == set(stored.kinds)
    sample_file = tmp_path / "s.json"
    asp.save_sample(CONV, sample_file)
    capsys.readouterr()
    assert _cli(["latency", "predict", str(out), str(sample_file), "--space", "nasbench201",
                 "--space-args", args]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    space = NasBench201(channels=4, num_cells=1)
    assert line["latency_ms"] == pytest.approx(LatencyTable.load(out).predict(CONV), abs=1e-4)
    assert line["params"] == count_params(space, CONV) and line["input_shape"] == [1, 3, 16, 16]
    from archspace.cli.main import main

    assert main(["latency", "show", str(out)]) == 0  # wired into the archspace command
    assert "nasbench201" in capsys.readouterr().out.lower()
    with pytest.raises(LatencyTableMismatch, match="space args"):
        _cli(["latency", "predict", str(out), str(sample_file), "--space", "nasbench201"])
