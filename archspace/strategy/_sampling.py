"""Helpers shared by strategies: conditional-aware completion, mutation and neighbourhoods of samples."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from archspace.space import value_key
from archspace.space.samples import Sample, fingerprint
from archspace.space.search_space import SearchSpace


def complete(space: SearchSpace, partial: Mapping[str, Any], rng: random.Random) -> Sample:
    """``partial`` normalised: its values where active, fresh random values for newly active
    decisions, inactive labels dropped."""
    if not space.is_conditional and len(partial) == len(space) and all(label in partial for label in space):
        return {label: _copy(partial[label]) for label in space}  # nothing to add or drop
    out: Sample = {}
    for label, decision in space.items():
        condition = space.condition(label)
        if not condition.is_always and not condition.holds(out):
            continue
        out[label] = _copy(partial[label]) if label in partial else _copy(rng.choice(decision.values))
    return out


def _copy(value: Any) -> Any:
    """A decision value not shared with its source (only lists are mutable among JSON values)."""
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


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
        child[label] = _copy(rng.choice(values))
    return complete(space, child, rng)


def neighbours(space: SearchSpace, sample: Mapping[str, Any], rng: random.Random) -> list[Sample]:
    """Every sample one decision away from ``sample``: each active decision set to each of its
    other values, in space order (conditions re-applied: a newly active decision gets a random
    value from ``rng``, a deactivated one is dropped). Each neighbour appears once.

    This is the neighbourhood of White et al.'s local search (2021) and the mutation step of
    the predictor-guided strategies; on NAS-Bench-201 it holds 6 x 4 = 24 cells.
    """
    base = complete(space, sample, rng)
    conditional = space.is_conditional
    out: list[Sample] = []
    keys: set[str] = {fingerprint(base)}
    for label in list(base):
        current = value_key(base[label])
        for value in space[label].values:
            if value_key(value) == current:
                continue
            child = dict(base)
            child[label] = _copy(value)
            if conditional:
                child = complete(space, child, rng)
            key = fingerprint(child)
            if key not in keys:
                keys.add(key)
                out.append(child)
    return out


__all__ = ["complete", "mutate", "neighbours"]


#: Below this many samples a space is enumerated when random draws keep hitting seen samples.
ENUMERATE_BELOW = 200_000


def random_unseen(space: SearchSpace, rng: random.Random, seen: set[str], space_size: int | None) -> Sample | None:
    """A uniform sample not in ``seen`` (fingerprints): drawn at random, or, when 100 draws all hit
    seen samples, picked among the unseen ones of a space small enough to enumerate; None if
    there is none (or the space is too large to enumerate)."""
    for _ in range(100):
        sample = space.random_sample(rng)
        if fingerprint(sample) not in seen:
            return sample
    if space_size is None or space_size > ENUMERATE_BELOW:
        return None
    unseen = [s for s in space.enumerate() if fingerprint(s) not in seen]
    return rng.choice(unseen) if unseen else None
