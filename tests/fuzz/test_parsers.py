"""Fuzzing every input parser: a malformed input raises an ArchspaceError naming the file and what
is wrong; reading never modifies the file; nothing hangs (hypothesis deadlines)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archspace.benchmarks import load_table
from archspace.cli.config import load_experiment
from archspace.errors import ArchspaceError
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.experiment.doctor import check_experiment
from archspace.space.samples import load_sample
from archspace.storage import SQLiteStorage
from archspace.strategy import GridSearch
from archspace.testing import TinySpace
from tests.experiment.helpers import x_metric

FUZZ = settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


_SCRATCH: list[Path] = []  # this module's scratch root while its tests run


@pytest.fixture(autouse=True, scope="module")
def _scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis runs each test body many times in one function-scoped ``tmp_path``, so every
    example makes its own folder — under one root removed when the module is done (a fuzz run
    writes thousands of them; left in the system temp folder they pile up run after run)."""
    root = tmp_path_factory.mktemp("fuzz")
    _SCRATCH.append(root)
    yield
    _SCRATCH.remove(root)
    shutil.rmtree(root, ignore_errors=True)


def _scratch(name: str) -> Path:
    """A fresh folder per example: under the module's root in pytest, under the folder named by
    ``ARCHSPACE_FUZZ_SCRATCH`` in the atheris harness (a subprocess, outside the fixture)."""
    if _SCRATCH:
        root = _SCRATCH[-1]
    elif os.environ.get("ARCHSPACE_FUZZ_SCRATCH"):
        root = Path(os.environ["ARCHSPACE_FUZZ_SCRATCH"])
    else:
        raise RuntimeError("no scratch folder: run under pytest, or set ARCHSPACE_FUZZ_SCRATCH to one")
    return Path(tempfile.mkdtemp(prefix="example-", dir=root)) / name


def _names_file(exc: ArchspaceError, path: Path) -> bool:
    return path.name in str(exc)


# Sample files ------------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode) | json_values.map(lambda v: json.dumps(v).encode()))
def test_sample_files(data: bytes) -> None:
    path = _scratch("sample.json")
    path.write_bytes(data)
    try:
        sample = load_sample(path)
    except ArchspaceError as exc:
        assert _names_file(exc, path) and len(str(exc)) < 2000
    else:
        assert isinstance(sample, dict) and all(isinstance(k, str) for k in sample)
    assert path.read_bytes() == data


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' * 50_000, b"\xff\xfe{}", b'{"a": "' + b"x" * 3_000_000 + b'"}',
                                  b'{"a": {"deep": [1]}}'])
def test_sample_file_edge_cases(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(data)
    with pytest.raises(ArchspaceError) as info:
        space = TinySpace()
        space.validate(load_sample(path))
    assert len(str(info.value)) < 2000  # never echoes megabytes


# Configs -------------------------------------------------------------------------------------------
config_values = st.fixed_dictionaries(
    {},
    optional={
        "space": st.sampled_from(["archspace.testing.spaces:TinySpace", "archspace.testing.spaces:ExampleNet",
                                  "nope:Nope", "os:path", "archspace.testing.spaces"]) | json_values,
        "strategy": st.sampled_from(["random", "grid", "evolution", "bogus"]) | json_values
        | st.fixed_dictionaries({"name": st.sampled_from(["random", "grid"])}, optional={"dedup": json_values,
                                                                                       "typo": json_values}),
        "evaluator": json_values | st.fixed_dictionaries(
            {"name": st.sampled_from(["classification", "regression", "nope"])},
            optional={"data": st.sampled_from(["digits", "cifar"]) | json_values, "epochs": json_values}),
        "experiment": json_values | st.fixed_dictionaries({}, optional={
            "max_trials": json_values, "concurrency": json_values, "executor": json_values,
            "max_duration": json_values, "trial_timeout": json_values, "seed": json_values}),
        "space_args": json_values,
        "extra": json_values,
    },
)


@FUZZ
@given(config_values, st.sampled_from([".yaml", ".toml"]))
def test_configs(config: dict[str, object], suffix: str) -> None:
    path = _scratch("exp" + suffix)
    if suffix == ".yaml":
        import yaml

        path.write_text(yaml.safe_dump(config))
    else:
        path.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in config.items()))  # often not valid TOML
    try:
        experiment = load_experiment(path)
    except ArchspaceError as exc:
        assert _names_file(exc, path), str(exc)
    else:
        assert isinstance(experiment, Experiment)


