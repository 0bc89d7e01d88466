"""Architecture parameters of a supernet, and the policy that turns them into mixing weights.

One parameter vector per decision label (shared labels share it), plus one per DARTS cell edge.
Weights are computed at most once per forward pass and cached, so every use of a shared label
within one pass sees the same (possibly Gumbel-sampled) weights.
"""

from __future__ import annotations

import torch
from torch import nn


def key_of(name: str) -> str:
    """A ParameterDict key for a label (module names cannot contain '.')."""
    return name.replace(".", "__")


class ArchParameters(nn.Module):
    """Holds the architecture logits and the weighting policy.

    Policies: ``"softmax"`` (DARTS) or ``"gumbel"`` (GDAS/FBNet: Gumbel-softmax samples with
    temperature ``tau``; ``hard`` uses straight-through one-hot samples).
    """

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.ParameterDict()
        self.names: dict[str, list[object]] = {}  # name -> candidate values, in logit order
        self.policy = "softmax"
        self.tau = 1.0
        self.hard = False
        self._cache: dict[str, torch.Tensor] = {}

    def register(self, name: str, values: list[object]) -> None:
        """Create the logits of ``name`` (a no-op for a shared label seen before)."""
        if name in self.names:
            if len(self.names[name]) != len(values):
                raise ValueError(f"label {name!r} registered with {len(self.names[name])} and {len(values)} candidates")
            return
        self.names[name] = list(values)
        self.alpha[key_of(name)] = nn.Parameter(1e-3 * torch.randn(len(values)))

    def logits(self, name: str) -> torch.Tensor:
        """The raw logits of ``name``."""
        return self.alpha[key_of(name)]

    def weights(self, name: str) -> torch.Tensor:
        """The mixing weights of ``name`` for the current forward pass."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        logits = self.logits(name)
        if self.policy == "gumbel" and self.training:
            weights = nn.functional.gumbel_softmax(logits, tau=self.tau, hard=self.hard)
        else:
            weights = torch.softmax(logits, -1)
        self._cache[name] = weights
        return weights

    def new_pass(self) -> None:
        """Forget cached weights (called before every supernet forward)."""
        self._cache = {}

    def distribution(self) -> dict[str, dict[str, float]]:
        """Softmax of each logit vector, as JSON data (for logs and dashboards)."""
        out = {}
        for name, values in self.names.items():
            probs = torch.softmax(self.logits(name).detach().float(), -1).tolist()
            out[name] = {str(v): round(p, 6) for v, p in zip(values, probs)}
        return out


__all__ = ["ArchParameters", "key_of"]
