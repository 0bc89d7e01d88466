"""NNI's spellings of everyday decisions under every one-shot algorithm: ``InputChoice(n,
n_chosen=None)`` (any subset: one independent gate per input) and ``Repeat(block, depth=(min,
max))``. Every registered algorithm keeps the user-space contract on a space made of them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.oneshot import ONESHOT, to_supernet
from archspace.oneshot.enas import ControllerPath
from archspace.oneshot.mixed_ops import MixedRepeat, MixedSubset
from archspace.oneshot.spos import SampledPath
from archspace.testing.generated import example_input
from archspace.testing.oneshot_contracts import check_user_space


class NNISpellings(asp.ModelSpace):
    """A stem, a Repeat of 1 to 3 conv blocks, optional skips (sum) and an optional average."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.blocks = asp.Repeat(lambda i: nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()), depth=(1, 3),
                                 label="depth")
        self.branch = nn.Conv2d(4, 4, 1)
        self.skip = asp.InputChoice(3, n_chosen=None, label="skip")
        self.avg = asp.InputChoice(2, n_chosen=None, reduction="mean", label="avg")
        self.head = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.blocks(x)
        z = self.branch(y)
        out = y + self.skip([x, y, z])
        return self.head((out + self.avg([out, z])).mean((2, 3)))


@pytest.mark.parametrize("algorithm", ONESHOT.list())
def test_every_algorithm_keeps_the_contract_on_nni_spellings(algorithm: str) -> None:
    check_user_space(algorithm, NNISpellings, example_input(), 10)


def test_the_supernet_gives_each_input_an_independent_gate() -> None:
    supernet = to_supernet(NNISpellings())
    labels = list(supernet.arch.names)
    assert labels == ["depth", "skip/skip_0", "skip/skip_1", "skip/skip_2", "avg/skip_0", "avg/skip_1"]
    subset = next(m for m in supernet.mixed_modules() if isinstance(m, MixedSubset) and m.gates[0] == "skip/skip_0")
    assert any(isinstance(m, MixedRepeat) for m in supernet.mixed_modules())
    with torch.no_grad():
        for j, gate in enumerate(subset.gates):
            supernet.arch.logits(gate).copy_(torch.tensor([0.0, float(j)]))
    inputs = [torch.full((1, 2), 1.0), torch.full((1, 2), 10.0), torch.full((1, 2), 100.0)]
    gates = [torch.sigmoid(torch.tensor(float(j))) for j in range(3)]
    expected = sum(g * x for g, x in zip(gates, inputs))
    assert torch.allclose(subset(inputs), expected)  # sigmoid gates, not one softmax over the inputs


def test_sampled_paths_draw_subsets_of_every_size() -> None:
    supernet = to_supernet(NNISpellings(), SampledPath(seed=0))
    sizes = set()
    for _ in range(40):
        _, mixes = supernet.run(example_input(1))
        sizes.add(sum(mixes[f"skip/skip_{j}"].indices == (1,) for j in range(3)))
    assert sizes == {0, 1, 2, 3}


def test_the_export_takes_the_inputs_whose_gate_prefers_one() -> None:
    supernet = to_supernet(NNISpellings())
    with torch.no_grad():
        for label, logits in (("skip/skip_0", [1.0, 0.0]), ("skip/skip_1", [0.0, 1.0]), ("skip/skip_2", [0.0, 2.0]),
                              ("avg/skip_0", [3.0, 0.0]), ("avg/skip_1", [3.0, 0.0]), ("depth", [0.0, 0.0, 1.0])):
            supernet.arch.logits(label).copy_(torch.tensor(logits))
    sample = supernet.export()
    assert sample == {"depth": 3, "skip/skip_0": 0, "skip/skip_1": 1, "skip/skip_2": 1, "avg/skip_0": 0,
                      "avg/skip_1": 0}
    model = supernet.subnet(sample)
    assert model.skip.chosen == [1, 2] and model.avg.chosen == [] and len(model.blocks) == 3


@pytest.mark.parametrize("reduction", ["concat", "none"])
def test_a_subset_whose_output_changes_form_is_refused_by_the_supernet(reduction: str) -> None:
    class Concat(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.pick = asp.InputChoice(2, n_chosen=None, reduction=reduction, label="pick")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pick([x, x])

    with pytest.raises(asp.errors.SpaceDefinitionError, match="'pick/skip_0'.*use 'sum' or 'mean'"):
        to_supernet(Concat())


@pytest.mark.parametrize("bits", [(0, 0, 0, 0, 0), (1, 1, 1, 1, 1), (1, 0, 1, 0, 1)])
def test_the_subnet_of_a_subset_computes_the_supernet_on_that_path(bits: tuple[int, ...]) -> None:
    supernet = to_supernet(NNISpellings())
    sample = {"depth": 2, **dict(zip(["skip/skip_0", "skip/skip_1", "skip/skip_2", "avg/skip_0", "avg/skip_1"], bits))}
    subnet = supernet.subnet(sample)
    x = example_input(2)
    with torch.no_grad(), supernet.using(ControllerPath(sample)):
        assert torch.allclose(subnet(x), supernet(x), atol=1e-6)
