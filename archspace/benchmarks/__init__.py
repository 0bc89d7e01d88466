"""Tabular NAS benchmarks (library code): NAS-Bench-201 tables and their evaluator, and Fashion-201
(the NB201 space trained on Fashion-MNIST by archspace itself)."""

from __future__ import annotations

from archspace.benchmarks.fashion201 import PROTOCOL as FASHION201_PROTOCOL
from archspace.benchmarks.fashion201 import Protocol as Fashion201Protocol
from archspace.benchmarks.fashion201 import train_one, unique_archs
from archspace.benchmarks.fashion201_table import (
    Fashion201Evaluator,
    Fashion201Table,
    load_fashion201,
    lookup_or_train,
)
from archspace.benchmarks.nb201 import (
    NB201_DIRECTIONS,
    BenchmarkEvaluator,
    BenchmarkTableError,
    NB201Table,
    load_table,
)

__all__ = ["FASHION201_PROTOCOL", "NB201_DIRECTIONS", "BenchmarkEvaluator", "BenchmarkTableError", "Fashion201Evaluator",
           "Fashion201Protocol", "Fashion201Table", "NB201Table", "load_fashion201", "load_table", "lookup_or_train",
           "train_one", "unique_archs"]
