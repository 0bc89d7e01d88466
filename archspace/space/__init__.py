"""Torch-free vocabulary of search spaces: decisions, conditions, spaces, samples and label formats."""

from __future__ import annotations

from archspace.space.conditions import Condition
from archspace.space.decisions import Categorical, Expression, ValueExpr, value_key
from archspace.space.expressions import condition, maximum, minimum, to_float, to_int
from archspace.space.labels import (
    CellLabel,
    EdgeLabel,
    SkipLabel,
    cell_input_label,
    cell_op_label,
    edge_label,
    parse_cell_label,
    parse_edge_label,
    parse_skip_label,
    skip_label,
)
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
    "CellLabel",
    "Condition",
    "EdgeLabel",
    "Expression",
    "Sample",
    "SearchSpace",
    "SkipLabel",
    "ValueExpr",
    "canonical_json",
    "cell_input_label",
    "cell_op_label",
    "check_sample_shape",
    "condition",
    "edge_label",
    "fingerprint",
    "load_sample",
    "maximum",
    "minimum",
    "parse_cell_label",
    "parse_edge_label",
    "parse_skip_label",
    "save_sample",
    "skip_label",
    "to_float",
    "to_int",
    "value_key",
]
