"""A model space broken into units whose costs add up: the one-time pass behind profiles and latency tables.

FBNet's lookup table, made exact where counting allows. A network frozen from a space is its fixed
part plus the *units* the sample activates:

- each branch of a decision-carrying module (a LayerChoice candidate, a Repeat block — active
  when the depth exceeds its index —, a Cell edge op — active when the node reads that input with
  that op), with the chain of requirements from the root down to it;
- each mutable layer (``archspace.nn.Conv2d`` with choices, ...), keyed by the values of the
  labels its arguments depend on.

A unit's own cost excludes the units nested in it. Its figures are measured on the ``meta``
device (shapes only) at the input it receives inside the network: a sample is frozen here with a
walk that mirrors :func:`archspace.nn.walk.freeze_tree` but records which module each unit
became, forward hooks note each unit's inputs, and every unit is then run alone on those inputs.
Covering samples are chosen greedily until every (unit, key) has been seen.

The decomposition is *separable* when every unit's input, and the fixed part, are the same in
every sample that activates it. If not, the pass is retried once with every unit (and the fixed
part) keyed also by the labels of the mutable layers (a width choice feeding plain pooling). The pass checks this on every covering sample and then compares
a few random samples with direct counting (:func:`archspace.hardware.count_params` /
:func:`count_flops`); a space that fails is marked ``separable=False`` with the reason, and its
profiles fall back to direct counting: a number is never silently wrong.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from archspace.hardware._additive import Additive, add_all
from archspace.hardware._additive import needed as needed_keys
from archspace.hardware._units import FIXED, Key, UnitDef, find_units, freeze_recording, hkey
from archspace.nn.context import space_context
from archspace.nn.mutable import Resolver
from archspace.nn.space import ModelSpace
from archspace.space.samples import Sample

logger = logging.getLogger("archspace")

Spec = Any  # JSON data: the structure of a unit's inputs with tensors as ["T", shape, dtype]


# Specs: the structure of a unit's inputs ------------------------------------------------------
def spec_of(value: Any) -> Spec:
    if isinstance(value, torch.Tensor):
        return ["T", [list(value.shape), str(value.dtype).removeprefix("torch.")]]
    if isinstance(value, (list, tuple)):
        return ["L" if isinstance(value, list) else "U", [spec_of(v) for v in value]]
    if isinstance(value, dict):
        return ["D", {str(k): spec_of(v) for k, v in value.items()}]
    if value is None or isinstance(value, (bool, int, float, str)):
        return ["V", value]
    return ["V", repr(value)]


def materialize(spec: Spec, device: torch.device | str, dtype: torch.dtype | None = None) -> Any:
    """Inputs of the structure ``spec`` describes: random tensors (``dtype`` overrides floats)."""
    kind, body = spec
    if kind == "T":
        tensor_dtype = getattr(torch, body[1]) if len(body) > 1 else torch.float32
        if dtype is not None and tensor_dtype.is_floating_point:
            tensor_dtype = dtype
        return torch.randn(body[0], device=device, dtype=tensor_dtype)
    if kind in ("L", "U"):
        items = [materialize(s, device, dtype) for s in body]
        return items if kind == "L" else tuple(items)
    if kind == "D":
        return {k: materialize(s, device, dtype) for k, s in body.items()}
    return body


def flat_tensors(value: Any) -> list[torch.Tensor]:
    """The tensors inside nested lists, tuples and dicts, depth-first."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat_tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in flat_tensors(v)]
    return []


class _AllocCounter(TorchDispatchMode):
    """Bytes of every tensor an operator newly creates (views and in-place writes left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        outs = out if isinstance(out, (tuple, list)) and len(returns) > 1 else (out,)
        for ret, value in zip(returns, outs):
            if ret.alias_info is None:
                self.bytes += sum(t.numel() * t.element_size() for t in flat_tensors(value))
        return out


def run_counted(module: nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[int, int]:
    """(multiply-adds, bytes created) of one eval-mode forward of ``module``."""
    with torch.no_grad(), FlopCounterMode(display=False) as flops, _AllocCounter() as alloc:
        module(*args, **kwargs)
    return int(flops.get_total_flops()) // 2, alloc.bytes


def eval_mode(module: nn.Module) -> None:
    for sub in module.modules():
        sub.training = False


# One sample, attributed to units ----------------------------------------------------------------
@dataclass
class Observation:
    """A frozen sample split into its fixed part and its units' own figures (params, MACs, bytes)."""

    sample: Sample
    fixed: tuple[int, int, int]
    own: dict[Key, tuple[int, int, int]]
    specs: dict[Key, list[Spec]]
    children: dict[Key, list[Key]]
    present: set[str]

    @property
    def total(self) -> tuple[int, int, int]:
        return add_all(list(self.own.values()))


