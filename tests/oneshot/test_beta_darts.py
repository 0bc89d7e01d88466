"""β-DARTS: the Beta-Decay term exactly (value, schedule, its gradient in the first- and
second-order architecture steps), what it does to the logits, and its settings' errors. It joins
the contract suites (every ``ONESHOT.list()`` test) and ``Experiment`` like every algorithm."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from archspace.errors import ArchspaceError
from archspace.oneshot import DARTS, ONESHOT, BetaDARTS
from archspace.oneshot.beta_darts import beta_decay
from tests.oneshot.helpers import Smooth, Toy, toy_data


def test_beta_decay_is_the_mean_smooth_maximum_of_the_logits() -> None:
    a, b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([3.0, -1.0])
    expected = (math.log(1 + math.e + math.e ** 2) + math.log(math.e ** 3 + math.e ** -1)) / 2
    assert math.isclose(float(beta_decay([a, b])), expected, rel_tol=1e-6)
    x = torch.tensor([0.5, -0.3, 1.2], requires_grad=True)
    (grad,) = torch.autograd.grad(beta_decay([x]), [x])
    assert torch.allclose(grad, torch.softmax(x.detach(), -1))  # the gradient is the activated weights
    assert float(beta_decay([])) == 0.0


def test_the_weight_grows_linearly_from_zero_to_beta_weight() -> None:
    trainer = BetaDARTS(epochs=100, progress=False)
    assert [trainer.decay_weight(t) for t in (0, 1, 50, 99)] == [0.0, 0.5, 25.0, 49.5]  # official: 50 t / 100
    short = BetaDARTS(epochs=10, beta_weight=20, progress=False)
    assert [short.decay_weight(t) for t in (0, 5, 9)] == [0.0, 10.0, 18.0]


def _recorded_arch_gradients(trainer: DARTS, batches: tuple[Any, Any]) -> list[torch.Tensor]:
    """Run one ``step`` and return the logits' gradients the architecture optimiser was handed."""
    seen: list[torch.Tensor] = []
    trainer.arch_optimizer.step = lambda *a, **k: seen.extend(  # type: ignore[method-assign]
        p.grad.detach().clone() for p in trainer.supernet.arch_parameters())
    trainer.step(batches[0], batches[1], torch.nn.functional.cross_entropy)
    return seen


@pytest.mark.parametrize("order", [1, 2])
def test_the_architecture_gradient_is_darts_plus_the_weighted_softmax(order: int) -> None:
    """At epoch t the logits' gradient is DARTS's (first or second order, from the same weights)
    plus ``lambda_t * softmax(alpha) / decisions`` — the regulariser's own gradient, exactly."""
    torch.manual_seed(0)
    xt, yt = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    xv, yv = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    grads = []
    for trainer in (DARTS(order=order, epochs=10, progress=False),
                    BetaDARTS(order=order, epochs=10, beta_weight=30, progress=False)):
        supernet = trainer.build(Smooth())
        supernet.double()
        with torch.no_grad():
            for p in supernet.arch_parameters():
                p.copy_(torch.linspace(-1, 1, p.numel(), dtype=p.dtype).reshape(p.shape))
        trainer.epoch = 7
        grads.append(_recorded_arch_gradients(trainer, ((xt, yt), (xv, yv))))
    logits = [p.detach() for p in supernet.arch_parameters()]
    weight = 30 * 7 / 10
    for plain, beta, alpha in zip(*grads, logits):
        assert torch.allclose(beta, plain + weight * torch.softmax(alpha, -1) / len(logits), atol=1e-10)


def test_at_epoch_zero_it_is_darts_step_for_step() -> None:
    torch.manual_seed(0)
    batch = (torch.randn(16, 4), torch.randint(0, 3, (16,)))
    plain, beta = DARTS(epochs=10, progress=False), BetaDARTS(epochs=10, progress=False)
    plain.build(Smooth())
    beta.build(Smooth())
    assert all(torch.equal(a, b) for a, b in zip(_recorded_arch_gradients(plain, (batch, batch)),
                                                 _recorded_arch_gradients(beta, (batch, batch))))


def test_it_flattens_the_distribution_darts_sharpens() -> None:
    """The paper's effect on a toy decision with a clear answer (160 steps, one decision, so the
    term is six times NB201's per edge): plain DARTS sharpens onto ``keep``; the same run with
    the regulariser keeps the three logits close together (the strongest pulled down hardest)."""
    train, val = toy_data()
    spread = {}
    for name, trainer in {"darts": DARTS(epochs=20, arch_learning_rate=3e-3, progress=False),
                          "beta": BetaDARTS(epochs=20, arch_learning_rate=3e-3, beta_weight=1, progress=False)}.items():
        sample = trainer.fit(Toy(), train, val)
        logits = trainer.supernet.arch.logits("op").detach()
        spread[name] = float(logits.max() - logits.min())
        if name == "darts":
            assert sample == {"op": "keep"}
    assert spread["beta"] < 0.25 * spread["darts"], spread


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "50", True])
def test_a_bad_beta_weight_is_refused_with_what_is_allowed(bad: Any) -> None:
    with pytest.raises(ArchspaceError, match="beta_weight must be a finite number >= 0"):
        BetaDARTS(beta_weight=bad)


def test_it_is_registered_and_takes_darts_settings() -> None:
    trainer = ONESHOT.create("betadarts", order=2, epochs=3, beta_weight=10)
    assert isinstance(trainer, BetaDARTS) and trainer.order == 2 and trainer.beta_weight == 10.0
