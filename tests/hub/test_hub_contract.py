"""The hub contract suite, run over every space in the hub registry (no list to edit)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from archspace.hub import HUB
from archspace.nn.space import ModelSpace
from archspace.testing.hub_contracts import check_default_sample, check_hub_space


def small_factory(name: str) -> Callable[[], ModelSpace]:
    """The registered space's ``small()`` constructor, or its default one."""
    cls = HUB[name]
    small = getattr(cls, "small", None)
    return small if callable(small) else cls


@pytest.mark.parametrize("name", HUB.list())
def test_hub_space_passes_the_contract(name: str) -> None:
    torch.manual_seed(0)
    check_hub_space(small_factory(name))


@pytest.mark.parametrize("name", HUB.list())
def test_every_hub_space_has_a_small_form_and_an_example_input(name: str) -> None:
    cls = HUB[name]
    small = getattr(cls, "small", None)
    assert callable(small), f"hub space {name!r} has no small() constructor"
    space = small()
    assert isinstance(space, cls)
    example_input = getattr(space, "example_input", None)
    assert callable(example_input), f"hub space {name!r} has no example_input()"
    assert isinstance(example_input(), torch.Tensor)


class _DeadDefault(ModelSpace):
    """A space whose default network ignores its input (every first candidate is 'zero')."""

    def __init__(self) -> None:
        super().__init__()
        import archspace as asp

        self.op = asp.LayerChoice({"zero": _Zero(), "conv": torch.nn.Conv2d(3, 3, 3, padding=1)}, label="op")
        self.head = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.op(x).mean((2, 3)))


class _Zero(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


def test_the_contract_rejects_a_default_that_ignores_its_input() -> None:
    with pytest.raises(AssertionError, match="does not depend on its input"):
        check_default_sample(_DeadDefault(), torch.randn(2, 3, 8, 8))


def test_the_contract_needs_inputs_from_somewhere() -> None:
    with pytest.raises(AssertionError, match="no example_input"):
        check_hub_space(_DeadDefault)
