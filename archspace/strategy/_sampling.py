"""Helpers shared by strategies: conditional-aware completion and mutation of samples."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from archspace.space.samples import Sample
from archspace.space.search_space import SearchSpace


def complete(space: SearchSpace, partial: Mapping[str, Any], rng: random.Random) -> Sample:
    """``partial`` normalised: its values where active, fresh random values for newly active
    decisions, inactive labels dropped."""
    out: Sample = {}
    for label, decision in space.items():
        if not space.condition(label).holds(out):
            continue
        out[label] = copy.deepcopy(partial[label]) if label in partial else copy.deepcopy(rng.choice(decision.values))
    return out


def mutate(space: SearchSpace, parent: Mapping[str, Any], rng: random.Random, prob: float) -> Sample:
    """A child of ``parent``: each active decision changes value with probability ``prob``, and
    at least one always does (as in Real et al.'s single mutations), then conditions are re-applied."""
    child = complete(space, parent, rng)
    mutable = [label for label in child if len(space[label]) > 1]
    if not mutable:
        return child
    chosen = [label for label in mutable if rng.random() < prob] or [rng.choice(mutable)]
    for label in chosen:
        values = [v for v in space[label].values if v != child[label]]
        child[label] = copy.deepcopy(rng.choice(values))
    return complete(space, child, rng)


__all__ = ["complete", "mutate"]
