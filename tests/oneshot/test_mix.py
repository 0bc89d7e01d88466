"""What a :class:`Mix` carries reaches the mixed modules: partial channels (``channel_fraction``),
an edge's own factor (``edge_factor``), a pass's draw returned with its output
(:meth:`Supernet.run`), and picks of decisions without logits (a cell's wiring)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import SpaceDefinitionError
from archspace.oneshot import Mix, Softmax, WeightingPolicy, to_supernet
from archspace.oneshot.policy import all_candidates


class Shaped(WeightingPolicy):
    """Softmax weights with a given channel fraction and edge factor on every decision."""

    def __init__(self, fraction: float = 1.0, factor: torch.Tensor | None = None) -> None:
        self.fraction = fraction
        self.factor = factor

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        return Mix(tuple(range(len(values))), torch.softmax(logits, -1), edge_factor=self.factor,
                   channel_fraction=self.fraction)


class Ops(asp.ModelSpace):
    """One LayerChoice of shape-keeping ops on ``channels`` channels (PC-DARTS's ops see only the
    partial channels, so they are built for that many)."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.op = asp.LayerChoice({
            "conv": nn.Conv2d(channels, channels, 3, padding=1),
            "conv_bn": nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)),
            "pool": nn.MaxPool2d(3, 1, 1),
            "skip": nn.Identity(),
        }, label="op")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _logits(supernet: Any) -> None:
    with torch.no_grad():
        supernet.arch.logits("op").copy_(torch.tensor([0.4, -0.3, 0.2, 0.1]))


# Partial channels ----------------------------------------------------------------------------------
def test_channel_fraction_one_is_the_plain_mix_exactly() -> None:
    torch.manual_seed(0)
    space = Ops()
    x = torch.randn(2, 8, 5, 5)
    plain, full = to_supernet(space, Softmax()), to_supernet(space, Shaped(1.0))
    full.load_state_dict(plain.state_dict())
    _logits(plain)
    _logits(full)
    assert torch.equal(full(x), plain(x))


@pytest.mark.parametrize(("fraction", "seen"), [(0.5, 4), (0.3, 2), (0.01, 1)])
def test_partial_channels_run_the_share_and_pass_the_rest(fraction: float, seen: int) -> None:
    torch.manual_seed(0)
    partial = to_supernet(Ops(seen), Shaped(fraction))
    plain = to_supernet(Ops(seen), Softmax())
    plain.load_state_dict(partial.state_dict())
    x = torch.randn(3, 8, 5, 5)
    out = partial(x)
    assert out.shape == x.shape
    assert torch.equal(out[:, seen:], x[:, seen:])  # bypassed channels: unchanged
    assert torch.allclose(out[:, :seen], plain(x[:, :seen]), atol=1e-6)  # the share: the plain mix of it
    assert not torch.allclose(out[:, :seen], x[:, :seen])  # (which the ops do change)


def test_partial_channels_carry_gradients_to_weights_logits_and_the_bypass() -> None:
    torch.manual_seed(0)
    supernet = to_supernet(Ops(4), Shaped(0.5))
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    upstream = torch.randn(2, 8, 5, 5)
    (supernet(x) * upstream).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad[:, 4:], upstream[:, 4:])  # the bypass is the identity
    net: Any = supernet.net
    conv = net.op.candidates["conv"]
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    grad = supernet.arch.logits("op").grad
    assert grad is not None and bool((grad != 0).all())


