"""Hardware constraints and metrics of samples, known before any training.

A constraint such as ``"latency_ms <= 5"`` or ``"params <= 1e6"`` is checked on a proposed sample
from its :func:`~archspace.hardware.profile` (parameters, FLOPs, activation memory: exact sums of
per-unit figures) and, for latency, a measured :class:`~archspace.hardware.LatencyTable`. An
experiment applies the constraints as a filter in front of its strategy, so no trial is ever
trained on an architecture that breaks one, and the same figures can be objectives of a
multi-objective search (``objectives={"accuracy": "max", "latency_ms": "min"}``) without the
evaluator computing them.

Example:
    >>> c = Constraint.parse("params <= 1e6")
    >>> c.name, c.op, c.bound, c.holds(5e5), c.holds(2e6)
    ('params', '<=', 1000000.0, True, False)
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archspace.errors import ArchspaceError

if TYPE_CHECKING:
    from archspace.hardware.latency import LatencyTable
    from archspace.nn.space import ModelSpace

#: The figures known before training: from the profile, and from a latency table.
PROFILE_METRICS = ("params", "flops", "activation_bytes")
LATENCY_METRIC = "latency_ms"
HARDWARE_METRICS = PROFILE_METRICS + (LATENCY_METRIC,)

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, "<": operator.lt, ">=": operator.ge,
                                                   ">": operator.gt}
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*$")


class ConstraintError(ArchspaceError, ValueError):
    """A constraint that cannot be read or checked (unknown metric, no latency table, bad bound)."""


@dataclass(frozen=True)
class Constraint:
    """``name op bound``, e.g. ``latency_ms <= 5``: ``name`` is one of :data:`HARDWARE_METRICS`."""

    name: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.name not in HARDWARE_METRICS:
            raise ConstraintError(f"constraint on unknown metric {self.name!r}; constraints are checked before "
                                  f"training, on {list(HARDWARE_METRICS)}")
        if self.op not in _OPS:
            raise ConstraintError(f"constraint operator must be one of {list(_OPS)}, got {self.op!r}")

    @classmethod
    def parse(cls, text: str | Constraint) -> Constraint:
        """``"latency_ms <= 5"`` → Constraint (a Constraint is returned as it is)."""
        if isinstance(text, Constraint):
            return text
        if not isinstance(text, str):
            raise ConstraintError(f"a constraint is a string such as 'params <= 1e6', got {text!r}")
        match = _PATTERN.match(text)
        if match is None:
            raise ConstraintError(f"cannot read the constraint {text!r}; write 'metric <= number' with metric one of "
                                  f"{list(HARDWARE_METRICS)} and operator one of {list(_OPS)}")
        name, op, bound = match.groups()
        try:
            value = float(bound)
        except ValueError:
            raise ConstraintError(f"constraint {text!r}: {bound!r} is not a number") from None
        return cls(name, op, value)

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the constraint."""
        return _OPS[self.op](float(value), self.bound)

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound:g}"


def parse_constraints(spec: Sequence[str | Constraint] | Mapping[str, float] | str | None) -> tuple[Constraint, ...]:
    """Constraints from a list of strings, a mapping ``{"params": 1e6}`` (meaning ``<=``) or one string."""
    if spec is None:
        return ()
    if isinstance(spec, (str, Constraint)):
        return (Constraint.parse(spec),)
    if isinstance(spec, Mapping):
        out = []
        for name, bound in spec.items():
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise ConstraintError(f"constraint {name!r}: the bound must be a number, got {bound!r}")
            out.append(Constraint(str(name), "<=", float(bound)))
        return tuple(out)
    if isinstance(spec, (list, tuple)):
        return tuple(Constraint.parse(c) for c in spec)
    raise ConstraintError(f"constraints must be a list of strings such as ['params <= 1e6'] or a mapping, "
                          f"got {type(spec).__name__}")


