"""NNI's spellings of everyday decisions, with NNI's meaning: ``InputChoice(n, n_chosen=None)``
(any subset of the inputs, the empty one included), ``Repeat(block, depth=(min, max))`` (a depth
from min to max inclusive, NNI's list of blocks too) and ``FunctionalEvaluator(fn, **kwargs)``
(the keyword arguments passed to ``fn``): the search space, freeze, JSON samples, fixed_arch and a
short multi-trial experiment under every registered strategy."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import SpaceDefinitionError
from archspace.evaluate import EvaluatorError, FunctionalEvaluator, TrialContext
from archspace.experiment import Experiment
from archspace.strategy import STRATEGIES


class Skips(asp.ModelSpace):
    """NNI's usual optional skips: a Repeat of 1-3 blocks, then any subset of three states added."""

    def __init__(self, reduction: str = "sum") -> None:
        super().__init__()
        self.stem = nn.Linear(4, 4)
        self.blocks = asp.Repeat(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), depth=(1, 3), label="depth")
        self.skip = asp.InputChoice(3, n_chosen=None, reduction=reduction, label="skip")
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.blocks(x)
        return self.head(y + self.skip([x, y, 2 * y]))


GATES = ["skip/skip_0", "skip/skip_1", "skip/skip_2"]


# InputChoice(n, n_chosen=None) ---------------------------------------------------------------------
def test_any_subset_is_one_zero_one_decision_per_input() -> None:
    space = Skips().search_space()
    assert list(space) == ["depth", *GATES]
    assert all(list(space[gate].values) == [0, 1] for gate in GATES)
    assert list(space["depth"].values) == [1, 2, 3]
    assert space.size() == 3 * 2**3


def test_every_subset_freezes_to_its_inputs() -> None:
    x = [torch.full((1, 2), 1.0), torch.full((1, 2), 10.0), torch.full((1, 2), 100.0)]
    space = Skips()
    for bits in itertools.product([0, 1], repeat=3):
        model = space.freeze({"depth": 1, **dict(zip(GATES, bits))})
        chosen = [j for j, bit in enumerate(bits) if bit]
        assert model.skip.chosen == chosen
        assert torch.equal(model.skip(x), sum((x[j] for j in chosen), torch.zeros(1, 2)))


@pytest.mark.parametrize(("reduction", "empty"), [("sum", torch.zeros(2, 3, 5)), ("mean", torch.zeros(2, 3, 5)),
                                                  ("concat", torch.zeros(2, 0, 5)), ("none", [])])
