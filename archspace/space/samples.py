"""Samples: a plain dict from label to value, and its JSON file form.

A sample file holds either the dict itself or an object with a ``"sample"`` key whose value is the
dict (the form experiments export, with metrics beside it). Values are JSON data, so a sample
survives ``json.dumps``/``json.loads`` unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archspace.errors import SampleError, SampleFileError, short_repr
from archspace.space.decisions import is_decision_value

Sample = dict[str, Any]


def canonical_json(sample: Mapping[str, Any]) -> str:
    """The sample as compact JSON with sorted keys: equal samples give equal strings."""
    return json.dumps(dict(sample), sort_keys=True, separators=(",", ":"))


def fingerprint(sample: Mapping[str, Any]) -> str:
    """A short stable hash of a sample (used to recognise repeats across runs and processes)."""
    return hashlib.sha256(canonical_json(sample).encode()).hexdigest()[:16]


def check_sample_shape(sample: Any, *, source: str = "sample") -> Sample:
    """Check that ``sample`` is a dict of string labels to JSON values; return a copy."""
    if not isinstance(sample, Mapping):
        raise SampleError(f"{source} must be a dict from label to value, got {type(sample).__name__}")
    out: Sample = {}
    for label, value in sample.items():
        if not isinstance(label, str):
            raise SampleError(f"{source}: label {short_repr(label)} is not a string")
        if not is_decision_value(value):
            raise SampleError(
                f"{source}: label {short_repr(label)} has value {short_repr(value)}, which is not JSON decision data "
                "(a number, string, boolean, null, or a list of those)"
            )
        out[label] = list(value) if isinstance(value, tuple) else value
    return out


def save_sample(sample: Mapping[str, Any], path: str | os.PathLike[str], **extra: Any) -> None:
    """Write ``sample`` to ``path`` as JSON; with ``extra`` fields, as ``{"sample": ..., **extra}``."""
    data: Any = check_sample_shape(sample)
    if extra:
        data = {"sample": data, **extra}
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_sample(path: str | os.PathLike[str]) -> Sample:
    """Read a sample file written by :func:`save_sample` or an experiment's export.

    Raises:
        SampleFileError: the file is missing, is not valid JSON (the message gives line and
            column), or does not hold a sample.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SampleFileError(
            f"sample file {str(p)!r} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    except OSError as exc:
        raise SampleFileError(f"cannot read sample file {str(p)!r}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SampleFileError(
            f"sample file {str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise SampleFileError(f"sample file {str(p)!r} nests JSON too deeply to be a sample") from None
    if isinstance(data, dict) and isinstance(data.get("sample"), dict):
        data = data["sample"]
    if not isinstance(data, dict):
        raise SampleFileError(
            f"sample file {str(p)!r} holds a JSON {type(data).__name__}; expected an object mapping "
            'labels to values, or {"sample": {...}}'
        )
    try:
        return check_sample_shape(data, source=f"sample file {str(p)!r}")
    except SampleError as exc:
        raise SampleFileError(str(exc)) from None
    except RecursionError:  # a value nested hundreds deep: parsed, but too deep to check or print
        raise SampleFileError(f"sample file {str(p)!r} nests JSON too deeply to be a sample") from None


__all__ = ["Sample", "canonical_json", "check_sample_shape", "fingerprint", "load_sample", "save_sample"]
