"""β-DARTS — Ye, Li, Li, Chen, Fan & Ouyang, "β-DARTS: Beta-Decay Regularization for
Differentiable Architecture Search", CVPR 2022.

DARTS (``darts.py``: the same softmax supernet, weight and architecture steps, first or second
order) with one term added to the architecture loss, the *Beta-Decay* regulariser:

``L_arch = L_val(w, alpha) + lambda_t * mean over decisions of logsumexp(alpha_decision)``

``logsumexp`` is the smooth maximum of a decision's logits; its gradient is the softmax itself
(``beta = softmax(alpha)``, the paper's "activated" architecture parameters), so each step pulls
every logit down in proportion to its own weight: the strongest candidates most. That keeps the
activated weights' value and variance from growing (the paper's analysis), which is what stops one
parameter-free op (skip) running away with an edge — DARTS's collapse — and keeps the search's
answer from depending on how long it ran. The weight ``lambda_t`` grows linearly with the epoch
from 0, so the regulariser is weak while the weights are still poor and strongest at the end.

Settings (the official ``nasbench201/train_search.py`` and ``optimizers/darts/architect.py``):
first order; weights SGD lr 0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, clip 5;
architecture Adam lr 3e-4, betas (0.5, 0.999), weight decay 1e-3 — DARTS's, which are this
library's defaults; ``lambda_t = 50 * t / 100`` at (0-based) epoch ``t`` of the official 100.
Paper's NAS-Bench-201 result (searched on CIFAR-10): CIFAR-10 test 94.36 ± 0.00 (valid 91.55;
the benchmark's optimum 94.37), CIFAR-100 test 73.51 ± 0.00. The official NB201 supernet
(``nasbench201/model.py``) builds its cells' batch norms without a learned affine: search
``NasBench201(search=True)`` to match it.

Deviations:

- The ramp is over the run actually asked for: ``lambda_t = beta_weight * t / epochs``, the
  official schedule exactly at its 100 epochs, and the same end weight for a shorter search (the
  official ``50 * t / 100`` is written for 100 epochs; at 10 it would stop at 4.5).
- ``order=2`` adds the regulariser's gradient (it does not depend on the weights) to DARTS's
  second-order estimate; the official code adds it on its first-order path only.
- The mean is over every decision with logits (a DARTS space: normal and reduction edges together;
  the official NAS-Bench-201 network has one logit matrix, a mean over its six edges).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from archspace.errors import ArchspaceError
from archspace.oneshot.darts import DARTS


def beta_decay(logits: list[torch.Tensor]) -> torch.Tensor:
    """The Beta-Decay regulariser: the mean over decisions of ``logsumexp`` of each one's logits."""
    if not logits:
        return torch.zeros(())
    return torch.stack([torch.logsumexp(x, dim=-1) for x in logits]).mean()


class BetaDARTS(DARTS):
    """β-DARTS search (see the module docstring); the other arguments are :class:`DARTS`'s.

    Args:
        beta_weight: the regulariser's weight at the end of the search (``lambda_t`` grows from 0
            by ``beta_weight / epochs`` per epoch); 0 is plain DARTS.

    Example:
        >>> import torch
        >>> from archspace.oneshot import BetaDARTS
        >>> from archspace.testing import SharedNet
        >>> data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))] * 2
        >>> sorted(BetaDARTS(epochs=1, progress=False).fit(SharedNet(), data, data))
        ['act', 'width']
    """

    def __init__(self, *, beta_weight: float = 50.0, **kwargs: Any) -> None:
        if (isinstance(beta_weight, bool) or not isinstance(beta_weight, (int, float))
                or not math.isfinite(beta_weight) or beta_weight < 0):
            raise ArchspaceError(f"BetaDARTS beta_weight must be a finite number >= 0, got {beta_weight!r}")
        super().__init__(**kwargs)
        self.beta_weight = float(beta_weight)

    def decay_weight(self, epoch: int | None = None) -> float:
        """``lambda_t`` at ``epoch`` (default: the current one): ``beta_weight * epoch / epochs``."""
        t = self.epoch if epoch is None else epoch
        return self.beta_weight * t / max(self.epochs, 1)

    def extra_arch_loss(self) -> torch.Tensor | None:
        """``lambda_t`` times the Beta-Decay regulariser of the current logits."""
        weight = self.decay_weight()
        if weight == 0:
            return None
        arch = self.supernet.arch
        return weight * beta_decay([arch.logits(label) for label in arch.names])


__all__ = ["BetaDARTS", "beta_decay"]