def observe(space: nn.Module, units: Mapping[str, UnitDef], sample: Sample, input_shape: Sequence[int],
            cache: dict[str, tuple[int, int]]) -> Observation:
    """Freeze ``sample`` from a meta-device ``space`` and attribute its figures to units."""
    record: dict[str, nn.Module] = {}
    with torch.device("meta"):  # mutable layers build their plain layer afresh: on meta too
        model = freeze_recording(space, "", Resolver(dict(sample), set()), units, record)
    eval_mode(model)
    calls: dict[str, list[Spec]] = {uid: [] for uid in record}
    handles = []
    for uid, module in record.items():
        def hook(mod: nn.Module, args: Any, kwargs: Any, uid: str = uid) -> None:
            calls[uid].append(spec_of([list(args), dict(kwargs)]))
        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        flops, alloc = run_counted(model, (torch.empty(tuple(input_shape), device="meta"),), {})
    finally:
        for handle in handles:
            handle.remove()
    values = {label: hkey(v) for label, v in sample.items()}
    inclusive: dict[str, tuple[set[int], int, int]] = {}
    params = {id(p): p.numel() for p in model.parameters()}
    for uid, module in record.items():
        total_f = total_a = 0
        structure = repr(module)  # the unit's own choices (a width, nested candidates) change it, not its input
        for spec in calls[uid]:
            text = json.dumps([uid, spec]) + "\n" + structure
            if text not in cache:
                args, kwargs = materialize(spec, "meta")
                cache[text] = run_counted(module, args, kwargs)
            f, a = cache[text]
            total_f, total_a = total_f + f, total_a + a
        inclusive[uid] = ({id(p) for p in module.parameters()}, total_f, total_a)
    own: dict[Key, tuple[int, int, int]] = {}
    children: dict[Key, list[Key]] = {}
    top: list[str] = []
    for uid in record:
        unit = units[uid]
        kids = [u for u in record if units[u].parent == uid]
        ids, f, a = inclusive[uid]
        kid_ids = set().union(*(inclusive[k][0] for k in kids)) if kids else set()
        key = unit.key(values)
        own[key] = (sum(params[i] for i in ids - kid_ids), f - sum(inclusive[k][1] for k in kids),
                    a - sum(inclusive[k][2] for k in kids))
        children[key] = [units[k].key(values) for k in kids]
        if unit.parent is None or unit.parent not in record:
            top.append(uid)
    top_ids = set().union(*(inclusive[u][0] for u in top)) if top else set()
    fixed = (sum(n for i, n in params.items() if i not in top_ids), flops - sum(inclusive[u][1] for u in top),
             alloc - sum(inclusive[u][2] for u in top))
    specs = {units[u].key(values): calls[u] for u in record}
    fixed_key = units[FIXED].key(values)
    own[fixed_key], specs[fixed_key], children[fixed_key] = fixed, [], []
    return Observation(dict(sample), fixed, own, specs, children, set(record))


def meta_copy(space: ModelSpace) -> ModelSpace:
    """The space built again on the meta device (its recorded constructor arguments), else deep-copied there."""
    init = space.__dict__.get("_asp_init_args")
    if init is not None:
        args, kwargs = copy.deepcopy(init)
        try:
            with torch.device("meta"), space_context():
                rebuilt = type(space)(*args, **kwargs)
            if rebuilt.search_space() == space.search_space():
                return rebuilt
        except Exception:  # an unusual constructor: copying is slower but always possible
            logger.debug("rebuilding %s on meta failed; deep-copying it", type(space).__name__)
    return copy.deepcopy(space).to("meta")


# The one-time pass ---------------------------------------------------------------------------------
@dataclass
class Decomposition:
    """Everything the one-time pass learned about a space at one input shape."""

    units: dict[str, UnitDef]
    input_shape: tuple[int, ...]
    entries: dict[Key, tuple[int, int, int]] = field(default_factory=dict)
    specs: dict[Key, list[Spec]] = field(default_factory=dict)
    children: dict[Key, list[Key]] = field(default_factory=dict)
    first_seen: dict[Key, int] = field(default_factory=dict)  # index into samples
    samples: list[Sample] = field(default_factory=list)
    separable: bool = True
    reason: str = ""
    seconds: float = 0.0
    additive: Additive | None = None

    def absorb(self, obs: Observation) -> None:
        """Add one sample's units; a unit seen with other inputs or figures makes the space non-separable."""
        index = len(self.samples)
        self.samples.append(obs.sample)
        for key, figures in obs.own.items():
            known = self.entries.get(key)
            if known is None:
                self.entries[key], self.specs[key] = figures, obs.specs[key]
                self.children[key], self.first_seen[key] = obs.children[key], index
            elif (known != figures or self.specs[key] != obs.specs[key]) and self.separable:
                self.separable = False
                what = "the fixed part" if key[0] == FIXED else f"unit {key[0]!r}"
                self.reason = (f"{what} (key {list(key[1])}) has other inputs or costs in different samples "
                               f"({known} vs {figures} params/MACs/bytes for {obs.sample}): it depends on decisions "
                               "it is not keyed by")
        self.additive = None

    def table(self, domains: Mapping[str, Sequence[Any]]) -> Additive:
        if self.additive is None:
            self.additive = Additive(self.units, self.entries, (0, 0, 0), domains)
        return self.additive


