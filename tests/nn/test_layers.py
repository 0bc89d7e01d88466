"""Mutable layers (issue 9, item 3): each freezes to the plain torch layer of the chosen size,
and a user's own module becomes mutable by subclassing MutableLayer together with it."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import ChoiceMisuseError, SpaceDefinitionError
from archspace.space import Categorical


class OneLayer(asp.ModelSpace):
    """A space around one layer built by ``make`` (called inside the constructor)."""

    def __init__(self, make: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.layer = make()

    def forward(self, *args: Any) -> Any:
        return self.layer(*args)


# name: (space layer factory, sample, the same layer written by hand, an input)
CASES: dict[str, tuple[Callable[[], nn.Module], dict[str, Any], Callable[[], nn.Module], Callable[[], Any]]] = {
    "dropout": (
        lambda: asp.nn.Dropout(asp.choice("p", [0.1, 0.3])),
        {"p": 0.3}, lambda: nn.Dropout(0.3), lambda: (torch.randn(4, 8),)),
    "conv3d": (
        lambda: asp.nn.Conv3d(2, asp.choice("out", [4, 8]), asp.choice("k", [1, 3]),
                              padding=asp.choice("k", [1, 3]) // 2),
        {"out": 8, "k": 3}, lambda: nn.Conv3d(2, 8, 3, padding=1), lambda: (torch.randn(1, 2, 5, 5, 5),)),
    "embedding": (
        lambda: asp.nn.Embedding(asp.choice("vocab", [10, 20]), asp.choice("dim", [4, 8]), padding_idx=0),
        {"vocab": 10, "dim": 8}, lambda: nn.Embedding(10, 8, padding_idx=0),
        lambda: (torch.tensor([[1, 2, 9]]),)),
    "groupnorm": (
        lambda: asp.nn.GroupNorm(asp.choice("groups", [2, 4]), asp.choice("channels", [8, 12])),
        {"groups": 2, "channels": 12}, lambda: nn.GroupNorm(2, 12), lambda: (torch.randn(3, 12, 4),)),
    "attention": (
        lambda: asp.nn.MultiheadAttention(asp.choice("heads", [2, 4]) * 8, asp.choice("heads", [2, 4]),
                                          batch_first=True),
        {"heads": 4}, lambda: nn.MultiheadAttention(32, 4, batch_first=True),
        lambda: (torch.randn(2, 5, 32),) * 3),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_freezes_to_the_plain_layer_of_the_chosen_size(name: str) -> None:
    make, sample, hand_make, inputs = CASES[name]
    space = OneLayer(make)
    assert sorted(space.search_space()) == sorted(sample)
    model = space.freeze(sample)
    hand = hand_make()
    assert type(model.layer) is type(hand)
    assert model.layer.extra_repr() == hand.extra_repr()
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        f"layer.{k}": v.shape for k, v in hand.state_dict().items()}
    hand.load_state_dict({k.removeprefix("layer."): v for k, v in model.state_dict().items()}, strict=True)
    model.eval()
    hand.eval()
    args = inputs()
    out, expected = model(*args), hand(*args)
    if isinstance(out, tuple):
        out, expected = out[0], expected[0]
    assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_with_undecided_arguments_resolves_on_freeze(name: str) -> None:
    """A layer still holding choices (built outside ``choice()``) is rebuilt from the sample."""
    make, sample, hand_make, _ = CASES[name]
    space = OneLayer(make)
    leaves = {d.label: d for d in space.search_space().values()}
    layer = space.layer
    assert isinstance(layer, asp.nn.MutableLayer) and layer.is_mutable
    assert {d.label for d in layer.value_decisions()} == set(leaves)

    class Resolver:
        def value(self, decision: Categorical, place: str) -> Any:
            return sample[decision.label]

    plain = layer.to_plain(Resolver(), "layer")
    hand = hand_make()
    assert type(plain) is type(hand) and plain.extra_repr() == hand.extra_repr()
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in hand.state_dict().items()}


def test_space_form_of_attention_and_groupnorm_uses_a_dividing_count() -> None:
    attention = asp.nn.MultiheadAttention(Categorical([16, 24], "e"), Categorical([2, 16], "h"))
    assert attention.embed_dim == 24 and attention.num_heads == 2  # 16 heads do not divide 24
    norm = asp.nn.GroupNorm(Categorical([4, 8], "g"), Categorical([12, 20], "c"))
    assert norm.num_channels == 20 and norm.num_groups == 4


def test_invalid_combination_names_the_layer_and_values() -> None:
    def make() -> nn.Module:
        return asp.nn.MultiheadAttention(asp.choice("e", [16, 24]), asp.choice("h", [2, 16]))

    space = OneLayer(make)
    assert space.freeze({"e": 16, "h": 16}).layer.num_heads == 16
    with pytest.raises(SpaceDefinitionError, match=r"MultiheadAttention.*embed_dim=24, num_heads=16.*divisible"):
        space.freeze({"e": 24, "h": 16})


# The recipe: a user's own module with choice arguments ---------------------------------------

class Block(nn.Module):
    """An ordinary module written by a user."""

    def __init__(self, channels: int, expand: int = 4, *, act: str = "relu") -> None:
        super().__init__()
        self.up = nn.Conv2d(channels, channels * expand, 1)
        self.down = nn.Conv2d(channels * expand, channels, 1)
        self.act = nn.ReLU() if act == "relu" else nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.act(self.up(x)))


class SearchableBlock(asp.nn.MutableLayer, Block):
    """Block whose constructor arguments may be choices."""


class BlockNet(asp.ModelSpace):
    def __init__(self) -> None:
        super().__init__()
        width = asp.choice("width", [4, 8])
        self.stem = asp.nn.Conv2d(1, width, 3, padding=1)
        self.block = SearchableBlock(width, expand=asp.choice("expand", [2, 4]), act=asp.choice("act", ["relu", "gelu"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(x))


def test_user_layer_arguments_can_be_choices() -> None:
    space = BlockNet()
    assert list(space.search_space()) == ["width", "expand", "act"]
    assert isinstance(space.block, Block) and space.block.up.out_channels == 32  # largest: 8 * 4
    model = space.freeze({"width": 8, "expand": 2, "act": "gelu"})
    assert type(model.block) is Block and isinstance(model.block.act, nn.GELU)
    hand = Block(8, 2, act="gelu")
    assert {k.removeprefix("block."): v.shape for k, v in model.state_dict().items() if k.startswith("block.")} == {
        k: v.shape for k, v in hand.state_dict().items()}
    assert model(torch.randn(2, 1, 6, 6)).shape == (2, 8, 6, 6)
    assert pickle.loads(pickle.dumps(space)).search_space() == space.search_space()  # process executors pickle spaces


def test_user_layer_positional_arguments_and_refusals() -> None:
    layer = SearchableBlock(Categorical([2, 3], "c"), 2)
    assert layer._asp_args == {"channels": layer._asp_args["channels"], "expand": 2, "act": "relu"}
    with pytest.raises(TypeError):
        SearchableBlock(4, 2, 3)  # too many positional arguments, as for Block itself

    class Star(nn.Module):
        def __init__(self, *sizes: int) -> None:
            super().__init__()

    with pytest.raises(SpaceDefinitionError, match=r"\*args"):
        type("SearchableStar", (asp.nn.MutableLayer, Star), {})
    with pytest.raises(SpaceDefinitionError, match="together with the plain nn.Module"):
        type("Orphan", (asp.nn.MutableLayer,), {})


@pytest.mark.parametrize(
    ("make", "layer"),
    [
        (lambda: nn.Dropout(asp.choice("p", [0.1, 0.2])), "Dropout"),
        (lambda: nn.Embedding(10, asp.choice("d", [4, 8])), "Embedding"),
        (lambda: nn.GroupNorm(2, asp.choice("c", [4, 8])), "GroupNorm"),
        (lambda: nn.Conv3d(1, asp.choice("c", [4, 8]), 3), "Conv3d"),
    ],
)
def test_plain_torch_layer_given_a_choice_points_to_the_mutable_one(make: Callable[[], nn.Module], layer: str) -> None:
    with pytest.raises(ChoiceMisuseError, match=rf"use archspace\.nn\.{layer}, the mutable-aware version"):
        OneLayer(make)
