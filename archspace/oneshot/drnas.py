"""DrNAS — Chen, Wang, Cheng, Tang & Hsieh, "DrNAS: Dirichlet Neural Architecture Search", ICLR 2021.

Every decision's mixing weights are a random variable ``theta ~ Dir(beta)`` whose concentration
comes from the learnable parameters ``x`` (one vector per label, as every supernet holds them) by
``beta = elu(x) + 1`` (positive, and 1 — the uniform Dirichlet — at the initial ``x`` ≈ 0), as
the official code does. In training every forward pass draws ``theta`` with the reparameterised
(pathwise) sample ``Dirichlet(beta).rsample()``, so the architecture gradient reaches ``beta``
through the draw; in evaluation the weights are the Dirichlet's mean ``beta / sum(beta)``. The
architecture step minimises ``E_{theta ~ Dir(beta)}[L_val(w, theta)] + lambda * d(beta)`` with one
draw per step, alternated with the weight step as in first-order DARTS.

The regulariser ``d`` (``regularizer=``), both as in the official code (``201-space``):

- ``"l2"`` (the default, the official NAS-Bench-201 scripts' ``--reg_type l2``, scale 1e-3):
  ``(lambda / 2) * sum ||x||^2``, which pulls every concentration toward the anchor ``elu(0) + 1 =
  1``. The official code applies it as Adam's (coupled) weight decay ``lambda`` on ``x``; the
  penalty's gradient is exactly that term, so the updates are the same (tested), and the value is
  logged (``reg``).
- ``"kl"``: ``lambda * sum KL(Dir(beta) || Dir(1))``, the KL form of the anchor regulariser (the
  official code's ``--reg_type kl``, same default scale; its help text says the scale may need
  adjusting to match ``l2``).

The official architecture optimizer has no weight decay besides the ``l2`` regulariser (its
``--arch_weight_decay`` is not read), so ``arch_weight_decay`` defaults to 0 here.

The answer is every decision's argmax of the Dirichlet mean — the argmax of ``x`` itself, as
``elu + 1`` is increasing — and a cell's wiring by the DARTS rule on the softmax of ``x``, which
is how the official code derives genotypes (``supernet.export()``, unchanged).

Settings (the official ``201-space/train_search.py``, first order): 100 epochs; weights SGD lr
0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, gradient clip 5; architecture Adam lr
3e-4, betas (0.5, 0.999); ``l2`` regulariser 1e-3; batch 64 on half of the CIFAR training set
each for weights and architecture (batches are the caller's). Paper's NAS-Bench-201 result
(its NAS-Bench-201 table, repeated in the official README): CIFAR-10 test 94.36 ± 0.00 (the benchmark's optimum 94.37),
CIFAR-100 73.51 ± 0.00, ImageNet16-120 46.34 ± 0.00.

Deviations:

- **No progressive learning.** The paper's scheme for large spaces (and the official
  ``train_search_progressive.py``: partial channels K = 4 then 2, the ops cut to the top 3 per
  edge between two 50-epoch stages) needs candidate ops built at ``C / K`` channels and rebuilt
  wider between stages with their weights carried over (net2wider). An archspace supernet runs the
  candidates the user's space built, at full width; its partial channels (``Mix.channel_fraction``)
  only suit candidates that keep their input's shape, which NB201's convolutions (built for ``C``
  input channels) do not. Op pruning alone is what frees memory for the widening, so without it it
  would only change the search, not save what it is for. What it costs: memory and time — every
  candidate runs on every channel throughout, as in the official non-progressive script
  (``train_search.py``, 100 epochs, ``k = 1``), which is the setting taken here (the official
  README gives it for NAS-Bench-201 and the progressive script as an option; it does not say which
  of the two produced the table); a direct search on a space the size of DARTS's on ImageNet, the
  paper's reason for the scheme, needs that memory.
- First order only (the official ``--unrolled`` is off by default; DARTS's second order is in
  ``darts.py``).
- An evaluation pass uses the Dirichlet mean; the official network draws a sample in every forward
  pass, evaluation included (only its logs are affected, not the search).
- The official weight step clips the norm of all parameters' gradients, architecture ones
  included (their gradient of the training loss, not applied); here only the weights' are clipped,
  as in every archspace algorithm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.distributions import Dirichlet
from torch.distributions.kl import kl_divergence

from archspace.oneshot.distributed import average_gradients
from archspace.oneshot.loop import Batch, LossFn, OneShotTrainer
from archspace.oneshot.policy import Mix, WeightingPolicy, all_candidates

REGULARIZERS = ("l2", "kl")


def concentration(logits: torch.Tensor) -> torch.Tensor:
    """The Dirichlet concentration of a decision's parameters: ``elu(x) + 1`` (the official code's map).

    Floored at the dtype's smallest normal number: below x ≈ -17 (float32) ``elu(x) + 1`` rounds to
    0, which no Dirichlet takes (e.g. the -20 of a :meth:`~archspace.oneshot.Supernet.pin`-ned
    answer); above it the floor changes nothing.
    """
    return (torch.nn.functional.elu(logits) + 1.0).clamp_min(torch.finfo(logits.dtype).tiny)


def dirichlet_mean(logits: torch.Tensor) -> torch.Tensor:
    """The mean of ``Dir(elu(x) + 1)``: the concentration over its sum."""
    beta = concentration(logits)
    return beta / beta.sum(-1, keepdim=True)


class DirichletWeights(WeightingPolicy):
    """DrNAS's weights: a reparameterised draw of ``Dir(elu(x) + 1)`` in training, its mean in
    evaluation. Every candidate runs.

    Draws from torch's global generator (``Dirichlet.rsample``), which the trainer seeds and
    checkpoints, so equal seeds draw equal weights and two ranks draw alike.
    """

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        if not training:
            return all_candidates(dirichlet_mean(logits))
        weights = Dirichlet(concentration(logits)).rsample()
        return Mix(tuple(range(int(weights.shape[-1]))), weights, distribution=weights)


class DrNAS(OneShotTrainer[DirichletWeights]):
    """Dirichlet architecture search (see the module docstring); the other arguments are
    :class:`OneShotTrainer`'s, with the official NAS-Bench-201 defaults (100 epochs, no
    architecture weight decay besides the regulariser).

    Args:
        regularizer: ``"l2"`` (the official default: ``(reg_scale / 2) * ||x||^2``, Adam's weight
            decay in the official code) or ``"kl"`` (``reg_scale * KL(Dir(elu(x) + 1) || Dir(1))``),
            summed over the decisions and added to the architecture loss.
        reg_scale: the regulariser's scale (official: 1e-3).

    Example:
        >>> import torch
        >>> from archspace.oneshot import DrNAS
        >>> from archspace.testing import SharedNet
        >>> data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))] * 2
        >>> sample = DrNAS(epochs=1, progress=False).fit(SharedNet(), data, data)
        >>> sorted(sample)
        ['act', 'width']
    """

    def __init__(self, *, regularizer: str = "l2", reg_scale: float = 1e-3, epochs: int = 100,
                 arch_weight_decay: float = 0.0, **kwargs: Any) -> None:
        if regularizer not in REGULARIZERS:
            raise ValueError(f"DrNAS regularizer must be one of {list(REGULARIZERS)}, got {regularizer!r}")
        if reg_scale < 0:
            raise ValueError(f"DrNAS reg_scale must be >= 0, got {reg_scale!r}")
        super().__init__(epochs=epochs, arch_weight_decay=arch_weight_decay, **kwargs)
        self.regularizer = regularizer
        self.reg_scale = reg_scale

    def make_policy(self) -> DirichletWeights:
        return DirichletWeights()

    def candidate_probabilities(self, label: str) -> torch.Tensor:
        """The mean of the decision's Dirichlet (what the export's argmax ranks by), for the
        stand-alone re-check's most probable architectures."""
        return dirichlet_mean(self.supernet.arch.logits(label).detach().double())

    def regularization(self) -> torch.Tensor:
        """``reg_scale`` times the regulariser summed over every decision's parameters."""
        arch = self.supernet.arch
        terms = []
        for label in arch.names:
            x = arch.logits(label)
            if self.regularizer == "l2":
                terms.append(0.5 * x.pow(2).sum())
            else:
                beta = concentration(x)
                terms.append(kl_divergence(Dirichlet(beta), Dirichlet(torch.ones_like(beta))))
        if not terms:
            return torch.zeros(())
        return self.reg_scale * torch.stack(terms).sum()

    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        xv, yv = val
        self.arch_optimizer.zero_grad(set_to_none=True)
        val_loss = loss_fn(self.supernet(xv), yv)
        reg = self.regularization()
        self.arch_backward(val_loss + reg)
        average_gradients(list(self.supernet.arch_parameters()))
        self.arch_optimizer.step()
        train_loss = self.weight_step(train, loss_fn)
        return {"train_loss": train_loss, "val_loss": float(val_loss.detach()), "reg": float(reg.detach())}


__all__ = ["REGULARIZERS", "DirichletWeights", "DrNAS", "concentration", "dirichlet_mean"]
