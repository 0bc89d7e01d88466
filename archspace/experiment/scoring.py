"""What an experiment optimises: one metric or several objectives, under hardware constraints.

Kept apart from the loop so that the loop only asks three questions: may this sample be trained
(:attr:`Scoring.filter`), what did a finished trial score (:meth:`Scoring.complete`), and what is
the strategy told (:meth:`Scoring.result`).

Objectives name keys of a trial's metrics. Hardware figures (``params``, ``flops``,
``activation_bytes``, ``latency_ms``; see :mod:`archspace.hardware.constraints`) named by an
objective or a constraint are added to every succeeded trial's metrics by the driver, from the
profile and the latency table, so evaluators need not compute them. An evaluator that returns a
single number has it recorded under the first objective's name (``{"accuracy": "max", ...}`` with
``Classification`` records its accuracy as ``accuracy``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from archspace.hardware.constraints import (
    HARDWARE_METRICS,
    ConstraintError,
    ConstraintFilter,
    HardwareMetrics,
    parse_constraints,
)
from archspace.objectives import Objective, ObjectiveError, ObjectivesSpec, parse_objectives

if TYPE_CHECKING:
    from archspace.hardware.latency import LatencyTable
    from archspace.nn.space import ModelSpace

ConstraintsSpec = Sequence[str] | Mapping[str, float] | str | None


class ScoringError(ValueError):
    """Objectives or constraints that cannot be used (wrapped as InvalidSettingError by the experiment)."""


class Scoring:
    """Objectives, constraints and the hardware figures they need, for one experiment.

    Args:
        space: the model space (hardware figures are profiled from it).
        direction: the single metric's direction when no objectives are declared.
        objectives: ``{"accuracy": "maximize", "latency_ms": "minimize"}`` or a list; None for
            the evaluator's single metric.
        constraints: ``["latency_ms <= 5", "params <= 1e6"]`` or ``{"params": 1e6}``.
        latency_table: a :class:`~archspace.hardware.LatencyTable` (or its JSON path) for
            ``latency_ms``.
        input_shape: the input the hardware figures are counted at (default: the space's
            ``example_input(1)`` shape).
        latency_threads: the deployment's intra-op threads; the table must have been measured
            with them.
    """

    def __init__(self, space: ModelSpace, direction: str, *, objectives: ObjectivesSpec | None = None,
                 constraints: ConstraintsSpec = None,
                 latency_table: LatencyTable | str | os.PathLike[str] | None = None,
                 input_shape: Sequence[int] | None = None, latency_threads: int | None = None) -> None:
        try:
            self.objectives: tuple[Objective, ...] | None = (parse_objectives(objectives)
                                                              if objectives is not None else None)
            self.constraints = parse_constraints(constraints)
        except (ObjectiveError, ConstraintError) as exc:
            raise ScoringError(str(exc)) from None
        names = {c.name for c in self.constraints} | {o.name for o in self.objectives or ()}
        self.hardware_names = tuple(n for n in HARDWARE_METRICS if n in names)
        self.metrics: HardwareMetrics | None = None
        self.filter: ConstraintFilter | None = None
        if latency_threads is not None and latency_table is None:
            raise ScoringError("latency_threads says which table to accept; it needs latency_table=...")
        if self.hardware_names or latency_table is not None:
            try:
                self.metrics = HardwareMetrics(space, latency_table=latency_table, input_shape=input_shape,
                                               latency_threads=latency_threads)
                if self.constraints:
                    self.filter = ConstraintFilter(self.constraints, self.metrics)
            except Exception as exc:  # a table for another space, an unreadable file, no latency table
                raise ScoringError(f"{type(exc).__name__}: {exc}") from None
            if "latency_ms" in self.hardware_names and self.metrics.latency_table is None:
                raise ScoringError("the objective latency_ms needs a latency table (latency_table=...)")
        self.direction = self.objectives[0].direction if self.objectives else direction

    @property
    def multi_objective(self) -> bool:
        """True with two or more objectives."""
        return self.objectives is not None and len(self.objectives) > 1

    def strategy_direction(self) -> str | tuple[Objective, ...]:
        """What ``Strategy.setup`` gets: the objectives of a multi-objective run, else the direction."""
        return self.objectives if self.multi_objective and self.objectives else self.direction

    def complete(self, sample: Mapping[str, Any], metric: float | None,
                 metrics: Mapping[str, Any] | None) -> tuple[float, dict[str, Any]]:
        """A succeeded trial's primary metric and metrics, with hardware figures and objectives filled in.

        Raises:
            ScoringError: an objective is missing from the evaluator's result (the trial then fails).
        """
        out = dict(metrics or {})
        if self.metrics is not None and self.hardware_names:
            for name, value in self.metrics.figures(sample, self.hardware_names).items():
                out.setdefault(name, value)
        if self.objectives is None:
            assert metric is not None
            return metric, out
        first = self.objectives[0].name
        if first not in out and metric is not None:
            out[first] = metric  # a single number from the evaluator is the first objective
        missing = [o.name for o in self.objectives if not isinstance(out.get(o.name), (int, float))
                   or isinstance(out.get(o.name), bool)]
        if missing:
            raise ScoringError(f"the trial's result has no number for objective(s) {missing}; it holds "
                               f"{sorted(out)} (evaluators return a dict with every objective that is not a "
                               f"hardware figure {list(HARDWARE_METRICS)})")
        return float(out[first]), out

    def result(self, metric: float | None, metrics: Mapping[str, Any] | None) -> float | tuple[float, ...] | None:
        """What the strategy is told for a succeeded trial."""
        if metric is None:
            return None
        if self.multi_objective and self.objectives:
            return tuple(float((metrics or {})[o.name]) for o in self.objectives)
        return metric

    def point(self, metrics: Mapping[str, Any]) -> tuple[float, ...] | None:
        """A trial's objective values, or None when one is missing."""
        assert self.objectives is not None
        values = [metrics.get(o.name) for o in self.objectives]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return None
        return tuple(float(v) for v in values)  # type: ignore[arg-type]

    def config(self) -> dict[str, Any]:
        """The stored identity of the objectives and constraints (a resumed run must match it)."""
        return {"objectives": [[o.name, o.direction] for o in self.objectives] if self.objectives else None,
                "constraints": [str(c) for c in self.constraints] or None}


__all__ = ["ConstraintsSpec", "Scoring", "ScoringError"]
