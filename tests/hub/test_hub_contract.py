"""The hub contract suite, run over every space in the hub registry (no list to edit)."""

from __future__ import annotations

import pytest
import torch

from archspace.hub import HUB, HubSpace, space_class
from archspace.nn.space import ModelSpace
from archspace.testing.hub_contracts import check_default_sample, check_hub_space


@pytest.mark.parametrize("name", HUB.list())
def test_hub_space_passes_the_contract(name: str) -> None:
    torch.manual_seed(0)
    check_hub_space(space_class(name).small)


@pytest.mark.parametrize("name", HUB.list())
def test_every_hub_space_has_a_small_form_and_an_example_input(name: str) -> None:
    cls = space_class(name)
    for oneshot in (False, True):
        space = cls.small(oneshot=oneshot)
        assert isinstance(space, cls) and isinstance(space, ModelSpace) and isinstance(space, HubSpace)
        assert isinstance(space.example_input(), torch.Tensor)
        assert space.example_input(3).shape[0] == 3


def test_the_registry_lists_each_space_once() -> None:
    classes = [HUB[name] for name in HUB]
    assert len(set(classes)) == len(classes) == len(HUB.list())


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
