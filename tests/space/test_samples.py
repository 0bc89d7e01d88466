from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archspace.errors import SampleFileError
from archspace.space import fingerprint, load_sample, save_sample


def test_round_trip_plain_and_wrapped(tmp_path: Path) -> None:
    sample = {"width": 32, "op": "conv3", "pick": [0, 2], "flag": None}
    save_sample(sample, tmp_path / "a.json")
    assert load_sample(tmp_path / "a.json") == sample
    save_sample(sample, tmp_path / "b.json", metric=0.93)
    assert json.loads((tmp_path / "b.json").read_text())["metric"] == 0.93
    assert load_sample(tmp_path / "b.json") == sample


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"width": 32,\n "op": }', r"not valid JSON.*line 2, column 8"),
        ("[1, 2]", "holds a JSON list"),
        ('"conv3"', "holds a JSON str"),
        ('{"width": {"a": 1}}', "sample"),
    ],
)
def test_malformed_files_name_the_file_and_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SampleFileError, match=message) as info:
        load_sample(path)
    assert "bad.json" in str(info.value)


@pytest.mark.parametrize("depth", [500, 900, 5_000, 100_000])
def test_deeply_nested_files_get_the_same_named_error_at_every_depth(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(SampleFileError, match="deep.json.*too deeply"):
        load_sample(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SampleFileError, match="cannot read sample file"):
        load_sample(tmp_path / "none.json")


def test_fingerprint_is_order_free_and_stable_across_processes() -> None:
    a = {"x": 1, "y": [0, 1]}
    b = {"y": [0, 1], "x": 1}
    assert fingerprint(a) == fingerprint(b)
    code = "from archspace.space import fingerprint; print(fingerprint({'x': 1, 'y': [0, 1]}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == fingerprint(a)
