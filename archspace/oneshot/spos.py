"""Single-path sampling, the weighting policy of SPOS and ENAS.

Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling" (ECCV 2020)
trains the supernet one uniformly drawn path per step; Pham et al., "Efficient Neural
Architecture Search via Parameter Sharing" (ICML 2018) draws the path from a controller.
:class:`SampledPath` serves both: every decision runs exactly one candidate with weight 1 (no
gradient reaches the logits), so only that candidate computes and gets gradients. The search
algorithms themselves (the evolutionary search over the trained supernet, the controller) come
with the next issue; this file holds their policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from archspace.errors import InvalidValueError
from archspace.oneshot.policy import Mix, WeightingPolicy


class SampledPath(WeightingPolicy):
    """One candidate per decision: the given sample's, or a uniform draw.

    Args:
        sample: the path to run (label -> value), e.g. a controller's draw or an architecture to
            evaluate; labels it leaves out are drawn uniformly. Change it with :meth:`follow`.
        seed: seeds this policy's own generator (uniform draws), saved in :meth:`state_dict`.

    Example:
        >>> import torch
        >>> from archspace.oneshot import to_supernet
        >>> from archspace.oneshot.spos import SampledPath
        >>> from archspace.testing import SharedNet
        >>> supernet = to_supernet(SharedNet(), SampledPath({"width": 4, "act": "relu"}))
        >>> supernet(torch.randn(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    differentiable = False

    def __init__(self, sample: Mapping[str, Any] | None = None, *, seed: int = 0) -> None:
        self.sample = dict(sample) if sample is not None else None
        self.generator = torch.Generator().manual_seed(seed)

    def follow(self, sample: Mapping[str, Any] | None) -> None:
        """Run ``sample``'s path from the next forward pass on (None: uniform draws)."""
        self.sample = dict(sample) if sample is not None else None

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        if self.sample is not None and label in self.sample:
            value = self.sample[label]
            if value not in values:
                raise InvalidValueError(f"sampled path gives {label!r} the value {value!r}; allowed: {list(values)!r}")
            index = list(values).index(value)
        else:
            index = int(torch.randint(len(values), (1,), generator=self.generator))
        return Mix((index,), logits.detach().new_ones(1))

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "sample": self.sample}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.sample = state.get("sample")


__all__ = ["SampledPath"]
