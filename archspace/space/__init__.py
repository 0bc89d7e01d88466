"""Torch-free vocabulary of search spaces: decisions, conditions, spaces and samples."""

from __future__ import annotations

from archspace.space.conditions import Condition
from archspace.space.decisions import Categorical, Expression, ValueExpr, value_key
from archspace.space.expressions import condition, maximum, minimum, to_float, to_int
from archspace.space.samples import (
    Sample,
    canonical_json,
    check_sample_shape,
    fingerprint,
    load_sample,
    save_sample,
)
from archspace.space.search_space import SearchSpace

__all__ = [
    "Categorical",
    "Condition",
    "Expression",
    "Sample",
    "SearchSpace",
    "ValueExpr",
    "canonical_json",
    "check_sample_shape",
    "condition",
    "fingerprint",
    "load_sample",
    "maximum",
    "minimum",
    "save_sample",
    "to_float",
    "to_int",
    "value_key",
]
