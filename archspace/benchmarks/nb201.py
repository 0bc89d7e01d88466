"""A NAS-Bench-201 results table, and an evaluator that answers samples from it instantly.

The table is a CSV with one row per architecture: an ``arch`` column with the NB201 string and
numeric columns (e.g. ``cifar10_valid``, ``cifar10_test``, ``params_m``). Point :func:`load_table`
at any such export of the official benchmark. Searching on validation accuracy and reporting the
test accuracy of the architecture that is best on validation is the benchmark's protocol.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from archspace.errors import ArchspaceError
from archspace.evaluate.base import Evaluator, TrialContext
from archspace.hub.nasbench201 import to_arch_str


class NB201Table(Mapping[str, dict[str, float]]):
    """arch string -> {column: value}."""

    def __init__(self, rows: Mapping[str, dict[str, float]], columns: list[str], source: str = "") -> None:
        self._rows = dict(rows)
        self.columns = columns
        self.source = source

    def __getitem__(self, arch: str) -> dict[str, float]:
        return self._rows[arch]

    def __iter__(self) -> Any:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, sample: Mapping[str, Any]) -> dict[str, float]:
        """The row of a NasBench201 sample."""
        arch = to_arch_str(sample)
        try:
            return self._rows[arch]
        except KeyError:
            raise ArchspaceError(f"architecture {arch!r} is not in the table {self.source!r}") from None

    def best(self, column: str) -> float:
        """The largest value of ``column`` (the optimum for accuracies)."""
        return max(row[column] for row in self._rows.values())


def load_table(path: str | os.PathLike[str]) -> NB201Table:
    """Read a NB201 results CSV (see the module docstring)."""
    p = Path(path)
    try:
        with p.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c for c in (reader.fieldnames or []) if c != "arch"]
            if "arch" not in (reader.fieldnames or []):
                raise ArchspaceError(f"{str(p)!r} has no 'arch' column; columns: {reader.fieldnames}")
            rows = {}
            for line, row in enumerate(reader, start=2):
                try:
                    rows[row["arch"]] = {c: float(row[c]) for c in columns if row[c] not in ("", None)}
                except ValueError as exc:
                    raise ArchspaceError(f"{str(p)!r} line {line}: {exc}") from None
    except OSError as exc:
        raise ArchspaceError(f"cannot read NB201 table {str(p)!r}: {exc.strerror or exc}") from None
    return NB201Table(rows, columns, str(p))


class BenchmarkEvaluator(Evaluator):
    """Answers a NasBench201 sample with the table's metric, without building the model.

    Args:
        table: a loaded table (or a path to one).
        metric: the column to search on (primary metric).
        extra: columns reported beside it (e.g. the test accuracy, for reporting only).
    """

    needs_model = False

    def __init__(self, table: NB201Table | str | os.PathLike[str], metric: str = "cifar10_valid",
                 extra: tuple[str, ...] = ("cifar10_test",)) -> None:
        self.table = table if isinstance(table, NB201Table) else load_table(table)
        for column in (metric, *extra):
            if column not in self.table.columns:
                raise ArchspaceError(f"column {column!r} is not in the table; columns: {self.table.columns}")
        self.metric = metric
        self.extra = extra
        self.direction = "maximize" if "acc" in metric or "valid" in metric or "test" in metric else "minimize"

    def evaluate(self, model: nn.Module | None, ctx: TrialContext) -> dict[str, float]:
        row = self.table.lookup(ctx.sample)
        return {"default": row[self.metric], **{c: row[c] for c in self.extra}}


__all__ = ["BenchmarkEvaluator", "NB201Table", "load_table"]
