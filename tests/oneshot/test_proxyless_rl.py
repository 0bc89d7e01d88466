"""ProxylessNAS's REINFORCE update (``arch_algo="rl"``, the paper's Proxyless-R): the exact
gradient and the official baseline rule, the MnasNet-style latency reward, a clear learning
outcome (the accurate candidate wins, ``none`` loses), the one-shot contract on a hub space and a
user's spaces, two torchrun-style ranks identical, and bad settings refused."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.hub import ProxylessNASSpace
from archspace.oneshot import ProxylessNAS
from archspace.oneshot.latency_loss import LatencyLoss, LatencyLossError
from archspace.testing import SharedNet
from archspace.testing.generated import GeneratedSpace, example_input
from archspace.testing.oneshot_contracts import check_two_ranks_identical, check_user_space

RL = functools.partial(ProxylessNAS, arch_algo="rl")


class Fixed(nn.Module):
    """A 4 -> 3 linear map with frozen weights (the REINFORCE step must not need them to learn)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T


class Zero(nn.Module):
    zero_output = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :3].mul(0.0)


TRUE = torch.tensor([[1.0, -1.0, 0.5, 0.0], [-0.5, 1.0, 1.0, -1.0], [0.2, 0.3, -1.0, 1.0]])


class Three(asp.ModelSpace):
    """``none``, the labelling map itself (accuracy 1) and a random map (far below it)."""

    def __init__(self) -> None:
        super().__init__()
        bad = nn.Linear(4, 3, bias=False)  # trainable (the weight optimiser needs a parameter); no step here
        with torch.no_grad():
            bad.weight.copy_(torch.randn(3, 4, generator=torch.Generator().manual_seed(5)))
        self.op = asp.LayerChoice({"none": Zero(), "good": Fixed(TRUE), "bad": bad}, label="op")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x)
        return out


