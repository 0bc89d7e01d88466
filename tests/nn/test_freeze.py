from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import (
    ChoiceMisuseError,
    InvalidValueError,
    MissingLabelError,
    SampleFileError,
    SpaceDefinitionError,
    SpaceForwardError,
    UnknownLabelError,
)
from archspace.testing import CellNet, ExampleNet, NestedNet, handwritten_example


@pytest.mark.parametrize("seed", range(8))
def test_frozen_state_dict_loads_into_handwritten_network(seed: int) -> None:
    space = ExampleNet()
    sample = space.random_sample(seed)
    model = space.freeze(sample)
    hand = handwritten_example(sample)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in hand.state_dict().items()}
    hand.load_state_dict(model.state_dict(), strict=True)
    model.eval()
    hand.eval()
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(model(x), hand(x))


def test_fixed_arch_rebuilds_an_exported_sample(tmp_path: Path) -> None:
    space = ExampleNet()
    sample = space.random_sample(3)
    asp.save_sample(sample, tmp_path / "best.json", metric=0.9)
    with asp.fixed_arch(tmp_path / "best.json") as loaded:
        model = ExampleNet()
    assert loaded == sample
    assert model.is_frozen and model.frozen_sample == sample
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in space.freeze(sample).state_dict().items()
    }
    with asp.fixed_arch(str(tmp_path / "best.json")):
        assert isinstance(ExampleNet().op, (nn.Conv2d, nn.MaxPool2d))


def test_choice_is_a_plain_value_under_a_sample() -> None:
    class Python(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            n = asp.choice("n", [1, 2, 3])
            self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(n))  # plain Python on the value

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with asp.fixed_arch({"n": 3}):
        assert len(Python().layers) == 3
    with pytest.raises(ChoiceMisuseError, match="'n'"):
        Python()  # in a space the value is undecided


def test_nested_choice_in_unchosen_candidate_needs_no_value() -> None:
    with asp.fixed_arch({"outer": "plain", "stack": 1, "stack.0": 1, "pick": [0, 1]}):
        model = NestedNet()
    assert isinstance(model.outer, nn.Conv2d)
    assert isinstance(model.stack[0], nn.Identity)


def test_fixed_arch_reports_missing_unknown_and_invalid_labels() -> None:
    good = {"outer": "nested", "inner_kernel": 3, "inner_act": 0, "stack": 0, "pick": [0, 1]}
    with pytest.raises(MissingLabelError, match="'inner_kernel'"):
        with asp.fixed_arch({k: v for k, v in good.items() if k != "inner_kernel"}):
            NestedNet()
    with pytest.raises(MissingLabelError, match="'stack'"):
        with asp.fixed_arch({k: v for k, v in good.items() if k != "stack"}):
            NestedNet()
    with pytest.raises(UnknownLabelError, match="'typo'"):
        with asp.fixed_arch({**good, "typo": 1}):
            NestedNet()
    with pytest.raises(InvalidValueError, match=r"'inner_kernel'.*7.*\[1, 3\]"):
        with asp.fixed_arch({**good, "inner_kernel": 7}):
            NestedNet()
    with pytest.raises(InvalidValueError, match="'outer'"):
        with asp.fixed_arch({**good, "outer": "other"}):
            NestedNet()
    with asp.fixed_arch({**good, "outer": "plain"}):  # inner labels now inactive: accepted
        NestedNet()


def test_freeze_validates_first() -> None:
    space = ExampleNet()
    sample = space.default_sample()
    with pytest.raises(UnknownLabelError, match="'nope'"):
        space.freeze({**sample, "nope": 1})
    with pytest.raises(MissingLabelError, match="'depth'"):
        space.freeze({k: v for k, v in sample.items() if k != "depth"})
    with pytest.raises(InvalidValueError, match=r"'width'.*\[16, 32, 64\]"):
        space.freeze({**sample, "width": 48})
    frozen = space.freeze(sample)
    with pytest.raises(SpaceDefinitionError, match="already frozen"):
        frozen.freeze(sample)  # type: ignore[operator]


