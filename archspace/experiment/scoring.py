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

Names are checked when the experiment is built, not after every trial has trained
(:meth:`Scoring.check_names`): a name that looks like a hardware figure but is not one
(``latency`` for ``latency_ms``) is refused with the figure it probably means, and when the
evaluator's result keys are known every objective must be one of them. They are known when the
evaluator declares them (an attribute ``metric_names``: the keys of the dict it returns) or when
its function is annotated to return a single number (``-> float``, as ``Classification.evaluate``
is): that number fills the first objective only.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, get_type_hints

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

#: Names users write for a hardware figure (from other tools, or by habit), and the figure meant.
HARDWARE_ALIASES = {
    "latency": "latency_ms", "lat": "latency_ms", "latency_us": "latency_ms", "latency_s": "latency_ms",
    "time_ms": "latency_ms", "inference_time": "latency_ms", "param": "params", "parameters": "params",
    "num_params": "params", "n_params": "params", "param_count": "params",
    "flop": "flops", "macs": "flops", "mflops": "flops", "gflops": "flops", "activations": "activation_bytes",
    "activation": "activation_bytes",
}


class ScoringError(ValueError):
    """Objectives or constraints that cannot be used (wrapped as InvalidSettingError by the experiment)."""


def hardware_lookalike(name: str) -> str | None:
    """The hardware figure ``name`` probably means when it is not one itself (None: none)."""
    if name in HARDWARE_METRICS:
        return None
    lowered = name.lower()
    if lowered in HARDWARE_METRICS:
        return lowered
    close = difflib.get_close_matches(lowered, HARDWARE_METRICS, n=1, cutoff=0.8)
    return HARDWARE_ALIASES.get(lowered) or (close[0] if close else None)


def declared_metrics(evaluator: object) -> frozenset[str] | None:
    """The keys an evaluator's results will hold, when they can be known before any trial.

    An evaluator may declare them (``metric_names``: the keys of the dict it returns). Otherwise a
    result function annotated to return a single number (``-> float``: the function of a
    ``FunctionalEvaluator``, or the class's own ``evaluate``) holds none: its number is recorded
    under the first objective's name. None: not known (a dict of keys only a trial will show).
    """
    names = getattr(evaluator, "metric_names", None)
    if names is not None:
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ScoringError(f"the evaluator's metric_names must be a list of metric names, got {names!r}")
        return frozenset(names)
    fn = getattr(evaluator, "fn", None)
    fn = fn if callable(fn) else type(evaluator).evaluate  # type: ignore[attr-defined]
    try:
        returns = get_type_hints(fn).get("return", inspect.Signature.empty)
    except Exception:  # forward references to names the function's module lacks, builtins, partials
        return None
    return frozenset() if returns in (float, int) else None


def _constraint_names(constraints: ConstraintsSpec) -> list[str]:
    """The metric names a constraints spec names (best effort: parsing reports what is unreadable)."""
    if isinstance(constraints, Mapping):
        return [str(k) for k in constraints]
    items = [constraints] if isinstance(constraints, str) else list(constraints or ())
    return [m.group(1) for item in items if isinstance(item, str) and (m := re.match(r"\s*([A-Za-z_]\w*)", item))]


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
        for name in _constraint_names(constraints):
            meant = hardware_lookalike(name)
            if meant is not None:
                raise ScoringError(f"constraint on unknown metric {name!r}: did you mean {meant!r}? Constraints are checked before "
                                   f"training, on the hardware figures {list(HARDWARE_METRICS)}")
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

    def check_names(self, known: frozenset[str] | None) -> None:
        """Refuse, before any trial trains, objectives no trial's result could hold.

        Args:
            known: the keys the evaluator's results hold (:func:`declared_metrics`); None: not known,
                and only names that look like a hardware figure without being one are refused.

        Raises:
            ScoringError: naming the objective and what it probably means.
        """
        for index, objective in enumerate(self.objectives or ()):
            name = objective.name
            if name in HARDWARE_METRICS or (known is not None and name in known):
                continue
            meant = hardware_lookalike(name)
            if meant is not None:
                raise ScoringError(
                    f"objective {name!r} is not a hardware figure: did you mean {meant!r}? The hardware figures "
                    f"{list(HARDWARE_METRICS)} are added by archspace; if your evaluator measures {name!r} itself, "
                    f"list it in the evaluator's metric_names or give it another name")
            if known is not None and index > 0:  # the first objective gets a single number's value
                offer = sorted(known) + list(HARDWARE_METRICS)
                close = difflib.get_close_matches(name, offer, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                what = (f"returns the metrics {sorted(known)}" if known else
                        "returns a single number, recorded under the first objective")
                raise ScoringError(f"objective {name!r} would be missing from every trial: {hint}the evaluator "
                                   f"{what}, and the hardware figures are {list(HARDWARE_METRICS)}")

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


__all__ = ["HARDWARE_ALIASES", "ConstraintsSpec", "Scoring", "ScoringError", "declared_metrics",
           "hardware_lookalike"]
