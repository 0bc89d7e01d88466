"""Architecture parameters of a supernet: one logit vector per decision label.

Shared labels share one vector; a DARTS cell adds one per edge. How the logits become mixing
weights is the business of the supernet's weighting policy (see ``policy.py``), not of this
module, so the same parameters serve softmax, Gumbel, sampled and gated searches.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError


def key_of(name: str) -> str:
    """A ParameterDict key for a label (module names cannot contain '.')."""
    return name.replace(".", "__")


class ArchParameters(nn.Module):
    """The architecture logits, by label, with each label's candidate values in logit order."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.ParameterDict()
        self.names: dict[str, list[Any]] = {}  # name -> candidate values, in logit order

    def register(self, name: str, values: list[Any]) -> None:
        """Create the logits of ``name`` (a no-op for a shared label seen before).

        Raises:
            SpaceDefinitionError: ``name`` was registered before with a different number of
                candidates.
        """
        if name in self.names:
            if len(self.names[name]) != len(values):
                raise SpaceDefinitionError(
                    f"label {name!r} registered with {len(self.names[name])} and {len(values)} candidates")
            return
        self.names[name] = list(values)
        self.alpha[key_of(name)] = nn.Parameter(1e-3 * torch.randn(len(values)))

    def logits(self, name: str) -> torch.Tensor:
        """The raw logits of ``name``."""
        return self.alpha[key_of(name)]

    def best(self, name: str) -> Any:
        """The candidate value of ``name`` with the largest logit."""
        return self.names[name][int(self.logits(name).detach().argmax())]

    def distribution(self) -> dict[str, dict[str, float]]:
        """Softmax of each logit vector, as JSON data (for logs and dashboards)."""
        out = {}
        for name, values in self.names.items():
            probs = torch.softmax(self.logits(name).detach().float(), -1).tolist()
            out[name] = {str(v): round(p, 6) for v, p in zip(values, probs)}
        return out


__all__ = ["ArchParameters", "key_of"]
