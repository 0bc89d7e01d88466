"""supernet.subnet(sample): the plain model of a sample with the weights it was trained with."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.oneshot import DARTS, SampledPath, Supernet
from archspace.testing import CellNet, ExampleNet, NestedNet


class Kernels(asp.ModelSpace):
    """Channel and kernel choices through conv, batch norm and linear layers."""

    def __init__(self) -> None:
        super().__init__()
        width = asp.choice("width", [4, 6, 8])
        k = asp.choice("k", [1, 3, 5])
        self.conv1 = asp.nn.Conv2d(1, width, k, padding=k // 2)
        self.bn = asp.nn.BatchNorm2d(width)
        k2 = asp.choice("k2", [3, 5])
        self.conv2 = asp.nn.Conv2d(width, width * 2, k2, padding=k2 // 2)
        self.head = asp.nn.Linear(width * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(torch.relu(self.bn(self.conv1(x))))
        return self.head(x.mean((2, 3)))


def _trained(make: Callable[[], asp.ModelSpace]) -> Supernet:
    """A supernet after a few DARTS steps (weights and batch-norm statistics moved)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(4)]
    trainer = DARTS(order=1, epochs=1, progress=False)
    trainer.fit(make(), data[:2], data[2:])
    return trainer.supernet


@pytest.mark.parametrize("make", [Kernels, ExampleNet, NestedNet], ids=["kernels", "example", "nested"])
def test_subnet_matches_the_supernet_on_the_fixed_path(make: Callable[[], asp.ModelSpace]) -> None:
    supernet = _trained(make)
    space = make()
    x = torch.randn(5, 1, 8, 8)
    for seed in range(3):
        sample = space.random_sample(seed)
        model = supernet.subnet(sample)
        assert isinstance(model, type(space)) and model.frozen_sample == space.validate(sample)
        supernet.eval()
        model.eval()
        with torch.no_grad(), supernet.using(SampledPath(sample)):
            expected = supernet(x)
        assert torch.allclose(model(x), expected, atol=1e-5), sample
        # Loadable into a model built under fixed_arch: same keys and shapes, same outputs.
        with asp.fixed_arch(sample):
            built = make()
        assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
        built.load_state_dict(model.state_dict())
        built.eval()
        assert torch.equal(built(x), model(x))


def test_subnet_takes_the_centred_kernel_and_leading_channels() -> None:
    supernet = _trained(Kernels)
    model = supernet.subnet({"width": 4, "k": 3, "k2": 5})
    big = supernet.net.conv1.layer.weight
    assert model.conv1.weight.shape == (4, 1, 3, 3)
    assert torch.equal(model.conv1.weight, big[:4, :, 1:4, 1:4])
    assert torch.equal(model.bn.running_var, supernet.net.bn.layer.running_var[:4])
    assert not any(isinstance(m, nn.ModuleDict) for m in model.modules())  # a plain model


def test_subnet_of_a_cell_space_carries_the_trained_edge_ops() -> None:
    supernet = _trained(lambda: CellNet(channels=4))
    sample = supernet.export()
    model = supernet.subnet(sample)
    cell = model.cell1
    node, term = 0, 0
    source = sample["cell1/input_2_0"]
    op = sample["cell1/op_2_0"]
    trained = supernet.net.cell1.edges[f"2_{source}"].candidates[op]
    assert cell.ops[node][term].state_dict().keys() == trained.state_dict().keys()
    for key, value in trained.state_dict().items():
        assert torch.equal(cell.ops[node][term].state_dict()[key], value)


@pytest.mark.parametrize("space", ["darts", "shufflenet_spos", "proxylessnas"])
def test_subnets_share_nothing_with_the_supernet_and_leave_it_untouched(space: str) -> None:
    """subnet() reads the supernet's modules without copying them (copy on write): the supernet's
    module tree, weights and statistics stay as they were, and a subnet trained on does not write
    back into the supernet's tensors."""
    from archspace.hub import space_class
    from archspace.oneshot import SPOS

    factory = space_class(space).small
    torch.manual_seed(0)
    supernet = SPOS(epochs=1, progress=False).build(factory(oneshot=True))
    tree = {name: id(module) for name, module in supernet.named_modules()}
    children = {name: dict(module._modules) for name, module in supernet.named_modules()}
    state = {k: v.clone() for k, v in supernet.state_dict().items()}
    storages = {v.untyped_storage().data_ptr() for v in supernet.state_dict().values() if v.numel()}
    x = factory().example_input(2)
    for seed in range(3):
        model = supernet.subnet(supernet.space[0].random_sample(seed))
        assert not storages & {p.untyped_storage().data_ptr() for p in model.state_dict().values() if p.numel()}
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        out = model(x)
        (out[0] if isinstance(out, tuple) else out).float().pow(2).mean().backward()
        optimizer.step()
    assert {name: id(module) for name, module in supernet.named_modules()} == tree
    assert {name: dict(module._modules) for name, module in supernet.named_modules()} == children
    after = supernet.state_dict()
    assert after.keys() == state.keys()
    assert [k for k in state if not torch.equal(after[k], state[k])] == []
