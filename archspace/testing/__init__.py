"""Helpers for testing archspace and code built on it: small model spaces of every kind."""

from __future__ import annotations

from archspace.testing.spaces import (
    TEST_SPACES,
    CellNet,
    ExampleNet,
    NestedNet,
    SharedNet,
    TinySpace,
    handwritten_example,
)

__all__ = ["TEST_SPACES", "CellNet", "ExampleNet", "NestedNet", "SharedNet", "TinySpace", "handwritten_example"]
