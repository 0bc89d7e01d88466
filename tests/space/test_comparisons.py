"""Comparisons of choices: derived boolean expressions, never a silent plain bool (issue 9, item 1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import ChoiceMisuseError
from archspace.space import Categorical, Expression, SearchSpace


class WidthGated(asp.ModelSpace):
    """The silent-drop pattern: an ``if`` on a comparison of a choice inside a constructor."""

    def __init__(self) -> None:
        super().__init__()
        width = asp.choice("width", [16, 32])
        self.fc = asp.nn.Linear(4, width)
        if width == 32:
            self.extra = asp.LayerChoice([nn.ReLU(), nn.Tanh()], label="extra")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_if_on_a_comparison_in_a_space_raises_instead_of_dropping_a_decision() -> None:
    with pytest.raises(ChoiceMisuseError, match=r"'width'.*asp\.condition|asp\.condition.*'width'"):
        WidthGated()


def test_if_on_a_comparison_works_under_a_sample() -> None:
    with asp.fixed_arch({"width": 32, "extra": 1}):
        model = WidthGated()
    assert isinstance(model.extra, nn.Tanh)
    with asp.fixed_arch({"width": 16}):
        assert not hasattr(WidthGated(), "extra")


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda w: w == 32, {16: False, 32: True, 64: False}),
        (lambda w: w != 32, {16: True, 32: False, 64: True}),
        (lambda w: w < 32, {16: True, 32: False, 64: False}),
        (lambda w: w <= 32, {16: True, 32: True, 64: False}),
        (lambda w: w > 32, {16: False, 32: False, 64: True}),
        (lambda w: w >= 32, {16: False, 32: True, 64: True}),
        (lambda w: 32 == w, {16: False, 32: True, 64: False}),  # reflected: int defers to the choice
        (lambda w: 32 < w, {16: False, 32: False, 64: True}),
    ],
)
def test_comparisons_build_boolean_expressions(build: object, expected: dict[int, bool]) -> None:
    width = Categorical([16, 32, 64], "width")
    expr = build(width)  # type: ignore[operator]
    assert isinstance(expr, Expression)
    assert {w: expr.evaluate({"width": w}) for w in expected} == expected
    with pytest.raises(ChoiceMisuseError, match=r"'width'") as info:
        bool(expr)
    assert "asp.condition" in str(info.value)


def test_comparison_drives_condition() -> None:
    width = Categorical([16, 32, 64], "width")
    depth = Categorical([1, 2], "depth")
    expr = asp.condition(width == depth * 32, width, 8)
    assert expr.evaluate({"width": 32, "depth": 1}) == 32
    assert expr.evaluate({"width": 64, "depth": 1}) == 8
    assert expr.evaluate({"width": 64, "depth": 2}) == 64
    assert [leaf.label for leaf in expr.leaves()] == ["width", "depth"]


def test_decisions_stay_usable_as_keys_and_in_lists() -> None:
    a, also_a, b = Categorical([1, 2], "a"), Categorical([1, 2], "a"), Categorical([1, 2], "b")
    table = {a: "first", b: "second"}
    assert table[a] == "first" and table[b] == "second"
    assert a in {a, b} and also_a not in {a, b}
    assert a in [a] and [a, b].index(a) == 0  # identity is checked before ==
    assert a.same_as(also_a) and not a.same_as(b) and not a.same_as(Categorical([2, 1], "a"))
    # Identity, not structure, decides set membership, so comparing never asks for a truth value.
    assert len({a, also_a}) == 2
    # A list search past another decision asks `b == a` for a truth value: refused, loudly.
    with pytest.raises(ChoiceMisuseError, match="'b'"):
        _ = a in [b, a]


def test_search_spaces_compare_by_labels_candidates_and_conditions() -> None:
    def space() -> SearchSpace:
        return SearchSpace({"a": Categorical([1, 2], "a"), "b": Categorical([3], "b")})

    assert space() == space()
    assert space() != SearchSpace({"a": Categorical([1, 2], "a")})
    assert space() != SearchSpace({"a": Categorical([2, 1], "a"), "b": Categorical([3], "b")})
