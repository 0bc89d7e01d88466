"""The label formats that one package writes and another reads back: built and parsed here only.

A label is just a string to a search space, but three families of labels carry structure that
other parts of archspace decode: the dashboard draws cells from them, the DARTS hub converts NNI's
samples by them, ENAS's controller penalises skip connections by them. Each format is therefore
written and read in this one module, so that a change to a format is one edit, and a reader can
never drift from the writer.

The formats:

- **Cell decisions** (:class:`~archspace.nn.Cell`, the NASNet/DARTS cell):
  ``{cell}/op_{node}_{k}`` is the operation of term ``k`` of node ``node``, and
  ``{cell}/input_{node}_{k}`` the earlier state that term reads (:func:`cell_op_label`,
  :func:`cell_input_label`, :func:`parse_cell_label`).
- **Edges** (one operation per edge of a cell): ``{cell}/edge_{target}_{source}`` — the logits of
  a DARTS supernet's mixed edge — or, without a cell, ``edge_{target}_{source}`` — NAS-Bench-201's
  shared edge decisions (:func:`edge_label`, :func:`parse_edge_label`).
- **Skip connections** (ENAS's macro space): ``{layer}/skip_{source}`` is whether layer ``layer``
  adds the output of the earlier layer ``source`` (:func:`skip_label`, :func:`parse_skip_label`).

The prefix (cell or layer) may be any string, slashes included; the parsers read the last path
component. Anything that does not follow a format parses to ``None``, never raises, so callers
can sweep a whole sample.

Example:
    >>> cell_op_label("normal", 2, 0)
    'normal/op_2_0'
    >>> parse_cell_label("reduce/input_5_1")
    CellLabel(cell='reduce', kind='input', node=5, k=1)
    >>> parse_edge_label("edge_3_1")
    EdgeLabel(target=3, source=1, cell=None)
    >>> parse_skip_label(skip_label("layer_4", 2))
    SkipLabel(layer='layer_4', source=2)
    >>> parse_cell_label("width") is None
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CellLabelKind = Literal["op", "input"]

# DOTALL: the prefix is any string a user chose as a cell or layer label.
_CELL = re.compile(r"(?P<cell>.*)/(?P<kind>op|input)_(?P<node>\d+)_(?P<k>\d+)", re.DOTALL)
_EDGE = re.compile(r"(?:(?P<cell>.*)/)?edge_(?P<target>\d+)_(?P<source>\d+)", re.DOTALL)
_SKIP = re.compile(r"(?:(?P<layer>.*)/)?skip_(?P<source>\d+)", re.DOTALL)


@dataclass(frozen=True)
class CellLabel:
    """A parsed cell decision label: ``{cell}/{kind}_{node}_{k}``.

    Attributes:
        cell: the cell's label (shared by every cell of one genotype, e.g. ``"normal"``).
        kind: ``"op"`` (the operation of the term) or ``"input"`` (the state it reads).
        node: the node's state index (nodes count after the cell's inputs).
        k: the term of the node.
    """

    cell: str
    kind: CellLabelKind
    node: int
    k: int

    def __str__(self) -> str:
        return f"{self.cell}/{self.kind}_{self.node}_{self.k}"


def cell_op_label(cell: str, node: int, k: int) -> str:
    """The label of the decision choosing term ``k``'s operation of node ``node`` in ``cell``."""
    return str(CellLabel(cell, "op", node, k))


def cell_input_label(cell: str, node: int, k: int) -> str:
    """The label of the decision choosing which earlier state term ``k`` of node ``node`` reads."""
    return str(CellLabel(cell, "input", node, k))


def parse_cell_label(label: object) -> CellLabel | None:
    """The parts of a cell decision label, or ``None`` for anything else (non-strings included)."""
    match = _CELL.fullmatch(label) if isinstance(label, str) else None
    if match is None:
        return None
    kind: CellLabelKind = "op" if match["kind"] == "op" else "input"
    return CellLabel(match["cell"], kind, int(match["node"]), int(match["k"]))


@dataclass(frozen=True)
class EdgeLabel:
    """A parsed edge label: ``[{cell}/]edge_{target}_{source}``.

    Attributes:
        target: the state the edge leads into.
        source: the state the edge reads.
        cell: the cell's label, or ``None`` for a bare ``edge_...`` label (NAS-Bench-201).
    """

    target: int
    source: int
    cell: str | None = None

    def __str__(self) -> str:
        edge = f"edge_{self.target}_{self.source}"
        return edge if self.cell is None else f"{self.cell}/{edge}"


def edge_label(target: int, source: int, cell: str | None = None) -> str:
    """The label of the edge from state ``source`` into state ``target`` (of ``cell``, if given)."""
    return str(EdgeLabel(target, source, cell))


def parse_edge_label(label: object) -> EdgeLabel | None:
    """The parts of an edge label, or ``None`` for anything else."""
    match = _EDGE.fullmatch(label) if isinstance(label, str) else None
    if match is None:
        return None
    return EdgeLabel(int(match["target"]), int(match["source"]), match["cell"])


@dataclass(frozen=True)
class SkipLabel:
    """A parsed skip-connection label: ``[{layer}/]skip_{source}``.

    Attributes:
        layer: the label prefix of the layer that may add the skip (``""`` when there is none);
            a layer's skips share it, which is how ENAS averages its skip penalty per layer.
        source: the index of the earlier layer whose output the skip adds.
    """

    layer: str
    source: int

    def __str__(self) -> str:
        return f"{self.layer}/skip_{self.source}" if self.layer else f"skip_{self.source}"


def skip_label(layer: str, source: int) -> str:
    """The label of the decision whether ``layer`` adds the output of earlier layer ``source``."""
    return str(SkipLabel(layer, source))


def parse_skip_label(label: object) -> SkipLabel | None:
    """The parts of a skip-connection label, or ``None`` for anything else."""
    match = _SKIP.fullmatch(label) if isinstance(label, str) else None
    if match is None:
        return None
    return SkipLabel(match["layer"] or "", int(match["source"]))


__all__ = ["CellLabel", "CellLabelKind", "EdgeLabel", "SkipLabel", "cell_input_label", "cell_op_label", "edge_label",
           "parse_cell_label", "parse_edge_label", "parse_skip_label", "skip_label"]
