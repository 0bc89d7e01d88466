from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspace.errors import InvalidValueError, MissingLabelError, SampleError, SpaceDefinitionError, UnknownLabelError
from archspace.space import Categorical, Condition, SearchSpace


def conditional_space() -> SearchSpace:
    decisions = {
        "op": Categorical(["a", "b", "c"], "op"),
        "k": Categorical([1, 3, 5], "k"),
        "depth": Categorical([0, 1, 2], "depth"),
        "b0": Categorical(["x", "y"], "b0"),
        "b1": Categorical(["x", "y"], "b1"),
    }
    conditions = {
        "k": Condition.always().require("op", ["b", "c"]),
        "b0": Condition.always().require("depth", [1, 2]),
        "b1": Condition.always().require("depth", [2]),
    }
    return SearchSpace(decisions, conditions)


def brute_force_samples(space: SearchSpace) -> set[str]:
    """Every normalised sample, by enumerating all full assignments and dropping inactive labels."""
    import json

    labels = list(space)
    found = set()
    for combo in itertools.product(*(space[lab].values for lab in labels)):
        full = dict(zip(labels, combo))
        found.add(json.dumps(space.validate(full), sort_keys=True))
    return found


def test_size_of_unconditional_space_is_product() -> None:
    space = SearchSpace({"a": Categorical([1, 2, 3], "a"), "b": Categorical(["x", "y"], "b")})
    assert space.size() == 6
    assert not space.is_conditional


def test_size_of_conditional_space_counts_distinct_samples() -> None:
    space = conditional_space()
    assert space.is_conditional
    assert space.size() == len(brute_force_samples(space)) == (1 + 2 * 3) * (1 + 2 + 4)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_random_samples_hold_exactly_the_active_decisions(seed: int) -> None:
    space = conditional_space()
    sample = space.random_sample(seed)
    assert set(sample) == set(space.active_labels(sample))
    assert space.validate(sample) == sample
    assert space.random_sample(seed) == sample  # seeded: reproducible


def test_validate_drops_inactive_labels_and_names_problems() -> None:
    space = conditional_space()
    assert space.validate({"op": "a", "k": 3, "depth": 0}) == {"op": "a", "depth": 0}
    with pytest.raises(UnknownLabelError, match="'nope'"):
        space.validate({"op": "a", "depth": 0, "nope": 1})
    with pytest.raises(MissingLabelError, match="'k'"):
        space.validate({"op": "b", "depth": 0})
    with pytest.raises(InvalidValueError, match=r"'depth'.*7.*\[0, 1, 2\]"):
        space.validate({"op": "a", "depth": 7})
    with pytest.raises(SampleError, match="dict"):
        space.validate([("op", "a")])  # type: ignore[arg-type]
    with pytest.raises(SampleError, match="not JSON decision data"):
        space.validate({"op": "a", "depth": object()})


def test_decisions_are_ordered_after_their_parents() -> None:
    decisions = {"child": Categorical([1, 2], "child"), "parent": Categorical(["p", "q"], "parent")}
    space = SearchSpace(decisions, {"child": Condition.always().require("parent", ["q"])})
    assert list(space) == ["parent", "child"]


def test_cycles_and_dangling_conditions_are_refused() -> None:
    a, b = Categorical([1, 2], "a"), Categorical([1, 2], "b")
    with pytest.raises(SpaceDefinitionError, match="cycle"):
        SearchSpace({"a": a, "b": b}, {"a": Condition.always().require("b", [1]),
                                       "b": Condition.always().require("a", [1])})
    with pytest.raises(SpaceDefinitionError, match="ghost"):
        SearchSpace({"a": a}, {"a": Condition.always().require("ghost", [1])})


def test_condition_union_with_always_is_always() -> None:
    cond = Condition.always().require("x", [1]).union(Condition.always())
    assert cond.is_always
    both = Condition.always().require("x", [1]).union(Condition.always().require("y", ["a"]))
    sample: dict[str, Any] = {"x": 2, "y": "a"}
    assert both.holds(sample) and not both.holds({"x": 2, "y": "b"})


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=6))
def test_size_is_product_of_candidate_counts(counts: list[int]) -> None:
    space = SearchSpace({f"d{i}": Categorical(list(range(n)), f"d{i}") for i, n in enumerate(counts)})
    assert space.size() == math.prod(counts)