def test_the_empty_subset_is_the_empty_sum(reduction: str, empty: Any) -> None:
    class Pick(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.pick = asp.InputChoice(2, n_chosen=None, reduction=reduction, label="p")

    assert Pick().search_space().size() == 4 and Pick().pick.values()[0] == []
    out = Pick().freeze({"p/skip_0": 0, "p/skip_1": 0}).pick([torch.ones(2, 3, 5), torch.ones(2, 3, 5)])
    if reduction == "none":
        assert out == []
    else:
        assert out.shape == empty.shape and not out.any()


def test_mean_and_concat_of_a_subset() -> None:
    x = [torch.full((1, 1), 1.0), torch.full((1, 1), 2.0), torch.full((1, 1), 6.0)]
    sample = {"depth": 1, "skip/skip_0": 1, "skip/skip_1": 0, "skip/skip_2": 1}
    assert Skips("mean").freeze(sample).skip(x).item() == 3.5
    assert Skips("concat").freeze(sample).skip(x).tolist() == [[1.0, 6.0]]


def test_the_default_sample_takes_no_input_and_runs() -> None:
    space = Skips()
    default = space.default_sample()
    assert default == {"depth": 1, **dict.fromkeys(GATES, 0)}
    assert space.freeze(default)(torch.randn(2, 4)).shape == (2, 2)


def test_a_sample_survives_json_and_rebuilds_with_fixed_arch(tmp_path: Path) -> None:
    sample = {"depth": 2, "skip/skip_0": 1, "skip/skip_1": 0, "skip/skip_2": 1}
    path = tmp_path / "arch.json"
    asp.save_sample(sample, path)
    assert asp.load_sample(path) == sample
    with asp.fixed_arch(path):
        built = Skips()
    frozen = Skips().freeze(sample)
    assert built.skip.chosen == frozen.skip.chosen == [0, 2]
    assert len(built.blocks) == len(frozen.blocks) == 2
    assert built.state_dict().keys() == frozen.state_dict().keys()
    assert built(torch.randn(3, 4)).shape == (3, 2)


def test_a_gate_value_outside_zero_one_is_refused() -> None:
    with pytest.raises(asp.errors.ArchspaceError, match="skip/skip_1.*allowed values are \\[0, 1\\]"):
        Skips().freeze({"depth": 1, "skip/skip_0": 0, "skip/skip_1": 2, "skip/skip_2": 0})


def test_gates_inside_a_repeated_block_are_active_with_their_block() -> None:
    class Nested(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = asp.Repeat(lambda i: asp.InputChoice(2, n_chosen=None, label=f"b{i}"), depth=(1, 2),
                                     label="depth")

    space = Nested().search_space()
    assert space.validate({"depth": 1, "b0/skip_0": 1, "b0/skip_1": 0}) == {"depth": 1, "b0/skip_0": 1,
                                                                            "b0/skip_1": 0}
    assert not space.condition("b1/skip_0").holds({"depth": 1})
    assert space.condition("b1/skip_0").holds({"depth": 2})


@pytest.mark.parametrize("n_chosen", [0, 4, True, "2", 1.0])
def test_a_bad_n_chosen_names_what_is_allowed(n_chosen: Any) -> None:
    with pytest.raises(SpaceDefinitionError, match="n_chosen must be an int from 1 to n_candidates=3, or None"):
        asp.InputChoice(3, n_chosen=n_chosen)


# Repeat(block, depth=(min, max)) --------------------------------------------------------------------
def test_a_depth_tuple_is_an_inclusive_range() -> None:
    stack = asp.Repeat(nn.Linear(2, 2), depth=(0, 2), label="d")
    assert [list(d.values) for d in stack.decisions("d")] == [[0, 1, 2]]
    assert asp.Repeat(nn.Linear(2, 2), depth=(2, 2)).decisions("d") == []
    space = Skips()
    for depth in (1, 2, 3):
        model = space.freeze({"depth": depth, **dict.fromkeys(GATES, 0)})
        assert isinstance(model.blocks, nn.Sequential) and len(model.blocks) == depth


def test_a_list_of_blocks_gives_one_block_per_depth() -> None:
    blocks = [nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)]
    stack = asp.Repeat(blocks, depth=(1, 3), label="d")
    assert [stack.get_submodule(str(i)) for i in range(3)] == blocks
    with pytest.raises(SpaceDefinitionError, match="list of 2 blocks for a depth of up to 3"):
        asp.Repeat(blocks[:2], depth=(1, 3))


@pytest.mark.parametrize(("depth", "message"), [
    ((3, 1), r"depth=\(3, 1\): min 3 is above max 1.*e.g. \(1, 3\)"),
    ((1, 2, 3), r"depth=\(1, 2, 3\): a tuple is NNI's \(min, max\)"),
    ((1.0, 2), r"two ints"),
    ((True, 2), r"two ints"),
    ((-1, 2), r"non-negative ints, got \[-1, 0, 1, 2\]"),
    ([1, 2], r"must be an int, a \(min, max\) tuple, a range or a choice"),
])
def test_a_bad_depth_names_what_is_wrong_and_what_is_allowed(depth: Any, message: str) -> None:
    with pytest.raises(SpaceDefinitionError, match=message):
        asp.Repeat(nn.Linear(2, 2), depth=depth)


# FunctionalEvaluator(fn, **kwargs) ------------------------------------------------------------------
def score(model: nn.Module, ctx: TrialContext, epochs: int, scale: float = 1.0) -> float:
    """A module-level evaluator function (picklable): runs the model, reports once per epoch."""
    out = model(torch.ones(1, 4))
    assert out.shape == (1, 2)
    for epoch in range(epochs):
        ctx.report(float(epoch), step=epoch + 1)
    return scale * (ctx.sample["depth"] + sum(v for k, v in ctx.sample.items() if k.startswith("skip/")))


def test_keyword_arguments_reach_the_function_and_survive_pickling() -> None:
    evaluator = FunctionalEvaluator(score, epochs=3, scale=2.0, direction="minimize")
    assert evaluator.kwargs == {"epochs": 3, "scale": 2.0} and evaluator.direction == "minimize"
    copy = pickle.loads(pickle.dumps(evaluator))
    sample = {"depth": 2, "skip/skip_0": 1, "skip/skip_1": 0, "skip/skip_2": 1}
    reports: list[tuple[int, float]] = []
    metric = copy.evaluate(Skips().freeze(sample), TrialContext(0, sample, lambda s, v: reports.append((s, v))))
    assert metric == 8.0 and [s for s, _ in reports] == [1, 2, 3]
    assert "epochs=3" in repr(evaluator)


def test_an_unknown_or_missing_keyword_is_refused_when_built() -> None:
    with pytest.raises(EvaluatorError, match="does not take 'epoch'.*did you mean 'epoch' -> 'epochs'"):
        FunctionalEvaluator(score, epoch=3)
    with pytest.raises(EvaluatorError, match=r"cannot be called as fn\(model, ctx, scale=...\).*'epochs'"):
        FunctionalEvaluator(score, scale=3.0)


# A short multi-trial experiment with all three spellings --------------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_a_short_experiment_searches_the_new_spellings(strategy: str) -> None:
    experiment = Experiment(Skips(), FunctionalEvaluator(score, epochs=2), STRATEGIES.create(strategy), max_trials=6,
                            executor="inline", progress=False)
    trials = experiment.run()
    assert [t.status for t in trials] == ["succeeded"] * 6, [t.error for t in trials]
    assert all(len(t.intermediates) == 2 for t in trials)
    best = experiment.best(1)[0]
    assert set(best.sample) == {"depth", *GATES}
    with asp.fixed_arch(best.sample):
        assert Skips()(torch.ones(1, 4)).shape == (1, 2)