def _complete(space: ModelSpace, assign: Mapping[str, Any], rng: random.Random) -> Sample:
    search = space.search_space()
    sample: Sample = {}
    for label, decision in search.items():
        if search.condition(label).holds(sample):
            sample[label] = assign[label] if label in assign else copy.deepcopy(rng.choice(decision.values))
    return sample


#: The largest number of value combinations of the shape labels a retry keys every unit by.
SHAPE_CAP = 64


def decompose(space: ModelSpace, input_shape: Sequence[int], *, verify: int = 3, seed: int = 0,
              direct: Callable[[Sample], tuple[int, int]] | None = None) -> Decomposition:
    """The one-time pass: cover every unit, then check a few random samples against ``direct`` counting.

    A space that does not separate is tried once more with every unit keyed also by the *shape
    labels* (the labels mutable layers read: widths, kernel sizes), when they have at most
    :data:`SHAPE_CAP` value combinations.
    """
    start = time.perf_counter()
    meta = meta_copy(space)
    result = _decompose_once(space, meta, input_shape, find_units(meta), verify=verify, seed=seed, direct=direct)
    if not result.separable:
        labels = tuple(dict.fromkeys(label for u in result.units.values() for label in u.key_labels))
        domains = space.search_space()
        combos = 1
        for label in labels:
            combos *= len(domains[label].values)
        if labels and combos <= SHAPE_CAP:
            retry = _decompose_once(space, meta, input_shape, find_units(meta, labels), verify=verify, seed=seed,
                                    direct=direct)
            if retry.separable:
                result = retry
            else:
                result.reason += f"; keyed also by the shape labels {list(labels)}: {retry.reason}"
    result.seconds = time.perf_counter() - start
    return result


def _decompose_once(space: ModelSpace, meta: ModelSpace, input_shape: Sequence[int], units: dict[str, UnitDef], *,
                    verify: int, seed: int, direct: Callable[[Sample], tuple[int, int]] | None) -> Decomposition:
    result = Decomposition(units, tuple(int(d) for d in input_shape))
    search = space.search_space()
    domains = {label: list(d.values) for label, d in search.items()}
    rng = random.Random(seed)
    cache: dict[str, tuple[int, int]] = {}
    needed = dict(needed_keys(units, domains))
    failed: set[Key] = set()
    while True:
        pending = [k for k in needed if k not in result.entries and k not in failed]
        if not pending:
            break
        assign: dict[str, Any] = {}
        chosen = []
        for key in pending:
            wanted = needed[key]
            if all(label not in assign or hkey(assign[label]) == hkey(v) for label, v in wanted.items()):
                assign.update(wanted)
                chosen.append(key)
        sample = space.validate(_complete(space, assign, rng))
        result.absorb(observe(meta, units, sample, result.input_shape, cache))
        failed.update(k for k in chosen if k not in result.entries)
    if failed:
        logger.debug("%d (unit, key) pairs of %s were not reached by covering samples; measured on demand",
                     len(failed), type(space).__name__)
    if result.separable and direct is not None:
        checks = [space.default_sample()] + [space.random_sample(rng.randrange(2**31)) for _ in range(verify)]
        table = result.table(domains)
        for sample in checks:
            values = {label: hkey(v) for label, v in sample.items()}
            summed = table.total(values)
            if summed is None:
                result.absorb(observe(meta, units, sample, result.input_shape, cache))
                summed = result.table(domains).total(values)
            expected = direct(sample)
            if summed is None or tuple(summed[:2]) != expected:
                result.separable = False
                result.reason = (f"summing units gives {summed and summed[:2]} params/MACs for {sample}, direct "
                                 f"counting {expected}")
                break
    return result


__all__ = ["FIXED", "Additive", "Decomposition", "Key", "Observation", "UnitDef", "add_all",
           "decompose", "eval_mode", "find_units", "flat_tensors", "freeze_recording", "hkey", "materialize",
           "meta_copy", "observe", "run_counted", "spec_of"]
