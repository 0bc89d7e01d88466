"""FBNet's hardware term: the task loss scaled (or raised) by the expected latency of the architecture.

Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via Differentiable Neural Architecture
Search" (CVPR 2019, arXiv 1812.03443), eq. 2 and 6: the latency of the sampled architecture is the
sum, over searched layers, of each candidate's latency from a lookup table weighted by its
Gumbel-softmax mask, ``LAT(a) = sum_l sum_i m_l,i * LAT(b_l,i)``, which is differentiable in the
architecture logits; the loss is ``CE(a, w_a) * alpha * log(LAT(a)) ** beta``. Here ``LAT`` is
:meth:`LatencyTable.expected_latency` of the pass's weights (the table's fixed part included).

Two modes, as NNI's FBNet (``RegularizerLoss``) has them, each optionally normalised by a target:

==========  ============================================  ==========================================
mode        without ``target_ms`` (FBNet / NNI)           with ``target_ms``
==========  ============================================  ==========================================
``"mul"``   ``task * alpha * log(LAT_us) ** beta``        ``task * alpha * (log(LAT_us) / log(T_us)) ** beta``
``"add"``   ``task + alpha * LAT_us ** beta``             ``task + alpha * (LAT / T) ** beta``
==========  ============================================  ==========================================

Latencies enter the logarithm in microseconds, as FBNet's and NNI's tables hold them (a table in
milliseconds would give negative logarithms below 1 ms, where a fractional power is undefined and
the gradient points the wrong way); values are clamped just above 1 us. With a target, the "mul"
factor is ``alpha`` exactly at the target latency and grows (shrinks) for slower (faster) networks.
NNI's PFLD example uses mode "mul", ``alpha=0.25``, ``beta=0.6``.

``log=False`` makes "mul" a plain ratio, the ProxylessNAS form ``task * alpha * (LAT / T) ** beta``
with ``target_ms`` (``task * alpha * LAT_ms ** beta`` without one). "add" with ``beta=1`` is
ProxylessNAS's linear form, ``task + alpha * LAT / T`` (``add#linear`` of its code, up to a constant),
and "mul" with the logarithm and a target its ``mul#log`` (whose code takes the logarithm in ms).

Example:
    >>> import torch
    >>> class Table:  # any object with expected_latency(weights) and choice_costs()
    ...     def choice_costs(self): return {"op": [1.0, 4.0]}
    ...     def expected_latency(self, w): return 0.5 + (w["op"] * torch.tensor([1.0, 4.0])).sum()
    >>> term = LatencyLoss(Table(), mode="mul", alpha=0.25, beta=0.6, target_ms=2.0)
    >>> logits = torch.zeros(2, requires_grad=True)
    >>> loss = term(torch.tensor(1.0), {"op": torch.softmax(logits, -1)})
    >>> loss.backward()
    >>> bool(logits.grad[1] > 0 > logits.grad[0])  # the descent step favours the faster candidate
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import torch

from archspace.errors import ArchspaceError

MODES = ("mul", "add")


class LatencyModel(Protocol):
    """What the term needs of a latency table (:class:`archspace.hardware.latency.LatencyTable`)."""

    def choice_costs(self) -> dict[str, list[float]]:
        """Latency in ms of each value of each decision, in the decision's value order."""
        ...

    def expected_latency(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The fixed part plus every decision's costs weighted by ``weights`` (differentiable)."""
        ...


class LatencyLossError(ArchspaceError):
    """The latency term is misconfigured or its table does not fit the supernet."""


class LatencyLoss:
    """FBNet's latency term (see the module docstring).

    Args:
        table: the lookup table (measured on the target device, e.g. ``LatencyTable.measure``).
        mode: ``"mul"`` (FBNet) or ``"add"``.
        alpha, beta: the term's scale and exponent (FBNet: 0.2 and 0.6; NNI's PFLD: 0.25, 0.6).
        target_ms: normalise by this latency (see the table above); None: FBNet's raw form.
        log: "mul" takes the logarithm of the latency (FBNet, default); False: the plain ratio
            ``(LAT / target) ** beta`` (ProxylessNAS's form). "add" ignores it.
    """

    def __init__(self, table: LatencyModel, *, mode: str = "mul", alpha: float = 0.25, beta: float = 0.6,
                 target_ms: float | None = None, log: bool = True) -> None:
        if mode not in MODES:
            raise LatencyLossError(f"latency loss mode must be one of {list(MODES)}, got {mode!r}")
        for name, value in (("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise LatencyLossError(f"latency loss {name} must be a positive number, got {value!r}")
        if target_ms is not None and (isinstance(target_ms, bool) or not isinstance(target_ms, (int, float))
                                      or not target_ms > 0.001):
            raise LatencyLossError(f"target_ms must be a latency above 0.001 ms (1 us), got {target_ms!r}")
        if not callable(getattr(table, "expected_latency", None)) or not callable(getattr(table, "choice_costs", None)):
            raise LatencyLossError(f"the latency table must have expected_latency() and choice_costs(); got "
                                   f"{type(table).__name__}")
        self.table = table
        self.mode = mode
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.target_ms = None if target_ms is None else float(target_ms)
        self.log = bool(log)

    def labels(self) -> list[str]:
        """The decisions the table prices."""
        return list(self.table.choice_costs())

    def check(self, candidates: Mapping[str, list[object]]) -> None:
        """Refuse a table that does not fit a supernet's decisions (``label -> candidate values``).

        Raises:
            LatencyLossError: a label the supernet lacks, or another number of candidates.
        """
        for label, costs in self.table.choice_costs().items():
            if label not in candidates:
                raise LatencyLossError(f"the latency table prices decision {label!r}, which the supernet does not "
                                       f"have (its decisions: {sorted(candidates)}); measure the table on this space")
            if len(costs) != len(candidates[label]):
                raise LatencyLossError(f"the latency table has {len(costs)} costs for {label!r}, the supernet "
                                       f"{len(candidates[label])} candidates; measure the table on this space")

    def latency(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The expected latency in ms under ``weights`` (label -> one weight per candidate)."""
        return self.table.expected_latency(weights)

    def factor(self, latency_ms: torch.Tensor) -> torch.Tensor:
        """The "mul" factor or the "add" term of a latency in ms."""
        us = (latency_ms * 1000.0).clamp_min(1.0 + 1e-6)
        if self.mode == "mul" and not self.log:
            ratio = latency_ms.clamp_min(1e-9) / (self.target_ms if self.target_ms is not None else 1.0)
            return self.alpha * ratio.pow(self.beta)
        if self.mode == "mul":
            log = torch.log(us)
            if self.target_ms is not None:
                log = log / math.log(self.target_ms * 1000.0)
            return self.alpha * log.pow(self.beta)
        if self.target_ms is not None:
            return self.alpha * (latency_ms.clamp_min(0.0) / self.target_ms).pow(self.beta)
        return self.alpha * us.pow(self.beta)

    def combine(self, task_loss: torch.Tensor, latency_ms: torch.Tensor) -> torch.Tensor:
        """The task loss with the term applied to ``latency_ms``."""
        factor = self.factor(latency_ms)
        return task_loss * factor if self.mode == "mul" else task_loss + factor

    def __call__(self, task_loss: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.combine(task_loss, self.latency(weights))

    def __repr__(self) -> str:
        return (f"LatencyLoss(mode={self.mode!r}, alpha={self.alpha}, beta={self.beta}, "
                f"target_ms={self.target_ms}" + ("" if self.log else ", log=False") + ")")


__all__ = ["MODES", "LatencyLoss", "LatencyLossError", "LatencyModel"]
