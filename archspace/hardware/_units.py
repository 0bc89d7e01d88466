"""Units: the parts of a model space whose costs add up (see :mod:`archspace.hardware._decompose`).

A unit is a branch of a decision-carrying module (a LayerChoice candidate, a Repeat block, a
Cell edge op, a Cell's preprocessor) or a mutable layer, with the requirements under which it is
active and the labels its own cost depends on.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from archspace.nn.layers import MutableLayer
from archspace.nn.mutable import Mutable, Resolver
from archspace.nn.walk import attribute_choices as _attribute_choices
from archspace.nn.walk import join

Key = tuple[str, tuple[Any, ...]]  # (unit id, values of its key labels)
#: The id of the pseudo-unit holding the fixed part (always active; keyed by the shape labels, if any).
FIXED = "<fixed>"


def hkey(value: Any) -> Any:
    """A hashable form of a decision value (lists become tuples)."""
    return tuple(hkey(v) for v in value) if isinstance(value, (list, tuple)) else value


Condition = tuple[tuple[str, tuple[Any, ...]], ...]  # AND (requires) or OR (outputs) of (label, allowed values)


@dataclass(frozen=True)
class UnitDef:
    """One unit: where it sits, when it is active, and which labels its own cost depends on.

    ``outputs`` is set for a unit whose outputs are read selectively (a Cell's preprocessor: its
    output ``i`` is read only when some term takes state ``i``): per output, the (label, values)
    alternatives under which it is read. Such a unit's key ends with one bool per output, since a
    graph compiler drops an unread output's computation (see :meth:`Mutable.branch_outputs`).
    """

    uid: str
    requires: Condition  # AND of (label, allowed values)
    key_labels: tuple[str, ...]
    parent: str | None
    outputs: tuple[Condition, ...] = ()
    #: The outermost decision-carrying module holding the unit (its own path if none): the
    #: granularity at which a graph compiler's dead-code elimination is modelled.
    box: str = ""
    #: Conditions (each an OR of (label, values)) whose truth values key the unit's cost, e.g.
    #: which nodes of a cell no later node reads, for the merge of its loose ends.
    flags: tuple[Condition, ...] = ()

    @property
    def bits(self) -> tuple[Condition, ...]:
        """The conditions ending the unit's key: its outputs' reads, then its flags."""
        return self.outputs + self.flags

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label this unit's presence or cost reads, in first-mention order."""
        read = [label for label, _ in self.requires] + list(self.key_labels)
        read += [label for alternatives in self.bits for label, _ in alternatives]
        return tuple(dict.fromkeys(read))

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether the unit is in the network of a sample given as hashed values."""
        return all(values.get(label) in {hkey(v) for v in allowed} for label, allowed in self.requires)

    def live(self, values: Mapping[str, Any]) -> tuple[bool, ...]:
        """Which of the unit's outputs the sample reads (empty for a unit without ``outputs``)."""
        return tuple(any(values.get(label) in {hkey(v) for v in allowed} for label, allowed in alternatives)
                     for alternatives in self.outputs)

    def key(self, values: Mapping[str, Any]) -> Key:
        flags = tuple(any(values.get(label) in {hkey(v) for v in allowed} for label, allowed in alternatives)
                      for alternatives in self.flags)
        return self.uid, tuple(values.get(label) for label in self.key_labels) + self.live(values) + flags

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uid": self.uid, "requires": [[label, list(allowed)] for label, allowed in self.requires],
               "key_labels": list(self.key_labels), "parent": self.parent}
        if self.box and self.box != self.uid:
            out["box"] = self.box
        if self.outputs:
            out["outputs"] = [[[label, list(allowed)] for label, allowed in alt] for alt in self.outputs]
        if self.flags:
            out["flags"] = [[[label, list(allowed)] for label, allowed in alt] for alt in self.flags]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnitDef:
        outputs = tuple(tuple((label, tuple(allowed)) for label, allowed in alt) for alt in data.get("outputs", []))
        flags = tuple(tuple((label, tuple(allowed)) for label, allowed in alt) for alt in data.get("flags", []))
        return cls(data["uid"], tuple((label, tuple(allowed)) for label, allowed in data["requires"]),
                   tuple(data["key_labels"]), data["parent"], outputs, data.get("box", data["uid"]), flags)