def test_malformed_sample_file(tmp_path: Path) -> None:
    (tmp_path / "best.json").write_text("{not json")
    with pytest.raises(SampleFileError, match="best.json"):
        with asp.fixed_arch(tmp_path / "best.json"):
            pass


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (lambda w: nn.Conv2d(1, w, 3), r"torch\.nn\.modules\.conv\.Conv2d got choice 'w'.*archspace\.nn\.Conv2d"),
        (lambda w: nn.Linear(w, 10), r"Linear got choice 'w'.*archspace\.nn\.Linear"),
        (lambda w: nn.BatchNorm2d(w), r"BatchNorm2d got choice 'w'.*archspace\.nn\.BatchNorm2d"),
        (lambda w: nn.LayerNorm(w), r"LayerNorm got choice 'w'.*archspace\.nn\.LayerNorm"),
        (lambda w: nn.MaxPool2d(w), r"MaxPool2d at 'layer' got choice 'w'.*LayerChoice"),
        (lambda w: nn.Conv2d(1, 8, w * 2 + 1), r"Conv2d got choice 'w'"),
    ],
)
def test_choice_given_to_plain_torch_layer(layer: object, message: str) -> None:
    class Bad(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.layer = layer(asp.choice("w", [2, 4]))  # type: ignore[operator]

    with pytest.raises(ChoiceMisuseError, match=message):
        Bad()


def test_space_cannot_run_forward() -> None:
    with pytest.raises(SpaceForwardError, match="freeze"):
        ExampleNet()(torch.randn(1, 1, 8, 8))


def test_bad_primitive_arguments() -> None:
    with pytest.raises(SpaceDefinitionError, match="no candidates"):
        asp.LayerChoice([])
    with pytest.raises(SpaceDefinitionError, match="not an nn.Module"):
        asp.LayerChoice([nn.ReLU(), "relu"])  # type: ignore[list-item]
    with pytest.raises(SpaceDefinitionError, match="n_chosen"):
        asp.InputChoice(2, n_chosen=3)
    with pytest.raises(SpaceDefinitionError, match="reduction 'max'"):
        asp.InputChoice(2, reduction="max")
    with pytest.raises(SpaceDefinitionError, match="depth"):
        asp.Repeat(nn.ReLU(), depth="3")  # type: ignore[arg-type]
    with pytest.raises(SpaceDefinitionError, match="merge_op"):
        asp.Cell({"id": nn.Identity()}, 2, merge_op="max")
    with pytest.raises(SpaceDefinitionError, match="label"):
        asp.LayerChoice([nn.ReLU()], label="")


def test_repeat_forms() -> None:
    class Stack(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.fixed = asp.Repeat(lambda i: nn.Linear(4, 4), 2)
            self.copied = asp.Repeat(nn.Linear(4, 4), range(1, 3), label="copies")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.copied(self.fixed(x))

    space = Stack()
    assert list(space.search_space()) == ["copies"]
    model = space.freeze({"copies": 2})
    assert isinstance(model.fixed, nn.Sequential) and len(model.fixed) == 2
    assert len(model.copied) == 2
    assert not torch.equal(model.copied[0].weight, model.copied[1].weight)  # copies re-initialised
    assert model(torch.randn(3, 4)).shape == (3, 4)


def test_cell_frozen_structure_and_loose_end() -> None:
    space = CellNet()
    sample = space.default_sample()  # every term takes input 0 with op conv3
    model = space.freeze(sample)
    cell = model.cell2
    assert isinstance(cell, asp.nn.FixedCell)
    assert cell.inputs == [[0, 0], [0, 0], [0, 0]]
    assert cell.output_nodes == [2, 3, 4]  # no node reads another: all loose ends
    keys = {k for k in model.state_dict() if k.startswith("cell1.")}
    assert "cell1.ops.0.0.0.weight" in keys and "cell1.ops.2.1.1.running_mean" in keys
    chained = dict(sample, **{"second/input_3_0": 2, "second/input_4_0": 3})
    assert space.freeze(chained).cell2.output_nodes == [4]


def test_cell_factory_sees_input_index() -> None:
    seen: list[tuple[int, int, int]] = []

    def ops(node: int, k: int, inp: int) -> dict[str, nn.Module]:
        seen.append((node, k, inp))
        stride = 2 if inp < 2 else 1
        return {"conv": nn.Conv2d(4, 4, 3, stride=stride, padding=1), "pool": nn.AvgPool2d(3, stride, 1)}

    class Reduce(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.cell = asp.Cell(ops, 2, 2, 2, label="r")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.cell(x, x)

    space = Reduce()
    assert (3, 1, 2) in seen and len(seen) == 2 * (2 + 3)
    for seed in range(10):
        assert space.freeze(space.random_sample(seed))(torch.randn(1, 4, 8, 8)).shape == (1, 8, 4, 4)


def test_input_choice_reductions() -> None:
    xs = [torch.full((1, 2), float(i)) for i in range(3)]
    for reduction, expected in (("sum", 2.0), ("mean", 1.0)):
        chosen = asp.nn.ChosenInputs([0, 2], reduction, 3)
        assert torch.equal(chosen(xs), torch.full((1, 2), expected))
    assert asp.nn.ChosenInputs([0, 2], "concat", 3)(xs).shape == (1, 4)
    assert len(asp.nn.ChosenInputs([1, 2], "none", 3)(xs)) == 2
    with pytest.raises(ValueError, match="expects 3 inputs"):
        asp.nn.ChosenInputs([0], "sum", 3)(xs[:2])