class HardwareMetrics:
    """The hardware figures of samples of one space: profile figures and, with a table, latency.

    Args:
        space: the model space.
        input_shape: the input the profile counts with, batch first (default: the shape of the
            space's ``example_input(1)``; a space without one needs it given).
        latency_table: a :class:`~archspace.hardware.LatencyTable` or the path of a saved one,
            needed for ``latency_ms``; it is checked to belong to ``space`` and to have been
            measured at ``input_shape``.
        latency_threads: the intra-op threads the deployment runs with; the table must have been
            measured with as many (default: trust the table's own setting). Checked whether the
            table comes as an object or as a path.
    """

    def __init__(self, space: ModelSpace, *, input_shape: Sequence[int] | None = None,
                 latency_table: LatencyTable | str | os.PathLike[str] | None = None,
                 latency_threads: int | None = None) -> None:
        if latency_threads is not None and (isinstance(latency_threads, bool) or not isinstance(latency_threads, int)
                                            or latency_threads < 1):
            raise ConstraintError(f"latency_threads must be a positive int (the deployment's intra-op threads), "
                                  f"got {latency_threads!r}")
        self.space = space
        if input_shape is None:  # resolved now, so a space without example_input() fails when the run is built
            from archspace.hardware.profile import default_input_shape

            input_shape = default_input_shape(space)
        self.input_shape: tuple[int, ...] = tuple(input_shape)
        from archspace.hardware.latency import LatencyTable

        # The table must belong to this space and have been measured for this input: a figure for
        # another shape would be trusted by every latency_ms constraint and objective.
        if isinstance(latency_table, (str, os.PathLike)):
            latency_table = LatencyTable.load(latency_table, space=space, input_shape=self.input_shape,
                                              threads=latency_threads)
        elif latency_table is not None:
            if not isinstance(latency_table, LatencyTable):
                raise ConstraintError(f"latency_table must be a LatencyTable or the path of a saved one, got "
                                      f"{type(latency_table).__name__}")
            latency_table.check(space=space, input_shape=self.input_shape, threads=latency_threads)
        self.latency_table: LatencyTable | None = latency_table

    def figures(self, sample: Mapping[str, Any], names: Sequence[str] = HARDWARE_METRICS) -> dict[str, float]:
        """The figures ``names`` of ``sample`` (``latency_ms`` only with a table)."""
        out: dict[str, float] = {}
        if any(n in PROFILE_METRICS for n in names):
            from archspace.hardware.profile import profile

            found = profile(self.space, sample, input_shape=self.input_shape)
            for name in PROFILE_METRICS:
                if name in names:
                    out[name] = float(getattr(found, name))
        if LATENCY_METRIC in names:
            if self.latency_table is None:
                raise ConstraintError("latency_ms needs a latency table: measure one with LatencyTable.measure(space, "
                                      "...) or `archspace latency measure`, and pass latency_table=...")
            out[LATENCY_METRIC] = float(self.latency_table.predict(sample))
        return out


class ConstraintFilter:
    """A sample filter: True when every constraint holds (what a strategy's ``filter`` expects).

    Keeps count of rejections per constraint (:attr:`rejected`), which the experiment logs.
    """

    def __init__(self, constraints: Sequence[Constraint], metrics: HardwareMetrics) -> None:
        self.constraints = tuple(constraints)
        self.metrics = metrics
        self.names = tuple(dict.fromkeys(c.name for c in self.constraints))
        if LATENCY_METRIC in self.names and metrics.latency_table is None:
            raise ConstraintError(f"the constraint {next(str(c) for c in constraints if c.name == LATENCY_METRIC)!r} "
                                  "needs a latency table (latency_table=...)")
        self.rejected: dict[str, int] = {str(c): 0 for c in self.constraints}

    def violations(self, sample: Mapping[str, Any]) -> list[str]:
        """The constraints ``sample`` breaks, each with its value (empty when it passes)."""
        figures = self.metrics.figures(sample, self.names)
        return [f"{c} (it has {figures[c.name]:g})" for c in self.constraints if not c.holds(figures[c.name])]

    def __call__(self, sample: Mapping[str, Any]) -> bool:
        figures = self.metrics.figures(sample, self.names)
        ok = True
        for c in self.constraints:
            if not c.holds(figures[c.name]):
                self.rejected[str(c)] += 1
                ok = False
        return ok


__all__ = ["HARDWARE_METRICS", "LATENCY_METRIC", "PROFILE_METRICS", "Constraint", "ConstraintError",
           "ConstraintFilter", "HardwareMetrics", "parse_constraints"]
