"""Which units a graph compiler keeps: dead-code elimination, modelled box by box.

ONNX Runtime (like any graph compiler) drops computation whose result nobody reads; eager
PyTorch runs it. In a DARTS network a cell that never takes its input 1 leaves the previous
cell's output unread when the cell after it does not take its input 0 either (or when it is
the last cell): that whole cell disappears from the ONNX graph, and a sum over every active
unit over-predicts the network by the cell's cost (15-20 % at 3 cells).

The model: units sit in *boxes* (the outermost decision-carrying module around them, e.g. a
Cell). A box is live when the network output reads it, or when a live box reads it through one
of its active units (a unit keyed by which of its outputs are read — a Cell's preprocessor —
reads only through those outputs). Which boxes a unit reads is found once, by walking the
autograd graph of a few samples' networks built on the ``meta`` device, from each unit's
outputs back to the nearest outputs of other units; the union over the samples is kept. The
rules are then checked: on every traced sample (and a few more random ones), the live boxes the
rules give must equal the boxes whose units the network output actually reaches, else the
model is not used (every box counted live, as before) and the reason is kept.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archspace.hardware._decompose import eval_mode, flat_tensors
from archspace.hardware._units import FIXED, UnitDef, freeze_recording, hkey
from archspace.nn.mutable import Resolver
from archspace.space.samples import Sample

logger = logging.getLogger("archspace")
ANY = -1  # the output index of a dependency through any output of a unit


def region(unit: UnitDef) -> str:
    """The box of a unit (its own id when it has none)."""
    return unit.box or unit.uid


@dataclass
class Liveness:
    """Which boxes each unit reads (per output for units keyed by their outputs), and which the
    network output reads."""

    reads: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    roots: set[str] = field(default_factory=set)
    valid: bool = True
    reason: str = ""
    _by_box: dict[str, list[UnitDef]] | None = field(default=None, repr=False, compare=False)

    def live(self, units: Mapping[str, UnitDef], values: Mapping[str, Any]) -> set[str]:
        """The live boxes of a sample given as hashed values."""
        by_box = self._by_box
        if by_box is None:  # the units that read other boxes, by their own box (built once)
            by_box = {}
            for uid in self.reads:
                by_box.setdefault(region(units[uid]), []).append(units[uid])
            self._by_box = by_box
        live = set(self.roots)
        stack = list(live)
        while stack:
            box = stack.pop()
            for unit in by_box.get(box, ()):
                if not unit.active(values):
                    continue
                outputs = self.reads[unit.uid]
                read = unit.live(values)
                for index, boxes in outputs.items():
                    if index != ANY and index < len(read) and not read[index]:
                        continue
                    for other in boxes - live:
                        live.add(other)
                        stack.append(other)
        return live

    def to_json(self) -> dict[str, Any]:
        return {"reads": {uid: {str(i): sorted(b) for i, b in out.items()} for uid, out in self.reads.items()},
                "roots": sorted(self.roots), "valid": self.valid, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Liveness:
        reads = {uid: {int(i): set(b) for i, b in out.items()} for uid, out in data["reads"].items()}
        return cls(reads, set(data["roots"]), bool(data.get("valid", True)), str(data.get("reason", "")))


@dataclass
class _Trace:
    reads: dict[str, dict[int, set[str]]]
    roots: set[str]
    reached: set[str]  # boxes whose units the output reaches without stopping (the ground truth)


def _trace(meta_space: nn.Module, units: Mapping[str, UnitDef], sample: Sample,
           input_shape: Sequence[int]) -> _Trace:
    record: dict[str, nn.Module] = {}
    with torch.device("meta"):
        model = freeze_recording(meta_space, "", Resolver(dict(sample), set()), units, record)
    eval_mode(model)
    calls: list[tuple[str, list[Any]]] = []
    passed: set[tuple[int, int]] = set()  # nodes a unit handed on unchanged (an identity): it owns none of them

    def hook(module: nn.Module, args: Any, out: Any, uid: str) -> None:
        inputs = {id(t.grad_fn) for t in flat_tensors(list(args)) if t.grad_fn is not None}
        fns = [t.grad_fn for t in flat_tensors(out)]
        calls.append((uid, fns))
        passed.update((len(calls) - 1, id(fn)) for fn in fns if id(fn) in inputs)

    handles = [module.register_forward_hook(functools.partial(hook, uid=uid)) for uid, module in record.items()]
    try:
        x = torch.empty(tuple(input_shape), device="meta", requires_grad=True)
        with torch.enable_grad():
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    owners: dict[int, list[tuple[int, str]]] = {}
    producers: dict[int, list[tuple[int, str]]] = {}  # identities included
    for order, (uid, fns) in enumerate(calls):
        for fn in fns:
            if fn is not None:
                producers.setdefault(id(fn), []).append((order, uid))
                if (order, id(fn)) not in passed:
                    owners.setdefault(id(fn), []).append((order, uid))

    def walk(starts: Iterable[Any], before: float, own: str | None) -> set[str]:
        found: set[str] = set()
        stack, seen = list(starts), set()
        while stack:
            fn = stack.pop()
            if fn is None or id(fn) in seen:
                continue
            seen.add(id(fn))
            # units that ran before and handed this node on unchanged (identities) are read
            # too, and the walk goes on through them; the one that computed it ends the walk
            found.update(region(units[uid]) for order, uid in producers.get(id(fn), ()) if order < before)
            earlier = [entry for entry in owners.get(id(fn), ()) if entry[0] < before]
            if earlier:
                continue
            stack.extend(next_fn for next_fn, _ in fn.next_functions)
        found.discard(own or "")
        return found

    reads: dict[str, dict[int, set[str]]] = {}
    for order, (uid, fns) in enumerate(calls):
        unit = units[uid]
        outputs = reads.setdefault(uid, {})
        for index, fn in enumerate(fns):
            key = index if unit.outputs else ANY
            outputs.setdefault(key, set()).update(walk([fn], order, region(unit)))
    final = [t.grad_fn for t in flat_tensors(out)]
    roots = walk(final, float("inf"), None)
    reached: set[str] = set()
    stack, seen = list(final), set()
    while stack:  # every unit output the network output depends on, without stopping anywhere
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        reached.update(region(units[uid]) for _, uid in producers.get(id(fn), ()))
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return _Trace(reads, roots, reached)


def trace_liveness(meta_space: nn.Module, units: Mapping[str, UnitDef], samples: Sequence[Sample],
                   checks: Sequence[Sample], input_shape: Sequence[int]) -> Liveness:
    """Learn which boxes each unit reads from ``samples``; verify the rules on them and ``checks``."""
    try:
        return _learn(meta_space, units, samples, checks, input_shape)
    except Exception as exc:  # a space the walk cannot follow: count every box live, as before
        reason = f"tracing failed: {type(exc).__name__}: {exc}"
        logger.warning("latency table: dead-code model off (%s)", reason)
        return Liveness(valid=False, reason=reason)


def _learn(meta_space: nn.Module, units: Mapping[str, UnitDef], samples: Sequence[Sample],
           checks: Sequence[Sample], input_shape: Sequence[int]) -> Liveness:
    result = Liveness()
    traces = []
    for sample in samples:
        trace = _trace(meta_space, units, sample, input_shape)
        traces.append((sample, trace))
        for uid, outputs in trace.reads.items():
            mine = result.reads.setdefault(uid, {})
            for index, boxes in outputs.items():
                mine.setdefault(index, set()).update(boxes)
        result.roots |= trace.roots
    result.reads = {uid: {i: b for i, b in out.items() if b} for uid, out in result.reads.items()}
    result.reads = {uid: out for uid, out in result.reads.items() if out}
    traces += [(sample, _trace(meta_space, units, sample, input_shape)) for sample in checks]
    for sample, trace in traces:
        values = {label: hkey(v) for label, v in sample.items()}
        active = {region(u) for uid, u in units.items() if uid != FIXED and u.active(values)}
        predicted = result.live(units, values) & active
        observed = trace.reached & active
        if predicted != observed:
            result.valid = False
            result.reason = (f"for {sample} the rules give live boxes {sorted(predicted)}, the network reads "
                             f"{sorted(observed)}")
            logger.warning("latency table: dead-code model off (%s)", result.reason)
            break
    return result


__all__ = ["ANY", "Liveness", "region", "trace_liveness"]
