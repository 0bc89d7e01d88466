"""DrNAS: the weights are a reparameterised Dirichlet draw of ``elu(x) + 1`` (gradients reach the
concentration), evaluation and export use the Dirichlet mean, the regularisers equal their formulas
on a hand-made concentration, and the search finds the right op on a toy task."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.special import digamma, gammaln
from torch.distributions import Dirichlet

from archspace.oneshot import ONESHOT, DirichletWeights, DrNAS, create_oneshot
from archspace.oneshot.drnas import concentration
from tests.oneshot.helpers import Smooth, Toy, toy_data

X = [0.3, -0.7, 1.2, 0.0]


def test_training_weights_are_torchs_reparameterised_dirichlet_sample_of_elu_plus_one() -> None:
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(7)
    mix = DirichletWeights().mix("op", x, ["a", "b", "c", "d"], training=True)
    beta = (torch.nn.functional.elu(x.detach()) + 1).requires_grad_(True)
    torch.manual_seed(7)
    reference = Dirichlet(beta).rsample()
    assert mix.indices == (0, 1, 2, 3)
    assert torch.equal(mix.weights.detach(), reference.detach())
    assert mix.distribution is mix.weights
    assert float(mix.weights.detach().sum()) == pytest.approx(1.0, abs=1e-12)
    # The pathwise gradient reaches x through the concentration: d theta_0 / dx = d theta_0 / d beta * elu'(x).
    (through_x,) = torch.autograd.grad(mix.weights[0], x)
    (through_beta,) = torch.autograd.grad(reference[0], beta)
    elu_slope = torch.where(x.detach() > 0, torch.ones_like(x), torch.exp(x.detach()))
    assert torch.allclose(through_x, through_beta * elu_slope, rtol=1e-12, atol=0)
    assert bool((through_x != 0).all())


def test_a_supernet_pass_draws_the_seeded_dirichlet_sample_and_evaluation_uses_the_mean() -> None:
    trainer = DrNAS(epochs=1, progress=False)
    supernet = trainer.build(Toy())
    with torch.no_grad():
        supernet.arch.logits("op").copy_(torch.tensor([-0.5, 0.3, 0.1]))
    beta = concentration(supernet.arch.logits("op").detach())
    x = torch.randn(4, 8)
    supernet.train()
    torch.manual_seed(11)
    _, drawn = supernet.run(x)
    torch.manual_seed(11)
    assert torch.equal(drawn["op"].weights.detach(), Dirichlet(beta).rsample())
    supernet.eval()
    _, drawn = supernet.run(x)
    assert torch.equal(drawn["op"].weights, beta / beta.sum())
    # The mean of Dir(exp(-0.5), 1.3, 1.1) is largest for the second value: export takes it.
    assert int((beta / beta.sum()).argmax()) == 1
    assert supernet.export() == {"op": "zero"} == trainer.export()


def _hand_logits(trainer: DrNAS) -> dict[str, list[float]]:
    values = {"act": [0.5, -1.0, 2.0], "mid": [0.25, -0.25]}
    with torch.no_grad():
        for label, xs in values.items():
            trainer.supernet.arch.logits(label).copy_(torch.tensor(xs))
    return values


def _kl_to_uniform(alpha: list[float]) -> float:
    """KL(Dir(alpha) || Dir(1, ..., 1)) by the closed form."""
    a0, k = sum(alpha), len(alpha)
    return float(gammaln(a0) - sum(gammaln(a) for a in alpha) - gammaln(k)
                 + sum((a - 1) * (digamma(a) - digamma(a0)) for a in alpha))


def test_l2_regulariser_is_half_the_scaled_squared_norm() -> None:
    trainer = DrNAS(epochs=1, reg_scale=1e-3, progress=False)
    trainer.build(Smooth())
    values = _hand_logits(trainer)
    expected = 1e-3 * 0.5 * sum(v * v for xs in values.values() for v in xs)  # 1e-3 * 0.5 * 5.375
    assert float(trainer.regularization().detach()) == pytest.approx(expected, rel=1e-6)


def test_kl_regulariser_is_the_closed_form_kl_to_the_uniform_dirichlet() -> None:
    trainer = DrNAS(epochs=1, regularizer="kl", reg_scale=0.5, progress=False)
    trainer.build(Smooth())
    values = _hand_logits(trainer)
    elu_plus_one = {label: [v + 1 if v > 0 else math.exp(v) for v in xs] for label, xs in values.items()}
    assert elu_plus_one["act"] == pytest.approx([1.5, math.exp(-1.0), 3.0])
    expected = 0.5 * sum(_kl_to_uniform(alpha) for alpha in elu_plus_one.values())
    assert float(trainer.regularization().detach()) == pytest.approx(expected, rel=1e-5)


def test_l2_penalty_steps_exactly_as_the_official_adam_weight_decay() -> None:
    """The official code puts the l2 regulariser into Adam's weight decay; the penalty in the loss
    gives the same updates."""
    trainer = DrNAS(epochs=1, reg_scale=1e-3, arch_learning_rate=0.05, progress=False)
    supernet = trainer.build(Smooth())
    _hand_logits(trainer)
    copies = [p.detach().clone().requires_grad_(True) for p in supernet.arch_parameters()]
    official = torch.optim.Adam(copies, lr=0.05, betas=(0.5, 0.999), weight_decay=1e-3)
    assert trainer.arch_optimizer.param_groups[0]["weight_decay"] == 0.0
    target = [torch.randn(p.shape) for p in copies]

    def surrogate(params: list[torch.Tensor]) -> torch.Tensor:
        return sum(((p - t) ** 2).sum() for p, t in zip(params, target))  # type: ignore[return-value]

    for _ in range(3):
        trainer.arch_optimizer.zero_grad(set_to_none=True)
        trainer.arch_backward(surrogate(list(supernet.arch_parameters())) + trainer.regularization())
        trainer.arch_optimizer.step()
        official.zero_grad(set_to_none=True)
        surrogate(copies).backward()
        official.step()
    for ours, theirs in zip(supernet.arch_parameters(), copies):
        assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_search_finds_the_right_candidate() -> None:
    train, val = toy_data()
    trainer = DrNAS(epochs=20, arch_learning_rate=3e-3, progress=False)
    assert trainer.fit(Toy(), train, val) == {"op": "keep"}  # 20 epochs x 8 steps
    logits = trainer.supernet.arch.logits("op").detach()
    mean = concentration(logits) / concentration(logits).sum()
    assert int(mean.argmax()) == 0 and float(mean[0]) > 0.4


def test_registered_with_the_official_defaults_and_checked_settings() -> None:
    assert ONESHOT.get("drnas") is DrNAS
    trainer = create_oneshot("drnas")
    assert (trainer.epochs, trainer.regularizer, trainer.reg_scale, trainer.arch_weight_decay) == (100, "l2", 1e-3, 0.0)
    assert (trainer.learning_rate, trainer.min_learning_rate, trainer.arch_learning_rate) == (0.025, 0.001, 3e-4)
    with pytest.raises(ValueError, match="regularizer must be one of"):
        DrNAS(regularizer="l1")
    with pytest.raises(ValueError, match="reg_scale"):
        DrNAS(reg_scale=-1.0)


def test_a_pinned_answer_far_below_zero_still_draws_a_valid_dirichlet() -> None:
    trainer = DrNAS(epochs=1, progress=False)
    supernet = trainer.build(Toy())
    supernet.pin({"op": "noise"})  # the other logits at -20: elu(-20) + 1 rounds to 0 in float32
    supernet.train()
    _, drawn = supernet.run(torch.randn(4, 8))
    weights = drawn["op"].weights.detach()
    assert bool(torch.isfinite(weights).all()) and float(weights[2]) == pytest.approx(1.0)
    assert supernet.export() == {"op": "noise"}
