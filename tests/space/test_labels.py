"""The label formats of :mod:`archspace.space.labels`: what is built parses back, the rest is None."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize("cell", ["normal", "reduce", "model.cells.0", "a/b", ""])
@pytest.mark.parametrize(("node", "k"), [(2, 0), (5, 1), (12, 3)])
def test_cell_labels_round_trip(cell: str, node: int, k: int) -> None:
    assert cell_op_label(cell, node, k) == f"{cell}/op_{node}_{k}"
    assert cell_input_label(cell, node, k) == f"{cell}/input_{node}_{k}"
    assert parse_cell_label(cell_op_label(cell, node, k)) == CellLabel(cell, "op", node, k)
    assert parse_cell_label(cell_input_label(cell, node, k)) == CellLabel(cell, "input", node, k)
    assert str(CellLabel(cell, "input", node, k)) == cell_input_label(cell, node, k)


@pytest.mark.parametrize("cell", [None, "normal", "cells/3"])
def test_edge_labels_round_trip(cell: str | None) -> None:
    label = edge_label(3, 1, cell)
    assert label == ("edge_3_1" if cell is None else f"{cell}/edge_3_1")
    assert parse_edge_label(label) == EdgeLabel(3, 1, cell)


@pytest.mark.parametrize("layer", ["layer_4", "net/layer_4", ""])
def test_skip_labels_round_trip(layer: str) -> None:
    label = skip_label(layer, 2)
    assert label == (f"{layer}/skip_2" if layer else "skip_2")
    assert parse_skip_label(label) == SkipLabel(layer, 2)


@pytest.mark.parametrize("label", ["width", "normal/op_2", "normal/op_x_0", "op_2_0", "normal/ops_2_0",
                                   "normal/op_2_0/conv", "normal/op_2_0\n", "layer_2/op", "edge_1", 3, None])
def test_other_labels_are_not_cell_labels(label: object) -> None:
    assert parse_cell_label(label) is None


@pytest.mark.parametrize("label", ["width", "edge_1", "edge_1_x", "a/edge_1_0/op", "normal/op_2_0", 7])
def test_other_labels_are_not_edge_labels(label: object) -> None:
    assert parse_edge_label(label) is None


@pytest.mark.parametrize("label", ["width", "layer_2/op", "layer_2/skip", "layer_2/skip_x", "skip_1/op",
                                   "layer_2/noskip_1", None])
def test_other_labels_are_not_skip_labels(label: object) -> None:
    assert parse_skip_label(label) is None


def test_the_formats_do_not_overlap() -> None:
    """A label of one format is never read as another (the dashboard tries cells, then edges)."""
    labels = [cell_op_label("n", 2, 0), cell_input_label("n", 2, 0), edge_label(2, 0, "n"), skip_label("l", 0)]
    parsers = [parse_cell_label, parse_cell_label, parse_edge_label, parse_skip_label]
    for label, own in zip(labels, parsers):
        for parser in {parse_cell_label, parse_edge_label, parse_skip_label} - {own}:
            assert parser(label) is None, (parser.__name__, label)
