"""Cells of a sample as graphs (nodes and labelled edges), for the dashboard to draw.

A :class:`~archspace.nn.Cell` names its decisions ``{cell}/op_{i}_{k}`` (the operation of the
``k``-th input of node ``i``) and ``{cell}/input_{i}_{k}`` (which earlier state that input reads;
states 0 and 1 are the cell's inputs); NAS-Bench-201-style spaces name one operation per edge,
``edge_{to}_{from}``. Those formats are built and parsed by :mod:`archspace.space.labels` alone;
this module groups the parsed labels into graphs, and the browser only draws what it returns.

Example:
    >>> g = cell_graphs({"normal/input_2_0": 0, "normal/op_2_0": "sep_conv_3x3",
    ...                  "normal/input_2_1": 1, "normal/op_2_1": "skip_connect"})[0]
    >>> g["name"], g["edges"]
    ('normal', [{'source': 0, 'target': 2, 'op': 'sep_conv_3x3'}, {'source': 1, 'target': 2, 'op': 'skip_connect'}])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspace.space.labels import parse_cell_label, parse_edge_label


def cell_graphs(sample: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every cell found in ``sample``: ``{"name", "nodes", "edges"}``, edges as ``{source, target, op}``.

    Node ids are the cell's state indices. Labels that follow neither pattern are ignored; an
    operation without its input choice (or an input that is not a whole number) is left out
    rather than guessed.
    """
    cells: dict[str, dict[tuple[int, int], dict[str, Any]]] = {}
    edges_only: dict[str, list[dict[str, Any]]] = {}
    for label, value in sample.items():
        term = parse_cell_label(label)
        if term is not None:
            slot = cells.setdefault(term.cell, {}).setdefault((term.node, term.k), {})
            slot[term.kind] = value
            continue
        edge = parse_edge_label(label)
        if edge is not None:
            edges_only.setdefault(edge.cell or "cell", []).append(
                {"source": edge.source, "target": edge.target, "op": str(value)})
    graphs = []
    for name, slots in cells.items():
        edges = []
        for (node, _k), slot in sorted(slots.items()):
            source = slot.get("input")
            if isinstance(source, list) and len(source) == 1:
                source = source[0]
            if "op" in slot and isinstance(source, int) and not isinstance(source, bool):
                edges.append({"source": source, "target": node, "op": str(slot["op"])})
        if edges:
            graphs.append(_graph(name, edges))
    for name, edges in edges_only.items():
        graphs.append(_graph(name, sorted(edges, key=lambda e: (e["target"], e["source"]))))
    return graphs


def _graph(name: str, edges: list[dict[str, Any]]) -> dict[str, Any]:
    nodes = sorted({e["source"] for e in edges} | {e["target"] for e in edges})
    return {"name": name, "nodes": nodes, "edges": edges}


__all__ = ["cell_graphs"]
