from __future__ import annotations

import pytest

from archspace.errors import ChoiceMisuseError, InvalidValueError, MissingLabelError, SpaceDefinitionError
from archspace.space import Categorical


def test_expressions_evaluate_and_enumerate() -> None:
    width = Categorical([16, 32, 64], "width")
    depth = Categorical([1, 2], "depth")
    expr = width * 2 + depth
    assert expr.evaluate({"width": 32, "depth": 2}) == 66
    assert expr.possible_values() == sorted({w * 2 + d for w in (16, 32, 64) for d in (1, 2)})
    assert (width // 4).max() == 16
    assert (-width).evaluate({"width": 16}) == -16
    assert sum([width, width]).evaluate({"width": 16}) == 32  # sum() starts from 0 + width
    assert [leaf.label for leaf in expr.leaves()] == ["width", "depth"]


def test_choice_refuses_to_act_as_plain_value() -> None:
    width = Categorical([16, 32], "width")
    uses = (bool, int, float, list, lambda w: bool(w > 3), lambda w: range(w), lambda w: 3 in w,
            lambda w: max(w, 3), lambda w: sorted([w, 3]), lambda w: [1, 2][w], reversed)
    for use in uses:
        with pytest.raises(ChoiceMisuseError, match="width"):
            use(width)


def test_check_names_label_and_allowed_values() -> None:
    op = Categorical(["a", "b"], "op")
    assert op.check("b") == "b"
    with pytest.raises(InvalidValueError, match=r"'op'.*'c'.*\['a', 'b'\]"):
        op.check("c")
    with pytest.raises(MissingLabelError, match="'op'"):
        op.evaluate({})


def test_lists_and_tuples_are_the_same_value() -> None:
    pick = Categorical([(0, 1), (0, 2)], "pick")
    assert pick.values == ([0, 1], [0, 2])
    assert pick.contains((0, 2)) and pick.contains([0, 2]) and not pick.contains([1, 2])


@pytest.mark.parametrize(
    ("values", "label", "message"),
    [
        ([], "x", "no candidates"),
        ([1, 1], "x", "repeats"),
        ([object()], "x", "not a JSON value"),
        ("abc", "x", "list of values"),
        ([1, 2], "", "non-empty string"),
        ([float("nan")], "x", "not a JSON value"),
    ],
)
def test_bad_decisions_are_refused(values: object, label: str, message: str) -> None:
    with pytest.raises(SpaceDefinitionError, match=message):
        Categorical(values, label)  # type: ignore[arg-type]


def test_structural_equality_is_label_and_candidates() -> None:
    assert Categorical([1, 2], "a").same_as(Categorical([1, 2], "a"))
    assert not Categorical([1, 2], "a").same_as(Categorical([2, 1], "a"))
    assert not Categorical([1, 2], "a").same_as(Categorical([1, 2], "b"))
    assert not Categorical([1, 2], "a").same_as([1, 2])
    assert Categorical([(1, 2)], "a").same_as(Categorical([[1, 2]], "a"))


def test_large_choices_build_validate_and_sample_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """20k candidates: the old duplicate check compared every value with every other (quadratic,
    ~6 s); the work must grow linearly. Counted, not timed (timings belong in benchmarks/)."""
    from archspace.space import SearchSpace, decisions

    calls = []
    real = decisions.value_key

    def counting(value: object) -> str:
        calls.append(1)
        return real(value)

    monkeypatch.setattr(decisions, "value_key", counting)
    decision = Categorical(list(range(20_000)), "k")
    space = SearchSpace({"k": decision})
    assert space.validate({"k": 19_999}) == {"k": 19_999}
    assert 0 <= space.random_sample(0)["k"] < 20_000
    assert len(calls) <= 20_000 + 10  # one key per candidate, then constant work per check
    with pytest.raises(SpaceDefinitionError, match=r"repeats candidates \['7'\]"):
        Categorical([*range(20_000), 7], "k")
