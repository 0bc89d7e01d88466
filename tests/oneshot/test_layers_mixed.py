"""Supernets of the new mutable layers: mixed forms where simple and exact, clear errors elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspace as asp
from archspace.errors import ArchspaceError, SpaceDefinitionError
from archspace.nn.mutable import Mutable
from archspace.oneshot import to_supernet
from tests.nn.test_layers import Block


class OneLayer(asp.ModelSpace):
    def __init__(self, make: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.layer = make()

    def forward(self, *args: Any) -> Any:
        return self.layer(*args)


def _force(supernet: Any, label: str, index: int) -> None:
    with torch.no_grad():
        logits = supernet.arch.logits(label)
        logits.fill_(-30.0)
        logits[index] = 30.0


def test_conv3d_masks_channels_and_crops_kernels() -> None:
    def make() -> nn.Module:
        k = asp.choice("k", [1, 3])
        return asp.nn.Conv3d(2, asp.choice("out", [4, 8]), k, padding=k // 2)

    supernet = to_supernet(OneLayer(make))
    _force(supernet, "k", 0)
    _force(supernet, "out", 0)
    x = torch.randn(2, 2, 4, 4, 4)
    out = supernet(x)
    conv = supernet.net.layer.layer
    expected = F.conv3d(x, conv.weight[:, :, 1:2, 1:2, 1:2], conv.bias)
    assert torch.allclose(out[:, :4], expected[:, :4], atol=1e-5)
    assert out[:, 4:].abs().max() < 1e-6
    with torch.no_grad():
        supernet.arch.logits("k").zero_()
    supernet(x).sum().backward()
    assert supernet.arch.logits("k").grad is not None and supernet.arch.logits("k").grad.abs().max() > 0


def test_embedding_masks_the_embedding_size() -> None:
    supernet = to_supernet(OneLayer(lambda: asp.nn.Embedding(asp.choice("vocab", [10, 20]), asp.choice("dim", [4, 8]))))
    _force(supernet, "dim", 0)
    idx = torch.tensor([[1, 19, 3]])
    out = supernet(idx)
    table = supernet.net.layer.layer.weight
    assert out.shape == (1, 3, 8)
    assert torch.allclose(out[..., :4], table[idx][..., :4], atol=1e-5) and out[..., 4:].abs().max() < 1e-6


def test_dropout_mixes_one_rate_per_value() -> None:
    supernet = to_supernet(OneLayer(lambda: asp.nn.Dropout(asp.choice("p", [0.0, 0.9]))))
    x = torch.randn(64, 32)
    supernet.eval()
    assert torch.allclose(supernet(x), x, atol=1e-6)  # every term is the identity in eval mode
    supernet.train()
    _force(supernet, "p", 0)
    assert torch.allclose(supernet(x), x, atol=1e-5)  # all weight on p = 0
    _force(supernet, "p", 1)
    assert (supernet(x).abs() < 1e-6).float().mean() > 0.5  # p = 0.9 drops most entries
    supernet(x).sum().backward()
    assert supernet.arch.logits("p").grad is not None
    assert supernet.export() in ({"p": 0.0}, {"p": 0.9})


@pytest.mark.parametrize(
    ("make", "name", "args"),
    [
        (lambda: asp.nn.GroupNorm(2, asp.choice("c", [8, 12])), "archspace.nn.layers.GroupNorm", "num_channels"),
        (lambda: asp.nn.MultiheadAttention(asp.choice("e", [8, 16]), 2), "archspace.nn.layers.MultiheadAttention",
         "embed_dim"),
    ],
)
def test_layers_without_a_mixed_form_are_refused_by_name(make: Callable[[], nn.Module], name: str, args: str) -> None:
    space = OneLayer(make)
    with pytest.raises(SpaceDefinitionError, match=rf"{name} at 'layer' has choices of \['{args}'\].*no one-shot mixed form"):
        to_supernet(space)


def test_fixed_layers_without_a_mixed_form_are_fine() -> None:
    supernet = to_supernet(OneLayer(lambda: asp.nn.MultiheadAttention(8, 2, batch_first=True)))
    x = torch.randn(2, 3, 8)
    assert supernet(x, x, x)[0].shape == (2, 3, 8)


def test_uncovered_argument_is_named_with_the_covered_ones() -> None:
    space = OneLayer(lambda: asp.nn.Conv2d(1, 4, 3, stride=asp.choice("s", [1, 2])))
    with pytest.raises(SpaceDefinitionError, match=r"choices of \['stride'\].*covers choices of \[.*'out_channels'"):
        to_supernet(space)


class NoForm(asp.nn.MutableLayer, Block):
    """A user layer that declares no mixed form."""


class WithForm(asp.nn.MutableLayer, Block):
    """A user layer whose channel choice is masked on the output channels."""

    mixed_form = asp.nn.MixedForm(masked={"channels": 1}, free=frozenset({"expand", "act"}))


def test_user_layers_get_their_declared_mixed_form_or_a_clear_error() -> None:
    with pytest.raises(SpaceDefinitionError, match=r"NoForm at 'layer'.*no one-shot mixed form.*LayerChoice of fixed Block"):
        to_supernet(OneLayer(lambda: NoForm(asp.choice("c", [2, 4]))))
    supernet = to_supernet(OneLayer(lambda: WithForm(asp.choice("c", [2, 4]))))
    _force(supernet, "c", 0)
    out = supernet(torch.randn(1, 4, 3, 3))
    assert out.shape == (1, 4, 3, 3) and out[:, 2:].abs().max() < 1e-6 and out[:, :2].abs().max() > 0


def test_a_mutable_without_mixed_form_is_an_archspace_error() -> None:
    class Custom(Mutable):
        def decisions(self, label: str) -> list[asp.Categorical]:
            return [asp.Categorical([1, 2], label)]

        def branches(self, label: str) -> Any:
            return iter(())

    class Net(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.custom = Custom(label="custom")

    with pytest.raises(ArchspaceError, match=r"Custom at 'custom' has no one-shot mixed form"):
        to_supernet(Net())
