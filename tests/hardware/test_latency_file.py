"""A latency table file is trusted input: every malformed field is refused with LatencyTableError
naming it (by the loader, ``latency show`` and an Experiment alike), and a table measured for another
input is refused by an Experiment as ``LatencyTable.load`` refuses it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archspace.cli.main import main
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, InvalidSettingError
from archspace.hardware import LatencyTable, LatencyTableError, LatencyTableMismatch
from archspace.hub import NasBench201
from archspace.strategy import Random


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    table = LatencyTable.measure(NasBench201.small(), repeats=2, warmup=1, fixed_samples=1)
    path = table.save(tmp_path_factory.mktemp("table") / "table.json")
    return path, json.loads(path.read_text())


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


DAMAGE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no units": (_drop(["units"]), "units is missing"),
    "no entries": (_drop(["entries"]), "entries is missing"),
    "no meta": (_drop(["meta"]), "meta is missing"),
    "no meta.threads": (_drop(["meta", "threads"]), "meta.threads is missing"),
    "threads a string": (_set(["meta", "threads"], "1"), "meta.threads must be int"),
    "threads zero": (_set(["meta", "threads"], 0), "meta.threads is 0"),
    "no backend": (_drop(["meta", "backend"]), "meta.backend is missing"),
    "bad input shape": (_set(["meta", "input_shape"], [1, -3]), "meta.input_shape"),
    "no space": (_drop(["meta", "space"]), "meta.space is missing"),
    "units a dict": (_set(["units"], {}), "units must be list"),
    "entries a string": (_set(["entries"], "x"), "entries must be list"),
    "a unit without uid": (_drop(["units", 0, "uid"]), r"units\[0\] is malformed"),
    "an entry without ms": (_drop(["entries", 0, "ms"]), r"entries\[0\] is malformed"),
    "NaN entry": (_set(["entries", 0, "ms"], float("nan")), r"entries\[0\].ms is nan"),
    "1e999 entry": (_set(["entries", 0, "ms"], float("inf")), r"entries\[0\].ms is inf"),
    "negative entry": (_set(["entries", 0, "ms"], -1.0), r"entries\[0\].ms is -1.0"),
    "entry of an unknown unit": (_set(["entries", 0, "unit"], "nowhere"), "not a unit of the table"),
    "string entry": (_set(["entries", 0, "ms"], "1"), r"entries\[0\].ms must be a number"),
    "NaN fixed_ms": (_set(["fixed_ms"], float("nan")), "fixed_ms is nan"),
    "infinite fixed_ms": (_set(["fixed_ms"], float("inf")), "fixed_ms is inf"),
    "calibration slope NaN": (_set(["calibration"], {"slope": float("nan"), "intercept": 0.0}), "calibration.slope"),
    "calibration without intercept": (_set(["calibration"], {"slope": 1.0}), "calibration.intercept is missing"),
    "per-kind term infinite": (_set(["calibration"], {"slope": 1.0, "intercept": 0.0, "per_kind": {"conv": 1e999}}),
                               "calibration.per_kind.conv"),
    "deep nesting": (_set(["entries", 0, "key"], "__DEEP__"), "nested too deeply"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_malformed_table_is_refused_naming_the_field(damage: str, saved: tuple[Path, dict[str, Any]],
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, good = saved
    data = copy.deepcopy(good)
    change, message = DAMAGE[damage]
    change(data)
    path = tmp_path / "bad.json"
    # NaN and Infinity are written as JSON's extensions, as Python reads them
    path.write_text(json.dumps(data).replace('"__DEEP__"', "[" * 5000 + "]" * 5000))
    with pytest.raises(LatencyTableError, match=message):
        LatencyTable.load(path)
    assert main(["latency", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bad.json" in err


def test_an_experiment_refuses_a_table_measured_for_another_input(saved: tuple[Path, dict[str, Any]],
                                                                  tmp_path: Path) -> None:
    path, good = saved
    space = NasBench201.small()
    table = LatencyTable.load(path)
    Experiment(space, FunctionalEvaluator(lambda m, c: 0.5), Random(), max_trials=1, objectives=["latency_ms"],
               latency_table=table, executor="inline")  # its own input: accepted
    other = dict(good, meta=dict(good["meta"], input_shape=[1, 3, 64, 64]))
    (tmp_path / "other.json").write_text(json.dumps(other))
    for given in (LatencyTable.from_json(other), tmp_path / "other.json"):
        with pytest.raises((InvalidSettingError, LatencyTableMismatch), match="input shape"):
            Experiment(space, FunctionalEvaluator(lambda m, c: 0.5), Random(), max_trials=1,
                       objectives=["latency_ms"], latency_table=given, executor="inline")


def test_an_experiment_refuses_a_table_measured_with_other_threads(saved: tuple[Path, dict[str, Any]],
                                                                   tmp_path: Path) -> None:
    path, good = saved
    space = NasBench201.small()
    threads = good["meta"]["threads"]
    for given in (LatencyTable.load(path), path):  # an object and a path: the same check
        Experiment(space, FunctionalEvaluator(lambda m, c: 0.5), Random(), max_trials=1, objectives=["latency_ms"],
                   latency_table=given, latency_threads=threads, executor="inline")
        with pytest.raises(InvalidSettingError, match=f"threads {threads}, not {threads + 3}"):
            Experiment(space, FunctionalEvaluator(lambda m, c: 0.5), Random(), max_trials=1,
                       objectives=["latency_ms"], latency_table=given, latency_threads=threads + 3,
                       executor="inline")
    for bad in (0, -1, 1.5, True, "4"):
        with pytest.raises(InvalidSettingError, match="latency_threads must be a positive int"):
            Experiment(space, FunctionalEvaluator(lambda m, c: 0.5), Random(), max_trials=1,
                       objectives=["latency_ms"], latency_table=path, latency_threads=bad, executor="inline")
    with pytest.raises(InvalidSettingError, match="needs latency_table"):
        Experiment(space, FunctionalEvaluator(lambda m, c: 0.5), Random(), max_trials=1, latency_threads=2,
                   executor="inline")
