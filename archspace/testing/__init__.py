"""Helpers for testing archspace and code built on it: small model spaces of every kind, and the
contract suites (``contracts``: strategies; ``hub_contracts``: hub spaces; ``oneshot_contracts``:
one-shot algorithms on every hub space)."""

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

__all__ = ["TEST_SPACES", "CellNet", "ExampleNet", "NestedNet", "SharedNet", "TinySpace", "check_oneshot",
           "check_two_ranks_identical", "handwritten_example", "oneshot_form"]