def _labelled(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
    return x, (x @ TRUE.T).argmax(1)


def test_the_update_is_reinforce_with_the_official_baseline_exactly() -> None:
    trainer = ProxylessNAS(epochs=1, progress=False, arch_algo="rl", rl_batch_size=4, seed=2)
    supernet = trainer.build(Three())
    with torch.no_grad():
        supernet.arch.logits("op").copy_(torch.tensor([0.2, -0.1, 0.4]))
    seen: list[tuple[float, int]] = []
    reward = trainer.rl_reward

    def recording(output: Any, target: torch.Tensor, drawn: Any, loss_fn: Any, *rest: Any) -> float:
        value = reward(output, target, drawn, loss_fn, *rest)
        seen.append((value, drawn["op"].indices[0]))
        return value

    trainer.rl_reward = recording  # type: ignore[method-assign]
    grads: list[torch.Tensor] = []
    step = trainer.arch_optimizer.step

    def capturing(*args: Any, **kwargs: Any) -> Any:
        grads.append(supernet.arch.logits("op").grad.detach().clone())  # type: ignore[union-attr]
        return step(*args, **kwargs)

    trainer.arch_optimizer.step = capturing  # type: ignore[method-assign]
    baseline: float | None = None
    drawn_anywhere: set[int] = set()
    for update in range(3):
        seen.clear()
        p = torch.softmax(supernet.arch.logits("op").detach(), -1)
        x, y = _labelled(32, seed=update)
        stats = trainer.arch_step((x, y), nn.functional.cross_entropy)
        assert len(seen) == 4
        drawn_anywhere |= {i for _, i in seen}
        for value, index in seen:  # the reward is the drawn network's accuracy on the batch
            output = x @ TRUE.T if index == 1 else supernet.net.op.candidates["bad"](x) if index == 2 else x[:, :3] * 0
            assert value == pytest.approx(float((output.argmax(1) == y).float().mean()))
        mean = sum(v for v, _ in seen) / 4
        baseline = mean if baseline is None else baseline + 0.99 * (mean - baseline)  # the official rule
        assert stats == {"reward": pytest.approx(mean), "baseline": pytest.approx(baseline)}
        expected = -sum((v - baseline) * (nn.functional.one_hot(torch.tensor(i), 3).float() - p) for v, i in seen) / 4
        assert torch.allclose(grads[-1], expected, atol=1e-6), (grads[-1], expected)
    assert len(grads) == 3 and len(drawn_anywhere) > 1  # every update stepped; the draws vary


def test_the_accurate_candidate_wins_and_none_loses() -> None:
    trainer = ProxylessNAS(epochs=1, progress=False, arch_algo="rl", rl_batch_size=6, arch_learning_rate=0.1, seed=0)
    supernet = trainer.build(Three())
    for update in range(40):
        trainer.arch_step(_labelled(64, seed=100 + update), nn.functional.cross_entropy)
    p = torch.softmax(supernet.arch.logits("op").detach(), -1)
    assert float(p[1]) > 0.8 and float(p[0]) < 0.1, p
    assert dict(supernet.export())["op"] == "good"


def test_the_latency_reward_is_mnasnets_product_with_the_paths_latency() -> None:
    class Table:  # the op's three candidates cost 1, 2 and 4 ms, plus 0.5 fixed
        def choice_costs(self) -> dict[str, list[float]]:
            return {"op": [1.0, 2.0, 4.0]}

        def expected_latency(self, w: dict[str, torch.Tensor]) -> torch.Tensor:
            return 0.5 + (w["op"] * torch.tensor([1.0, 2.0, 4.0])).sum()

    trainer = ProxylessNAS(epochs=1, progress=False, arch_algo="rl", rl_tradeoff=0.3,
                           latency=LatencyLoss(Table(), target_ms=2.0))  # type: ignore[arg-type]
    supernet = trainer.build(Three())
    x, y = _labelled(16, seed=3)
    for index, name in enumerate(["none", "good", "bad"]):
        with torch.no_grad():
            output = supernet.net.op.candidates[name](x)
        drawn = {"op": type("M", (), {"indices": (index,)})()}
        accuracy = float((output.argmax(1) == y).float().mean())
        expected = accuracy * (2.0 / (0.5 + [1.0, 2.0, 4.0][index])) ** 0.3
        assert trainer.rl_reward(output, y, drawn, nn.functional.cross_entropy) == pytest.approx(expected)
        # not class logits (a float target): the reward is -loss, divided by the factor, so a
        # slower path still scores lower
        target = torch.zeros_like(output)
        loss = float(nn.functional.mse_loss(output, target))
        slower = loss * ((0.5 + [1.0, 2.0, 4.0][index]) / 2.0) ** 0.3
        assert trainer.rl_reward(output, target, drawn, nn.functional.mse_loss) == pytest.approx(-slower)


def test_the_contract_on_a_hub_space_and_a_users_spaces() -> None:
    """``check_user_space`` (whose search need not move the logits): the contract's search is one
    batch of a few random examples, on which the ten drawn networks' accuracies can all tie, and
    REINFORCE then rightly moves nothing (the learning test above asserts that it moves)."""
    small = ProxylessNASSpace.small()
    torch.manual_seed(0)
    check_user_space(RL, ProxylessNASSpace.small, small.example_input(), num_classes=10)
    spec = {"width": [4, 8], "blocks": [{"kind": "layer", "label": "op0", "ops": ["conv3", "kconv"], "nested": False},
                                        {"kind": "repeat", "label": "rep1", "depths": [1, 2]},
                                        {"kind": "value", "label": "k2", "kernel": [1, 3]},
                                        {"kind": "cell", "label": "cell3", "nodes": 2, "ops_per_node": 1, "merge": "all"},
                                        {"kind": "input", "label": "in4", "chosen": 1, "reduction": "sum"}]}
    check_user_space(RL, functools.partial(GeneratedSpace, spec), example_input(), 10)


def test_two_ranks_end_identical() -> None:
    check_two_ranks_identical(RL, SharedNet, torch.randn(4, 1, 8, 8), num_classes=10)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="arch_algo must be 'grad' .* or 'rl'"):
        ProxylessNAS(arch_algo="reinforce")
    with pytest.raises(ValueError, match="skip_zero_active applies to arch_algo='grad' only"):
        ProxylessNAS(arch_algo="rl", skip_zero_active=True)
    with pytest.raises(ValueError, match="rl_batch_size must be an int >= 1"):
        ProxylessNAS(arch_algo="rl", rl_batch_size=0)
    with pytest.raises(ValueError, match=r"rl_baseline_weight must be in \[0, 1\]"):
        ProxylessNAS(arch_algo="rl", rl_baseline_weight=1.5)
    with pytest.raises(ValueError, match="rl_tradeoff must be a number >= 0"):
        ProxylessNAS(arch_algo="rl", rl_tradeoff=-0.1)

    class Table:
        def choice_costs(self) -> dict[str, list[float]]:
            return {"op": [1.0, 2.0, 4.0]}

        def expected_latency(self, w: dict[str, torch.Tensor]) -> torch.Tensor:
            return (w["op"] * torch.tensor([1.0, 2.0, 4.0])).sum()

    with pytest.raises(LatencyLossError, match="give the LatencyLoss a target_ms"):
        ProxylessNAS(arch_algo="rl", latency=LatencyLoss(Table()))  # type: ignore[arg-type]
    assert math.isclose(ProxylessNAS(arch_algo="rl").rl_baseline_weight, 0.99)
    trainer = ProxylessNAS(arch_algo="rl")
    trainer.build(Three())
    with pytest.raises(LatencyLossError, match="path_latency needs a latency term"):
        trainer.path_latency({})
