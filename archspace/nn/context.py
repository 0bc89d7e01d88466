"""The one piece of construction-time state: the sample a model is being built under.

``fixed_arch`` and ``ModelSpace.freeze`` both set it; ``choice`` reads it to return plain values,
and the outermost ``ModelSpace`` constructor reads it to replace decision-carrying modules by the
chosen ones. Kept in a ``ContextVar`` so that threads and nested contexts stay independent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from archspace.space.samples import Sample


@dataclass
class FrozenState:
    """The sample being built, and the labels construction has read so far."""

    sample: Sample
    consumed: set[str] = field(default_factory=set)


_frozen: ContextVar[FrozenState | None] = ContextVar("archspace_frozen", default=None)
_building: ContextVar[int] = ContextVar("archspace_building", default=0)


def current_frozen() -> FrozenState | None:
    """The sample in force, or None when building a model space."""
    return _frozen.get()


@contextmanager
def frozen_context(sample: Sample) -> Iterator[FrozenState]:
    """Build under ``sample`` for the duration of the block."""
    state = FrozenState(dict(sample))
    token = _frozen.set(state)
    try:
        yield state
    finally:
        _frozen.reset(token)


@contextmanager
def space_context() -> Iterator[None]:
    """Build a model space (no sample in force), even inside a ``fixed_arch`` block."""
    token = _frozen.set(None)
    try:
        yield
    finally:
        _frozen.reset(token)


def building_depth() -> int:
    """How many ModelSpace constructors are running (outer ones finalize, inner ones do not)."""
    return _building.get()


@contextmanager
def building() -> Iterator[bool]:
    """Mark a ModelSpace constructor as running; yields True for the outermost one."""
    depth = _building.get()
    token = _building.set(depth + 1)
    try:
        yield depth == 0
    finally:
        _building.reset(token)
