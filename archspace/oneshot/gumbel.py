"""Gumbel-softmax DARTS — the GDAS / FBNet family.

Dong & Yang, "Searching for a Robust Neural Architecture in Four GPU Hours" (GDAS, CVPR 2019);
Wu et al., "FBNet" (CVPR 2019). Each decision is a Gumbel-softmax sample of its logits
(:class:`Gumbel`), so every step trains one (hard) or a sharply weighted (soft) architecture, and
the temperature is annealed from ``tau_max`` to ``tau_min`` over the epochs: linearly for GDAS
(its code, which NAS-Bench-201 ran: ``tau_max - (tau_max - tau_min) * epoch / (epochs - 1)``) and
geometrically for FBNet (a constant factor per epoch); ``tau_schedule`` picks, by default the
paper's of the mode (``hard=True``: linear). Updates alternate as in first-order DARTS. With
``hard=True`` the forward pass uses a one-hot sample with straight-through gradients and every
mixed form runs only the sampled candidate (GDAS); shared labels get the same sample within a pass.
GDAS's NB201 code adds each candidate that was not drawn to the edge's output as a scalar, its
straight-through weight (zero in value, the softmax's gradient in the backward pass:
``forward_gdas``); its ``forward_gdas_v1`` variant runs only the drawn candidate.
``undrawn_terms=True`` does the former for every LayerChoice (:attr:`Mix.undrawn`), so a drawn
``none``, whose output is zero and so gives its own weight no gradient, still moves the other
candidates' logits; the default is the latter (a scalar added to an output has no meaning for
the value choices and other mixed forms this trainer also serves, which ignore the terms).

``warmup_epochs`` train only the weights first, on paths drawn from the (still uniform) logits, and
the temperature anneals over the epochs after them. Neither paper warms up; it is offered because
a warm-up is the usual remedy for an architecture distribution that commits before the weights
of the paths it cuts have learned anything (ProxylessNAS and PC-DARTS use one). Measured on
Fashion-201 (``benchmarks/oneshot_quality.py``, README) it did not stop GDAS's collapse to
``none`` there: the edges summed into a node compete for weight, and ``none`` wins by the others
losing.

FBNet's hardware-aware loss: with ``latency=LatencyLoss(table, ...)`` (``latency_loss.py``) the
architecture step minimises the validation loss with FBNet's latency term, the table's latency
taken under the very Gumbel weights the validation pass sampled. NNI also scales the weight step's
loss by the term; that is a constant factor for the weights (a learning-rate scale) and is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from archspace.nn.space import ModelSpace
from archspace.oneshot.distributed import average_gradients
from archspace.oneshot.latency_loss import LatencyLoss, LatencyLossError
from archspace.oneshot.loop import Batch, LossFn, OneShotTrainer
from archspace.oneshot.policy import Mix, WeightingPolicy, all_candidates
from archspace.oneshot.supernet import Supernet


class Gumbel(WeightingPolicy):
    """Gumbel-softmax samples of the logits in training, their softmax in evaluation.

    Draws from torch's global generator, which the trainer seeds and checkpoints.

    Args:
        tau: the temperature (the trainer anneals it per epoch).
        hard: one-hot samples with straight-through gradients; only the sampled candidate runs,
            its weight carrying the gradient to every logit.
        undrawn_terms: with ``hard``, the other candidates' weights join a LayerChoice's output
            as scalars (GDAS's ``forward_gdas``; :attr:`Mix.undrawn`).
    """

    def __init__(self, tau: float = 1.0, hard: bool = False, undrawn_terms: bool = False) -> None:
        self.tau = tau
        self.hard = hard
        self.undrawn_terms = undrawn_terms

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        if not training:
            return all_candidates(torch.softmax(logits, -1))
        weights = nn.functional.gumbel_softmax(logits, tau=self.tau, hard=self.hard)
        if self.hard:
            index = int(weights.detach().argmax())
            undrawn = None
            if self.undrawn_terms:
                undrawn = torch.cat([weights[:index], weights[index + 1:]])
            return Mix((index,), weights[index:index + 1], distribution=weights, undrawn=undrawn)
        return Mix(tuple(range(int(weights.shape[-1]))), weights, distribution=weights)


class GumbelDARTS(OneShotTrainer[Gumbel]):
    """Gumbel-softmax differentiable search (see the module docstring).

    Args:
        tau_max, tau_min: the temperature at the first and the last epoch (GDAS: 10 and 0.1; FBNet
            starts at 5).
        hard: straight-through one-hot samples.
        latency: FBNet's latency term for the architecture step (e.g.
            ``LatencyLoss(table, mode="mul", alpha=0.25, beta=0.6)``); None: no hardware term.
        warmup_epochs: epochs of weight training alone before the architecture steps start.
        tau_schedule: "linear" (GDAS) or "geometric" (FBNet) from tau_max to tau_min over the
            epochs after the warm-up; None: linear with ``hard=True``, else geometric.
        undrawn_terms: with ``hard=True``, GDAS's NB201 code's ``forward_gdas``: the candidates
            not drawn join each LayerChoice's output as zero-valued scalars carrying their
            weights' gradients (see the module docstring); False: only the drawn one
            (``forward_gdas_v1``).
        **kwargs: :class:`~archspace.oneshot.OneShotTrainer` settings.
    """

    def __init__(self, *, tau_max: float = 10.0, tau_min: float = 0.1, hard: bool = False,
                 latency: LatencyLoss | None = None, warmup_epochs: int = 0, tau_schedule: str | None = None,
                 undrawn_terms: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(undrawn_terms, bool) or (undrawn_terms and not hard):
            raise ValueError(f"undrawn_terms (GDAS's scalar terms) must be a bool and needs hard=True, got "
                             f"undrawn_terms={undrawn_terms!r} with hard={hard!r}")
        self.undrawn_terms = undrawn_terms
        if tau_schedule not in (None, "linear", "geometric"):
            raise ValueError(f"tau_schedule must be 'linear' (GDAS), 'geometric' (FBNet) or None (the mode's paper), "
                             f"got {tau_schedule!r}")
        self.tau_schedule = tau_schedule or ("linear" if hard else "geometric")
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got {tau_min} and {tau_max}")
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be an integer in [0, epochs={self.epochs}), got {warmup_epochs!r}")
        self.warmup_epochs = warmup_epochs
        if latency is not None and not isinstance(latency, LatencyLoss):
            raise LatencyLossError(f"latency must be a LatencyLoss, got {type(latency).__name__}")
        self.tau_max = tau_max
        self.tau_min = tau_min
        self.hard = hard
        self.latency = latency

    def make_policy(self) -> Gumbel:
        return Gumbel(tau=self.tau_max, hard=self.hard, undrawn_terms=self.undrawn_terms)

    def build(self, space: ModelSpace | Supernet, device: str | torch.device = "cpu") -> Supernet:
        supernet = super().build(space, device)
        if self.latency is not None:
            self.latency.check(supernet.arch.names)
        return supernet

    def latency_weights(self, drawn: Mapping[str, Mix] | None = None) -> dict[str, torch.Tensor]:
        """Each priced decision's weights in the pass whose mixes are ``drawn`` (what
        :meth:`Supernet.run <archspace.oneshot.Supernet.run>` returns): the full Gumbel sample the
        pass ran with (:attr:`Mix.distribution`), or the decision's softmax where the pass drew
        none (an evaluation pass) or no pass is given (no draw yet)."""
        assert self.latency is not None
        arch = self.supernet.arch
        found: Mapping[str, Mix] = drawn if drawn is not None else {}
        weights: dict[str, torch.Tensor] = {}
        for label in self.latency.labels():
            mix = found.get(label)
            sample = mix.distribution if mix is not None else None
            weights[label] = sample if sample is not None else torch.softmax(arch.logits(label), -1)
        return weights

    def temperature(self, epoch: int) -> float:
        """The temperature at ``epoch`` (from tau_max to tau_min over the epochs after the
        warm-up by :attr:`tau_schedule`; tau_max during it)."""
        span = self.epochs - self.warmup_epochs - 1
        if span <= 0:
            return self.tau_max
        done = max(0, epoch - self.warmup_epochs) / span
        if self.tau_schedule == "linear":
            return self.tau_max - (self.tau_max - self.tau_min) * done
        return self.tau_max * (self.tau_min / self.tau_max) ** done

    def on_epoch_start(self, epoch: int) -> None:
        self.policy.tau = self.temperature(epoch)

    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        if self.epoch < self.warmup_epochs:
            return {"train_loss": self.weight_step(train, loss_fn), "tau": self.policy.tau}
        xv, yv = val
        self.arch_optimizer.zero_grad(set_to_none=True)
        out, drawn = self.supernet.run(xv)
        val_loss = loss_fn(out, yv)
        losses: dict[str, float] = {}
        arch_loss = val_loss
        if self.latency is not None:
            latency = self.latency.latency(self.latency_weights(drawn))
            arch_loss = self.latency.combine(val_loss, latency)
            losses = {"latency_ms": float(latency.detach()), "arch_loss": float(arch_loss.detach())}
        self.arch_backward(arch_loss)
        average_gradients(list(self.supernet.arch_parameters()))
        self.arch_optimizer.step()
        train_loss = self.weight_step(train, loss_fn)
        return {"train_loss": train_loss, "val_loss": float(val_loss.detach()), "tau": self.policy.tau, **losses}


__all__ = ["Gumbel", "GumbelDARTS"]
