"""Binary gates, the weighting policy of ProxylessNAS.

Cai, Zhu & Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task and Hardware"
(ICLR 2019). Each decision's gates are binary: one path is sampled from the softmax of its logits.

- Weight step (``paths=1``): one sampled candidate runs, weight 1; only it gets gradients.
- Architecture step (``paths=2``): two candidates are drawn without replacement from the softmax,
  the softmax is taken over their two logits only, and one of the two is sampled from it as the
  active gate. The output is ``g_a o_a + g_b o_b`` with the one-hot gates ``g`` given
  straight-through gradients (``g = onehot + p - p.detach()``), so both paths run and
  ``dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i)``: the paper's estimator over the two paths.
  The paper then rescales the two updated logits so the unsampled candidates' probabilities stay
  as they were; that belongs to the ProxylessNAS step (next issue), which finds the two paths of
  the latest pass in :attr:`BinaryGates.sampled`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from archspace.errors import SpaceDefinitionError
from archspace.oneshot.policy import Mix, WeightingPolicy


class BinaryGates(WeightingPolicy):
    """Binary gates over each decision's candidates (see the module docstring).

    Args:
        paths: 1 (weight step) or 2 (architecture step); change it between steps.
        seed: seeds this policy's own generator, saved in :meth:`state_dict`.

    Attributes:
        sampled: label -> candidate indices that ran in the latest pass.
    """

    def __init__(self, paths: int = 1, *, seed: int = 0) -> None:
        if paths not in (1, 2):
            raise SpaceDefinitionError(f"BinaryGates runs 1 or 2 paths per decision, got paths={paths!r}")
        self.paths = paths
        self.generator = torch.Generator().manual_seed(seed)
        self.sampled: dict[str, tuple[int, ...]] = {}

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        probs = torch.softmax(logits.detach().float().cpu(), -1)
        if self.paths == 1 or len(values) == 1:
            index = int(torch.multinomial(probs, 1, generator=self.generator))
            self.sampled[label] = (index,)
            return Mix((index,), logits.detach().new_ones(1))
        pair = torch.multinomial(probs, 2, replacement=False, generator=self.generator).sort().values
        indices = (int(pair[0]), int(pair[1]))
        sub = torch.softmax(logits[list(indices)], -1)
        active = int(torch.multinomial(sub.detach().float().cpu(), 1, generator=self.generator))
        gates = torch.zeros_like(sub)
        gates[active] = 1.0
        self.sampled[label] = indices
        return Mix(indices, gates + sub - sub.detach())

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "paths": self.paths}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.paths = int(state["paths"])


__all__ = ["BinaryGates"]
