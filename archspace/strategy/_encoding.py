"""Samples as feature vectors, for the strategies that learn a model of the metric.

Two encodings, and their concatenation:

- **generic** (any space): one column per candidate of a categorical decision (one-hot), one
  column scaled to [0, 1] for a decision whose candidates are all numbers (more than two of them,
  so that 3 < 5 < 7 carries over to the model), and conditional decisions *masked*: an inactive
  decision's columns are all zero (a numeric one gets an extra "active" column, since 0 is also a
  value). Two samples that differ only in a decision that is inactive in both encode alike.
- **path** (cell spaces whose decisions are labelled ``[{cell}/]edge_{target}_{source}``, as
  NAS-Bench-201's): White et al.'s path encoding (BANANAS, AAAI 2021): one column per sequence of
  operations along a path from the cell's input to its output, counting the paths of the cell
  that carry it. An operation named ``"none"`` or ``"zero"`` cuts its path. Paths with the same
  operations through different nodes share a column, as in BANANAS's NAS-Bench-201 encoding. A
  cell whose encoding would exceed :data:`MAX_PATH_COLUMNS` columns is left to the generic one.

Rows are ``float32``; building one is a dictionary lookup per decision, then vectorised numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archspace.errors import ArchspaceError
from archspace.space import SearchSpace, value_key
from archspace.space.labels import parse_edge_label

ENCODINGS = ("generic", "path", "generic+path", "auto")
#: Operations that cut a path (an edge that outputs zeros carries nothing).
CUT_OPS = frozenset({"none", "zero"})
#: A cell's path encoding larger than this is not built (the generic encoding still is).
MAX_PATH_COLUMNS = 4096


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _key(value: Any) -> Any:
    """A fast dictionary key for a decision value (lists and tuples alike; 1, 1.0 and True apart)."""
    if isinstance(value, (list, tuple, dict)):
        return ("json", value_key(value))
    return (type(value).__name__, value)


@dataclass
class _Paths:
    """The input-to-output paths of one cell, as columns of the code matrix."""

    paths: list[list[int]]  # each: the code-matrix columns of the path's edges, in order
    keep: np.ndarray  # per op index: its index among the non-cut ops, or -1 (cuts the path)
    n_ops: int  # non-cut ops
    offsets: dict[int, int]  # path length -> first column
    dim: int


def _paths(edges: Mapping[tuple[int, int], int], node: int, target: int) -> list[list[int]]:
    """Every path from ``node`` to ``target`` as the columns of its edges (``edges``: (to, from) -> column)."""
    if node == target:
        return [[]]
    return [[col, *rest] for (t, s), col in sorted(edges.items()) if s == node for rest in _paths(edges, t, target)]


class Encoder:
    """Feature rows of samples of one space.

    Args:
        space: the search space.
        kind: ``"generic"``, ``"path"`` (falls back to generic where the space has no edge
            cells), ``"generic+path"`` (both, concatenated), or ``"auto"`` (both where the space
            has edge cells, else generic).

    Example:
        >>> from archspace.space import Categorical, SearchSpace
        >>> space = SearchSpace({"op": Categorical(["a", "b"], "op"), "k": Categorical([1, 3, 5], "k")})
        >>> Encoder(space).encode([{"op": "b", "k": 3}]).tolist()
        [[0.0, 1.0, 0.5]]
    """

    def __init__(self, space: SearchSpace, kind: str = "auto") -> None:
        if kind not in ENCODINGS:
            raise ArchspaceError(f"encoding must be one of {list(ENCODINGS)}, got {kind!r}")
        self.space = space
        self.labels = list(space)
        self._index = {label: {_key(v): i for i, v in enumerate(space[label].values)} for label in self.labels}
        self._cells = self._find_cells()
        if kind == "generic":
            self._cells = []
        use_generic = not self._cells or kind != "path"
        self.kind = ("generic+path" if use_generic else "path") if self._cells else "generic"
        self._columns: list[tuple[int, str, int, float, float, bool]] = []  # (col, how, offset, lo, span, conditional)
        dim = 0
        if use_generic:
            for col, label in enumerate(self.labels):
                values = space[label].values
                conditional = not space.condition(label).is_always
                if len(values) > 2 and all(_is_number(v) for v in values):
                    lo, hi = float(min(values)), float(max(values))
                    self._columns.append((col, "numeric", dim, lo, (hi - lo) or 1.0, conditional))
                    dim += 2 if conditional else 1
                elif len(values) > 1:
                    self._columns.append((col, "onehot", dim, 0.0, 1.0, conditional))
                    dim += len(values)
        for cell in self._cells:
            cell.offsets = {length: offset + dim for length, offset in cell.offsets.items()}
            dim += cell.dim
        self.dim = max(dim, 1)

    def _find_cells(self) -> list[_Paths]:
        groups: dict[str | None, dict[tuple[int, int], int]] = {}
        for col, label in enumerate(self.labels):
            parsed = parse_edge_label(label)
            if parsed is not None:
                groups.setdefault(parsed.cell, {})[(parsed.target, parsed.source)] = col
        cells = []
        for edges in groups.values():
            ops = list(self.space[self.labels[next(iter(edges.values()))]].values)
            if any(not self.space[self.labels[c]].same_candidates(self.space[self.labels[next(iter(edges.values()))]])
                   for c in edges.values()):
                continue  # edges with different operations: no shared op alphabet
            source = min(s for _, s in edges)
            target = max(t for t, _ in edges)
            paths = _paths(edges, source, target)
            keep = np.full(len(ops), -1, dtype=np.int64)
            kept = 0
            for i, op in enumerate(ops):
                if not (isinstance(op, str) and op.lower() in CUT_OPS):
                    keep[i] = kept
                    kept += 1
            lengths = sorted({len(p) for p in paths})
            offsets, dim = {}, 0
            for length in lengths:
                offsets[length] = dim
                dim += kept ** length
            if paths and kept and dim <= MAX_PATH_COLUMNS:
                cells.append(_Paths(paths, keep, kept, offsets, dim))
        return cells

    def codes(self, samples: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Each sample's value index per decision (-1 where the decision is inactive)."""
        out = np.full((len(samples), len(self.labels)), -1, dtype=np.int64)
        for row, sample in enumerate(samples):
            for col, label in enumerate(self.labels):
                if label in sample:
                    out[row, col] = self._index[label][_key(sample[label])]
        return out

    def encode(self, samples: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The feature rows of ``samples`` (``float32``, shape ``(len(samples), dim)``)."""
        codes = self.codes(samples)
        x = np.zeros((len(samples), self.dim), dtype=np.float32)
        rows = np.arange(len(samples))
        for col, how, offset, lo, span, conditional in self._columns:
            code = codes[:, col]
            active = code >= 0
            if how == "onehot":
                x[rows[active], offset + code[active]] = 1.0
            else:
                values = np.array([float(v) for v in self.space[self.labels[col]].values], dtype=np.float32)
                x[active, offset] = (values[code[active]] - lo) / span
                if conditional:
                    x[active, offset + 1] = 1.0
        for cell in self._cells:
            for path in cell.paths:
                ops = codes[:, path]
                reduced = np.where(ops >= 0, cell.keep[np.maximum(ops, 0)], -1)
                alive = (reduced >= 0).all(axis=1)
                index = np.zeros(len(samples), dtype=np.int64)
                for step in range(len(path)):
                    index = index * cell.n_ops + reduced[:, step]
                np.add.at(x, (rows[alive], cell.offsets[len(path)] + index[alive]), 1.0)
        return x


__all__ = ["CUT_OPS", "ENCODINGS", "Encoder", "MAX_PATH_COLUMNS"]
