"""Conversion by the decision: a user's own decision type joins one-shot search without any change
to archspace; a cell's mixed form follows its merge rule, so loose_end widths match frozen models."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import SpaceDefinitionError
from archspace.nn.mutable import Branch, FreezeChild, Mutable, Resolver
from archspace.oneshot import DARTS, MixedBuilder, MixedModule, SampledPath, to_supernet
from archspace.oneshot.mixed_ops import SubnetChild
from archspace.space import Categorical
from tests.oneshot.helpers import toy_data


class Scaled(nn.Module):
    """The frozen form of the user's decision: multiply by a chosen factor."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


class MixedScale(MixedModule):
    """The user's mixed form: the weighted sum of the running factors."""

    def __init__(self, label: str, factors: list[float], builder: MixedBuilder) -> None:
        super().__init__(builder.arch)
        self.label = label
        self.factors = factors
        builder.register(label, factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum((w * self.factors[i] * x for i, w in self.mix(self.label).pairs()), torch.zeros_like(x))

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        return Scaled(sample[self.label])


class ScaleChoice(Mutable):
    """A decision type archspace has never seen: a scaling factor of the features."""

    def __init__(self, factors: list[float], label: str | None = None) -> None:
        super().__init__(label)
        self.factors = factors

    def decisions(self, label: str) -> list[Categorical]:
        return [Categorical(self.factors, label, origin=label)]

    def branches(self, label: str) -> Iterator[Branch]:
        return iter(())

    def freeze_with(self, label: str, resolver: Resolver, freeze_child: FreezeChild) -> nn.Module:
        return Scaled(resolver.value(self.decisions(label)[0], label))

    def to_mixed(self, label: str, builder: MixedBuilder) -> nn.Module:
        return MixedScale(label, self.factors, builder)


class Scaling(asp.ModelSpace):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = ScaleChoice([0.0, 1.0])  # 0 destroys the signal: 1 is right
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.scale(torch.relu(self.fc(x))))


def test_a_user_defined_decision_type_converts_trains_and_exports() -> None:
    train, val = toy_data()
    trainer = DARTS(order=1, epochs=8, arch_learning_rate=3e-3, progress=False)
    sample = trainer.fit(Scaling(), train, val)
    assert sample == {"scale": 1.0}
    assert isinstance(trainer.supernet.net.scale, MixedScale)
    probs = trainer.supernet.arch.distribution()["scale"]
    assert probs["1.0"] > probs["0.0"]
    model = trainer.supernet.subnet(sample)
    assert isinstance(model.scale, Scaled) and model.scale.factor == 1.0
    x = val[0][0]
    with trainer.supernet.using(SampledPath(sample)):
        assert torch.allclose(model(x), trainer.supernet(x), atol=1e-6)


def test_a_decision_type_without_a_mixed_form_is_refused_by_name() -> None:
    class Opaque(ScaleChoice):
        to_mixed = Mutable.to_mixed  # type: ignore[assignment]

    class Space(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Sequential(Opaque([1.0, 2.0]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    with pytest.raises(SpaceDefinitionError, match=r"Opaque at 'inner\.0' has no one-shot mixed form: implement to_mixed"):
        to_supernet(Space())


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0


def _ops(node: int, k: int, inp: int) -> dict[str, nn.Module]:
    return {"conv": nn.Conv2d(3, 3, 1), "skip": nn.Identity(), "none": Zero()}


class LooseCell(asp.ModelSpace):
    def __init__(self, merge_op: str) -> None:
        super().__init__()
        self.cell = asp.Cell(_ops, num_nodes=4, num_ops_per_node=2, num_predecessors=2, merge_op=merge_op)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cell([x, x])


@pytest.mark.parametrize("merge_op", ["loose_end", "all"])
def test_cell_supernet_output_is_as_wide_as_the_frozen_model_of_its_export(merge_op: str) -> None:
    space = LooseCell(merge_op)
    supernet = to_supernet(space)
    x = torch.randn(2, 3, 4, 4)
    widths = set()
    for seed in range(6):
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in supernet.arch_parameters():
                p.copy_(3 * torch.randn_like(p))
        frozen = space.freeze(supernet.export())
        width = supernet(x).shape[1]
        assert width == frozen(x).shape[1]
        widths.add(width)
    if merge_op == "all":
        assert widths == {12}
    else:
        assert max(widths) < 12  # some node is always read by a later one
