"""A latency table's costs as functions of decision weights: FBNet's and ProxylessNAS's latency terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from archspace.hardware._additive import Additive
from archspace.hardware._measuring import LatencyTableError
from archspace.hardware._units import Key, UnitDef, hkey


class DifferentiableCosts:
    """Mixed into :class:`~archspace.hardware.LatencyTable`: per-choice costs and the expected latency."""

    units: dict[str, UnitDef]
    entries: dict[Key, float]
    domains: dict[str, list[Any]]
    _additive: Additive

    def _factors(self, unit: UnitDef, key: tuple[Any, ...]) -> list[tuple[str, list[bool]]]:
        """Per label a unit reads: which of the label's values keep it active with this key."""
        out = []
        for label, allowed in unit.requires:
            ok = {hkey(v) for v in allowed}
            out.append((label, [hkey(v) in ok for v in self.domains[label]]))
        for label, value in zip(unit.key_labels, key):
            out.append((label, [hkey(v) == value for v in self.domains[label]]))
        return out

    def _read_probability(self, unit: UnitDef, mask: Sequence[bool], weights: Mapping[str, torch.Tensor]) -> Any:
        """The probability that exactly the outputs ``mask`` marks are read, each output read when
        any of its alternatives holds, the alternatives taken as independent."""
        prob: Any = 1.0
        for alternatives, read in zip(unit.bits, mask):
            unread: Any = 1.0
            for label, allowed in alternatives:
                w = weights.get(label)
                if w is None or w.shape[-1] != len(self.domains[label]):
                    raise LatencyTableError(f"expected_latency needs weights for label {label!r} over its "
                                            f"{len(self.domains[label])} values {self.domains[label]!r}, got "
                                            f"{None if w is None else tuple(w.shape)}")
                ok = {hkey(v) for v in allowed}
                hit = torch.tensor([hkey(v) in ok for v in self.domains[label]], device=w.device)
                unread = unread * (1 - w[hit].sum())
            prob = prob * ((1 - unread) if read else unread)
        return prob

    def choice_costs(self) -> dict[str, list[float]]:
        """Per decision, the milliseconds of each value (in the decision's value order).

        For a differentiable latency term (FBNet, ProxylessNAS): ``fixed_ms + Σ_label Σ_i w_i·cost_i``.
        A unit that reads one label is counted exactly under its value; a unit that reads several
        (a Cell edge op: its input and its op; a block inside a Repeat: the depth and its choice)
        is counted under the last of them (the innermost), averaged uniformly over the others —
        exact for the expected latency when those others are uniform. Units that read no label
        are in ``fixed_ms`` (see :meth:`always_ms`). For the exact expectation under any
        independent weights use :meth:`expected_latency`. Units keyed by which of their outputs
        are read (a Cell's preprocessor) depend on several labels at once and are left out here.
        """
        costs = {label: [0.0] * len(values) for label, values in self.domains.items()}
        for (uid, key), ms in self.entries.items():
            if self.units[uid].bits:  # priced by which outputs are read: see expected_latency
                continue
            factors = self._factors(self.units[uid], key)
            if not factors:
                continue
            weight = 1.0
            merged: dict[str, list[bool]] = {}
            for label, mask in factors:
                merged[label] = [a and b for a, b in zip(merged.get(label, [True] * len(mask)), mask)]
            *others, (last, mask) = list(merged.items())
            for _, other in others:
                weight *= sum(other) / len(other)
            for i, hit in enumerate(mask):
                if hit:
                    costs[last][i] += ms * weight
        return costs

    def always_ms(self) -> float:
        """Milliseconds every sample pays: the fixed part and the units that read no label."""
        return float(self._additive.constant[0])

    def expected_latency(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Expected milliseconds when each label's value is drawn independently with the given probabilities.

        ``weights[label]`` is a vector over the decision's values (e.g. a softmax of architecture
        logits). Each unit contributes its latency times the probability that every label it
        reads takes a value that activates it; the result is differentiable in the weights. It
        is exact for independent labels; a nested unit's conditional structure is kept (its
        requirements multiply), correlations between labels are not. A unit keyed by which of
        its outputs are read (a Cell's preprocessor) costs the average of its measured read
        patterns, weighted by their probabilities (outputs taken as independent, normalised over
        the patterns a sample can reach); for one-hot weights that is the pattern's own figure.
        Whole boxes a graph compiler drops (see ``LatencyTable.liveness``) are not modelled here:
        the expectation counts every box live, as eager PyTorch runs it.

        Raises:
            LatencyTableError: a label some unit reads has no weights, or weights of the wrong length.
        """
        total: torch.Tensor | None = None
        reading: dict[tuple[str, tuple[Any, ...]], list[tuple[Any, float]]] = {}
        for (uid, key), ms in self.entries.items():
            unit = self.units[uid]
            if unit.bits:
                prefix = key[:len(unit.key_labels)]
                prob = self._read_probability(unit, key[len(unit.key_labels):], weights)
                reading.setdefault((uid, prefix), []).append((prob, ms))
        averaged: list[tuple[str, tuple[Any, ...], Any]] = []
        for (uid, prefix), patterns in reading.items():
            mass = sum(prob for prob, _ in patterns)
            averaged.append((uid, prefix, sum(prob * ms for prob, ms in patterns) / mass.clamp_min(1e-12)))
        plain = [(uid, key, ms) for (uid, key), ms in self.entries.items() if not self.units[uid].bits]
        for uid, key, ms in plain + averaged:
            term: torch.Tensor | float = ms
            merged: dict[str, list[bool]] = {}
            for label, mask in self._factors(self.units[uid], key):
                merged[label] = [a and b for a, b in zip(merged.get(label, [True] * len(mask)), mask)]
            for label, mask in merged.items():
                w = weights.get(label)
                if w is None or w.shape[-1] != len(mask):
                    raise LatencyTableError(f"expected_latency needs weights for label {label!r} over its "
                                            f"{len(mask)} values {self.domains[label]!r}, got "
                                            f"{None if w is None else tuple(w.shape)}")
                term = term * w[torch.tensor(mask, device=w.device)].sum()
            if isinstance(term, torch.Tensor):
                total = term if total is None else total + term
        always = torch.tensor(self.always_ms())
        return always if total is None else total + always


__all__ = ["DifferentiableCosts"]
