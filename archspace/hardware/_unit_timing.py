"""Timing the units of a space for a latency table: every unit alone, then a few whole networks.

Why a module of its own: :class:`~archspace.hardware.latency.LatencyTable` is a data structure
(units, entries, a calibration) that predicts and reads/writes files; how its entries are obtained
on a machine (freezing each unit at the values that reach it, sharing one timed runner between
units that run the same module on the same input, timing interleaved rounds, the whole networks
that fix the table's fixed part, the dead-code trace of graph compilers) is the other half, and
reading it apart keeps both halves short. The table's ``measure`` is a thin caller of
:func:`time_units`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from archspace.hardware._decompose import FIXED, Decomposition, Key, freeze_recording, materialize, meta_copy
from archspace.hardware._liveness import Liveness, trace_liveness
from archspace.hardware._measuring import Reading, network_runner
from archspace.hardware._timing import INPUT_VARIANTS, make_runner, time_interleaved, timing_context
from archspace.nn.mutable import Resolver
from archspace.nn.space import ModelSpace
from archspace.space.samples import Sample

#: Backends that compile the whole graph and drop computation nobody reads (see ``_liveness``).
DROPS_DEAD_CODE = ("onnxruntime",)


@dataclass
class UnitTimes:
    """What one measurement found, before the fixed part is known.

    Attributes:
        entries: milliseconds of every unit key (exclusive of its children; fixed keys at 0).
        fixed_keys: how many keys belong to the fixed part (not counted as units).
        fixed_set: the whole networks timed end to end (the default sample first).
        whole_ms: their end-to-end milliseconds, in the same order.
        liveness: the dead-code model, for backends that drop unread computation (else None).
        timed_modules: distinct modules timed (units sharing a module and input share one).
    """

    entries: dict[Key, float]
    fixed_keys: int
    fixed_set: list[Sample]
    whole_ms: list[float]
    liveness: Liveness | None
    timed_modules: int


def time_units(space: ModelSpace, dec: Decomposition, shape: Sequence[int], settings: Mapping[str, Any], *,
               dev: torch.device, dtype: torch.dtype, backend: str, threads: int, repeats: int, warmup: int,
               quantile: float, fixed_samples: int, seed: int) -> UnitTimes:
    """Time every unit of ``dec`` (a separable decomposition of ``space``) and ``fixed_samples`` whole networks.

    Every timed call runs inside one :func:`timing_context` (threads fixed, process pinned as
    ``settings["pinned"]`` says), all runners in interleaved rounds, so that units and whole
    networks see the same machine load. ``seed`` draws the random whole networks and then the
    samples that check the dead-code model, in that order (equal seeds, equal tables).
    """
    by_sample: dict[int, list[Key]] = {}
    for key, index in dec.first_seen.items():
        by_sample.setdefault(index, []).append(key)
    real = copy.deepcopy(space).to(device=dev, dtype=dtype)
    with timing_context(backend, threads, pin=bool(settings["pinned"])) as tmp:
        runners: list[Any] = []
        signatures: dict[str, int] = {}
        calls: dict[Key, list[int]] = {}
        fixed_keys = [key for key in dec.first_seen if key[0] == FIXED]
        for index, keys in by_sample.items():
            record: dict[str, torch.nn.Module] = {}
            with torch.device(dev):
                freeze_recording(real, "", Resolver(dict(dec.samples[index]), set()), dec.units, record)
            for key in keys:
                if key[0] == FIXED:  # the fixed part: timed below, from whole networks
                    continue
                module = record[key[0]].to(device=dev, dtype=dtype)
                unit = dec.units[key[0]]
                mask = key[1][len(unit.key_labels):] if unit.bits else ()
                if unit.outputs:  # only the outputs this key reads: a graph compiler drops the rest
                    module = Reading(module, [i for i, read in enumerate(mask[:len(unit.outputs)]) if read])
                calls[key] = []
                for spec in dec.specs[key]:
                    sig = json.dumps([repr(module), spec, [list(p.shape) for p in module.parameters()], mask])
                    if sig not in signatures:
                        inputs = [materialize(spec, dev, dtype) for _ in range(INPUT_VARIANTS)]
                        signatures[sig] = len(runners)
                        runners.append(make_runner(module, inputs, backend=backend, device=dev,
                                                   threads=threads, directory=tmp))
                    calls[key].append(signatures[sig])
        medians = time_interleaved(runners, warmup=warmup, repeats=repeats, quantile=quantile)
        inclusive = {key: sum(medians[i] for i in idx) for key, idx in calls.items()}
        entries = {key: inclusive[key] - sum(inclusive.get(k, 0.0) for k in dec.children[key]) for key in calls}
        entries.update((key, 0.0) for key in fixed_keys)
        rng = np.random.default_rng(seed)
        fixed_set = [space.default_sample()] + [space.random_sample(int(rng.integers(2**31)))
                                                for _ in range(max(fixed_samples, 1) - 1)]
        nets = [network_runner(space, s, settings, tmp) for s in fixed_set]
        whole = time_interleaved(nets, warmup=warmup, repeats=repeats, quantile=quantile)
    liveness = None
    if backend in DROPS_DEAD_CODE:
        checks = [space.random_sample(int(rng.integers(2**31))) for _ in range(3)]
        liveness = trace_liveness(meta_copy(space), dec.units, dec.samples, checks, shape)
    return UnitTimes(entries=entries, fixed_keys=len(fixed_keys), fixed_set=fixed_set, whole_ms=list(whole),
                     liveness=liveness, timed_modules=len(runners))


__all__ = ["DROPS_DEAD_CODE", "UnitTimes", "time_units"]