def test_partial_channels_refuse_ops_that_change_the_shape() -> None:
    class Widening(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.op = asp.LayerChoice([nn.Conv2d(4, 6, 1), nn.Conv2d(4, 6, 3, padding=1)], label="wide")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.op(x)

    with pytest.raises(SpaceDefinitionError, match=r"'wide'.*partial channels.*\(2, 4, 3, 3\) -> \(2, 6, 3, 3\)"):
        to_supernet(Widening(), Shaped(0.5))(torch.randn(2, 8, 3, 3))


# Edge factors --------------------------------------------------------------------------------------
def test_pairs_and_scaled_weights_fold_the_edge_factor_in() -> None:
    weights, factor = torch.tensor([0.25, 0.75]), torch.tensor(3.0)
    mix = Mix((1, 3), weights, edge_factor=factor)
    assert [(i, float(w)) for i, w in mix.pairs()] == [(1, 0.75), (3, 2.25)]
    assert torch.equal(mix.scaled_weights(), torch.tensor([0.75, 2.25]))
    assert mix.scaled_weights() is not weights and all_candidates(weights).scaled_weights() is weights


def test_an_edge_factor_of_two_doubles_the_layers_output_exactly() -> None:
    torch.manual_seed(0)
    space = Ops()
    x = torch.randn(2, 8, 5, 5)
    plain, doubled = to_supernet(space, Softmax()), to_supernet(space, Shaped(factor=torch.tensor(2.0)))
    doubled.load_state_dict(plain.state_dict())
    plain.eval()
    doubled.eval()  # batch norm on running statistics: the same affine map in both
    assert torch.equal(doubled(x), 2 * plain(x))  # a power of two scales every rounding step exactly


def test_the_edge_factor_scales_inputs_and_depths_and_gets_its_gradient() -> None:
    class Rest(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.pick = asp.InputChoice(2, 1, "sum", label="pick")
            self.stack = asp.Repeat(lambda i: nn.Linear(4, 4), depth=asp.choice("depth", [1, 2]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.stack(self.pick([x, 2 * x]))

    torch.manual_seed(0)
    space = Rest()
    x = torch.randn(3, 4)
    factor = torch.tensor(0.3, requires_grad=True)
    plain, scaled = to_supernet(space, Softmax()), to_supernet(space, Shaped(factor=factor))
    scaled.load_state_dict(plain.state_dict())
    base = plain(x)
    out = scaled(x)
    # the InputChoice's sum is scaled by 0.3 before a Linear, then the Repeat's mix by 0.3 again
    pick = torch.softmax(plain.arch.logits("pick"), -1)
    depth = torch.softmax(plain.arch.logits("depth"), -1)
    net: Any = plain.net
    blocks = net.stack.blocks
    h = 0.3 * (pick[0] * x + pick[1] * 2 * x)
    expected = 0.3 * (depth[0] * blocks[0](h) + depth[1] * blocks[1](blocks[0](h)))
    assert torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(out, base, atol=1e-3)
    out.sum().backward()
    assert factor.grad is not None and float(factor.grad) != 0.0


# The pass's draw ---------------------------------------------------------------------------------------
def test_run_returns_the_output_and_every_mix_the_pass_ran_with() -> None:
    torch.manual_seed(0)
    supernet = to_supernet(Ops(), Softmax())
    x = torch.randn(2, 8, 5, 5)
    out, drawn = supernet.run(x)
    assert torch.equal(out, supernet(x))
    assert set(drawn) == set(supernet.arch.names) == {"op"}
    assert torch.equal(drawn["op"].weights, torch.softmax(supernet.arch.logits("op"), -1))
    with pytest.raises(TypeError):
        drawn["op"] = drawn["op"]  # type: ignore[index]  # a record of the pass, not a dict to poke


# Picks of decisions without logits (a cell's wiring) --------------------------------------------------------
def _cell_ops(node: int, k: int, source: int) -> dict[str, nn.Module]:
    return {"conv": nn.Conv2d(3, 3, 1), "skip": nn.Identity()}


class TwoCells(asp.ModelSpace):
    """One cell run ``times`` in a pass (its labels shared); its last node is its output."""

    def __init__(self, times: int = 2) -> None:
        super().__init__()
        self.times = times
        self.cell = asp.Cell(_cell_ops, num_nodes=2, num_ops_per_node=1, num_predecessors=1, merge_op="loose_end",
                             label="cell")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.times):
            x = self.cell(x)
        return x


class Picking(Softmax):
    """Softmax on logits, and a fixed pick of the cell's own decisions, counting the asks."""

    def __init__(self, sample: dict[str, Any]) -> None:
        self.sample = sample
        self.asked: Counter[str] = Counter()

    def pick(self, label: str, values: Sequence[Any]) -> Mix | None:
        self.asked[label] += 1
        return Mix((list(values).index(self.sample[label]),), torch.ones(1))


def test_a_policy_that_picks_runs_exactly_its_wiring_once_asked_per_pass() -> None:
    torch.manual_seed(0)
    space = TwoCells()
    sample = {label: space.search_space()[label].values[-1] for label in space.search_space()}
    policy = Picking(sample)
    supernet = to_supernet(space, policy)
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        out = supernet(x)
        expected = supernet.subnet(sample)(x)
    assert torch.allclose(out, expected, atol=1e-6)
    assert set(policy.asked) == set(sample) and set(policy.asked.values()) == {1}  # two cells, one ask


def _conv_calls(supernet: Any, x: torch.Tensor) -> int:
    calls: list[int] = []
    for module in supernet.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        supernet(x)
    return len(calls)


def test_the_default_policy_picks_nothing_and_mixes_every_edge() -> None:
    torch.manual_seed(0)
    space = TwoCells(times=1)
    assert WeightingPolicy().pick("cell/input_1_0", [0]) is None
    sample = {label: "conv" if "/op_" in label else space.search_space()[label].values[-1]
              for label in space.search_space()}
    x = torch.randn(2, 3, 4, 4)
    assert _conv_calls(to_supernet(space, Softmax()), x) == 3  # edges 1<-0, 2<-0, 2<-1: all mixed
    assert _conv_calls(to_supernet(space, Picking(sample)), x) == 2  # one picked term per node