def find_units(root: nn.Module, shape_labels: Sequence[str] = ()) -> dict[str, UnitDef]:
    """The units of a space's module tree, walked as :func:`archspace.nn.walk.collect_space` walks it.

    With ``shape_labels``, every unit and the fixed part are keyed by them too (for spaces where
    a value choice changes the inputs of plain modules downstream).
    """
    units: dict[str, UnitDef] = {}

    def add(path: str, requires: Condition, labels: Sequence[str], parent: str | None, box: str | None,
            outputs: tuple[Condition, ...] = (), flags: tuple[Condition, ...] = ()) -> str:
        known = units.get(path)
        merged = tuple(dict.fromkeys((known.key_labels if known else ()) + tuple(labels)))
        units[path] = UnitDef(path, requires, merged, known.parent if known else parent,
                              outputs or (known.outputs if known else ()), known.box if known else (box or path),
                              flags or (known.flags if known else ()))
        return path

    def conditions(raw: Sequence[Sequence[tuple[str, Sequence[Any]]]]) -> tuple[Condition, ...]:
        return tuple(tuple((lab, tuple(vals)) for lab, vals in alternatives) for alternatives in raw)

    def walk(module: nn.Module, path: str, requires: tuple[tuple[str, tuple[Any, ...]], ...],
             parent: str | None, box: str | None) -> None:
        if isinstance(module, Mutable):
            label = module.label or path
            selective, flagged = module.branch_outputs(label), module.branch_flags(label)
            box = box or path
            for suffix, child, reqs in module.branches(label):
                inner = requires + tuple((lab, tuple(vals)) for lab, vals in reqs)
                child_path = join(path, suffix)
                unit = add(child_path, inner, (), parent, box, conditions(selective.get(suffix, [])),
                           conditions(flagged.get(suffix, [])))
                walk(child, child_path, inner, unit, box)
            return
        if isinstance(module, MutableLayer):
            if module.is_mutable:
                add(path, requires, [d.label for d in module.value_decisions()], parent, box)
            return
        own = [leaf.label for leaf in _attribute_choices(module, path)]
        if own:  # a plain module of the user's that keeps choices and reads them in forward
            parent = add(path, requires, own, parent, box)
            box = box or path
        for name, child in module.named_children():
            walk(child, join(path, name), requires, parent, box)

    walk(root, "", (), None, None)
    extra = tuple(shape_labels)
    units = {uid: UnitDef(uid, u.requires, tuple(dict.fromkeys(u.key_labels + extra)), u.parent, u.outputs, u.box,
                          u.flags) for uid, u in units.items()}
    units[FIXED] = UnitDef(FIXED, (), extra, None, (), FIXED)
    return units


def freeze_recording(module: nn.Module, path: str, resolver: Resolver, units: Mapping[str, UnitDef],
                     record: dict[str, nn.Module]) -> nn.Module:
    """``freeze_tree`` without touching the space: plain modules holding decisions are shallow-copied.

    ``record`` receives, for every unit path reached, the module it became in the frozen network.
    """
    if isinstance(module, Mutable):
        label = module.label or path

        def child(suffix: str, sub: nn.Module) -> nn.Module:
            new = freeze_recording(sub, join(path, suffix), resolver, units, record)
            record[join(path, suffix)] = new
            return new

        return module.freeze_with(label, resolver, child)
    if isinstance(module, MutableLayer):
        new = module.to_plain(resolver, path)
        if path in units:
            record[path] = new
        return new
    replaced = {}
    for name, sub in module._modules.items():
        if sub is not None:
            new = freeze_recording(sub, join(path, name), resolver, units, record)
            if new is not sub:
                replaced[name] = new
    out = module
    if replaced:
        out = copy.copy(module)
        out._modules = {**module._modules, **replaced}
    if path in units and path:
        record[path] = out
    return out


__all__ = ["FIXED", "Condition", "Key", "UnitDef", "find_units", "freeze_recording", "hkey"]