@FUZZ
@given(st.binary(max_size=400))
def test_config_bytes(data: bytes) -> None:
    path = _scratch("exp.yaml")
    path.write_bytes(data)
    with pytest.raises(ArchspaceError) as info:
        load_experiment(path)
    assert _names_file(info.value, path)


# Experiment databases -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_db(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    directory = tmp_path_factory.mktemp("good")
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), GridSearch(), max_trials=6,
                            executor="inline", directory=directory, progress=False)
    experiment.run()
    experiment.storage.close()
    return (directory / "experiment.db").read_bytes()


def _read_everything(directory: Path) -> None:
    """What the CLI's readers and the doctor do; only ArchspaceErrors may escape."""
    report = check_experiment(directory)  # never raises
    assert report.errors or report.facts
    try:
        store = SQLiteStorage(directory / "experiment.db", read_only=True)
    except ArchspaceError as exc:
        assert "experiment.db" in str(exc)
        return
    try:
        store.get_config()
        store.load_strategy()
        for trial in store.trials():
            json.dumps(trial.to_json())
    except ArchspaceError as exc:
        assert "experiment.db" in str(exc)
    finally:
        store.close()


@FUZZ
@given(st.data())
def test_damaged_databases(good_db: bytes, data: st.DataObject) -> None:
    how = data.draw(st.sampled_from(["truncate", "bytes", "version", "foreign", "json"]))
    directory = _scratch("run")
    directory.mkdir()
    db = directory / "experiment.db"
    damaged = bytearray(good_db)
    if how == "truncate":
        damaged = damaged[: data.draw(st.integers(0, len(good_db) - 1))]
    elif how == "bytes":
        for _ in range(data.draw(st.integers(1, 8))):
            offset = data.draw(st.integers(0, len(damaged) - 1))
            chunk = data.draw(st.binary(min_size=1, max_size=64))
            damaged[offset: offset + len(chunk)] = chunk
    db.write_bytes(bytes(damaged))
    if how in ("version", "foreign", "json"):
        with sqlite3.connect(db) as conn:
            if how == "version":
                conn.execute(f"PRAGMA user_version = {data.draw(st.integers(-5, 99))}")
            elif how == "foreign":
                conn.execute("UPDATE meta SET value = ? WHERE key = 'config'",
                             (json.dumps(data.draw(json_values)),))
            else:
                conn.execute("UPDATE trials SET sample = ? WHERE id = ?",
                             (data.draw(st.text(max_size=30)), data.draw(st.integers(1, 6))))
        conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    _read_everything(directory)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # a failed (or any) read changes nothing
    # a driver on the damaged store: a named error or a completed resume, never a raw traceback
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), GridSearch(), max_trials=8,
                            executor="inline", directory=directory, progress=False)
    try:
        trials = experiment.resume()
    except ArchspaceError as exc:
        assert "experiment" in str(exc) or str(directory) in str(exc), str(exc)
    else:
        assert len(trials) == 8
    finally:
        if experiment._storage is not None:
            experiment._storage.close()
    shutil.rmtree(directory.parent, ignore_errors=True)


# NAS-Bench-201-style tables ---------------------------------------------------------------------------
cells = st.sampled_from(["|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|", "x", "", "1.5"])
csv_rows = st.lists(st.lists(cells | st.text(max_size=8) | st.floats().map(str), min_size=0, max_size=5), max_size=6)


@FUZZ
@given(st.sampled_from(["arch,valid_acc,test_acc", "valid_acc,test_acc", "arch,foo", ""]), csv_rows,
       st.binary(max_size=40))
def test_tables(header: str, rows: list[list[str]], tail: bytes) -> None:
    path = _scratch("table.csv")
    path.write_bytes((header + "\n" + "\n".join(",".join(r) for r in rows) + "\n").encode() + tail)
    try:
        table = load_table(path)
    except ArchspaceError as exc:
        assert _names_file(exc, path), str(exc)
    else:
        assert table is not None


# Coverage-guided (atheris) runs of the same properties ---------------------------------------------
@pytest.mark.parametrize("target", ["sample", "config", "table"])
def test_atheris(target: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "ARCHSPACE_FUZZ_SCRATCH": str(tmp_path)}
    # libFuzzer writes a crashing input to its artifact prefix (the working folder by default)
    done = subprocess.run([sys.executable, "-m", "tests.fuzz.atheris_harness", target, "-runs=400",
                           f"-artifact_prefix={tmp_path}/"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "Done 400 runs" in done.stderr
