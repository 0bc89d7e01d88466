"""A NAS-Bench-201 results table, and an evaluator that answers samples from it instantly.

The table is a CSV with one row per architecture: an ``arch`` column with the NB201 string and
numeric columns (e.g. ``cifar10_valid``, ``cifar10_test``, ``params_m``). Point :func:`load_table`
at any such export of the official benchmark. Searching on validation accuracy and reporting the
test accuracy of the architecture that is best on validation is the benchmark's protocol.

Which way a column is better is the table's metadata, never guessed from its name: the columns
of the NB201 export (:data:`NB201_DIRECTIONS`: accuracies up, parameters, FLOPs and latency down)
are known, and ``load_table(path, directions={...})`` adds or overrides others. The evaluator
takes its direction from there, or from its own ``direction=`` argument, and refuses a column it
knows no direction for.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from archspace.errors import ArchspaceError, short_repr
from archspace.evaluate.base import Evaluator, TrialContext
from archspace.hub.nasbench201 import to_arch_str

DIRECTIONS = ("maximize", "minimize")
#: The columns of the NB201 export (see its README) and which way each is better.
NB201_DIRECTIONS: dict[str, str] = {
    "cifar10_valid": "maximize", "cifar10_test": "maximize",
    "params_m": "minimize", "flops_m": "minimize", "latency_ms": "minimize",
}


class BenchmarkTableError(ArchspaceError, ValueError):
    """A benchmark table cannot be read, lacks a column or an architecture, or a column's
    direction is unknown."""


def _check_directions(directions: Mapping[str, str], source: str) -> dict[str, str]:
    for column, direction in directions.items():
        if direction not in DIRECTIONS:
            raise BenchmarkTableError(
                f"{source}: column {column!r} has direction {direction!r}; directions are {list(DIRECTIONS)}"
            )
    return dict(directions)


class NB201Table(Mapping[str, dict[str, float]]):
    """arch string -> {column: value}, with each column's direction as metadata.

    Args:
        rows: arch string -> {column: value}.
        columns: the numeric columns.
        source: where the table came from (for messages).
        directions: column -> ``"maximize"`` or ``"minimize"``, for the columns whose direction
            is known.
        search_column: the column a search selects on (the benchmark's validation accuracy).
        report_columns: the columns reported beside it (its test accuracy; never selected on).
    """

    def __init__(self, rows: Mapping[str, dict[str, float]], columns: list[str], source: str = "",
                 directions: Mapping[str, str] | None = None, *, search_column: str = "cifar10_valid",
                 report_columns: tuple[str, ...] = ("cifar10_test",)) -> None:
        self._rows = dict(rows)
        self.columns = columns
        self.source = source
        self.directions = _check_directions(directions or {}, source or "the table")
        self.search_column = search_column
        self.report_columns = report_columns

    def __getitem__(self, arch: str) -> dict[str, float]:
        return self._rows[arch]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, sample: Mapping[str, Any]) -> dict[str, float]:
        """The row of a NasBench201 sample."""
        arch = to_arch_str(sample)
        try:
            return self._rows[arch]
        except KeyError:
            raise BenchmarkTableError(f"architecture {arch!r} is not in the table {self.source!r}") from None

    def direction(self, column: str) -> str:
        """Which way ``column`` is better, from the table's metadata.

        Raises:
            BenchmarkTableError: the column is not in the table, or its direction is not known.
        """
        if column not in self.columns:
            raise BenchmarkTableError(f"column {column!r} is not in the table; columns: {self.columns}")
        if column not in self.directions:
            raise BenchmarkTableError(
                f"the direction of column {column!r} is not known (known: {self.directions}); pass "
                f"direction= one of {list(DIRECTIONS)}, or load the table with directions={{{column!r}: ...}}"
            )
        return self.directions[column]

    def best(self, column: str, direction: str | None = None) -> float:
        """The best value of ``column``: the largest if it is maximised, the smallest if minimised
        (``direction``, or the table's metadata)."""
        direction = direction or self.direction(column)
        _check_directions({column: direction}, "best()")
        values = [row[column] for row in self._rows.values() if column in row]
        return max(values) if direction == "maximize" else min(values)


#: Tables that load by name (``load_table("fashion201")``): name -> loader. Fashion-201 adds itself.
NAMED_TABLES: dict[str, Callable[[], NB201Table]] = {}


def load_table(path: str | os.PathLike[str], *, directions: Mapping[str, str] | None = None) -> NB201Table:
    """Read a NB201 results CSV (see the module docstring), or a table shipped with archspace by
    name (:data:`NAMED_TABLES`: ``"fashion201"``).

    Args:
        path: the CSV file, or a table's name.
        directions: column -> ``"maximize"`` / ``"minimize"``, added to (and overriding) the
            known NB201 columns' :data:`NB201_DIRECTIONS`.
    """
    if isinstance(path, str) and path.lower() in NAMED_TABLES and not Path(path).exists():
        table = NAMED_TABLES[path.lower()]()
        table.directions.update(_check_directions(directions or {}, path))
        return table
    p = Path(path)
    if not p.exists() and not p.suffix and isinstance(path, str):
        raise BenchmarkTableError(f"no table file {path!r}, and no table of that name; tables by name: "
                                  f"{sorted(NAMED_TABLES)} (or pass the path of a NB201 results CSV)")
    try:
        with p.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = [c for c in (reader.fieldnames or []) if c != "arch"]
            if "arch" not in (reader.fieldnames or []):
                raise BenchmarkTableError(f"{str(p)!r} has no 'arch' column; columns: {reader.fieldnames}")
            rows = {}
            for line, row in enumerate(reader, start=2):
                try:
                    values = {c: float(row[c]) for c in columns if row[c] not in ("", None)}
                except ValueError as exc:
                    raise BenchmarkTableError(f"{str(p)!r} line {line}: {short_repr(str(exc))}") from None
                bad = [c for c, v in values.items() if not math.isfinite(v)]
                if bad:
                    raise BenchmarkTableError(f"{str(p)!r} line {line}: column {bad[0]!r} is not a finite number")
                rows[row["arch"]] = values
    except UnicodeDecodeError as exc:
        raise BenchmarkTableError(f"NB201 table {str(p)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise BenchmarkTableError(f"NB201 table {str(p)!r} is not a readable CSV file: {exc}") from None
    except OSError as exc:
        raise BenchmarkTableError(f"cannot read NB201 table {str(p)!r}: {exc.strerror or exc}") from None
    known = {c: d for c, d in NB201_DIRECTIONS.items() if c in columns}
    return NB201Table(rows, columns, str(p), {**known, **(directions or {})})


class BenchmarkEvaluator(Evaluator):
    """Answers a NasBench201 sample with the table's metric, without building the model.

    Args:
        table: a loaded table, a path to one, or a table's name (``"fashion201"``).
        metric: the column to search on (primary metric); default: the table's ``search_column``
            (``cifar10_valid`` for NB201, ``fashion_valid`` for Fashion-201).
        extra: columns reported beside it (e.g. the test accuracy, for reporting only); default:
            the table's ``report_columns``.
        direction: ``"maximize"`` or ``"minimize"``; default: the metric column's direction in the
            table's metadata (an unknown column is an error, never a guess from its name).

    Example:
        >>> table = NB201Table({"a": {"valid_error": 8.4}}, ["valid_error"])
        >>> BenchmarkEvaluator(table, "valid_error", extra=(), direction="minimize").direction
        'minimize'
    """

    needs_model = False

    def __init__(self, table: NB201Table | str | os.PathLike[str], metric: str | None = None,
                 extra: tuple[str, ...] | None = None, *, direction: str | None = None) -> None:
        self.table = table if isinstance(table, NB201Table) else load_table(table)
        metric = self.table.search_column if metric is None else metric
        extra = self.table.report_columns if extra is None else extra
        for column in (metric, *extra):
            if column not in self.table.columns:
                raise BenchmarkTableError(f"column {column!r} is not in the table; columns: {self.table.columns}")
        if direction is not None and direction not in DIRECTIONS:
            raise BenchmarkTableError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
        self.metric = metric
        self.extra = extra
        self.direction = direction or self.table.direction(metric)

    def evaluate(self, model: nn.Module | None, ctx: TrialContext) -> dict[str, float]:
        row = self.table.lookup(ctx.sample)
        return {"default": row[self.metric], **{c: row[c] for c in self.extra}}


__all__ = ["DIRECTIONS", "NAMED_TABLES", "NB201_DIRECTIONS", "BenchmarkEvaluator", "BenchmarkTableError", "NB201Table", "load_table"]
