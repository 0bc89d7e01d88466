"""Tabular NAS benchmarks (library code): NAS-Bench-201 tables and their evaluator."""

from __future__ import annotations

from archspace.benchmarks.nb201 import BenchmarkEvaluator, NB201Table, load_table

__all__ = ["BenchmarkEvaluator", "NB201Table", "load_table"]
