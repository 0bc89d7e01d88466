"""Helpers for testing archspace and code built on it: small model spaces of every kind, and the
contract suites (``contracts``: strategies; ``hub_contracts``: hub spaces; ``oneshot_contracts``:
one-shot algorithms on every hub space; ``storage_contracts``: experiment stores)."""

from __future__ import annotations

from archspace.testing.oneshot_contracts import check_oneshot, check_two_ranks_identical, oneshot_form
from archspace.testing.spaces import (
    TEST_SPACES,
    CellNet,
    ExampleNet,
    NestedNet,
    SharedNet,
    TinySpace,
    handwritten_example,
)
from archspace.testing.storage_contracts import STORAGE_BACKENDS, StorageBackend, check_storage

__all__ = ["STORAGE_BACKENDS", "TEST_SPACES", "CellNet", "ExampleNet", "NestedNet", "SharedNet", "StorageBackend",
           "TinySpace", "check_oneshot", "check_storage", "check_two_ranks_identical", "handwritten_example",
           "oneshot_form"]
