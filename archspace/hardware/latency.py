"""Latency lookup tables measured on the device at hand (FBNet's idea, Wu et al., CVPR 2019).

:meth:`LatencyTable.measure` times every unit of a space (each LayerChoice candidate, Repeat
block, Cell edge op or preprocessor, mutable layer at each value combination; see
:mod:`archspace.hardware._decompose`) alone, at the input shape it sees inside the network, on
this machine: warm-up calls, a fixed thread count with the process pinned to as many CPUs, each
call on the next of 8 distinct inputs (one repeated input trains the branch predictor and times
data-dependent ops 2x too fast), interleaved rounds, the median of the repeats (or another
quantile: 0.25 is steadier on a machine other jobs share), CUDA synchronised before each clock
reading. ``predict(sample)`` is the fixed part plus the sum of the sample's units, answered in
microseconds. (The timing itself lives in :mod:`archspace.hardware._unit_timing`; this module
holds the table: predicting, calibrating, files.)

The fixed part (stem, head, the glue in ``forward``: sums, concatenations) is not timed as
blocks: it is the median, over a few whole networks timed end to end, of their time minus the
sum of their units. It thus also absorbs the average per-call overhead that a sum of separately
timed parts misses.

A graph compiler (ONNX Runtime) runs a different program from the sum of parts:

- it drops computation nobody reads. A Cell's preprocessor is keyed by the states a sample
  reads, and a table for such a backend also knows which *boxes* (outermost decision-carrying
  modules, e.g. whole cells) a sample leaves unread (:mod:`archspace.hardware._liveness`);
- it converts layouts and fuses activations and additions into convolutions, which changes
  each kind of op by its own factor. :meth:`LatencyTable.calibrate` times whole networks and
  fits ``ms ≈ a·predicted + b + Σ_k c_k·predicted_k``, a slope per unit kind shrunk towards the
  common one (the plain line with few networks); ``predict`` applies it.

What no per-unit figure carries is left: common-subexpression elimination across units that read
the same tensor (two convolutions sharing one ReLU), an effect of combinations.

Backends: ``"torch"`` (eager PyTorch on ``device``) or ``"onnxruntime"`` (each unit exported to
ONNX and run in an ONNX Runtime session with fixed intra-op threads; CPU only).

Example:
    >>> from archspace.hub import NasBench201
    >>> space = NasBench201.small()
    >>> table = LatencyTable.measure(space, repeats=3, warmup=1)
    >>> table.predict(space.default_sample()) > 0
    True
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archspace.errors import SpaceDefinitionError
from archspace.hardware._costs import DifferentiableCosts
from archspace.hardware._decompose import FIXED, Additive, Key, UnitDef, hkey
from archspace.hardware._liveness import Liveness, region
from archspace.hardware._measuring import (
    LatencyTableError,
    LatencyTableMismatch,
    check_timing,
    device_name,
    measure_networks,
    space_fingerprint,
    unit_kind,
    versions,
)
from archspace.hardware._table_file import check_calibration, check_meta, field, milliseconds, parse_each
from archspace.hardware._unit_timing import DROPS_DEAD_CODE as DROPS_DEAD_CODE  # defined there; kept importable here
from archspace.hardware._unit_timing import time_units
from archspace.hardware._units import check_sample, narrow_keys
from archspace.hardware.profile import _shape, default_input_shape, profiler
from archspace.nn.space import ModelSpace

FORMAT = "archspace.latency/1"


class LatencyTable(DifferentiableCosts):
    """Per-unit latencies of one space on one device: measure once, predict any sample in microseconds.

    Build with :meth:`measure` or :meth:`load`; the constructor takes the stored parts.
    """

    def __init__(self, *, units: Mapping[str, UnitDef], entries: Mapping[Key, float], fixed_ms: float,
                 domains: Mapping[str, Sequence[Any]], meta: Mapping[str, Any],
                 calibration: Mapping[str, Any] | None = None, liveness: Liveness | None = None) -> None:
        # each unit keyed only by what it depends on (a file from before this is narrowed as read)
        self.units, self.entries = narrow_keys(units, entries, domains)
        self.fixed_ms = float(fixed_ms)
        self.domains = {label: list(values) for label, values in domains.items()}
        self.meta = dict(meta)
        self.calibration = dict(calibration) if calibration else None
        #: Unit kinds (see :func:`unit_kind`): a calibration may correct each kind's slope.
        self.kinds = sorted({unit_kind(uid) for uid in self.units if uid != FIXED})
        self._kind_index = {kind: i + 1 for i, kind in enumerate(self.kinds)}
        self._unit_kind = {uid: self._kind_index[unit_kind(uid)] for uid in self.units if uid != FIXED}
        width = len(self.kinds) + 1
        vectors = {}
        for (uid, key), ms in self.entries.items():  # (total, then the same ms under the unit's kind)
            vector = [0.0] * width
            vector[0] = ms
            if uid != FIXED:
                vector[self._unit_kind[uid]] = ms
            vectors[(uid, key)] = tuple(vector)
        self._additive = Additive(self.units, vectors, (self.fixed_ms,) + (0.0,) * (width - 1), self.domains)
        self._space: ModelSpace | None = None
        #: Which units a graph compiler drops (set for backends that eliminate dead code).
        self._liveness_record = liveness
        self._by_box: dict[str, list[UnitDef]] = {}
        for unit in self.units.values():
            if unit.uid != FIXED:
                self._by_box.setdefault(region(unit), []).append(unit)

    # Measuring ------------------------------------------------------------------------------------
    @classmethod
    def measure(cls, space: ModelSpace, input_shape: Sequence[int] | None = None, *, device: str = "cpu",
                backend: str = "torch", threads: int = 1, repeats: int = 20, warmup: int = 5,
                dtype: torch.dtype = torch.float32, fixed_samples: int = 3, seed: int = 0,
                quantile: float = 0.5, pin: bool = True) -> LatencyTable:
        """Time every unit of ``space`` (and the fixed part) on this machine.

        Args:
            space: the model space.
            input_shape: batch first; default ``space.example_input(1)``'s shape.
            device: ``"cpu"`` or a CUDA device (torch backend).
            backend: ``"torch"`` or ``"onnxruntime"``.
            threads: torch / ONNX Runtime intra-op threads while timing.
            repeats: timed calls per unit; warmup: untimed calls first.
            quantile: the figure kept from the repeats: 0.5 the median (default), 0 the fastest
                call (robust on a machine shared with other jobs, whose preemptions only add time).
            dtype: the floating dtype of weights and inputs.
            fixed_samples: whole networks timed to find the fixed part (the default sample, then random ones).
            seed: seeds the random samples.
            pin: on the CPU, pin the process to ``threads`` CPUs while timing (restored after): a
                process the scheduler moves between cores times with cold caches.

        Raises:
            LatencyTableError: the space does not split into units (see ``Profiler.exact_decomposition``).
        """
        shape = _shape(input_shape) if input_shape is not None else default_input_shape(space)
        dec = profiler(space, shape).decomposition
        if not dec.separable:
            raise LatencyTableError(f"{type(space).__name__} does not split into units with fixed inputs "
                                    f"({dec.reason}); a lookup table cannot describe it")
        check_timing(repeats, warmup, quantile)
        dev = torch.device(device)
        settings = {"device": str(dev), "dtype": str(dtype).removeprefix("torch."), "backend": backend,
                    "threads": threads, "input_shape": list(shape), "repeats": repeats, "warmup": warmup,
                    "quantile": quantile, "pinned": bool(pin and dev.type == "cpu")}
        timed = time_units(space, dec, shape, settings, dev=dev, dtype=dtype, backend=backend, threads=threads,
                           repeats=repeats, warmup=warmup, quantile=quantile, fixed_samples=fixed_samples, seed=seed)
        entries, fixed_set, liveness = timed.entries, timed.fixed_set, timed.liveness
        domains = {label: list(d.values) for label, d in space.search_space().items()}
        table = cls(units=dec.units, entries=entries, fixed_ms=0.0, domains=domains, meta={}, liveness=liveness)
        parts = [table.predict(s, calibrated=False) for s in fixed_set]
        fixed = float(np.median([w - p for w, p in zip(timed.whole_ms, parts)]))
        meta = {"space": space_fingerprint(space), "device_name": device_name(dev), "versions": versions(),
                **settings, "units": sum(uid != FIXED for uid, _ in table.entries), "timed_modules": timed.timed_modules,
                "fixed_samples": len(fixed_set)}
        out = cls(units=dec.units, entries=entries, fixed_ms=fixed, domains=domains, meta=meta, liveness=liveness)
        out._space = space
        return out

    def calibrate(self, space: ModelSpace, samples: int | Sequence[Mapping[str, Any]] = 5, *, seed: int = 1,
                  repeats: int | None = None, per_kind: bool | None = None, ridge: float = 0.01) -> dict[str, Any]:
        """Time whole networks end to end and fit the correction of :meth:`fit`.

        Returns the calibration (also stored with the table): slope, intercept, per-kind
        corrections, the samples' relative residuals after the fit, and their number.
        """
        self.check(space=space)
        if isinstance(samples, int):
            rng = np.random.default_rng(seed)
            samples = [space.random_sample(int(rng.integers(2**31))) for _ in range(samples)]
        chosen = [space.validate(s) for s in samples]
        if len(chosen) < 2:
            raise LatencyTableError("calibration needs at least 2 networks to fit a line")
        m = self.meta
        measured = measure_networks(space, chosen, input_shape=m["input_shape"], device=m["device"],
                                    backend=m["backend"], threads=m["threads"], repeats=repeats or m["repeats"],
                                    warmup=m["warmup"], dtype=getattr(torch, m["dtype"]),
                                    quantile=m.get("quantile", 0.5), pin=m.get("pinned", False))
        return self.fit(chosen, measured, per_kind=per_kind, ridge=ridge)

    def fit(self, samples: Sequence[Mapping[str, Any]], measured_ms: Sequence[float], *,
            per_kind: bool | None = None, ridge: float = 0.01) -> dict[str, Any]:
        """Fit and store the correction from networks already timed end to end (e.g. in the same
        interleaved rounds as other networks, so that both see the same machine load).

        The correction is ``ms ≈ slope·predicted + intercept + Σ_k c_k·predicted_k``, where
        ``predicted_k`` sums the sample's units of kind ``k`` (:func:`unit_kind`: a candidate's
        name, e.g. ``sep_conv_3x3``): each kind's slope may differ from the common one by
        ``c_k``, shrunk towards it by a ridge penalty (``ridge`` times the number of networks on
        the squared ``c_k``). Kinds differ because a unit timed alone pays what it does not pay
        inside a graph (ONNX Runtime's layout conversions, its fusion of an activation or an
        addition into a convolution); a common line cannot fix that when samples mix kinds in
        different proportions. Errors are weighed relative to each network's time.

        Args:
            per_kind: fit the per-kind terms; default: when there are at least twice as many
                networks as parameters (``2·(kinds + 2)``). False: the plain line.
            ridge: the shrinkage of the per-kind terms (0: ordinary least squares).
        """
        if len(samples) != len(measured_ms) or len(samples) < 2:
            raise LatencyTableError(f"fit needs at least 2 samples and one time per sample, got {len(samples)} "
                                    f"samples and {len(measured_ms)} times")
        if not isinstance(ridge, (int, float)) or isinstance(ridge, bool) or ridge < 0:
            raise LatencyTableError(f"ridge must be a number >= 0, got {ridge!r}")
        chosen = list(samples)
        parts = np.array([self._parts(s) for s in chosen])
        predicted, truth = parts[:, 0], np.array(measured_ms, dtype=float)
        if not np.all(np.isfinite(truth)) or np.any(truth <= 0):
            raise LatencyTableError(f"measured times must be positive, finite milliseconds, got {list(measured_ms)}")
        if per_kind is None:
            per_kind = len(chosen) >= 2 * (len(self.kinds) + 2)
        design = np.column_stack([predicted, np.ones(len(chosen))] + ([parts[:, 1:]] if per_kind else []))
        weight = 1.0 / truth
        a, y = design * weight[:, None], truth * weight
        penalty = np.zeros(design.shape[1])
        penalty[2:] = float(ridge) * len(chosen)
        coef = np.linalg.lstsq(a.T @ a + np.diag(penalty), a.T @ y, rcond=None)[0]
        residuals = (design @ coef - truth) / truth
        self.calibration = {"slope": float(coef[0]), "intercept": float(coef[1]), "n": len(chosen),
                            "per_kind": {kind: float(c) for kind, c in zip(self.kinds, coef[2:])} if per_kind else {},
                            "ridge": float(ridge), "relative_residuals": [float(r) for r in residuals]}
        return dict(self.calibration)

    # Predicting ------------------------------------------------------------------------------------
    @property
    def liveness(self) -> Liveness | None:
        """The dead-code model in use: set for backends that drop unread computation, when its check passed."""
        record = self._liveness_record
        return record if record is not None and record.valid else None

    def predict(self, sample: Mapping[str, Any], *, calibrated: bool = True) -> float:
        """Predicted milliseconds of ``sample``'s network (calibrated when a calibration is stored)."""
        parts = self._parts(sample)
        ms = float(parts[0])
        if calibrated and self.calibration is not None:
            ms = self.calibration["slope"] * ms + self.calibration["intercept"]
            for kind, coef in self.calibration.get("per_kind", {}).items():
                if kind in self._kind_index:
                    ms += coef * float(parts[self._kind_index[kind]])
        return ms

    def kind_ms(self, sample: Mapping[str, Any]) -> dict[str, float]:
        """Uncalibrated milliseconds of a sample's units, summed per unit kind."""
        parts = self._parts(sample)
        return {kind: float(parts[i]) for kind, i in self._kind_index.items()}

    def _parts(self, sample: Mapping[str, Any]) -> np.ndarray:
        normalized = self._space.validate(sample) if self._space is not None else dict(sample)
        values = {label: hkey(v) for label, v in normalized.items()}
        if self._space is None:  # no space to validate with: the table's labels and values name the problem
            check_sample(values, self.domains)
        total = self._additive.total(values)
        if total is None:
            check_sample(values, self.domains, self.units)
            raise LatencyTableError(f"the table has no timing for a unit of {normalized} (a combination the "
                                    "measurement never reached, or a sample from another space)")
        parts = np.array(total, dtype=float)
        if self.liveness is not None:
            parts -= self._dead_ms(values)
        return parts

    def _dead_ms(self, values: Mapping[str, Any]) -> np.ndarray:
        """Milliseconds (total, then per kind) of the active units a graph compiler drops: those
        in boxes nobody reads."""
        assert self.liveness is not None
        live = self.liveness.live(self.units, values)
        dead = np.zeros(len(self.kinds) + 1)
        for box, members in self._by_box.items():
            if box in live:
                continue
            for unit in members:
                if unit.active(values):
                    ms = self.entries.get(unit.key(values), 0.0)
                    dead[0] += ms
                    dead[self._unit_kind[unit.uid]] += ms
        return dead

    def unit_latencies(self) -> dict[str, dict[tuple[Any, ...], float]]:
        """Per unit (its module path in the space), the milliseconds of each key (values of its key labels)."""
        out: dict[str, dict[tuple[Any, ...], float]] = {}
        for (uid, key), ms in self.entries.items():
            if uid != FIXED:
                out.setdefault(uid, {})[key] = ms
        return out

    def named_entries(self) -> list[tuple[str, float]]:
        """Every unit's figures as (a name a person reads, milliseconds): where the unit sits and the
        decision values it is timed at (``stem  stem_op=k5``), the fixed part left out."""
        return [(self.units[uid].describe(key), ms) for (uid, key), ms in self.entries.items() if uid != FIXED]

    # Files -------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "meta": self.meta, "fixed_ms": self.fixed_ms, "calibration": self.calibration,
                "domains": self.domains, "units": [u.to_json() for u in self.units.values()],
                "entries": [{"unit": uid, "key": list(key), "ms": ms} for (uid, key), ms in self.entries.items()],
                "liveness": None if self._liveness_record is None else self._liveness_record.to_json()}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as JSON (written whole, then renamed)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(partial, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, space: ModelSpace | None = None,
             input_shape: Sequence[int] | None = None, backend: str | None = None, threads: int | None = None,
             device: str | None = None, dtype: torch.dtype | None = None) -> LatencyTable:
        """Read a table; every setting given must match the table's, else :class:`LatencyTableMismatch`.

        With ``space``, predictions validate their samples against it.
        """
        try:
            data = json.loads(Path(path).read_text())
        except RecursionError:
            raise LatencyTableError(f"cannot read a latency table from {str(path)!r}: JSON nested too deeply") from None
        except (OSError, ValueError) as exc:
            raise LatencyTableError(f"cannot read a latency table from {str(path)!r}: {exc}") from exc
        table = cls.from_json(data, source=str(path))
        table.check(space=space, input_shape=input_shape, backend=backend, threads=threads, device=device,
                    dtype=dtype, source=str(path))
        return table

    @classmethod
    def from_json(cls, data: Any, *, source: str = "<json>") -> LatencyTable:
        """A table from its JSON data (:meth:`to_json`), every field checked.

        Raises:
            LatencyTableError: naming the first field that is missing, of the wrong type, or holds
                a time that is not a finite number >= 0 (calibration terms: finite).
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LatencyTableError(f"{source!r} is not a latency table (format {FORMAT!r})")
        meta = check_meta(field(data, "meta", dict, source), source)
        # the fixed part is the whole network less its parts: it may be negative, never non-finite
        fixed_ms = milliseconds(field(data, "fixed_ms", (int, float), source), source, "fixed_ms", signed=True)
        domains = field(data, "domains", dict, source)
        for label, values in domains.items():
            if not isinstance(values, list):
                raise LatencyTableError(f"latency table {source!r}: domains.{label} must be a list")
        units = dict(parse_each(field(data, "units", list, source), "units", source,
                                lambda i, u: (str(u["uid"]), UnitDef.from_json(u))))

        def entry(i: int, e: Any) -> tuple[Key, float]:
            unit = e["unit"]
            if unit != FIXED and unit not in units:
                raise LatencyTableError(f"latency table {source!r}: entries[{i}].unit {unit!r} is not a unit of the table")
            return (unit, tuple(hkey(v) for v in e["key"])), milliseconds(e["ms"], source, f"entries[{i}].ms")

        entries = dict(parse_each(field(data, "entries", list, source), "entries", source, entry))
        calibration = check_calibration(data.get("calibration"), source)
        liveness = None
        if data.get("liveness"):
            liveness = parse_each([data["liveness"]], "liveness", source, lambda i, v: Liveness.from_json(v))[0]
        return cls(units=units, entries=entries, fixed_ms=fixed_ms, domains=domains, meta=meta,
                   calibration=calibration, liveness=liveness)

    def check(self, *, space: ModelSpace | None = None, input_shape: Sequence[int] | None = None,
              backend: str | None = None, threads: int | None = None, device: str | None = None,
              dtype: torch.dtype | None = None, source: str = "this latency table") -> None:
        """Raise :class:`LatencyTableMismatch` naming the first setting that differs from the table's."""
        m = self.meta
        given: list[tuple[str, Any, Any]] = []
        if space is not None:
            if not isinstance(space, ModelSpace) or space.is_frozen:
                raise SpaceDefinitionError("check a latency table against a model space, not a frozen model")
            mine = space_fingerprint(space)
            for part in ("class", "args", "search_space"):
                given.append((f"space {part}", mine[part], m["space"][part]))
        if input_shape is not None:
            given.append(("input shape", list(_shape(input_shape)), m["input_shape"]))
        given += [("backend", backend, m["backend"]), ("threads", threads, m["threads"])]
        if device is not None:
            given.append(("device", str(torch.device(device)), m["device"]))
        if dtype is not None:
            given.append(("dtype", str(dtype).removeprefix("torch."), m["dtype"]))
        for what, value, stored in given:
            if value is not None and value != stored:
                raise LatencyTableMismatch(f"{source} was measured for {what} {stored!r}, not {value!r}: "
                                           "measure a table for this setting (archspace latency measure ...)")
        if space is not None:
            self._space = space


__all__ = ["LatencyTable", "LatencyTableError", "LatencyTableMismatch", "device_name", "measure_networks",
           "space_fingerprint", "unit_kind"]
