"""Choice expressions (issue 9, item 2): operators, indexing, max/min/condition/to_int, freezing."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspace as asp
from archspace.errors import ChoiceMisuseError, SpaceDefinitionError
from archspace.space import Categorical, Expression, ValueExpr


def test_operators_evaluate_like_python() -> None:
    w = Categorical([2, 3, 5], "w")
    cases: list[tuple[Any, Any]] = [
        (w ** 2, lambda v: v ** 2),
        (2 ** w, lambda v: 2 ** v),
        (-w, lambda v: -v),
        (+w, lambda v: +v),
        (abs(1 - w), lambda v: abs(1 - v)),
        (round(w / 3), lambda v: round(v / 3)),
        (round(w / 3, 2), lambda v: round(v / 3, 2)),
        (math.floor(w / 2), lambda v: math.floor(v / 2)),
        (math.ceil(w / 2), lambda v: math.ceil(v / 2)),
        (math.trunc(-w / 2), lambda v: math.trunc(-v / 2)),
        (7 % w, lambda v: 7 % v),
        (asp.to_int(w / 2), lambda v: int(v / 2)),
    ]
    for expr, plain in cases:
        assert isinstance(expr, Expression)
        assert [expr.evaluate({"w": v}) for v in (2, 3, 5)] == [plain(v) for v in (2, 3, 5)], expr


def test_round_and_to_int_give_ints() -> None:
    r = Categorical([0.5, 1.4, 2.6], "r")
    assert [type(round(r * 10).evaluate({"r": v})) for v in r.values] == [int, int, int]
    assert asp.to_int(r * 3).possible_values() == [1, 4, 7]
    assert asp.to_int(2.9) == 2 and type(asp.to_int(2.9)) is int


def test_indexing_tuple_values() -> None:
    ks = asp.choice("ks", [(3, 1), (5, 2)])
    kernel, padding = ks[0], ks[1]
    assert kernel.evaluate({"ks": [5, 2]}) == 5 and padding.evaluate({"ks": (5, 2)}) == 2
    assert kernel.possible_values() == [3, 5]
    assert ks[::-1].evaluate({"ks": [3, 1]}) == [1, 3]
    assert repr(kernel) == "Expression(choice('ks')[0])"


def test_max_min_of_choices_and_numbers() -> None:
    a, b = Categorical([1, 4], "a"), Categorical([2, 3], "b")
    hi, lo = asp.max(a, b, 2), asp.min([a * 2, b, 5])
    assert {(x, y): hi.evaluate({"a": x, "b": y}) for x in (1, 4) for y in (2, 3)} == {
        (1, 2): 2, (1, 3): 3, (4, 2): 4, (4, 3): 4}
    assert lo.evaluate({"a": 4, "b": 3}) == 3 and lo.evaluate({"a": 1, "b": 3}) == 2
    assert hi.labels() == ["a", "b"]
    assert asp.max(3, 7, 5) == 7 and asp.min([3, 7]) == 3  # plain in, plain out
    assert asp.max(a) is a
    with pytest.raises(SpaceDefinitionError, match="at least one"):
        asp.max()


def test_condition_picks_and_is_lazy() -> None:
    pair = Categorical([[1, 2], [7]], "pair")
    # The unselected branch would raise IndexError: only the selected one is evaluated.
    expr = asp.condition(pair[0] > 5, pair[0], pair[1])
    assert expr.evaluate({"pair": [7]}) == 7 and expr.evaluate({"pair": [1, 2]}) == 2
    assert asp.condition(True, pair, 3) is pair and asp.condition(0, pair, 3) == 3


def test_repr_and_errors_name_every_label() -> None:
    width, depth = Categorical([16, 32], "width"), Categorical([1, 2], "depth")
    expr = asp.max(width * depth, 24) // 2
    assert repr(expr) == "Expression((max((choice('width') * choice('depth')), 24) // 2))"
    for use in (int, float, bool):
        with pytest.raises(ChoiceMisuseError, match=r"'width', 'depth'"):
            use(expr)
    with pytest.raises(ChoiceMisuseError, match=r"asp\.to_int"):
        int(width / 2)


def test_expressions_pickle_with_their_operations() -> None:
    width = Categorical([16, 32], "width")
    expr = asp.condition(width == 16, asp.to_int(width ** 0.5), asp.min(width, 20))
    again = pickle.loads(pickle.dumps(expr))
    assert [again.evaluate({"width": v}) for v in (16, 32)] == [4, 20]


# A property: random expression trees over random choices freeze to the plain evaluation ------

INTS = [1, 2, 3, 4, 6, 8]
Tree = Any  # ("choice", i) | ("const", c) | (op, child...), built by the strategy below


def _leaf() -> st.SearchStrategy[Tree]:
    return st.one_of(st.tuples(st.just("choice"), st.integers(0, 2)),
                     st.tuples(st.just("const"), st.sampled_from([1, 2, 3, 0.5, -2])))


def _extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "max", "min"]), children, children),
        st.tuples(st.sampled_from(["neg", "abs", "round", "to_int", "index"]), children),
        st.tuples(st.sampled_from(["//", "%", "/", "**"]), children, st.sampled_from([1, 2, 3])),
        st.tuples(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), children, children, children, children),
    )


TREES = st.recursive(_leaf(), _extend, max_leaves=8)


def build(tree: Tree, leaves: list[Any]) -> Any:
    """The tree as Python code would write it: on choices it builds an expression, on plain values it computes."""
    kind = tree[0]
    if kind == "choice":
        return leaves[tree[1]]
    if kind == "const":
        return tree[1]
    args = [build(t, leaves) if isinstance(t, tuple) else t for t in tree[1:]]
    binary = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
              "//": lambda a, b: a // b, "%": lambda a, b: a % b, "/": lambda a, b: a / b,
              "**": lambda a, b: a ** b, "max": asp.max, "min": asp.min}
    unary = {"neg": lambda a: -a, "abs": abs, "round": round, "to_int": asp.to_int,
             "index": lambda a: leaves[3][1] * a}  # indexes the tuple-valued choice
    compare = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    if kind in binary:
        return binary[kind](*args)
    if kind in unary:
        return unary[kind](*args)
    a, b, if_true, if_false = args
    return asp.condition(compare[kind](a, b), if_true, if_false)


class ExprSpace(asp.ModelSpace):
    """A tiny space that stores an expression tree over three number choices and a tuple choice."""

    def __init__(self, tree: Tree, values: list[list[Any]]) -> None:
        super().__init__()
        leaves = [asp.choice(f"c{i}", vs) for i, vs in enumerate(values[:3])]
        leaves.append(asp.choice("pair", [[1, 2], [3, 1], [2, 2]]))
        self.value = build(tree, leaves)
        self.keep = [leaves[0], leaves[1], leaves[2], leaves[3]]  # every label in the space

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@settings(max_examples=60, deadline=None)
@given(
    tree=TREES,
    values=st.lists(st.lists(st.sampled_from(INTS + [0.5, 1.5]), min_size=1, max_size=3, unique=True),
                    min_size=3, max_size=3),
    seed=st.integers(0, 2**31 - 1),
)
def test_freezing_an_expression_equals_evaluating_it(tree: Tree, values: list[list[Any]], seed: int) -> None:
    space = ExprSpace(tree, values)
    sample = space.random_sample(seed)
    expected = space.value.evaluate(sample) if isinstance(space.value, ValueExpr) else space.value
    frozen = space.freeze(sample)
    assert not isinstance(frozen.value, ValueExpr)  # a plain value
    assert frozen.value == expected and type(frozen.value) is type(expected)
