"""Gumbel-softmax DARTS — the GDAS / FBNet family.

Dong & Yang, "Searching for a Robust Neural Architecture in Four GPU Hours" (GDAS, CVPR 2019);
Wu et al., "FBNet" (CVPR 2019). Each decision is a Gumbel-softmax sample of its logits
(:class:`Gumbel`), so every step trains one (hard) or a sharply weighted (soft) architecture, and
the temperature is annealed from ``tau_max`` to ``tau_min`` geometrically over the epochs (FBNet
decays it by a constant factor per epoch). Updates alternate as in first-order DARTS. With
``hard=True`` the forward pass uses a one-hot sample with straight-through gradients and every
mixed form runs only the sampled candidate (GDAS); shared labels get the same sample within a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from archspace.oneshot.distributed import average_gradients
from archspace.oneshot.loop import Batch, LossFn, OneShotTrainer
from archspace.oneshot.policy import Mix, WeightingPolicy, all_candidates


class Gumbel(WeightingPolicy):
    """Gumbel-softmax samples of the logits in training, their softmax in evaluation.

    Draws from torch's global generator, which the trainer seeds and checkpoints.

    Args:
        tau: the temperature (the trainer anneals it per epoch).
        hard: one-hot samples with straight-through gradients; only the sampled candidate runs,
            its weight carrying the gradient to every logit.
    """

    def __init__(self, tau: float = 1.0, hard: bool = False) -> None:
        self.tau = tau
        self.hard = hard

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        if not training:
            return all_candidates(torch.softmax(logits, -1))
        weights = nn.functional.gumbel_softmax(logits, tau=self.tau, hard=self.hard)
        if self.hard:
            index = int(weights.detach().argmax())
            return Mix((index,), weights[index:index + 1])
        return all_candidates(weights)


class GumbelDARTS(OneShotTrainer):
    """Gumbel-softmax differentiable search (see the module docstring).

    Args:
        tau_max, tau_min: the temperature at the first and the last epoch (GDAS: 10 and 0.1; FBNet
            starts at 5).
        hard: straight-through one-hot samples.
        **kwargs: :class:`~archspace.oneshot.OneShotTrainer` settings.
    """

    def __init__(self, *, tau_max: float = 10.0, tau_min: float = 0.1, hard: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got {tau_min} and {tau_max}")
        self.tau_max = tau_max
        self.tau_min = tau_min
        self.hard = hard

    def make_policy(self) -> Gumbel:
        return Gumbel(tau=self.tau_max, hard=self.hard)

    def temperature(self, epoch: int) -> float:
        """The temperature at ``epoch`` (geometric from tau_max to tau_min)."""
        if self.epochs <= 1:
            return self.tau_max
        return self.tau_max * (self.tau_min / self.tau_max) ** (epoch / (self.epochs - 1))

    def on_epoch_start(self, epoch: int) -> None:
        assert isinstance(self.policy, Gumbel)
        self.policy.tau = self.temperature(epoch)

    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        xv, yv = val
        self.arch_optimizer.zero_grad(set_to_none=True)
        val_loss = loss_fn(self.supernet(xv), yv)
        self.arch_backward(val_loss)
        average_gradients(list(self.supernet.arch_parameters()))
        self.arch_optimizer.step()
        train_loss = self.weight_step(train, loss_fn)
        assert isinstance(self.policy, Gumbel)
        return {"train_loss": train_loss, "val_loss": float(val_loss.detach()), "tau": self.policy.tau}


__all__ = ["Gumbel", "GumbelDARTS"]
