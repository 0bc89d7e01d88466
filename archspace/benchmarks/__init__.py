"""Tabular NAS benchmarks (library code): NAS-Bench-201 tables and their evaluator."""

from __future__ import annotations

from archspace.benchmarks.nb201 import (
    NB201_DIRECTIONS,
    BenchmarkEvaluator,
    BenchmarkTableError,
    NB201Table,
    load_table,
)

__all__ = ["NB201_DIRECTIONS", "BenchmarkEvaluator", "BenchmarkTableError", "NB201Table", "load_table"]
