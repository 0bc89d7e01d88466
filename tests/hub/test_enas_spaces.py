"""The ENAS macro and micro spaces: the paper's decisions, skips that add earlier outputs, cells
that merge their loose ends at a fixed width, reductions, grayscale inputs, bad settings."""

from __future__ import annotations

import pytest
import torch

from archspace.errors import SpaceDefinitionError
from archspace.hub import HUB, EnasMacroSpace, EnasMicroSpace
from archspace.hub.enas import MACRO_OPS, MICRO_OPS


def test_macro_has_the_papers_decisions() -> None:
    decisions = EnasMacroSpace().search_space()
    ops = [label for label in decisions if label.endswith("/op")]
    skips = [label for label in decisions if "/skip_" in label]
    assert len(ops) == 12 and len(skips) == 12 * 11 // 2
    assert list(decisions["layer_5/op"].values) == list(MACRO_OPS) and len(MACRO_OPS) == 6
    assert all(list(decisions[label].values) == [0, 1] for label in skips)
    assert HUB.get("enas_macro") is EnasMacroSpace


def test_a_macro_skip_adds_the_earlier_layers_output() -> None:
    torch.manual_seed(0)
    space = EnasMacroSpace(width=4, num_layers=3, in_channels=1)
    base = {label: (0 if "/skip_" in label else "conv3x3") for label in space.search_space()}
    x = torch.randn(2, 1, 8, 8)
    without = space.freeze(base).eval()
    with_skip = space.freeze({**base, "layer_2/skip_0": 1}).eval()
    with_skip.load_state_dict(without.state_dict())  # skips hold no weights: the same parameters
    layer = with_skip.layers[2]
    earlier = torch.randn(2, 4, 2, 2)
    previous = torch.randn(2, 4, 2, 2)
    with torch.no_grad():
        expected = layer.bn(layer.op(previous) + earlier)
        assert torch.allclose(layer([earlier, previous]), expected)
        assert not torch.allclose(without(x), with_skip(x))


def test_micro_has_the_papers_cells() -> None:
    space = EnasMicroSpace()
    decisions = space.search_space()
    assert len(decisions) == 2 * 5 * 2 * 2  # normal and reduction cell, 5 nodes, 2 terms, input and op
    assert list(decisions["reduce/op_6_1"].values) == list(MICRO_OPS) and len(MICRO_OPS) == 5
    assert list(decisions["normal/input_4_0"].values) == [0, 1, 2, 3]
    assert HUB.get("enas_micro") is EnasMicroSpace


def test_micro_merges_any_number_of_loose_ends_at_one_width_and_reduces_grayscale_inputs() -> None:
    torch.manual_seed(0)
    space = EnasMicroSpace(width=4, num_layers=3, num_nodes=3, in_channels=1)
    chain = space.default_sample()  # one loose end per cell
    fan = {**chain, **{f"normal/input_{i}_{k}": 0 for i in (2, 3, 4) for k in (0, 1)}}  # three loose ends
    x = torch.randn(2, 1, 28, 28)
    for sample in (chain, fan):
        model = space.freeze(sample)
        sizes: list[tuple[int, ...]] = []
        for cell in model.cells:
            cell.register_forward_hook(lambda _m, _i, out, sizes=sizes: sizes.append(tuple(out.shape[1:])))
        assert model(x).shape == (2, 10)
        assert sizes == [(4, 28, 28), (8, 14, 14), (8, 14, 14), (16, 7, 7), (16, 7, 7)]


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"num_layers": -1}, {"in_channels": 1.5}])
def test_bad_sizes_are_named(kwargs: dict[str, object]) -> None:
    for cls in (EnasMacroSpace, EnasMicroSpace):
        with pytest.raises(SpaceDefinitionError, match=next(iter(kwargs))):
            cls(**kwargs)  # type: ignore[arg-type]
